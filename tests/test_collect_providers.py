"""Every collector against its provider's API on 127.0.0.1: pages, limits, failures, scopes, kills, secrets.

The same cases for GitHub, GitLab, PagerDuty and Opsgenie, each against its fake (tests/fakes/), with
small pages so that a handful of records spans several: every page is read; a second run reads only
what changed (the cursors kept in the graph) and writes nothing; an exhausted budget and a secondary
limit are waited out (the clock is the test's: no real sleep) without hammering; bursts of 502/503 are
retried with backoff; a credential without the needed scope stops the run with an error
naming the scope; a run killed with SIGKILL and started again ends with the graph an uninterrupted run
makes; the credential appears nowhere but in the request headers.

ETag 304s are GitHub's alone (tests/test_collect_github.py): GitLab's REST API ignores If-None-Match
(gitlab-org/gitlab#14357), and PagerDuty and Opsgenie send no ETags; their second runs are cheap
through their cursors instead (GitLab's updated_after, PagerDuty's since, Opsgenie's newest-first
updatedAt), which the second-run case checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collect import github, gitlab, opsgenie, pagerduty
from collect.http import Api, MissingScope
from collect.run import Options
from graph import repository
from graph.settings import Settings
from graph.snapshot import snapshot
from ingest import examples as ex
from tests.conftest import run_graph
from tests.fakes import github as gh
from tests.fakes import gitlab as gl
from tests.fakes import incidents as inc
from tests.fakes.harness import FakeClock, Run, collect
from tests.fakes.server import FakeApi, Fault

ROOT = Path(__file__).resolve().parents[1]
SECRET = "cred-5e1f0a2b9d7c-collect"


@dataclass
class Spec:
    name: str
    variable: str
    build: Callable[[], FakeApi]
    client: Callable[..., Api]
    make: Callable[[Any, Api, Callable[[str], None], FakeApi], Any]
    listing: str  # label prefix of the main listing's requests
    # (module, attribute, value): small pages, so a few records span several.
    small: tuple[Any, str, int]
    cli: Callable[[FakeApi], list[str]]
    label: str  # the graph label of the main records
    expected: int
    api_url: Callable[[FakeApi], str] = lambda fake: fake.url
    # A fault that says the budget is spent, and the wait it implies (seconds, at least).
    exhausted: Callable[[], Fault] | None = None
    exhausted_wait: float = 30.0
    forbid: Callable[[FakeApi], None] = lambda fake: None
    scope_words: tuple[str, ...] = ()


# --- scenarios ---------------------------------------------------------------------------------------


def github_fake() -> FakeApi:
    fake = gh.FakeGitHub(SECRET)
    repo = fake.repo("Acme/Shop")
    for n in range(1, 6):
        sha, at = ex.sha(f"gh-{n}"), f"2026-01-0{n}T10:00:00Z"
        repo.prs[n] = gh.pull_request(
            "Acme/Shop",
            n,
            author="carol",
            title=f"change {n}",
            updated=at,
            commits=[gh.commit(sha, message=f"change {n}", author="carol", at=at)],
            reviews=[gh.review(900 + n, repo="Acme/Shop", number=n, reviewer="dave", state="APPROVED", oid=sha, at=at)],
        )
    return fake


def gitlab_fake() -> FakeApi:
    fake = gl.FakeGitLab(SECRET)
    project = fake.project("acme/platform/api")
    carol, dave = gl.user("carol", 1), gl.user("dave", 2)
    for n in range(1, 6):
        first, head, at = ex.sha(f"gl-{n}-a"), ex.sha(f"gl-{n}-b"), f"2026-01-0{n}T10:00:00.000Z"
        project.mrs.append(gl.merge_request(project, n, author=carol, sha=head, updated=at, title=f"change {n}"))
        project.commits[n] = [
            gl.commit(head, message=f"change {n} (2)", author="carol", at=f"2026-01-0{n}T09:30:00Z", parent=first),
            gl.commit(first, message=f"change {n}", author="carol", at=f"2026-01-0{n}T09:00:00Z"),
        ]
        project.diffs[n] = [{"old_path": f"src/m{n}.py", "new_path": f"src/m{n}.py", "diff": "@@ -1 +1 @@"}]
        project.versions[n] = [gl.version(700 + n, head=head, at=f"2026-01-0{n}T09:31:00Z")]
        project.notes[n] = [
            gl.note(800 + n, body="approved this merge request", author=dave, at=f"2026-01-0{n}T09:45:00Z")
        ]
        project.pipelines.append(gl.pipeline(600 + n, sha=head, status="success", updated=at, web=project.web_url))
        project.jobs[600 + n] = [gl.job(6000 + n, name="test", status="success", at=at)]
    project.deployments.append(
        gl.deployment(
            41,
            sha=ex.sha("gl-5-b"),
            status="success",
            created="2026-01-06T09:00:00.000Z",
            updated="2026-01-06T09:10:00.000Z",
            deployer=carol,
        )
    )
    return fake


def pagerduty_fake() -> FakeApi:
    fake = inc.FakePagerDuty(SECRET)
    checkout = inc.pd_service("PSVC001", "checkout")
    fake.services = [checkout, inc.pd_service("PSVC002", "search")]
    for n in range(1, 6):
        incident = inc.pd_incident(
            f"PINC00{n}", n, title=f"Errors {n}", service=checkout, status="resolved", created=f"2026-01-0{n}T10:00:00Z"
        )
        for offset, kind in enumerate(("trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry")):
            at = f"2026-01-0{n}T10:{offset * 10:02d}:00Z"
            fake.log_entries.append(inc.pd_log_entry(f"RLOG{n}{offset}", kind, incident=incident, at=at))
    return fake


def opsgenie_fake() -> FakeApi:
    fake = inc.FakeOpsgenie(SECRET)
    for n in range(1, 6):
        ident = f"b7da6303-0da4-43e2-8e21-9e22faedc59{n}"
        created = f"2026-01-0{n}T10:00:00.000Z"
        fake.alerts.append(
            inc.og_alert(
                ident,
                160 + n,
                message=f"Latency {n}",
                entity="checkout",
                created=created,
                updated=f"2026-01-0{n}T10:30:00.000Z",
            )
        )
        fake.logs[ident] = [
            inc.og_log(f"1_{n}_1", "Alert created via API[Prometheus]", created, "system"),
            inc.og_log(f"1_{n}_2", "Viewed on [web]", f"2026-01-0{n}T10:05:00.000Z", "alertRecipient"),
            inc.og_log(
                f"1_{n}_3", "Alert acknowledged via web[Default API-Acknowledge Alert]", f"2026-01-0{n}T10:10:00.000Z"
            ),
            inc.og_log(f"1_{n}_4", "Alert closed via web", f"2026-01-0{n}T10:30:00.000Z"),
        ]
    return fake


def _forbid_github(fake: FakeApi) -> None:
    assert isinstance(fake, gh.FakeGitHub)
    fake.repos["acme/shop"].private = True
    fake.scopes = "read:org"


def _forbid(fake: FakeApi) -> None:
    if isinstance(fake, gl.FakeGitLab):
        fake.scopes = ("read_user",)
    else:
        fake.allowed = False  # type: ignore[attr-defined]


def _limits(headers: Callable[[], dict[str, str]], status: int = 429) -> Callable[[], Fault]:
    return lambda: Fault("", status, {"message": "API rate limit exceeded"}, headers())


SPECS = [
    Spec(
        name="github",
        variable="GITHUB_TOKEN",
        build=github_fake,
        client=github.client,
        make=lambda graph, api, warn, fake: github.GitHubCollector(
            graph, api, github.Options(repos=["Acme/Shop"], api_url=fake.url, page_size=2), warn=warn
        ),
        listing="graphql:PullRequests",
        small=(github.Options, "page_size", 2),
        cli=lambda fake: ["github", "--repo", "Acme/Shop", "--api-url", fake.url, "--page-size", "2"],
        label="Change",
        expected=5,
        exhausted=lambda: Fault(
            "",
            200,
            {"data": None, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]},
            {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int(time.time()) + 30),
                "X-RateLimit-Resource": "graphql",
            },
        ),
        forbid=_forbid_github,
        scope_words=("`repo`", "read:org"),
    ),
    Spec(
        name="gitlab",
        variable="GITLAB_TOKEN",
        build=gitlab_fake,
        client=gitlab.client,
        make=lambda graph, api, warn, fake: gitlab.GitLabCollector(
            graph,
            api,
            gitlab.Options(groups=["acme"], api_url=fake.api_url),
            warn=warn,  # type: ignore[attr-defined]
        ),
        listing="GET /api/v4/projects/1000/merge_requests",
        small=(gitlab, "PER_PAGE", 2),
        cli=lambda fake: ["gitlab", "--group", "acme", "--api-url", fake.api_url],  # type: ignore[attr-defined]
        label="Change",
        expected=5,
        api_url=lambda fake: fake.api_url,  # type: ignore[attr-defined]
        exhausted=_limits(lambda: {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(time.time()) + 30)}),
        forbid=_forbid,
        scope_words=("`read_api`",),
    ),
    Spec(
        name="pagerduty",
        variable="PAGERDUTY_TOKEN",
        build=pagerduty_fake,
        client=pagerduty.client,
        make=lambda graph, api, warn, fake: pagerduty.PagerDutyCollector(
            graph, api, Options(since="2026-01-01", api_url=fake.url), warn=warn
        ),
        listing="GET /log_entries",
        small=(pagerduty, "LIMIT", 4),
        cli=lambda fake: ["pagerduty", "--since", "2026-01-01", "--api-url", fake.url],
        label="Incident",
        expected=5,
        exhausted=_limits(lambda: {"ratelimit-remaining": "0", "ratelimit-reset": "30"}),
        forbid=_forbid,
        scope_words=("PAGERDUTY_TOKEN", "Access Denied"),
    ),
    Spec(
        name="opsgenie",
        variable="OPSGENIE_API_KEY",
        build=opsgenie_fake,
        client=opsgenie.client,
        make=lambda graph, api, warn, fake: opsgenie.OpsgenieCollector(
            graph, api, Options(api_url=fake.url), warn=warn
        ),
        listing="GET /v2/alerts",
        small=(opsgenie, "LIMIT", 2),
        cli=lambda fake: ["opsgenie", "--api-url", fake.url],
        label="Incident",
        expected=5,
        exhausted=_limits(lambda: {"X-RateLimit-State": "THROTTLED", "X-RateLimit-Period-In-Sec": "60"}),
        exhausted_wait=60.0,
        forbid=_forbid,
        scope_words=("OPSGENIE_API_KEY", "Read access right"),
    ),
]
BY_NAME = {s.name: s for s in SPECS}
NAMES = [s.name for s in SPECS]


@pytest.fixture(params=NAMES)
def spec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Spec:
    found = BY_NAME[request.param]
    module, attribute, value = found.small
    if module is not github.Options:
        monkeypatch.setattr(module, attribute, value)
    return found


def run(settings: Settings, spec: Spec, fake: FakeApi, clock: FakeClock | None = None) -> Run:
    return collect(
        settings,
        lambda: spec.client(SECRET, api_url=spec.api_url(fake), clock=clock or FakeClock()),
        lambda graph, api, warn: spec.make(graph, api, warn, fake),
    )


def count(settings: Settings, label: str) -> int:
    return sum(1 for n in run_graph(settings, snapshot).nodes if n.startswith(f"{label}:"))


# --- the cases ---------------------------------------------------------------------------------------


def listings(fake: FakeApi, spec: Spec) -> list[int]:
    """The statuses of the main listing's requests, in order."""
    return [status for label, status in fake.log if label == spec.listing]


def test_every_page_is_read(settings: Settings, spec: Spec) -> None:
    with spec.build() as fake:
        result = run(settings, spec, fake)
        listed = len(listings(fake, spec))
    assert not result.summary.rejected
    assert count(settings, spec.label) == spec.expected
    assert listed >= 3, f"{spec.name}: the records should have spanned several pages ({listed} requests)"


def test_a_second_run_fetches_only_what_changed_and_writes_nothing(settings: Settings, spec: Spec) -> None:
    """The cursors kept in the graph: nothing changed, so the second run reads at most the newest page of
    each listing again, and every record it does read is a replay that writes nothing."""
    with spec.build() as fake:
        run(settings, spec, fake)
        before = run_graph(settings, snapshot)
        first = len(listings(fake, spec))
        fake.log.clear()
        again = run(settings, spec, fake)
        second = len(listings(fake, spec))
    assert again.summary.written.nodes_created == 0 and again.summary.written.properties_set == 0
    assert run_graph(settings, snapshot) == before
    assert second < first, f"{spec.name}: {second} listing requests again, {first} the first time"


def test_a_spent_budget_is_waited_out_without_hammering(settings: Settings, spec: Spec) -> None:
    assert spec.exhausted is not None
    with spec.build() as fake:
        clock = FakeClock(probe=lambda: len(fake.log))
        fault = spec.exhausted()
        fault.match = spec.listing
        fake.faults.append(fault)
        run(settings, spec, fake, clock)
        log = list(fake.log)
    assert count(settings, spec.label) == spec.expected
    waits = [(seconds, seen) for seconds, seen in clock.marks if seconds >= spec.exhausted_wait]
    assert len(waits) == 1, clock.marks
    # The refusal was the last request before the wait, and the same request came right after it:
    # nothing was sent while the budget was spent.
    refused_at = next(i for i, (label, _) in enumerate(log) if label == spec.listing) + 1
    assert waits[0][1] == refused_at
    assert log[refused_at][0] == spec.listing


def test_a_secondary_limit_waits_as_retry_after_says(settings: Settings, spec: Spec) -> None:
    clock = FakeClock()
    with spec.build() as fake:
        status = 403 if spec.name == "github" else 429
        body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}
        fake.faults.append(Fault(spec.listing, status, body, {"Retry-After": "7"}, times=2))
        run(settings, spec, fake, clock)
    assert clock.slept[:2] == [7.0, 7.0]
    assert count(settings, spec.label) == spec.expected


def test_bursts_of_502_and_503_are_retried_with_backoff(settings: Settings, spec: Spec) -> None:
    clock = FakeClock()
    with spec.build() as fake:
        fake.faults += [
            Fault(spec.listing, 502, None, times=2),
            Fault(spec.listing, 503, {"message": "unavailable"}, times=1),
        ]
        run(settings, spec, fake, clock)
    backoff = clock.slept[:3]
    assert [round(s) for s in backoff] in ([1, 2, 4], [1, 2, 5], [1, 3, 4], [1, 3, 5]), backoff  # doubling, with jitter
    assert count(settings, spec.label) == spec.expected


def test_a_credential_without_the_needed_scope_stops_with_a_clear_error(settings: Settings, spec: Spec) -> None:
    with spec.build() as fake:
        spec.forbid(fake)
        with pytest.raises(MissingScope) as raised:
            run(settings, spec, fake)
    message = str(raised.value)
    for word in spec.scope_words:
        assert word in message, message
    assert SECRET not in message


def test_the_credential_goes_nowhere_but_the_request_headers(
    settings: Settings, spec: Spec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    with spec.build() as fake:
        run(settings, spec, fake)
        seen = fake.tokens_seen
    assert any(SECRET in header for header in seen)
    graph = run_graph(settings, lambda g: snapshot(g, with_travel=True))
    assert SECRET not in "\n".join(graph.nodes + graph.edges)
    assert SECRET not in caplog.text


# --- a run killed half way -----------------------------------------------------------------------------


def _cli(settings: Settings, spec: Spec, fake: FakeApi) -> subprocess.Popen[str]:
    module, attribute, value = spec.small
    # The real command, with the small pages of the scenario.
    setup = "" if module is github.Options else f"import {module.__name__} as m; m.{attribute} = {value}; "
    code = f"import sys; {setup}from cli.main import main; main(sys.argv[1:])"
    env = {
        **os.environ,
        spec.variable: SECRET,
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
    }
    return subprocess.Popen(
        [sys.executable, "-c", code, "collect", *spec.cli(fake)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("name", [n for n in NAMES if n != "github"])  # GitHub's: tests/test_collect_github.py
def test_a_run_killed_half_way_resumes_to_the_same_graph(
    settings: Settings, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BY_NAME[name]
    module, attribute, value = spec.small
    monkeypatch.setattr(module, attribute, value)
    with spec.build() as fake:
        run(settings, spec, fake)
        uninterrupted = run_graph(settings, snapshot)
        run_graph(settings, repository.delete_all)
        fake.delay = 0.3
        killed = _cli(settings, spec, fake)
        deadline = time.monotonic() + 120
        while fake.count(spec.listing) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        partial = count(settings, spec.label)
        fake.delay = 0.0
        resumed = _cli(settings, spec, fake)
        out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert partial < spec.expected, "the kill came too late to test anything"
    assert run_graph(settings, snapshot) == uninterrupted
    assert SECRET not in out + err
