"""One pipeline for every way in: the same events give the same graph and the same answers on every path.

The corpus holds every source (GitHub, GitLab, PagerDuty, Opsgenie, postmortem, provenance,
Agent Trace, attestations, git-ai notes), an aliases file that makes one person of two GitHub
accounts, repository names in two cases, planted secrets, duplicates, and a different order per path.
Paths: files in this process, files through the normalising child process, signed webhooks (and
POST /events for sources without webhooks) drained by the inbox worker, and, for git, `ingest-git`
on a repository against the same commit events as files.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from graph import repository
from graph import schema as graph_schema
from graph.driver import Graph
from graph.models import Change
from graph.policy import load_policy
from graph.settings import Settings
from graph.snapshot import Snapshot, snapshot
from graph.trace import trace_incident
from ingest import examples as ex
from ingest import signatures, worker
from ingest.git_repo import GitIngestor, commit_event, note_event, open_repository, read_commits, repository_event
from ingest.identity import Identities
from ingest.inbox import Inbox
from ingest.pipeline.events import content_id
from ingest.runner import ingest_paths
from ingest.sources import SOURCES
from tests.conftest import run_graph, token

FIXTURES = Path(__file__).parent / "fixtures"
SECRETS = {
    "TRACEGRAPH_GITHUB_SECRET": "gh-cross-path",
    "TRACEGRAPH_GITLAB_TOKEN": "gl-cross-path",
    "TRACEGRAPH_PAGERDUTY_SECRET": "pd-cross-path",
    "TRACEGRAPH_OPSGENIE_TOKEN": "og-cross-path",
}
# Secrets planted in what the sources send; none may reach the graph.
PLANTED = {
    "title": "ghp_" + "Ab1" * 12,
    "check url": "ghs_" + "Zy9" * 12,
    "prompt": "sk-ant-api03-" + "Qw3Er5Ty7" * 3,
    "aws": "AKIA" + "Z7QX2M4N8P6R3T5V",
}
ALIASES = """
people:
  - login: carol
    name: Carol Danvers
    github: [carol, carol-alt]
    emails: [carol@example.com]
"""
GITLAB_EVENTS = {"merge_request": "Merge Request Hook", "pipeline": "Pipeline Hook", "build": "Job Hook"}


def _fixture(folder: str, name: str) -> Any:
    return json.loads((FIXTURES / folder / name).read_text())


def _alias_scenario() -> list[dict[str, Any]]:
    """carol's change approved only by her second account: UNVERIFIED on every path."""
    head, older = ex.sha("alias-head"), ex.sha("alias-older")
    opened = ex.pull_request("Acme/Shop", 7, action="opened", author="carol", head=older, title="Fix rounding")
    synced = ex.pull_request(
        "acme/shop",
        7,
        action="synchronize",
        author="carol",
        head=head,
        at="2026-01-05T10:30:00Z",
        title=f"Fix rounding (token {PLANTED['title']})",
    )
    approved = ex.review("ACME/shop", 7, reviewer="carol-alt", state="APPROVED", commit=head, review_id=701)
    stale = ex.review("acme/shop", 7, reviewer="dave", state="APPROVED", commit=older, review_id=702, head=head)
    check = ex.check_run("acme/shop", name="unit-tests", head=head, conclusion="success", run_id=7001)
    check["payload"]["check_run"]["html_url"] = f"https://x-access-token:{PLANTED['check url']}@github.com/acme/shop"
    failing = [
        ex.check_run("acme/shop", name=name, head=head, conclusion="failure", run_id=run_id)
        for name, run_id in (("integration-tests", 7002), ("e2e-tests", 7003))
    ]
    session = ex.provenance(
        "acme/shop",
        7,
        session_id="sess-cross-1",
        tool="claude-code",
        model="claude-sonnet-4",
        prompt_summary=f"fix rounding; key {PLANTED['prompt']}",
        operator="carol",
    )
    deploy = ex.deployment_status(
        "acme/shop", deployment_id=77, sha_=head, state="success", status_id=770, service="shop-api"
    )
    return [opened, synced, approved, stale, check, *failing, session, deploy]


def corpus() -> list[dict[str, Any]]:
    """Envelopes of every source; ids are what each webhook's own declaration would derive."""
    found = _alias_scenario()
    for name in (
        "pull_request.opened",
        "pull_request_review.submitted",
        "push.branch",
        "check_suite.completed",
        "status.success",
        "workflow_run.completed",
        "deployment.created",
        "deployment_status.success",
    ):
        kind = name.split(".")[0]
        found.append(
            {"source": "github", "type": kind, "id": f"gh-{name}", "payload": _fixture("github", f"{name}.json")}
        )
    for name in (
        "merge_request.open",
        "merge_request.approval",
        "merge_request.merge",
        "pipeline.success",
        "build.success",
        "push.branch",
        "deployment.success",
    ):
        kind = name.split(".")[0]
        # Files name GitLab events as the payload does, webhooks as the header does: both are one type.
        found.append(
            {
                "source": "gitlab",
                "type": GITLAB_EVENTS.get(kind, kind),
                "id": f"gl-{name}",
                "payload": _fixture("gitlab", f"{name}.json"),
            }
        )
    for name in ("v3.incident.triggered", "v3.incident.acknowledged", "v3.incident.resolved", "v2.messages"):
        payload = _fixture("pagerduty", f"{name}.json")
        found.append({"source": "pagerduty", "type": None, "id": _webhook_id("pagerduty", payload), "payload": payload})
    for name in ("create", "acknowledge", "close"):
        payload = _fixture("opsgenie", f"{name}.json")
        found.append({"source": "opsgenie", "type": None, "id": _webhook_id("opsgenie", payload), "payload": payload})
    found.append(
        {
            "source": "postmortem",
            "type": "postmortem",
            "id": "pm-full",
            "payload": (FIXTURES / "postmortems" / "full.md").read_text(),
        }
    )
    found.append(
        {
            "source": "agent-trace",
            "type": "trace",
            "id": "at-full",
            "payload": _fixture("agent_trace", "record.full.json"),
        }
    )
    found.append(
        {
            "source": "attestation",
            "type": None,
            "id": "att-slsa",
            "payload": _fixture("attestation", "statement.slsa-v1.json"),
        }
    )
    found.append(_fixture("git_ai", "envelope.note.json"))
    commit = ex.commit(ex.sha("aws-commit"), message=f"Rotate keys\n\naws {PLANTED['aws']}", author="carol")
    found.append(ex.push("acme/shop", commits=[commit], before=ex.sha("aws-before")))
    return found


def _body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _webhook_id(source: str, payload: Any) -> str:
    hook = SOURCES[source].webhook
    assert hook is not None
    return hook.delivery_id({}, payload) or content_id(_body(payload).decode())


def _headers(envelope: dict[str, Any], body: bytes) -> dict[str, str]:
    source, kind, delivery = envelope["source"], envelope["type"], envelope["id"]
    secret = SECRETS[SOURCES[source].webhook.secret_variable]  # type: ignore[union-attr]
    if source == "github":
        return {
            "X-GitHub-Event": kind,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signatures.github_signature(secret, body),
        }
    if source == "gitlab":
        return {"X-Gitlab-Event": GITLAB_EVENTS.get(kind, kind), "Idempotency-Key": delivery, "X-Gitlab-Token": secret}
    if source == "pagerduty":
        return {"X-PagerDuty-Signature": signatures.pagerduty_signature(secret, body)}
    return {signatures.OPSGENIE_HEADER: secret}


def shuffled(envelopes: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The events in another order, a few of them twice."""
    rng = random.Random(seed)
    chosen = envelopes + rng.sample(envelopes, 5)
    rng.shuffle(chosen)
    return chosen


# --- the paths ---------------------------------------------------------------------------------


def _fresh(settings: Settings) -> None:
    async def reset(graph: Graph) -> None:
        await repository.delete_all(graph)
        await graph_schema.ensure_schema(graph)

    run_graph(settings, reset)
    # Each path stores its own documents: the snapshots compare what each one put in the store.
    shutil.rmtree(settings.documents_dir, ignore_errors=True)


def via_files(settings: Settings, envelopes: list[dict[str, Any]], folder: Path, *, child: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in envelopes))
    summary = run_graph(
        settings,
        lambda g: ingest_paths(
            g, [path], source=None, type=None, quarantine_dir=folder / "quarantine", processes=child
        ),
    )
    assert summary.rejected == [], summary.rejected


def via_webhooks(settings: Settings, envelopes: list[dict[str, Any]]) -> None:
    configured = settings.model_copy(update={"webhook_secrets": {k: SecretStr(v) for k, v in SECRETS.items()}})
    ingester = token(settings, "ingester")
    with TestClient(create_app(configured)) as client:
        for envelope in envelopes:
            source = envelope["source"]
            if SOURCES[source].webhook is not None:
                body = _body(envelope["payload"])
                response = client.post(f"/webhooks/{source}", content=body, headers=_headers(envelope, body))
            else:
                response = client.post("/events", json=envelope, headers={"Authorization": f"Bearer {ingester}"})
            assert response.status_code in (200, 202), response.text
            assert response.json()["status"] in ("accepted", "duplicate"), response.text
    box = Inbox(configured.inbox_dir)
    lines: list[str] = []
    run_graph(settings, lambda g: worker.run(g, box, once=True, log=lines.append))
    assert box.counts()["quarantine"] == 0 and box.counts()["failed"] == 0, lines


# --- what must agree --------------------------------------------------------------------------


# How a fact arrived legitimately differs by path (a file is unverified, a signed webhook is the provider's):
# like the other travel properties it is left out of the comparison, and asserted per path below.
TRUST_FIELDS: Any = {
    "evidence": {"__all__": {"trust", "trust_by", "signature_problem"}},
    "approvals": {"__all__": {"trust", "trust_by"}},
}


def _answer(change: Change | None) -> str:
    return change.model_dump_json(exclude=TRUST_FIELDS) if change else "null"


async def _answers(graph: Graph) -> dict[str, str]:
    policy = load_policy()
    found: dict[str, str] = {}
    for change_id in await repository.change_ids(graph, repo=None, skip=0, limit=1000):
        found[change_id] = _answer(await repository.change_by_id(graph, policy, change_id))
    incidents = [line for line in (await snapshot(graph)).nodes if line.startswith("Incident:")]
    for line in incidents:
        incident_id = line.split(" ", 1)[0].removeprefix("Incident:")
        traced = await trace_incident(graph, policy, incident_id)
        suspects = [(_answer(s.change), s.deployment, s.score, s.reason) for s in traced.suspects] if traced else []
        found[incident_id] = repr((traced.incident, suspects, traced.notes) if traced else None)
    return found


def trust_of(settings: Settings) -> dict[str, str]:
    """The trust of every evidence and review, by node (`Evidence:<id>`), as `<level> by <who>`."""
    found = {}
    for line in run_graph(settings, lambda g: snapshot(g, with_travel=True)).nodes:
        split = line.index(" {")  # keys may hold spaces (a status context); the properties start at " {"
        node, props = line[:split], line[split + 1 :]
        if node.startswith(("Evidence:", "Review:")):
            values = json.loads(props)
            found[node] = f"{values.get('trust')} by {values.get('trustBy')}"
    return found


def _source_of(node: str) -> str:
    key = node.split(":", 1)[1]
    return key.split(":", 1)[0]


def observe(settings: Settings) -> tuple[Snapshot, dict[str, str]]:
    async def both(graph: Graph) -> tuple[Snapshot, dict[str, str]]:
        return await snapshot(graph), await _answers(graph)

    return run_graph(settings, both)


def _assert_same(paths: dict[str, tuple[Snapshot, dict[str, str]]]) -> None:
    (first, (graph, answers)), *others = paths.items()
    for name, (other_graph, other_answers) in others:
        differ = sorted(set(other_graph.nodes) ^ set(graph.nodes))
        assert differ == [], f"nodes differ: {first} vs {name}:\n" + "\n".join(differ)
        differ = sorted(set(other_graph.edges) ^ set(graph.edges))
        assert differ == [], f"edges differ: {first} vs {name}:\n" + "\n".join(differ)
        assert other_graph == graph
        for key in answers:
            assert other_answers.get(key) == answers[key], f"answer for {key} differs: {first} vs {name}"
        assert other_answers.keys() == answers.keys()


@pytest.fixture
def aliases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "aliases.yaml"
    path.write_text(ALIASES)
    monkeypatch.setenv("TRACEGRAPH_ALIASES", str(path))
    return path


def test_every_path_gives_the_same_graph_and_answers(settings: Settings, tmp_path: Path, aliases: Path) -> None:
    events = corpus()
    seen: dict[str, tuple[Snapshot, dict[str, str]]] = {}
    trusts: dict[str, dict[str, str]] = {}
    via_files(settings, shuffled(events, 1), tmp_path / "files", child=False)
    seen["files"], trusts["files"] = observe(settings), trust_of(settings)
    _fresh(settings)
    via_files(settings, shuffled(events, 2), tmp_path / "child", child=True)
    seen["child process"], trusts["child process"] = observe(settings), trust_of(settings)
    _fresh(settings)
    via_webhooks(settings, shuffled(events, 3))
    seen["webhooks + worker"], trusts["webhooks + worker"] = observe(settings), trust_of(settings)

    _assert_same(seen)
    # The same facts, vouched for by how each path brought them.
    assert set(trusts["files"]) == set(trusts["webhooks + worker"]) and len(trusts["files"]) > 10
    for path in ("files", "child process"):
        assert set(trusts[path].values()) == {"unverified by a file given to tracegraph ingest"}, trusts[path]
    by_source: dict[str, set[str]] = {}
    for node, trust in trusts["webhooks + worker"].items():
        by_source.setdefault(_source_of(node), set()).add(trust)
    assert by_source["github"] == {"provider by github webhook, signature checked"}
    assert by_source["gitlab"] == {"provider by gitlab webhook, signature checked"}
    # Attestations have no webhook: POST /events with an ingester token, named by its id.
    [uploaded] = by_source["attestation"]
    assert uploaded.startswith("uploaded by POST /events with ingester token ")
    graph, answers = seen["files"]
    assert len(graph.nodes) > 80 and {line.split(":", 1)[0] for line in graph.nodes} >= {
        "AgentSession",
        "Change",
        "Commit",
        "Deployment",
        "Evidence",
        "Incident",
        "Person",
        "Postmortem",
        "Repository",
        "Review",
        "Service",
        "SourceEvent",
    }
    text = "\n".join(graph.nodes + graph.edges)
    for where, secret in PLANTED.items():
        assert secret not in text, f"the secret planted in the {where} reached the graph"
    # Three spellings of one repository are one change; carol-alt is carol, so her approval does not count.
    change = json.loads(answers["github:acme/shop#7"])
    assert change["verdict"]["status"] == "UNVERIFIED"
    assert any("carol: reviewer is the change's author" in gap for gap in change["verdict"]["gaps"]), change["verdict"]
    assert [line for line in graph.nodes if line.startswith("Repository:acme/shop ")] != []
    assert not [line for line in graph.nodes if line.startswith(("Repository:Acme", "Repository:ACME"))]
    # Failing checks are listed by name, whatever order they arrived in.
    failing = next(gap for gap in change["verdict"]["gaps"] if "is not successful" in gap)
    assert failing.index("e2e-tests is failure") < failing.index("integration-tests is failure")


# --- git ---------------------------------------------------------------------------------------


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base = {
        "GIT_AUTHOR_NAME": "Carol",
        "GIT_AUTHOR_EMAIL": "carol@example.com",
        "GIT_COMMITTER_NAME": "Carol",
        "GIT_COMMITTER_EMAIL": "carol@example.com",
        "HOME": str(repo.parent),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=base | (env or {}))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _repository(root: Path) -> Path:
    repo = root / "shop"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", "https://github.com/Acme/Shop.git")
    for i, message in enumerate(
        [
            "Add refunds",
            f"Rotate credentials\n\naws key {PLANTED['aws']}",
            "Round refunds\n\nAI-Session: sess-cross-1\nCo-Authored-By: Claude Opus 4.6 <noreply@anthropic.com>",
        ]
    ):
        (repo / f"f{i}.py").write_text(f"x = {i}\n")
        (repo / "tests").mkdir(exist_ok=True)
        (repo / "tests" / f"test_{i}.py").write_text("assert True\n")
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", message, env={"GIT_COMMITTER_DATE": f"2026-01-0{i + 1}T10:00:00Z"})
    head = _git(repo, "rev-parse", "HEAD")
    note = _fixture("git_ai", "envelope.note.json")["payload"]["note"]
    _git(repo, "notes", "--ref=ai", "add", "-m", note, head)
    return repo


def test_git_ingest_gives_the_graph_its_events_give_as_files(settings: Settings, tmp_path: Path, aliases: Path) -> None:
    repo_path = _repository(tmp_path)
    repo = open_repository(repo_path)

    async def ingest(graph: Graph) -> None:
        summary = await GitIngestor(graph, repo, Identities.load(aliases), tmp_path / "quarantine").run(None)
        assert summary.rejected == [] and summary.commits == 3 and summary.notes == 1

    async def events() -> list[dict[str, Any]]:
        found = [repository_event(repo, "2026-02-01T00:00:00Z")]
        async for commit in read_commits(repo, None):
            found.append(commit_event(repo, commit, "2026-02-01T00:00:00Z"))
            if commit.note:
                found.append(note_event(repo, commit, "2026-02-01T00:00:00Z"))
        return [{"source": e.source, "type": e.type, "id": e.id, "payload": e.payload} for e in found]

    run_graph(settings, ingest)
    from_git = observe(settings)
    envelopes = asyncio.run(events())
    _fresh(settings)
    via_files(settings, shuffled(envelopes, 4), tmp_path / "files", child=False)
    from_files = observe(settings)
    _fresh(settings)
    via_webhooks(settings, shuffled(envelopes, 5))
    _assert_same({"ingest-git": from_git, "files": from_files, "POST /events + worker": observe(settings)})

    graph = from_git[0]
    assert PLANTED["aws"] not in "\n".join(graph.nodes)
    assert any(line.startswith("Repository:acme/shop ") for line in graph.nodes)


def test_replaying_known_events_writes_nothing(settings: Settings, tmp_path: Path, aliases: Path) -> None:
    events = corpus()
    via_files(settings, shuffled(events, 6), tmp_path / "first", child=False)
    before = observe(settings)[0]
    path = tmp_path / "again.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in shuffled(events, 7)))
    summary = run_graph(
        settings, lambda g: ingest_paths(g, [path], source=None, type=None, quarantine_dir=tmp_path / "q")
    )
    assert summary.rejected == [] and summary.accepted == len(events) + 5
    written = summary.written
    assert (written.nodes_created, written.edges_created, written.properties_set) == (0, 0, 0)
    assert observe(settings)[0] == before
