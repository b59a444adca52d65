"""GitHub webhook normalisers: payload in, nodes and edges out, one table per event type."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from graph.batch import Batch, EdgeRow, NodeRow
from graph.vocabulary import Label, Rel
from ingest.sources.base import Event, Rejected
from ingest.sources.github import SOURCE, infer_type

FIXTURES = Path(__file__).parent / "fixtures" / "github"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "github-webhooks"

HEAD_OLD = "3f8e2b1c9d0a4e5f6a7b8c9d0e1f2a3b4c5d6e7f"
HEAD = "c0ffee1234567890abcdef1234567890abcdef12"
TEST_MERGE = "7e57e57e57e57e57e57e57e57e57e57e57e57e57"
MERGE = "b16b00b5deadbeefcafef00d0123456789abcdef"
ZERO = "0" * 40
PR42 = "github:acme/shop#42"

A = Label.AGENT_SESSION
CH, CO, DEP, EV, PE, REPO, REV, SVC = (
    Label.CHANGE,
    Label.COMMIT,
    Label.DEPLOYMENT,
    Label.EVIDENCE,
    Label.PERSON,
    Label.REPOSITORY,
    Label.REVIEW,
    Label.SERVICE,
)


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def event(payload: Any, kind: str | None, event_id: str = "delivery-1") -> Event:
    return Event(source="github", type=kind, id=event_id, payload=payload, received_at="2026-01-05T14:00:00Z")


def run(name: str, kind: str | None = None) -> Batch:
    """Normalise a fixture; the event type defaults to the file name's prefix (its X-GitHub-Event)."""
    return SOURCE.normalise(event(load(name), kind or name.split(".")[0], event_id=name))


def props(batch: Batch, label: Label, key: str) -> dict[str, Any]:
    """All properties the batch asserts for one node (rows merged in order)."""
    rows = [n for n in batch.find_nodes(label) if n.key == key]
    assert rows, f"no {label} {key!r} in {[(n.label, n.key) for n in batch.nodes]}"
    merged: dict[str, Any] = {}
    for row in rows:
        merged.update(row.props)
    return merged


def keys(batch: Batch, label: Label) -> set[str]:
    return {n.key for n in batch.find_nodes(label)}


def edges(batch: Batch) -> set[tuple[str, str, str, str, str]]:
    return {(str(e.src_label), e.src_key, str(e.rel), str(e.dst_label), e.dst_key) for e in batch.edges}


def edge(src: Label, src_key: str, rel: Rel, dst: Label, dst_key: str) -> tuple[str, str, str, str, str]:
    return (str(src), src_key, str(rel), str(dst), dst_key)


def version_of(batch: Batch, label: Label, key: str) -> str:
    return next(n.version for n in batch.find_nodes(label) if n.key == key)


ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_row_has_a_version_and_an_origin(name: str) -> None:
    batch = run(name)
    assert len(batch) > 0
    rows: list[NodeRow | EdgeRow] = [*batch.nodes, *batch.edges]
    for row in rows:
        assert row.version.endswith(f"#{name}"), row
        assert row.props["source"] == "github" and row.props["sourceEventId"] == name, row
        assert row.props["receivedAt"] == "2026-01-05T14:00:00Z"


# --- pull_request ---------------------------------------------------------------------------

PULL_REQUESTS = [
    (
        "pull_request.opened.json",
        PR42,
        {
            "state": "open",
            "repo": "acme/shop",
            "number": 42,
            "url": "https://github.com/acme/shop/pull/42",
            "headSha": HEAD_OLD,
            "baseRef": "main",
            "headRef": "gateway",
            "draft": False,
            "labels": ["payments", "ai-assisted"],
            "additions": 120,
            "deletions": 14,
            "changedFiles": 5,
            "createdAt": "2026-01-05T10:00:00Z",
        },
        # An open PR's merge_commit_sha is GitHub's test merge: never stored.
        {"mergeCommitSha", "mergedAt", "closedAt"},
        {edge(CH, PR42, Rel.CONTAINS, CO, HEAD_OLD), edge(PE, "alice", Rel.AUTHORED, CH, PR42)},
    ),
    (
        "pull_request.synchronize.json",
        PR42,
        {"state": "open", "headSha": HEAD},
        {"mergeCommitSha"},
        {edge(CH, PR42, Rel.CONTAINS, CO, HEAD)},
    ),
    (
        "pull_request.closed_merged.json",
        PR42,
        {
            "state": "merged",
            "headSha": HEAD,
            "mergeCommitSha": MERGE,
            "mergedAt": "2026-01-05T12:30:00Z",
            "closedAt": "2026-01-05T12:30:00Z",
        },
        set(),
        {edge(CH, PR42, Rel.MERGED_AS, CO, MERGE), edge(CH, PR42, Rel.CONTAINS, CO, HEAD)},
    ),
    (
        "pull_request.closed_unmerged.json",
        "github:acme/shop#43",
        {"state": "closed", "labels": [], "closedAt": "2026-01-06T08:00:00Z", "title": "Try a cache"},
        {"mergeCommitSha", "mergedAt", "contractIntent"},
        set(),
    ),
    (
        "pull_request.opened_by_bot.json",
        "github:acme/shop#44",
        {"state": "open", "draft": True, "labels": ["dependencies"]},
        {"mergeCommitSha", "contractRisk"},
        {edge(PE, "dependabot[bot]", Rel.AUTHORED, CH, "github:acme/shop#44")},
    ),
    (
        # user null and labels null: the Change still lands, with no author and labels untouched.
        "pull_request.broken_provenance.json",
        "github:acme/shop#45",
        {"state": "open", "title": "Refactor cart"},
        {"labels"},
        set(),
    ),
]


@pytest.mark.parametrize(("name", "change", "expected", "absent", "edge_set"), PULL_REQUESTS)
def test_pull_request(name: str, change: str, expected: dict, absent: set, edge_set: set) -> None:
    batch = run(name)
    found = props(batch, CH, change)
    assert {k: found.get(k) for k in expected} == expected
    assert not absent & set(found)
    assert edge(CH, change, Rel.IN, REPO, "acme/shop") in edges(batch)
    assert edge_set <= edges(batch)
    assert props(batch, REPO, "acme/shop")["url"] == "https://github.com/acme/shop"
    assert not {e for e in edges(batch) if e[2] == "MERGED_AS"} or found["state"] == "merged"


def test_pull_request_version_is_updated_at() -> None:
    assert version_of(run("pull_request.synchronize.json"), CH, PR42).startswith("2026-01-05T11:00:00Z#00#")


@pytest.mark.parametrize(
    ("name", "login", "is_bot"),
    [
        ("pull_request.opened.json", "alice", False),
        ("pull_request.opened_by_bot.json", "dependabot[bot]", True),
    ],
)
def test_pull_request_author_bot_flag(name: str, login: str, is_bot: bool) -> None:
    assert props(run(name), PE, login)["isBot"] is is_bot


def test_pull_request_title_is_redacted() -> None:
    title = props(run("pull_request.opened.json"), CH, PR42)["title"]
    assert "ghp_" not in title and "[REDACTED:github-token]" in title
    assert title.startswith("Use new payment gateway")


CONTRACT = [
    ("contractIntent", "Charge cards through the new payment gateway client."),
    ("contractRisk", "Payments path; a bad retry loop could double-charge."),
    (
        "contractTestEvidence",
        "- unit tests for the retry policy\n- staging run https://ci.example.com/runs/88",
    ),
    ("contractRollout", "Behind the `new-gateway` flag, 5% of traffic first."),
    ("contractRollback", None),  # only a template comment: not a contract
]


@pytest.mark.parametrize(("prop", "text"), CONTRACT)
def test_pull_request_contract_sections(prop: str, text: str | None) -> None:
    assert props(run("pull_request.opened.json"), CH, PR42).get(prop) == text


def test_repository_without_full_name_falls_back_to_owner_and_name() -> None:
    payload = load("pull_request.opened.json")
    del payload["repository"]["full_name"]
    batch = SOURCE.normalise(event(payload, "pull_request"))
    assert keys(batch, CH) == {PR42} and keys(batch, REPO) == {"acme/shop"}


def test_contract_headings_inside_code_fences_are_ignored() -> None:
    payload = load("pull_request.closed_unmerged.json")
    payload["pull_request"]["body"] = "## Testing\n```sh\n# Rollback\npytest -q\n```\nAll green.\n### Notes\nsee CI"
    found = props(SOURCE.normalise(event(payload, "pull_request")), CH, "github:acme/shop#43")
    assert found["contractTestEvidence"] == "```sh\n# Rollback\npytest -q\n```\nAll green.\n### Notes\nsee CI"
    assert "contractRollback" not in found


def test_pull_request_provenance_block_adds_a_session_that_proposed_the_change() -> None:
    batch = run("pull_request.opened.json")
    session = props(batch, A, "sess-claude-7f3a")
    assert session["tool"] == "claude-code" and session["model"] == "claude-sonnet-4-5"
    assert edge(A, "sess-claude-7f3a", Rel.PROPOSED, CH, PR42) in edges(batch)
    assert edge(PE, "alice", Rel.OPERATED, A, "sess-claude-7f3a") in edges(batch)


def test_broken_provenance_records_are_skipped_not_fatal() -> None:
    batch = run("pull_request.broken_provenance.json")
    change = "github:acme/shop#45"
    # A bad cost, unparsable JSON and a record without session_id are dropped; the good one stays.
    assert keys(batch, A) == {"sess-cursor-11"}
    assert edge(A, "sess-cursor-11", Rel.PROPOSED, CH, change) in edges(batch)
    assert not [e for e in batch.edges if e.src_key == "sess-bad-cost" or e.dst_key == "sess-bad-cost"]


# --- pull_request_review ----------------------------------------------------------------------

REVIEWS = [
    ("pull_request_review.submitted.json", "github:review:2501000001", "APPROVED", HEAD_OLD, "bob", 0),
    ("pull_request_review.dismissed.json", "github:review:2501000001", "DISMISSED", HEAD_OLD, "bob", 2),
    (
        "pull_request_review.changes_requested.json",
        "github:review:2501000002",
        "CHANGES_REQUESTED",
        HEAD,
        "carol",
        0,
    ),
]


@pytest.mark.parametrize(("name", "review", "state", "sha", "reviewer", "rank"), REVIEWS)
def test_pull_request_review(name: str, review: str, state: str, sha: str, reviewer: str, rank: int) -> None:
    batch = run(name)
    found = props(batch, REV, review)
    assert found["state"] == state
    # commitSha is what makes an approval stale once the head moves on.
    assert found["commitSha"] == sha
    assert found["url"].endswith(review.rsplit(":", 1)[1])
    assert {
        edge(PE, reviewer, Rel.SUBMITTED, REV, review),
        edge(REV, review, Rel.OF, CH, PR42),
        edge(REV, review, Rel.AT, CO, sha),
    } <= edges(batch)
    assert version_of(batch, REV, review)[20:24] == f"#{rank:02d}#"


def test_review_updates_the_change_from_the_embedded_pull_request() -> None:
    batch = run("pull_request_review.changes_requested.json")
    change = props(batch, CH, PR42)
    assert change["headSha"] == HEAD and change["state"] == "open"
    # The embedded PR carries no diff stats; they must stay unknown rather than become zero.
    assert not {"additions", "deletions", "changedFiles", "mergeCommitSha"} & set(change)


def test_dismissal_outranks_the_submission_it_dismisses() -> None:
    submitted = version_of(run("pull_request_review.submitted.json"), REV, "github:review:2501000001")
    dismissed = version_of(run("pull_request_review.dismissed.json"), REV, "github:review:2501000001")
    assert dismissed > submitted


# --- push -------------------------------------------------------------------------------------

PUSHES = [
    ("push.branch.json", {HEAD_OLD, HEAD}, HEAD),
    ("push.forced.json", {HEAD_OLD}, HEAD_OLD),  # a rewind lists no commits; head_commit is the new head
    ("push.branch_deleted.json", set(), None),
    ("push.tag.json", set(), None),
]


@pytest.mark.parametrize(("name", "shas", "head"), PUSHES)
def test_push_commits(name: str, shas: set[str], head: str | None) -> None:
    batch = run(name)
    assert keys(batch, CO) == shas
    assert keys(batch, REPO) == {"acme/shop"}
    for sha in shas:
        found = props(batch, CO, sha)
        assert found["pushHead"] == head and found["repo"] == "acme/shop"


COMMITS = [
    (
        HEAD_OLD,
        {
            "authoredAt": "2026-01-05T08:55:00Z",
            "authorName": "Alice Martin",
            "authorEmail": "alice@acme.example",
            "authorLogin": "alice",
            "trailers": ["Co-authored-by: Claude <noreply@anthropic.com>"],
            "files": ["shop/gateway/__init__.py", "shop/gateway/client.py", "shop/payments.py"],
            "aiTools": ["claude-code"],
        },
    ),
    (
        HEAD,
        {
            "authorLogin": None,
            "trailers": [
                "AI-Session: sess-claude-7f3a",
                "AI-Tool: claude-code",
                "AI-Model: claude-sonnet-4-5",
            ],
            "files": ["shop/old_gateway.py", "shop/payments.py"],
            "aiTools": ["claude-code"],
        },
    ),
]


@pytest.mark.parametrize(("sha", "expected"), COMMITS)
def test_push_commit_properties(sha: str, expected: dict) -> None:
    found = props(run("push.branch.json"), CO, sha)
    assert {k: found.get(k) for k in expected} == expected


def test_push_commit_message_is_redacted() -> None:
    message = props(run("push.branch.json"), CO, HEAD)["message"]
    assert "ghp_" not in message and "[REDACTED:" in message
    assert message.startswith("Fix retry backoff")


def test_push_commit_version_is_its_timestamp() -> None:
    assert version_of(run("push.branch.json"), CO, HEAD_OLD).startswith("2026-01-05T08:55:00Z#00#")


AI_AUTHORSHIP = [
    # Co-authored-by: Claude -> a synthetic per-commit session for the tool.
    (HEAD_OLD, f"commit:{HEAD_OLD}:claude-code", "claude-code", None),
    # An AI-Session trailer names the real session, the same one the PR body declared.
    (HEAD, "sess-claude-7f3a", "claude-code", "claude-sonnet-4-5"),
]


@pytest.mark.parametrize(("sha", "session", "tool", "model"), AI_AUTHORSHIP)
def test_push_links_agent_sessions_to_commits(sha: str, session: str, tool: str, model: str | None) -> None:
    batch = run("push.branch.json")
    assert edge(A, session, Rel.AUTHORED, CO, sha) in edges(batch)
    found = props(batch, A, session)
    assert found["tool"] == tool and found.get("model") == model


def test_push_person_authored_only_when_a_username_exists() -> None:
    authored = {e for e in edges(run("push.branch.json")) if e[0] == "Person"}
    assert authored == {edge(PE, "alice", Rel.AUTHORED, CO, HEAD_OLD)}


# --- check_run, check_suite, status, workflow_run ---------------------------------------------

EVIDENCE = [
    (
        "check_run.completed.json",
        "github:check_run:30100200300",
        {
            "type": "check_run",
            "name": "tests (3.12)",
            "status": "completed",
            "conclusion": "success",  # lower-cased
            "commitSha": HEAD,
            "url": "https://github.com/acme/shop/actions/runs/9100/job/30100200300",
            "startedAt": "2026-01-05T11:01:00Z",
            "completedAt": "2026-01-05T11:06:30Z",
            "app": "github-actions",
            "repo": "acme/shop",
        },
        "2026-01-05T11:06:30Z#02#",
    ),
    (
        "check_run.in_progress.json",
        "github:check_run:30100200301",
        {
            "status": "in_progress",
            "conclusion": None,
            "url": "https://scanner.example.com/scans/77",
            "app": "acme-scanner",
            "completedAt": None,
        },
        "2026-01-05T11:01:00Z#01#",
    ),
    (
        "check_suite.completed.json",
        "github:check_suite:31000000001",
        {"type": "check_suite", "name": "GitHub Actions", "status": "completed", "conclusion": "failure"},
        "2026-01-05T11:07:00Z#02#",
    ),
    (
        "status.success.json",
        "github:status:acme/shop@" + HEAD + ":ci/jenkins: integration",
        {
            "type": "status",
            "name": "ci/jenkins: integration",
            "status": "completed",
            "conclusion": "success",
            "url": "https://ci.acme.example/job/shop/1207/",
        },
        "2026-01-05T11:09:00Z#02#",
    ),
    (
        "status.pending.json",
        "github:status:acme/shop@" + HEAD + ":ci/jenkins: integration",
        {"status": "pending", "conclusion": None},
        "2026-01-05T11:01:00Z#00#",
    ),
    (
        "workflow_run.completed.json",
        "github:workflow_run:9100:2",
        {
            "type": "workflow_run",
            "name": "CI",
            "status": "completed",
            "conclusion": "success",
            "url": "https://github.com/acme/shop/actions/runs/9100",
            "startedAt": "2026-01-05T11:03:00Z",
            "completedAt": "2026-01-05T11:07:10Z",
        },
        "2026-01-05T11:07:10Z#02#",
    ),
]


@pytest.mark.parametrize(("name", "evidence", "expected", "version"), EVIDENCE)
def test_evidence(name: str, evidence: str, expected: dict, version: str) -> None:
    batch = run(name)
    found = props(batch, EV, evidence)
    assert {k: found.get(k) for k in expected} == expected
    assert found["commitSha"] == HEAD
    assert edges(batch) == {edge(EV, evidence, Rel.VERIFIES, CO, HEAD)}
    assert version_of(batch, EV, evidence).startswith(version)


# --- deployment, deployment_status ------------------------------------------------------------

DEPLOYMENTS = [
    (
        "deployment.created.json",
        "github:deployment:700001",
        MERGE,
        "checkout",  # from deployment.payload.service
        {"environment": "production", "strategy": "canary", "ref": "main", "creator": "bob"},
        {"status", "finishedAt"},
    ),
    (
        "deployment_status.success.json",
        "github:deployment:700002",
        HEAD,
        "shop",  # no service in the payload: the repository's name
        {"environment": "staging", "status": "success", "finishedAt": "2026-01-05T13:12:00Z"},
        {"strategy"},
    ),
]


@pytest.mark.parametrize(("name", "deployment", "sha", "service", "expected", "absent"), DEPLOYMENTS)
def test_deployment(name: str, deployment: str, sha: str, service: str, expected: dict, absent: set) -> None:
    batch = run(name)
    found = props(batch, DEP, deployment)
    assert {k: found.get(k) for k in expected} == expected
    assert not absent & set(found)
    assert found["sha"] == sha and found["service"] == service and found["repo"] == "acme/shop"
    assert found["startedAt"] == "2026-01-05T13:00:00Z"
    assert {
        edge(DEP, deployment, Rel.SHIPPED, CO, sha),
        edge(DEP, deployment, Rel.TO, SVC, service),
        edge(REPO, "acme/shop", Rel.DEPLOYS_AS, SVC, service),
    } <= edges(batch)


@pytest.mark.parametrize(
    ("state", "rank", "finished"),
    [
        ("pending", 0, False),
        ("queued", 0, False),
        ("in_progress", 1, False),
        ("failure", 2, True),
        ("inactive", 2, False),
    ],
)
def test_deployment_status_ranks(state: str, rank: int, finished: bool) -> None:
    payload = load("deployment_status.success.json")
    payload["deployment_status"]["state"] = state
    batch = SOURCE.normalise(event(payload, "deployment_status"))
    found = props(batch, DEP, "github:deployment:700002")
    assert found["status"] == state
    assert ("finishedAt" in found) is finished
    assert version_of(batch, DEP, "github:deployment:700002").startswith(f"2026-01-05T13:12:00Z#{rank:02d}#")


# --- infer_type -------------------------------------------------------------------------------

INFER = [
    ("pull_request.opened.json", "pull_request"),
    ("pull_request_review.submitted.json", "pull_request_review"),
    ("push.branch.json", "push"),
    ("push.branch_deleted.json", "push"),
    ("check_run.completed.json", "check_run"),
    ("check_suite.completed.json", "check_suite"),
    ("status.success.json", "status"),
    ("workflow_run.completed.json", "workflow_run"),
    ("deployment.created.json", "deployment"),
    ("deployment_status.success.json", "deployment_status"),
]


@pytest.mark.parametrize(("name", "kind"), INFER)
def test_infer_type_of_fixtures(name: str, kind: str) -> None:
    assert infer_type(load(name)) == kind


INFER_SHAPES = [
    ({"ref": "main", "before": "a", "after": "b", "commits": []}, "push"),
    ({"pusher": {"name": "x"}, "ref": "refs/heads/main"}, "push"),
    ({"deployment": {}, "workflow_run": {}}, "deployment"),  # deployments embed their workflow run
    ({"deployment_status": {}, "deployment": {}, "check_run": {}}, "deployment_status"),
    ({"workflow_job": {}, "deployment": {}}, "workflow_job"),
    ({"review": {}, "pull_request": {}}, "pull_request_review"),
    ({"comment": {}, "pull_request": {}}, "pull_request_review_comment"),
    ({"thread": {}, "pull_request": {}}, "pull_request_review_thread"),
    ({"comment": {}, "issue": {}}, "issue_comment"),
    ({"release": {}, "action": "published"}, "release"),
    ({"ref": "v1", "ref_type": "tag", "master_branch": "main", "description": None}, "create"),
    ({"ref": "feature", "ref_type": "branch", "pusher_type": "user"}, "delete"),
    ({"merge_group": {}}, "merge_group"),
    ({"zen": "Keep it logically awesome.", "hook_id": 1}, "ping"),
    ({"number": 1, "title": "a bare PR object"}, None),
    ({}, None),
    ([], None),
    ("push", None),
    (None, None),
]


@pytest.mark.parametrize(("payload", "kind"), INFER_SHAPES)
def test_infer_type_shapes(payload: Any, kind: str | None) -> None:
    assert infer_type(payload) == kind


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "published", "release": {"id": 1}},
        {"ref": "v1", "ref_type": "tag", "master_branch": "main"},
        {"ref": "v1", "ref_type": "tag"},
        {"action": "created", "comment": {}, "issue": {}},
        {"action": "queued", "workflow_job": {}},
        {"action": "created", "comment": {}, "pull_request": {}},
        {"action": "checks_requested", "merge_group": {}},
    ],
)
def test_unhandled_event_types_are_rejected_by_name(payload: dict) -> None:
    kind = infer_type(payload)
    with pytest.raises(Rejected, match=rf"unknown github event type '{kind}' \(known: .*pull_request"):
        SOURCE.normalise(event(payload, None))


def test_unrecognisable_payload_is_rejected() -> None:
    with pytest.raises(Rejected, match="cannot tell the github event type"):
        SOURCE.normalise(event({"hello": "world"}, None))


# --- malformed payloads -----------------------------------------------------------------------

MISSING = object()

MALFORMED = [
    ("pull_request.opened.json", ("pull_request", "number"), MISSING, "pull_request.number"),
    ("pull_request.opened.json", ("pull_request", "number"), "42", "pull_request.number"),
    ("pull_request.opened.json", ("pull_request",), None, "pull_request.number"),
    ("pull_request.opened.json", ("repository",), {"id": 91234567}, "repository.full_name"),
    ("pull_request.opened.json", ("repository",), "acme/shop", "repository.full_name"),
    ("pull_request_review.submitted.json", ("review", "id"), MISSING, "review.id"),
    ("pull_request_review.submitted.json", ("review",), [], "review.id"),
    ("pull_request_review.submitted.json", ("pull_request",), MISSING, "pull_request.number"),
    ("push.branch.json", ("repository",), None, "repository.full_name"),
    ("push.branch.json", ("ref",), MISSING, "ref"),
    ("check_run.completed.json", ("check_run", "head_sha"), MISSING, "check_run.head_sha"),
    ("check_run.completed.json", ("check_run", "id"), None, "check_run.id"),
    ("check_suite.completed.json", ("check_suite", "head_sha"), "", "check_suite.head_sha"),
    ("status.success.json", ("sha",), MISSING, "sha"),
    ("status.success.json", ("context",), MISSING, "context"),
    ("status.success.json", ("state",), 3, "state"),
    ("workflow_run.completed.json", ("workflow_run", "id"), MISSING, "workflow_run.id"),
    ("workflow_run.completed.json", ("workflow_run", "head_sha"), {}, "workflow_run.head_sha"),
    ("deployment.created.json", ("deployment", "id"), MISSING, "deployment.id"),
    ("deployment.created.json", ("deployment", "sha"), MISSING, "deployment.sha"),
    ("deployment_status.success.json", ("deployment_status", "state"), MISSING, "deployment_status.state"),
    ("deployment_status.success.json", ("deployment",), MISSING, "deployment.id"),
]


def mutate(payload: dict, path: tuple[str, ...], value: Any) -> dict:
    target = payload
    for step in path[:-1]:
        target = target[step]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize(("name", "path", "value", "field"), MALFORMED)
def test_malformed_payload_is_rejected_naming_the_field(name: str, path: tuple, value: Any, field: str) -> None:
    kind = name.split(".")[0]
    payload = mutate(load(name), path, value)
    with pytest.raises(Rejected, match=rf"^{kind} payload has no {field}\b"):
        SOURCE.normalise(event(payload, kind))


@pytest.mark.parametrize("kind", sorted(SOURCE.handlers))
@pytest.mark.parametrize("payload", [[], "x", 3, None])
def test_non_object_payload_is_rejected(kind: str, payload: Any) -> None:
    with pytest.raises(Rejected, match="must be a JSON object"):
        SOURCE.normalise(event(payload, kind))


ODD_VALUES: list[Any] = [None, "x", 7, True, [], {}, ["x"], [None], [{}]]


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in [(*prefix, key), *_paths(value, (*prefix, key))]]
    if isinstance(data, list):
        return [p for i, value in enumerate(data[:2]) for p in [(*prefix, i), *_paths(value, (*prefix, i))]]
    return []


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_any_field_of_any_type_gives_a_batch_or_a_rejection(name: str) -> None:
    """Swap every field of every fixture for values of the wrong type: never a crash."""
    kind = name.split(".")[0]
    original = load(name)
    outcomes: Counter[str] = Counter()
    for path in _paths(original):
        for value in ODD_VALUES:
            payload = mutate(copy.deepcopy(original), path, value)
            try:
                SOURCE.normalise(event(payload, kind))
                outcomes["batch"] += 1
            except Rejected:
                outcomes["rejected"] += 1
    assert outcomes["batch"] > 0


# --- the public corpus ------------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus of real GitHub webhook payloads not present")
def test_corpus_payloads_give_a_batch_or_a_rejection() -> None:
    outcomes: Counter[str] = Counter()
    for path in sorted(CORPUS.rglob("*.json")):
        payload = json.loads(path.read_text())
        try:
            batch = SOURCE.normalise(
                Event(
                    source="github",
                    type=None,
                    id=path.name,
                    payload=payload,
                    received_at="2026-01-01T00:00:00Z",
                )
            )
        except Rejected as rejected:
            outcomes[f"rejected: {str(rejected).split(' (known')[0]}"] += 1
            continue
        assert isinstance(batch, Batch)
        outcomes["ingested"] += 1
    print("\ngithub corpus:", dict(sorted(outcomes.items())))
    assert outcomes["ingested"] > 0


@pytest.mark.parametrize(
    ("settings", "service", "strategy"),
    [
        ({"service": "checkout", "strategy": "canary"}, "checkout", "canary"),
        ('{"service": "billing", "strategy": "flag"}', "billing", "flag"),  # the API also takes a JSON string
        ("not json", "shop", None),
        ({"service": 7}, "shop", None),
        (None, "shop", None),
    ],
)
def test_deployment_payload_settings(settings: Any, service: str, strategy: str | None) -> None:
    payload = load("deployment.created.json")
    payload["deployment"]["payload"] = settings
    found = props(SOURCE.normalise(event(payload, "deployment")), DEP, "github:deployment:700001")
    assert found["service"] == service and found.get("strategy") == strategy
