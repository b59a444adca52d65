"""`tracegraph collect github` against a GitHub API served on 127.0.0.1 (tests/fakes/github.py).

The collected records must become what the webhooks of the same records become (one pipeline); a
second run fetches only what changed and writes nothing for what did not; a run killed with SIGKILL
and started again ends with the graph an uninterrupted run makes, reading at most one page again; the
token never lands anywhere but in request headers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from collect import github
from graph import collect_state, repository
from graph.policy import load_policy
from graph.settings import Settings
from graph.snapshot import Snapshot, snapshot
from graph.vocabulary import REPOSITORY_POSTURE
from ingest import examples as ex
from tests.conftest import load, run_graph
from tests.fakes import github as gh
from tests.fakes.harness import FakeClock, Run, collect

TOKEN = "tok-collect-7f3a9c1e5b2d"  # no known token shape: only our own care keeps it out of the graph
REPO = "Acme/Shop"
C1, HEAD, MERGE = ex.sha("pr42-c1"), ex.sha("pr42-head"), ex.sha("pr42-merge")
ROOT = Path(__file__).resolve().parents[1]


def run_github(settings: Settings, fake: gh.FakeGitHub, clock: FakeClock | None = None, **options: Any) -> Run:
    options.setdefault("repos", [REPO])
    opts = github.Options(api_url=fake.url, **options)
    return collect(
        settings,
        lambda: github.client(TOKEN, api_url=fake.url, clock=clock or FakeClock()),
        lambda graph, api, warn: github.GitHubCollector(graph, api, opts, warn=warn),
    )


# --- one pull request, as the API gives it and as its webhooks deliver it ---------------------------


def shop(fake: gh.FakeGitHub) -> gh.FakeRepo:
    """acme/shop#42: two commits pushed at once, three reviews (one dismissed), checks, a status, merged, deployed."""
    repo = fake.repo(REPO)
    commits = [
        gh.commit(
            C1,
            message="Add refund idempotency\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
            author="carol",
            at="2026-01-05T09:10:00Z",
        ),
        gh.commit(HEAD, message="Tests for refunds", author="carol", at="2026-01-05T09:20:00Z"),
    ]
    reviews = [
        gh.review(901, repo=REPO, number=42, reviewer="erin", state="APPROVED", oid=HEAD, at="2026-01-05T11:00:00Z"),
        gh.review(902, repo=REPO, number=42, reviewer="frank", state="DISMISSED", oid=HEAD, at="2026-01-05T11:10:00Z"),
        gh.review(903, repo=REPO, number=42, reviewer="dave", state="APPROVED", oid=HEAD, at="2026-01-05T11:20:00Z"),
    ]
    repo.prs[42] = gh.pull_request(
        REPO,
        42,
        author="carol",
        title="Idempotent refunds",
        body="Refunds retried by the gateway must not pay twice.",
        updated="2026-01-05T12:00:00Z",
        commits=commits,
        files=["src/auth/session.py", "src/payments/refund.py"],
        reviews=reviews,
        head_contexts=[
            gh.check_run(
                5001,
                repo=REPO,
                name="unit-tests",
                conclusion="success",
                suite=601,
                started="2026-01-05T10:20:00Z",
                completed="2026-01-05T10:30:00Z",
            ),
            gh.status_context("ci/lint", state="success", at="2026-01-05T10:31:00Z"),
        ],
        merge={
            "oid": MERGE,
            "contexts": [
                gh.check_run(
                    5002,
                    repo=REPO,
                    name="security-scan",
                    conclusion="success",
                    suite=602,
                    started="2026-01-05T12:05:00Z",
                    completed="2026-01-05T12:09:00Z",
                )
            ],
        },
    )
    repo.deployments.append(
        gh.deployment(
            3001,
            sha=MERGE,
            created="2026-01-06T09:00:00Z",
            states=[("in_progress", "2026-01-06T09:00:00Z"), ("success", "2026-01-06T09:10:00Z")],
            service="shop-api",
        )
    )
    repo.runs.append(gh.workflow_run(8001, repo=REPO, name="CI", sha=MERGE, created="2026-01-05T12:01:00Z"))
    return repo


def _repository(fake: gh.FakeGitHub) -> dict[str, Any]:
    return {"full_name": REPO, "name": "Shop", "owner": {"login": "Acme"}, "html_url": f"https://github.com/{REPO}"}


def webhooks(fake: gh.FakeGitHub) -> list[dict[str, Any]]:
    """The deliveries GitHub sends for the same pull request, in the shapes of its webhook docs."""
    repo = _repository(fake)
    found = [
        ex.push(
            REPO,
            commits=[
                ex.commit(
                    C1,
                    message="Add refund idempotency\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
                    author="carol",
                    at="2026-01-05T09:10:00Z",
                    files=["src/payments/refund.py"],
                ),
                ex.commit(
                    HEAD,
                    message="Tests for refunds",
                    author="carol",
                    at="2026-01-05T09:20:00Z",
                    files=["src/auth/session.py"],
                ),
            ],
            before=ex.sha("main"),
            ref="refs/heads/feature-42",
        ),
        ex.pull_request(
            REPO,
            42,
            action="opened",
            author="carol",
            head=HEAD,
            title="Idempotent refunds",
            at="2026-01-05T10:00:00Z",
            body="Refunds retried by the gateway must not pay twice.",
        ),
        ex.pull_request(
            REPO,
            42,
            action="closed",
            author="carol",
            head=HEAD,
            title="Idempotent refunds",
            at="2026-01-05T12:00:00Z",
            merged=True,
            merge_sha=MERGE,
            body="Refunds retried by the gateway must not pay twice.",
        ),
    ]
    for review_id, reviewer, state, at in (
        (901, "erin", "APPROVED", "2026-01-05T11:00:00Z"),
        (902, "frank", "CHANGES_REQUESTED", "2026-01-05T11:10:00Z"),
        (903, "dave", "APPROVED", "2026-01-05T11:20:00Z"),
    ):
        delivery = ex.review(
            REPO, 42, reviewer=reviewer, state=state, commit=HEAD, review_id=review_id, at=at, pr_author="carol"
        )
        delivery["payload"]["review"]["html_url"] = f"https://github.com/{REPO}/pull/42#pullrequestreview-{review_id}"
        found.append(delivery)
        if reviewer == "frank":  # dismissed later: GitHub keeps submitted_at, the state becomes "dismissed"
            dismissed = json.loads(json.dumps(delivery))
            dismissed["id"] += "-dismissed"
            dismissed["payload"]["action"] = "dismissed"
            dismissed["payload"]["review"]["state"] = "dismissed"
            found.append(dismissed)
    for run_id, name, sha, suite, started, completed in (
        (5001, "unit-tests", HEAD, 601, "2026-01-05T10:20:00Z", "2026-01-05T10:30:00Z"),
        (5002, "security-scan", MERGE, 602, "2026-01-05T12:05:00Z", "2026-01-05T12:09:00Z"),
    ):
        check = ex.check_run(REPO, name=name, head=sha, conclusion="success", run_id=run_id, at=completed)
        check["payload"]["check_run"]["started_at"] = started
        found.append(check)
        suite_payload = {
            "action": "completed",
            "check_suite": {
                "id": suite,
                "head_sha": sha,
                "status": "completed",
                "conclusion": "success",
                "created_at": started,
                "updated_at": completed,
                "app": {"slug": "github-actions", "name": "GitHub Actions"},
            },
            "repository": repo,
        }
        found.append({"source": "github", "type": "check_suite", "id": f"suite-{suite}", "payload": suite_payload})
    status = {
        "id": 77001,
        "sha": HEAD,
        "name": REPO,
        "context": "ci/lint",
        "state": "success",
        "description": "ci/lint success",
        "target_url": "https://ci.example.com/ci/lint",
        "created_at": "2026-01-05T10:31:00Z",
        "updated_at": "2026-01-05T10:31:00Z",
        "repository": repo,
    }
    found.append({"source": "github", "type": "status", "id": "status-77001", "payload": status})
    deployment = ex.deployment(REPO, deployment_id=3001, sha_=MERGE, service="shop-api", at="2026-01-06T09:00:00Z")
    statuses = [
        ex.deployment_status(
            REPO,
            deployment_id=3001,
            sha_=MERGE,
            state=state,
            status_id=n,
            service="shop-api",
            at=at,
            started_at="2026-01-06T09:00:00Z",
        )
        for n, state, at in ((1, "in_progress", "2026-01-06T09:00:00Z"), (2, "success", "2026-01-06T09:10:00Z"))
    ]
    for delivery in (deployment, *statuses):
        # A GitHub Enterprise Server names its own API in a deployment's url, as the fake's does.
        delivery["payload"]["deployment"]["url"] = f"{fake.url}/repos/{REPO}/deployments/3001"
    found += [deployment, *statuses]
    run = gh.workflow_run(8001, repo=REPO, name="CI", sha=MERGE, created="2026-01-05T12:01:00Z")
    found.append(
        {
            "source": "github",
            "type": "workflow_run",
            "id": "run-8001",
            "payload": {"action": "completed", "workflow_run": run, "repository": repo},
        }
    )
    return found


_EDGE = re.compile(r"^(?P<src>\S+) -\[(?P<type>\w+) (?P<props>\{.*\})\]-> (?P<dst>\S+)$")


def comparable(snap: Snapshot) -> tuple[list[str], list[str]]:
    """A snapshot without what legitimately differs between the two ways in (see the test)."""
    nodes = []
    for line in snap.nodes:
        key, _, props = line.partition(" ")
        label = key.split(":", 1)[0]
        if label == "SourceEvent":
            continue
        drop = {"source", "sourceEventId"} | {
            "Change": {"files"},
            "Commit": {"files"},
            "Repository": REPOSITORY_POSTURE,
        }.get(label, set())
        nodes.append(
            f"{key} {json.dumps({k: v for k, v in json.loads(props).items() if k not in drop}, sort_keys=True)}"
        )
    edges = []
    for line in snap.edges:
        m = _EDGE.match(line)
        assert m, line
        props = {k: v for k, v in json.loads(m["props"]).items() if k not in ("source", "sourceEventId")}
        edges.append(f"{m['src']} -[{m['type']} {json.dumps(props, sort_keys=True)}]-> {m['dst']}")
    return sorted(nodes), sorted(edges)


def _answer(settings: Settings) -> dict[str, Any]:
    """The five-minute answer for acme/shop#42, without its commits' own file lists (see the test) and
    without who vouched for each fact: both ways in are `provider` trust, one naming the API, the other
    the webhook."""
    policy = load_policy()
    found = run_graph(settings, lambda g: repository.change(g, policy, repo="acme/shop", number=42))
    assert found is not None
    answer = found.model_dump(mode="json")
    for commit in answer["commits"]:
        commit.pop("files")
    for fact in answer["approvals"] + answer["evidence"]:
        assert fact.pop("trust_by") in (
            "github API, read with the organisation's credentials",
            "github webhook, signature checked",
        )
    return answer


def test_a_collected_pull_request_and_its_webhooks_give_the_same_graph(settings: Settings) -> None:
    """The same pull request, collected from the API or received as webhooks, is the same graph.

    Left out of the comparison, because the two ways in legitimately differ there:
    - SourceEvent nodes and each fact's origin (`source`, `sourceEventId`): the raw documents differ (a
      GraphQL page is not a webhook delivery), so each fact points at another document;
    - changed paths: GitHub's pull_request webhook carries none, and its API lists none per commit; the
      collector records the pull request's paths on the Change (`files`), a push webhook each commit's
      (Commit.files). Both feed the risk area: the answers, compared whole below, must agree on it;
    - the repository's posture (its branch protection), which only the collector reads.
    """
    with gh.FakeGitHub(TOKEN) as fake:
        shop(fake)
        collected = run_github(settings, fake)
        assert not collected.summary.rejected
        from_api, api_answer = run_graph(settings, snapshot), _answer(settings)
        run_graph(settings, repository.delete_all)
        summary = load(settings, webhooks(fake), via="webhook:github")  # verified deliveries: provider trust
        assert not summary.rejected
        from_webhooks, webhook_answer = run_graph(settings, snapshot), _answer(settings)
    assert comparable(from_api) == comparable(from_webhooks)
    assert api_answer == webhook_answer
    assert api_answer["risk_area"] == "auth"
    assert [a["reviewer"]["login"] for a in api_answer["approvals"]] == ["erin", "dave"]
    assert {e["name"] for e in api_answer["evidence"]} >= {"unit-tests", "security-scan", "ci/lint", "CI"}
    # What was left out is there: the collected change knows its paths.
    files = [n for n in from_api.nodes if n.startswith("Change:github:acme/shop#42 ")]
    assert '"files": ["src/auth/session.py", "src/payments/refund.py"]' in files[0]


def test_a_stale_approval_reads_the_same_from_the_api_and_from_webhooks(settings: Settings) -> None:
    """A pull request pushed twice, approved before the second push: webhooks record the heads it went
    through, the API only the final one, yet the five-minute answer is the same (the approval is stale)."""
    first, final = ex.sha("stale-first"), ex.sha("stale-final")
    with gh.FakeGitHub(TOKEN) as fake:
        repo = fake.repo(REPO)
        repo.prs[42] = gh.pull_request(
            REPO,
            42,
            author="carol",
            title="Two pushes",
            updated="2026-01-05T12:00:00Z",
            commits=[
                gh.commit(first, message="first", author="carol", at="2026-01-05T09:00:00Z"),
                gh.commit(final, message="final", author="carol", at="2026-01-05T10:00:00Z"),
            ],
            files=["docs/readme.md"],
            reviews=[
                gh.review(
                    911, repo=REPO, number=42, reviewer="dave", state="APPROVED", oid=first, at="2026-01-05T09:30:00Z"
                )
            ],
        )
        run_github(settings, fake)
        api_answer = _answer(settings)
    run_graph(settings, repository.delete_all)
    review = ex.review(
        REPO,
        42,
        reviewer="dave",
        state="APPROVED",
        commit=first,
        review_id=911,
        at="2026-01-05T09:30:00Z",
        pr_author="carol",
    )
    review["payload"]["review"]["html_url"] = f"https://github.com/{REPO}/pull/42#pullrequestreview-911"
    load(
        settings,
        [
            ex.push(
                REPO,
                commits=[
                    ex.commit(
                        first, message="first", author="carol", at="2026-01-05T09:00:00Z", files=["docs/readme.md"]
                    )
                ],
                before=ex.sha("m"),
                ref="refs/heads/feature-42",
            ),
            ex.pull_request(
                REPO, 42, action="opened", author="carol", head=first, title="Two pushes", at="2026-01-05T09:05:00Z"
            ),
            review,
            ex.push(
                REPO,
                commits=[
                    ex.commit(
                        final, message="final", author="carol", at="2026-01-05T10:00:00Z", files=["docs/readme.md"]
                    )
                ],
                before=first,
                ref="refs/heads/feature-42",
            ),
            ex.pull_request(
                REPO,
                42,
                action="synchronize",
                author="carol",
                head=final,
                title="Two pushes",
                at="2026-01-05T12:00:00Z",
            ),
        ],
        via="webhook:github",
    )
    webhook_answer = _answer(settings)
    for answer in (api_answer, webhook_answer):
        answer.pop("url"), answer.pop("created_at")  # the webhook helper names these its own way
    assert api_answer == webhook_answer
    assert api_answer["approvals"][0]["stale"] is True
    assert api_answer["verdict"]["status"] == "UNVERIFIED"


# --- incremental runs, pagination, posture -----------------------------------------------------------


def test_a_second_run_fetches_only_what_changed_and_writes_nothing_for_the_rest(settings: Settings) -> None:
    with gh.FakeGitHub(TOKEN) as fake:
        repo = shop(fake)
        first = run_github(settings, fake)
        assert first.records["pull requests"] == 1 and first.summary.written.nodes_created > 0
        before = run_graph(settings, snapshot)
        fake.log.clear()
        second = run_github(settings, fake)
        # Replays of what the graph holds write nothing; the unchanged REST answers were 304s.
        assert second.summary.written.properties_set == 0 and second.summary.written.nodes_created == 0
        assert run_graph(settings, snapshot) == before
        assert second.api.stats.not_modified >= 2
        assert fake.count("graphql:PullRequests") == 1
        # A new review bumps the pull request: the next run reads it (and only it) again.
        repo.prs[43] = gh.pull_request(
            REPO,
            43,
            author="erin",
            title="Old",
            updated="2025-12-01T00:00:00Z",
            commits=[gh.commit(ex.sha("old"), message="old", author="erin", at="2025-12-01T00:00:00Z")],
        )
        pr = repo.prs[42]
        pr["reviews"].append(
            gh.review(904, repo=REPO, number=42, reviewer="gina", state="APPROVED", oid=HEAD, at="2026-01-07T08:00:00Z")
        )
        pr["updatedAt"] = "2026-01-07T08:00:00Z"
        third = run_github(settings, fake)
    assert third.records["pull requests"] == 1 and third.records["reviews"] == 4
    approvals = _answer(settings)["approvals"]
    assert [a["reviewer"]["login"] for a in approvals] == ["erin", "dave", "gina"]
    # #43 was last updated before what the first run saw: an incremental run does not go back for it.
    assert run_graph(settings, lambda g: repository.change(g, load_policy(), repo="acme/shop", number=43)) is None


def test_pages_of_pull_requests_and_long_nested_lists_are_all_read(settings: Settings) -> None:
    with gh.FakeGitHub(TOKEN) as fake:
        repo = fake.repo(REPO)
        for n in range(1, 26):
            at = f"2026-02-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"
            repo.prs[n] = gh.pull_request(
                REPO,
                n,
                author="carol",
                title=f"change {n}",
                updated=at,
                commits=[gh.commit(ex.sha(f"c{n}"), message=f"c{n}", author="carol", at=at)],
            )
        big = repo.prs[7]
        big["files"] = [f"src/module_{i}.py" for i in range(130)] + ["src/auth/login.py"]
        big["reviews"] = [
            gh.review(
                10_000 + i,
                repo=REPO,
                number=7,
                reviewer=f"r{i}",
                state="COMMENTED",
                oid=ex.sha("c7"),
                at="2026-02-08T00:00:00Z",
            )
            for i in range(60)
        ]
        big["commits"] = [
            gh.commit(ex.sha(f"big{i}"), message=f"step {i}", author="carol", at="2026-02-08T00:00:00Z")
            for i in range(120)
        ] + big["commits"]
        big["headContexts"] = [
            gh.status_context(f"ctx-{i}", state="success", at="2026-02-08T00:00:00Z") for i in range(130)
        ]
        run = run_github(settings, fake, page_size=10)
        requests = dict(fake.log and {label: fake.count(label) for label, _ in fake.log})
    assert run.records["pull requests"] == 25
    assert requests["graphql:PullRequests"] == 3  # 10 + 10 + 5
    assert requests["graphql:PullRequestFiles"] == 1 and requests["graphql:PullRequestReviews"] == 1
    assert requests["graphql:PullRequestCommits"] == 1 and requests["graphql:CommitChecks"] == 1
    answer = run_graph(settings, lambda g: repository.change(g, load_policy(), repo="acme/shop", number=7))
    assert answer is not None and answer.risk_area == "auth"  # the 131st path decided it
    assert len(answer.commits) == 121
    assert len([e for e in answer.evidence if e.name.startswith("ctx-")]) == 130


def test_workflow_runs_follow_link_pages_and_the_org_listing_is_cached_by_etag(settings: Settings) -> None:
    with gh.FakeGitHub(TOKEN) as fake:
        fake.repo(REPO).runs = [
            gh.workflow_run(
                20_000 + i,
                repo=REPO,
                name="CI",
                sha=ex.sha(f"r{i}"),
                created=f"2026-03-01T{i // 60:02d}:{i % 60:02d}:00Z",
            )
            for i in range(210)
        ]
        fake.repo("Acme/Docs", default_branch=None)
        # Named again in another case: GitHub ignores case in repository names, so it is read once.
        run = run_github(settings, fake, org="acme", repos=["acme/shop"])
        assert run.records["workflow runs"] == 210
        assert fake.count("GET /repos/Acme/Shop/actions/runs") == 3  # Link: next, next, last
        assert run.collector.repositories == ["Acme/Docs", "Acme/Shop"]
        fake.log.clear()
        again = run_github(settings, fake, org="acme", repos=[])
    assert ("GET /orgs/acme/repos", 304) in fake.log
    assert ("GET /repos/Acme/Shop/actions/runs", 304) in fake.log
    assert again.records["workflow runs"] == 0


def test_the_default_branch_protection_is_recorded_as_the_repository_posture(settings: Settings) -> None:
    with gh.FakeGitHub(TOKEN) as fake:
        repo = shop(fake)
        # GET /repos/{o}/{r}/branches/main/protection and /rules/branches/main as GitHub answers them
        # (corpus/github-api/hub4j-recorded); the ruleset itself names who may bypass it.
        repo.protection = {
            "required_status_checks": {
                "strict": True,
                "contexts": ["ci/lint"],
                "checks": [{"context": "unit-tests", "app_id": 15368}],
            },
            "required_pull_request_reviews": {
                "dismiss_stale_reviews": True,
                "require_code_owner_reviews": True,
                "required_approving_review_count": 2,
                "require_last_push_approval": False,
                "bypass_pull_request_allowances": {"users": [{"login": "release-bot"}], "teams": [], "apps": []},
            },
            "enforce_admins": {"enabled": False},
        }
        repo.rules = [
            {"type": "deletion", "ruleset_source_type": "Repository", "ruleset_source": REPO, "ruleset_id": 42},
            {
                "type": "pull_request",
                "parameters": {
                    "required_approving_review_count": 1,
                    "dismiss_stale_reviews_on_push": True,
                    "require_code_owner_review": False,
                    "require_last_push_approval": True,
                    "required_review_thread_resolution": False,
                },
                "ruleset_id": 42,
            },
        ]
        repo.rulesets[42] = {
            "id": 42,
            "name": "main-guard",
            "target": "branch",
            "enforcement": "active",
            "bypass_actors": [{"actor_id": 5, "actor_type": "RepositoryRole", "bypass_mode": "always"}],
        }
        run_github(settings, fake)
        found = run_graph(settings, lambda g: collect_state.posture(g, REPO))
        assert found is not None and found.protected
        assert (found.required_approvals, found.dismiss_stale_reviews, found.require_code_owner_reviews) == (
            2,
            True,
            True,
        )
        assert found.require_last_push_approval and not found.enforce_admins
        assert found.bypass_actors == ["role:admin", "user:release-bot"]
        assert found.required_checks == ["ci/lint", "unit-tests"]
        assert found.posture_sources == ["branch_protection", "ruleset:main-guard"]
        # Protection removed: the next observation says so rather than keeping the old requirements.
        repo.protection, repo.rules = None, []
        # Observations are stamped in whole seconds, and one of the same second as the stored one does not
        # replace it (the writer keeps the first arrival of a version): observe in a later second.
        time.sleep(1.05 - time.time() % 1)
        run_github(settings, fake)
        gone = run_graph(settings, lambda g: collect_state.posture(g, REPO))
    assert gone is not None and not gone.protected and gone.required_approvals == 0 and gone.bypass_actors == []
    assert gone.posture_at is not None and gone.posture_at >= found.posture_at  # type: ignore[operator]


def test_branch_protection_hidden_from_the_token_is_a_warning_not_a_guess(settings: Settings) -> None:
    with gh.FakeGitHub(TOKEN) as fake:
        shop(fake)
        fake.faults.append(
            gh_fault(
                "GET /repos/Acme/Shop/branches/main/protection",
                403,
                {"message": "Must have admin rights to Repository."},
            )
        )
        run = run_github(settings, fake)
    assert any("admin rights" in w for w in run.warnings)
    found = run_graph(settings, lambda g: collect_state.posture(g, REPO))
    assert found is not None and found.posture_at is None and found.protected is None


def gh_fault(match: str, status: int, body: Any, headers: dict[str, str] | None = None, times: int = 1) -> Any:
    from tests.fakes.server import Fault

    return Fault(match, status, body, headers or {}, times)


# --- killed and started again --------------------------------------------------------------------------


def _cli(settings: Settings, fake: gh.FakeGitHub, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "GITHUB_TOKEN": TOKEN,
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "collect",
            "github",
            "--repo",
            REPO,
            "--api-url",
            fake.url,
            "--page-size",
            "10",
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _big(fake: gh.FakeGitHub) -> None:
    # No default branch, so no posture: its observation time would differ between any two runs.
    repo = fake.repo(REPO, default_branch=None)
    for n in range(1, 61):
        at = f"2026-04-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00Z"
        sha = ex.sha(f"k{n}")
        repo.prs[n] = gh.pull_request(
            REPO,
            n,
            author="carol",
            title=f"change {n}",
            updated=at,
            commits=[gh.commit(sha, message=f"change {n}", author="carol", at=at)],
            reviews=[gh.review(50_000 + n, repo=REPO, number=n, reviewer="dave", state="APPROVED", oid=sha, at=at)],
            head_contexts=[
                gh.check_run(
                    60_000 + n,
                    repo=REPO,
                    name="unit-tests",
                    conclusion="success",
                    suite=70_000 + n,
                    started=at,
                    completed=at,
                )
            ],
        )


def test_a_run_killed_with_sigkill_resumes_and_ends_with_the_same_graph(settings: Settings) -> None:
    with gh.FakeGitHub(TOKEN) as fake:
        _big(fake)
        run_github(settings, fake, page_size=10)  # the same collection, uninterrupted, in this process
        pages = fake.count("graphql:PullRequests")
        assert pages == 6  # 60 pull requests, 10 a page
        uninterrupted = run_graph(settings, snapshot)
        run_graph(settings, repository.delete_all)
        fake.log.clear()
        fake.delay = 0.4  # slow enough to kill it half way
        killed = _cli(settings, fake)
        deadline = time.monotonic() + 120
        while fake.count("graphql:PullRequests") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        before_kill = fake.count("graphql:PullRequests")
        saved = run_graph(settings, lambda g: collect_state.load_cursor(g, "github:acme/shop:pull_requests"))
        assert saved.get("run"), "the pages written before the kill left a cursor to resume from"
        fake.delay = 0.0
        fake.log.clear()
        resumed = _cli(settings, fake)
        out, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err
        after_kill = fake.count("graphql:PullRequests")
    assert run_graph(settings, snapshot) == uninterrupted
    # Every page is read once, but for the one the kill interrupted.
    assert before_kill + after_kill <= pages + 1, (before_kill, after_kill)


# --- the token stays in the request headers -----------------------------------------------------------


def test_the_token_is_never_stored_logged_or_exported(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    with gh.FakeGitHub(TOKEN) as fake:
        shop(fake)
        fake.repo(REPO).prs[42]["title"] = "a title that is not valid for the graph \ud800"  # rejected -> quarantine
        run = run_github(settings, fake)
        env = {
            "GITHUB_TOKEN": TOKEN,
            "NEO4J_URI": settings.neo4j_uri or "",
            "NEO4J_PASSWORD": settings.neo4j_password or "",
            "TRACEGRAPH_HOME": str(settings.home),
        }
        args = ["collect", "github", "--repo", REPO, "--api-url", fake.url, "--full"]
        collected = CliRunner(env=env).invoke(main, args)
    assert fake.tokens_seen == {f"Bearer {TOKEN}"}  # it did travel, in the Authorization header
    assert run.summary.rejected, "the odd title should have been quarantined"
    graph = run_graph(settings, lambda g: snapshot(g, with_travel=True))
    quarantine = "".join(p.read_text(errors="replace") for p in settings.quarantine_dir.rglob("*") if p.is_file())
    exported = CliRunner(env=env).invoke(
        main, ["export", "--change", "acme/shop#42", "--out", str(tmp_path / "bundle")]
    )
    assert exported.exit_code == 0, exported.output
    assert collected.exit_code == 1 and "rejected" in collected.output  # the odd title, parked
    bundle = "".join(p.read_text(errors="replace") for p in (tmp_path / "bundle").rglob("*") if p.is_file())
    for where, text in {
        "graph": "\n".join(graph.nodes + graph.edges),
        "quarantine": quarantine,
        "cli output": collected.output + exported.output,
        "logs": caplog.text,
        "export": bundle,
    }.items():
        assert TOKEN not in text, f"the token leaked into the {where}"
    assert quarantine, "the quarantine should hold the rejected record"
