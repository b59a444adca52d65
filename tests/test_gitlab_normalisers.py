"""GitLab webhook normalisers: payload in, nodes and edges out, one table per event type."""

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
from ingest.sources.gitlab import SOURCE, infer_type
from ingest.sources.gitlab_payloads import gitlab_time, is_bot
from tests.conftest import CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "gitlab"
GITLAB_CORPUS = CORPUS / "gitlab-webhooks"

PROJECT = "acme/platform/payments-api"
WEB = f"https://gitlab.example.com/{PROJECT}"
H1 = "3f8e2b1c9d0a4e5f6a7b8c9d0e1f2a3b4c5d6e7f"
MID = "77aa88bb99cc00dd11ee22ff33aa44bb55cc66dd"
H2 = "c0ffee1234567890abcdef1234567890abcdef12"
MERGE = "b16b00b5deadbeefcafef00d0123456789abcdef"
SQUASH = "5a" * 20
ZERO = "0" * 40
MR17 = f"gitlab:{PROJECT}!17"
APPROVAL = f"gitlab:approval:{PROJECT}!17:bob:{H2}"

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
    return Event(source="gitlab", type=kind, id=event_id, payload=payload, received_at="2026-01-05T14:00:00Z")


def run(name: str, kind: str | None = None) -> Batch:
    """Normalise a fixture; with no type given it is told by the payload's object_kind."""
    return SOURCE.normalise(event(load(name), kind, event_id=name))


def props(batch: Batch, label: Label, key: str) -> dict[str, Any]:
    """All properties the batch asserts for one node (rows merged in version order)."""
    rows = sorted((n for n in batch.find_nodes(label) if n.key == key), key=lambda n: n.version)
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
    return max(n.version for n in batch.find_nodes(label) if n.key == key)


ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_row_has_a_version_and_an_origin(name: str) -> None:
    batch = run(name)
    assert len(batch) > 0
    rows: list[NodeRow | EdgeRow] = [*batch.nodes, *batch.edges]
    for row in rows:
        assert row.version.endswith(f"#{name}"), row
        assert row.props["source"] == "gitlab" and row.props["sourceEventId"] == name, row
        assert row.props["receivedAt"] == "2026-01-05T14:00:00Z"


# --- times and bots ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-05 10:00:00 UTC", "2026-01-05T10:00:00Z"),
        ("2021-04-28 21:50:00 +0200", "2021-04-28T19:50:00Z"),
        ("2012-01-03T23:36:29+02:00", "2012-01-03T21:36:29Z"),
        ("2017-09-20T08:31:45.944Z", "2017-09-20T08:31:45Z"),
        ("2024-01-26", "2024-01-26T00:00:00Z"),
        ("2026-01-05 10:00:00 UTC ", "2026-01-05T10:00:00Z"),
        ("yesterday UTC", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_gitlab_time(value: Any, expected: str | None) -> None:
    assert gitlab_time(value) == expected


@pytest.mark.parametrize(
    ("username", "user", "bot"),
    [
        ("alice", None, False),
        ("talbot", None, False),  # a surname, not a bot
        ("project_42_bot", None, True),
        ("project_42_bot_0f3c9e1d", None, True),
        ("group_7_bot_ab12", None, True),
        ("service_account_group_9_5e21", None, True),
        ("renovate-bot", None, True),
        ("deploy_bot", None, True),
        ("dependabot[bot]", None, True),
        ("dependabot", None, True),
        ("ghost", None, True),
        ("carol", {"bot": True}, True),
    ],
)
def test_is_bot(username: str, user: Any, bot: bool) -> None:
    assert is_bot(username, user) is bot


# --- merge requests ---------------------------------------------------------------------------

MERGE_REQUESTS = [
    (
        "merge_request.open.json",
        MR17,
        {
            "repo": PROJECT,
            "number": 17,
            "state": "open",
            "url": f"{WEB}/-/merge_requests/17",
            "headSha": H1,
            "baseRef": "main",
            "headRef": "refunds-17",
            "draft": False,
            "labels": ["payments", "ai-assisted"],
            "createdAt": "2026-01-05T10:00:00Z",
        },
        {"mergeCommitSha", "mergedAt", "closedAt"},
        {edge(CH, MR17, Rel.CONTAINS, CO, H1), edge(PE, "gitlab:alice", Rel.AUTHORED, CH, MR17)},
    ),
    (
        "merge_request.update_new_commit.json",
        MR17,
        {"state": "open", "headSha": H2},
        {"mergeCommitSha", "mergedAt"},
        {edge(CH, MR17, Rel.CONTAINS, CO, H2), edge(PE, "gitlab:alice", Rel.AUTHORED, CH, MR17)},
    ),
    (
        "merge_request.merge.json",
        MR17,
        {
            "state": "merged",
            "headSha": H2,
            "mergeCommitSha": MERGE,
            "mergedAt": "2026-01-05T12:30:00Z",
            "closedAt": "2026-01-05T12:30:00Z",
        },
        set(),
        {edge(CH, MR17, Rel.MERGED_AS, CO, MERGE), edge(CH, MR17, Rel.CONTAINS, CO, H2)},
    ),
    (
        # Squash merge with fast-forward: no merge commit, the squashed commit is what landed.
        "merge_request.merge_squash.json",
        f"gitlab:{PROJECT}!18",
        {"state": "merged", "mergeCommitSha": SQUASH, "mergedAt": "2026-01-06T09:00:00Z", "labels": []},
        {"contractIntent"},
        {edge(CH, f"gitlab:{PROJECT}!18", Rel.MERGED_AS, CO, SQUASH)},
    ),
    (
        "merge_request.close.json",
        f"gitlab:{PROJECT}!19",
        {"state": "closed", "closedAt": "2026-01-06T08:00:00Z", "title": "Try a cache"},
        {"mergeCommitSha", "mergedAt", "contractIntent"},
        set(),
    ),
    (
        "merge_request.reopen.json",
        f"gitlab:{PROJECT}!19",
        {"state": "open"},
        {"mergeCommitSha", "mergedAt", "closedAt"},
        set(),
    ),
    (
        "merge_request.open_by_bot.json",
        f"gitlab:{PROJECT}!20",
        {"state": "open", "draft": True, "labels": ["dependencies"]},
        {"mergeCommitSha"},
        {edge(PE, "gitlab:project_42_bot_0f3c9e1d", Rel.AUTHORED, CH, f"gitlab:{PROJECT}!20")},
    ),
    (
        "merge_request.system_hook.json",
        f"gitlab:{PROJECT}!21",
        {"state": "open", "createdAt": "2026-01-05T10:00:00Z"},
        {"mergeCommitSha", "mergedAt", "closedAt"},
        set(),
    ),
]


@pytest.mark.parametrize(("name", "change", "expected", "absent", "edge_set"), MERGE_REQUESTS)
def test_merge_request(name: str, change: str, expected: dict, absent: set, edge_set: set) -> None:
    batch = run(name)
    found = props(batch, CH, change)
    assert {k: found.get(k) for k in expected} == expected
    assert not absent & set(found)
    assert edge(CH, change, Rel.IN, REPO, PROJECT) in edges(batch)
    assert edge_set <= edges(batch)
    assert props(batch, REPO, PROJECT)["url"] == WEB
    assert not batch.find_edges(Rel.MERGED_AS) or found["state"] == "merged"


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("merge_request.open.json", "2026-01-05T10:00:00Z#00#"),
        ("merge_request.update_new_commit.json", "2026-01-05T11:00:00Z#00#"),  # "… UTC" times
        ("merge_request.merge.json", "2026-01-05T12:30:00Z#02#"),  # ISO times; a merge wins a tie
        ("merge_request.system_hook.json", "2026-01-07T08:31:45Z#00#"),
    ],
)
def test_merge_request_version_is_updated_at(name: str, version: str) -> None:
    change = next(n.key for n in run(name).find_nodes(CH))
    assert version_of(run(name), CH, change).startswith(version)


# `user` is whoever triggered the hook: only the author (by author_id) AUTHORED the change.
AUTHORS = [
    ("merge_request.open.json", {"gitlab:alice"}),
    ("merge_request.update_new_commit.json", {"gitlab:alice"}),
    ("merge_request.approval.json", set()),  # bob approves; he did not write it
    ("merge_request.merge.json", set()),  # carol merges
    ("merge_request.close.json", set()),
    ("merge_request.open_by_bot.json", {"gitlab:project_42_bot_0f3c9e1d"}),
    ("merge_request.system_hook.json", set()),  # no ids and no action: nobody can be told the author
]


@pytest.mark.parametrize(("name", "authors"), AUTHORS)
def test_merge_request_author_is_told_by_author_id(name: str, authors: set[str]) -> None:
    batch = run(name)
    assert {e.src_key for e in batch.find_edges(Rel.AUTHORED) if e.dst_label == CH} == authors


@pytest.mark.parametrize(
    ("user", "action", "authored"),
    [
        ({"username": "alice"}, "open", True),  # old payloads without ids: the opener is the author
        ({"username": "bob"}, "update", False),
        ({"username": "bob", "id": 8}, "open", False),  # ids disagree: not the author, whatever the action
    ],
)
def test_merge_request_author_without_ids(user: dict, action: str, authored: bool) -> None:
    payload = load("merge_request.open.json")
    payload["user"] = user
    payload["object_attributes"]["action"] = action
    if "id" not in user:
        del payload["object_attributes"]["author_id"]
    batch = SOURCE.normalise(event(payload, None))
    assert bool([e for e in batch.find_edges(Rel.AUTHORED) if e.dst_label == CH]) is authored


@pytest.mark.parametrize(("login", "bot"), [("alice", False), ("project_42_bot_0f3c9e1d", True)])
def test_merge_request_author_bot_flag(login: str, bot: bool) -> None:
    name = "merge_request.open_by_bot.json" if bot else "merge_request.open.json"
    found = props(run(name), PE, f"gitlab:{login}")
    assert found["isBot"] is bot and found["gitlabUsername"] == login


def test_merge_request_title_is_redacted() -> None:
    title = props(run("merge_request.open.json"), CH, MR17)["title"]
    assert "glpat-" not in title and "[REDACTED:gitlab-token]" in title


CONTRACT = [
    ("contractIntent", "Let support staff refund a charge without a database console."),
    ("contractRisk", "Payments path; a double refund would lose money."),
    (
        "contractTestEvidence",
        f"- unit tests for the refund policy\n- staging run {WEB}/-/pipelines/4001",
    ),
    ("contractRollout", None),
    ("contractRollback", None),  # only a template comment: not a contract
]


@pytest.mark.parametrize(("prop", "text"), CONTRACT)
def test_merge_request_contract_sections(prop: str, text: str | None) -> None:
    assert props(run("merge_request.open.json"), CH, MR17).get(prop) == text


def test_merge_request_provenance_block_adds_a_session_that_proposed_the_change() -> None:
    batch = run("merge_request.open.json")
    session = props(batch, A, "sess-duo-5e21")
    assert session["tool"] == "gitlab-duo" and session["model"] == "claude-sonnet-4-5"
    assert edge(A, "sess-duo-5e21", Rel.PROPOSED, CH, MR17) in edges(batch)
    assert edge(PE, "gitlab:alice", Rel.OPERATED, A, "sess-duo-5e21") in edges(batch)


@pytest.mark.parametrize(
    ("name", "sha", "session"),
    [
        ("merge_request.open.json", H1, f"commit:{H1}:claude-code"),  # Co-authored-by: Claude
        ("merge_request.update_new_commit.json", H2, "sess-duo-5e21"),  # AI-Session trailer
    ],
)
def test_merge_request_head_commit_carries_its_message_and_ai_session(name: str, sha: str, session: str) -> None:
    batch = run(name)
    commit = props(batch, CO, sha)
    assert commit["repo"] == PROJECT and commit["authorEmail"] == "alice@acme.example"
    assert "pushHead" not in commit and "files" not in commit
    assert edge(A, session, Rel.AUTHORED, CO, sha) in edges(batch)


def test_merge_request_state_of_a_locked_mr_is_open() -> None:
    payload = load("merge_request.open.json")
    payload["object_attributes"]["state"] = "locked"
    assert props(SOURCE.normalise(event(payload, None)), CH, MR17)["state"] == "open"


def test_merge_request_merge_commit_of_an_open_mr_is_never_stored() -> None:
    payload = load("merge_request.open.json")
    payload["object_attributes"]["merge_commit_sha"] = MERGE
    batch = SOURCE.normalise(event(payload, None))
    assert "mergeCommitSha" not in props(batch, CH, MR17) and not batch.find_edges(Rel.MERGED_AS)


def test_merge_request_with_a_merge_commit_prefers_it_to_the_squash_commit() -> None:
    payload = load("merge_request.merge.json")
    payload["object_attributes"]["squash_commit_sha"] = SQUASH
    assert props(SOURCE.normalise(event(payload, None)), CH, MR17)["mergeCommitSha"] == MERGE


# --- approvals --------------------------------------------------------------------------------

APPROVALS = [
    ("approval", "APPROVED", 0),
    ("approved", "APPROVED", 0),
    ("unapproval", "DISMISSED", 1),
    ("unapproved", "DISMISSED", 1),
]


@pytest.mark.parametrize(("action", "state", "rank"), APPROVALS)
def test_approval_actions(action: str, state: str, rank: int) -> None:
    payload = load("merge_request.approval.json")
    payload["object_attributes"]["action"] = action
    batch = SOURCE.normalise(event(payload, None))
    assert keys(batch, REV) == {APPROVAL}
    found = props(batch, REV, APPROVAL)
    # commitSha is what makes an approval stale once new commits are pushed.
    assert found == found | {"state": state, "commitSha": H2, "submittedAt": "2026-01-05T11:30:00Z"}
    assert {
        edge(PE, "gitlab:bob", Rel.SUBMITTED, REV, APPROVAL),
        edge(REV, APPROVAL, Rel.OF, CH, MR17),
        edge(REV, APPROVAL, Rel.AT, CO, H2),
    } <= edges(batch)
    assert version_of(batch, REV, APPROVAL).startswith(f"2026-01-05T11:30:00Z#{rank:02d}#")
    assert props(batch, PE, "gitlab:bob")["isBot"] is False


def test_unapproval_overrides_the_approval_it_takes_back() -> None:
    approved = run("merge_request.approval.json")
    unapproved = run("merge_request.unapproval.json")
    assert keys(approved, REV) == keys(unapproved, REV) == {APPROVAL}
    assert version_of(unapproved, REV, APPROVAL) > version_of(approved, REV, APPROVAL)


def test_approval_of_another_head_is_another_review() -> None:
    payload = load("merge_request.approval.json")
    payload["object_attributes"]["last_commit"]["id"] = H1
    assert keys(SOURCE.normalise(event(payload, None)), REV) == {f"gitlab:approval:{PROJECT}!17:bob:{H1}"}


@pytest.mark.parametrize("name", [n for n in ALL_FIXTURES if n.startswith("merge_request.")])
def test_other_merge_request_actions_are_no_reviews(name: str) -> None:
    if "approval" not in name:
        assert not run(name).find_nodes(REV)


# --- pipelines and jobs -----------------------------------------------------------------------

EVIDENCE = [
    (
        "pipeline.success.json",
        "gitlab:pipeline:4001",
        {
            "type": "pipeline",
            "name": "pipeline",
            "status": "success",
            "conclusion": "success",
            "url": f"{WEB}/-/pipelines/4001",
            "startedAt": "2026-01-05T11:01:00Z",
            "completedAt": "2026-01-05T11:12:00Z",
            "repo": PROJECT,
        },
        "2026-01-05T11:12:00Z#02#",
    ),
    (
        "pipeline.success.json",
        "gitlab:job:9001",
        {
            "type": "job",
            "name": "unit-tests",
            "status": "success",
            "conclusion": "success",
            "url": f"{WEB}/-/jobs/9001",
            "startedAt": "2026-01-05T11:02:00Z",
            "completedAt": "2026-01-05T11:08:30Z",
        },
        "2026-01-05T11:08:30Z#02#",
    ),
    ("pipeline.success.json", "gitlab:job:9002", {"name": "lint", "conclusion": "failure"}, "2026-01-05T11:03:10Z"),
    (
        "pipeline.success.json",
        "gitlab:job:9003",
        {"name": "deploy-staging", "status": "manual", "conclusion": None, "completedAt": None},
        "2026-01-05T11:01:00Z#00#",  # never started: its creation time
    ),
    (
        "pipeline.success.json",
        "gitlab:job:9004",
        {"name": "security-scan", "conclusion": "cancelled"},
        "2026-01-05T11:04:00Z#02#",
    ),
    ("pipeline.success.json", "gitlab:job:9005", {"name": "e2e", "conclusion": "skipped"}, "2026-01-05T11:01:00Z#02"),
    (
        "pipeline.running.json",
        "gitlab:pipeline:4002",
        {"name": "Nightly checks", "status": "running", "conclusion": None, "completedAt": None},
        "2026-01-05T11:20:00Z#01#",
    ),
    (
        "pipeline.running.json",
        "gitlab:job:9011",
        {"name": "unit-tests", "status": "running", "conclusion": None, "completedAt": None},
        "2026-01-05T11:21:00Z#01#",
    ),
    (
        "build.success.json",
        "gitlab:job:9001",
        {
            "type": "job",
            "name": "unit-tests",
            "status": "success",
            "conclusion": "success",
            "url": f"{WEB}/-/jobs/9001",
            "startedAt": "2026-01-05T11:02:00Z",
            "completedAt": "2026-01-05T11:08:30Z",
            "repo": PROJECT,
            "app": "gitlab-ci",
        },
        "2026-01-05T11:08:30Z#02#",  # the same version the pipeline hook gives the same job
    ),
    (
        # An older job hook: no project object (the repository homepage names it), no top-level sha.
        "build.legacy_failed.json",
        "gitlab:job:9020",
        {"name": "integration-tests", "conclusion": "failure", "repo": PROJECT, "url": f"{WEB}/-/jobs/9020"},
        "2026-01-05T11:15:00Z#02#",
    ),
]


@pytest.mark.parametrize(("name", "evidence", "expected", "version"), EVIDENCE)
def test_evidence(name: str, evidence: str, expected: dict, version: str) -> None:
    batch = run(name)
    found = props(batch, EV, evidence)
    assert {k: found.get(k) for k in expected} == expected
    assert found["commitSha"] == H2
    assert edge(EV, evidence, Rel.VERIFIES, CO, H2) in edges(batch)
    assert version_of(batch, EV, evidence).startswith(version)


def test_pipeline_gives_evidence_for_itself_and_every_job() -> None:
    batch = run("pipeline.success.json")
    assert keys(batch, EV) == {"gitlab:pipeline:4001"} | {f"gitlab:job:{i}" for i in range(9001, 9006)}
    assert {e.dst_key for e in batch.find_edges(Rel.VERIFIES)} == {H2}
    assert props(batch, CO, H2)["repo"] == PROJECT


@pytest.mark.parametrize("build", [None, "x", {}, {"id": None}, {"id": True}, {"id": ""}, {"name": "no id"}])
def test_pipeline_skips_jobs_without_an_id(build: Any) -> None:
    payload = load("pipeline.success.json")
    payload["builds"] = [build, payload["builds"][0]]
    assert keys(SOURCE.normalise(event(payload, None)), EV) == {"gitlab:pipeline:4001", "gitlab:job:9001"}


# --- deployments ------------------------------------------------------------------------------

DEPLOYMENTS = [
    (
        "deployment.success.json",
        "gitlab:deployment:301",
        MERGE,  # the full SHA from commit_url, not short_sha
        {
            "environment": "production",
            "status": "success",
            "finishedAt": "2026-01-05T12:10:00Z",
            "startedAt": "2026-01-05T12:10:00Z",  # stands in until the running delivery says better
            "ref": "main",
            "creator": "carol",
            "url": f"{WEB}/-/jobs/9401",
        },
        "2026-01-05T12:10:00Z#02#",
    ),
    (
        "deployment.running.json",
        "gitlab:deployment:301",
        MERGE,
        {"status": "running", "startedAt": "2026-01-05T11:55:00Z", "finishedAt": None},
        "2026-01-05T11:55:00Z#01#",
    ),
    (
        # No commit_url: only the short SHA is known, and stored as it is.
        "deployment.short_sha.json",
        "gitlab:deployment:302",
        MERGE[:8],
        {"environment": "staging", "status": "failed", "finishedAt": "2026-01-06T10:00:00Z"},
        "2026-01-06T10:00:00Z#02#",
    ),
]


@pytest.mark.parametrize(("name", "deployment", "sha", "expected", "version"), DEPLOYMENTS)
def test_deployment(name: str, deployment: str, sha: str, expected: dict, version: str) -> None:
    batch = run(name)
    found = props(batch, DEP, deployment)
    assert {k: found.get(k) for k in expected} == expected
    assert found["sha"] == sha and found["service"] == "payments-api" and found["repo"] == PROJECT
    assert {
        edge(DEP, deployment, Rel.SHIPPED, CO, sha),
        edge(DEP, deployment, Rel.TO, SVC, "payments-api"),
        edge(REPO, PROJECT, Rel.DEPLOYS_AS, SVC, "payments-api"),
    } <= edges(batch)
    assert version_of(batch, DEP, deployment).startswith(version)


def test_a_finished_deployments_stand_in_start_loses_to_the_real_one() -> None:
    finished = [n for n in run("deployment.success.json").find_nodes(DEP) if "startedAt" in n.props]
    running = [n for n in run("deployment.running.json").find_nodes(DEP) if "startedAt" in n.props]
    assert len(finished) == len(running) == 1
    assert running[0].version > finished[0].version


@pytest.mark.parametrize(
    ("changes", "sha"),
    [
        ({"commit_url": f"{WEB}/-/commit/{MERGE}/"}, MERGE),
        ({"commit_url": f"{WEB}/-/commit/{MERGE[:8]}", "sha": H2}, H2),  # a short commit_url is no better
        ({"commit_url": None, "sha": H2}, H2),
        ({"commit_url": 7}, MERGE[:8]),
    ],
)
def test_deployment_sha_sources(changes: dict, sha: str) -> None:
    payload = load("deployment.success.json") | changes
    assert props(SOURCE.normalise(event(payload, None)), DEP, "gitlab:deployment:301")["sha"] == sha


# --- pushes -----------------------------------------------------------------------------------

PUSHES = [
    ("push.branch.json", {H1, MID, H2}, H2),
    ("push.merge.json", {H2, MERGE}, MERGE),
    ("push.branch_deleted.json", set(), None),
    ("tag_push.json", {MERGE}, None),  # a tag push re-announces its commit: no push head
]


@pytest.mark.parametrize(("name", "shas", "head"), PUSHES)
def test_push_commits(name: str, shas: set[str], head: str | None) -> None:
    batch = run(name)
    assert keys(batch, CO) == shas
    assert keys(batch, REPO) == {PROJECT}
    for sha in shas:
        found = props(batch, CO, sha)
        assert found.get("pushHead") == head and found["repo"] == PROJECT


COMMITS = [
    (
        H1,
        {
            "authoredAt": "2026-01-05T08:55:00Z",
            "authorName": "Alice Martin",
            "authorEmail": "alice@acme.example",
            "authorLogin": "alice",  # the pusher, whose e-mail is the author's
            "trailers": ["Co-authored-by: Claude <noreply@anthropic.com>"],
            "files": ["payments/api.py", "payments/refunds.py"],
            "aiTools": ["claude-code"],
        },
    ),
    (
        MID,
        {"authorName": "Bob Chen", "authorLogin": None, "trailers": [], "files": ["payments/router.py"]},
    ),
    (
        H2,
        {
            "authorLogin": "alice",
            "trailers": ["AI-Session: sess-duo-5e21", "AI-Tool: gitlab-duo"],
            "files": ["payments/legacy_refunds.py", "payments/refunds.py"],
            "aiTools": ["gitlab-duo"],
        },
    ),
]


@pytest.mark.parametrize(("sha", "expected"), COMMITS)
def test_push_commit_properties(sha: str, expected: dict) -> None:
    found = props(run("push.branch.json"), CO, sha)
    assert {k: found.get(k) for k in expected} == expected


def test_push_commit_message_is_redacted() -> None:
    message = props(run("push.branch.json"), CO, MID)["message"]
    assert "sk_live_" not in message and "[REDACTED:stripe-key]" in message
    assert message.startswith("Wire refunds into the router")


def test_push_person_authored_only_when_the_pushers_email_is_the_authors() -> None:
    authored = {e for e in edges(run("push.branch.json")) if e[0] == "Person"}
    assert authored == {edge(PE, "gitlab:alice", Rel.AUTHORED, CO, H1), edge(PE, "gitlab:alice", Rel.AUTHORED, CO, H2)}


@pytest.mark.parametrize(
    ("sha", "session", "tool"),
    [(H1, f"commit:{H1}:claude-code", "claude-code"), (H2, "sess-duo-5e21", "gitlab-duo")],
)
def test_push_links_agent_sessions_to_commits(sha: str, session: str, tool: str) -> None:
    batch = run("push.branch.json")
    assert edge(A, session, Rel.AUTHORED, CO, sha) in edges(batch)
    assert props(batch, A, session)["tool"] == tool


def _parents(batch: Batch) -> set[tuple[str, str]]:
    return {(e.src_key, e.dst_key) for e in batch.find_edges(Rel.PARENT)}


def test_a_straight_push_links_each_commit_to_the_one_before() -> None:
    assert _parents(run("push.branch.json")) == {(MID, H1), (H2, MID)}


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("push.merge.json", {}),  # a merge's other parent line is interleaved by date
        ("push.branch.json", {"total_commits_count": 25}),  # GitLab lists only the last 20
        ("push.branch.json", {"total_commits_count": None}),
        ("push.branch.json", {"after": MERGE, "checkout_sha": MERGE}),  # the list does not end at the head
        ("push.branch.json", {"ref": "refs/tags/v1"}),
    ],
)
def test_no_parent_links_unless_the_order_is_certain(name: str, changes: dict) -> None:
    payload = load(name) | changes
    assert not _parents(SOURCE.normalise(event(payload, None)))


def test_push_whose_head_is_not_listed_adds_the_head() -> None:
    payload = load("push.branch.json") | {"commits": [], "total_commits_count": 0}
    batch = SOURCE.normalise(event(payload, None))
    assert keys(batch, CO) == {H2} and props(batch, CO, H2)["pushHead"] == H2


def test_tag_push_keeps_the_commits_facts() -> None:
    found = props(run("tag_push.json"), CO, MERGE)
    assert found["authorName"] == "Carol Diaz" and found["message"].startswith("Merge branch")


# --- event types ------------------------------------------------------------------------------

HEADERS = {
    "merge_request": "Merge Request Hook",
    "pipeline": "Pipeline Hook",
    "build": "Job Hook",
    "deployment": "Deployment Hook",
    "push": "Push Hook",
    "tag_push": "Tag Push Hook",
}


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_header_names_and_object_kinds_give_the_same_batch(name: str) -> None:
    kind = name.split(".")[0]
    assert infer_type(load(name)) == kind
    by_kind, by_header, by_system_hook = (run(name, k) for k in (kind, HEADERS[kind], "System Hook"))
    assert by_kind == by_header == by_system_hook == run(name)


INFER_SHAPES = [
    ({"object_kind": "note", "event_type": "confidential_note"}, "note"),
    ({"event_name": "push", "after": "x"}, "push"),  # system hooks name the event, not the kind
    ({"event_name": "user_add_to_group"}, "user_add_to_group"),
    ({"event_type": "merge_request"}, "merge_request"),
    ({"object_kind": " ", "event_name": "tag_push"}, "tag_push"),
    ({"object_kind": 3}, None),
    ({"iid": 17, "title": "an API response, not a hook"}, None),
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
        {"object_kind": "note", "event_type": "note", "object_attributes": {"noteable_type": "MergeRequest"}},
        {"object_kind": "issue", "object_attributes": {"action": "open"}},
        {"object_kind": "wiki_page", "object_attributes": {"action": "create"}},
        {"object_kind": "release", "action": "create"},
        {"object_kind": "feature_flag"},
        {"event_name": "user_add_to_group"},
    ],
)
def test_unhandled_event_types_are_rejected_by_name(payload: dict) -> None:
    kind = infer_type(payload)
    with pytest.raises(Rejected, match=rf"unknown gitlab event type '{kind}' \(known: .*merge_request"):
        SOURCE.normalise(event(payload, None))


def test_unrecognisable_payload_is_rejected() -> None:
    with pytest.raises(Rejected, match="cannot tell the gitlab event type"):
        SOURCE.normalise(event({"hello": "world"}, None))


@pytest.mark.parametrize("payload", [{"hello": "world"}, {"object_kind": "System Hook"}])
def test_system_hook_without_a_named_event_is_rejected(payload: dict) -> None:
    with pytest.raises(Rejected, match="System Hook payload names no object_kind"):
        SOURCE.normalise(event(payload, "System Hook"))


# --- malformed payloads -----------------------------------------------------------------------

MISSING = object()

NO_PROJECT = {("project",): MISSING, ("repository",): MISSING}
NO_MR_PROJECT = NO_PROJECT | {("object_attributes", "target"): MISSING}

MALFORMED = [
    ("merge_request.open.json", {("object_attributes", "iid"): MISSING}, "merge_request", "object_attributes.iid"),
    ("merge_request.open.json", {("object_attributes", "iid"): "17"}, "merge_request", "object_attributes.iid"),
    ("merge_request.open.json", {("object_attributes",): None}, "merge_request", "object_attributes.iid"),
    ("merge_request.open.json", NO_MR_PROJECT, "merge_request", "project.path_with_namespace"),
    (
        "merge_request.open.json",
        NO_MR_PROJECT | {("project",): {"path_with_namespace": "no-slash"}},
        "merge_request",
        "project.path_with_namespace",
    ),
    ("merge_request.approval.json", {("user", "username"): MISSING}, "merge_request", "user.username"),
    ("merge_request.approval.json", {("user",): None}, "merge_request", "user.username"),
    (
        "merge_request.unapproval.json",
        {("object_attributes", "last_commit"): {}},
        "merge_request",
        "object_attributes.last_commit.id",
    ),
    ("pipeline.success.json", {("object_attributes", "id"): MISSING}, "pipeline", "object_attributes.id"),
    ("pipeline.success.json", {("object_attributes", "sha"): None}, "pipeline", "object_attributes.sha"),
    ("pipeline.success.json", {("object_attributes",): []}, "pipeline", "object_attributes.id"),
    ("build.success.json", {("build_id",): MISSING}, "build", "build_id"),
    ("build.success.json", {("build_id",): 1.5}, "build", "build_id"),
    ("build.legacy_failed.json", {("commit",): MISSING}, "build", "sha"),
    ("deployment.success.json", {("deployment_id",): MISSING}, "deployment", "deployment_id"),
    ("deployment.short_sha.json", {("short_sha",): MISSING}, "deployment", "sha"),
    ("push.branch.json", NO_PROJECT, "push", "project.path_with_namespace"),
    ("push.branch.json", {("ref",): MISSING}, "push", "ref"),
    ("tag_push.json", {("ref",): 7}, "tag_push", "ref"),
]


def mutate(payload: Any, path: tuple, value: Any) -> Any:
    target = payload
    for step in path[:-1]:
        target = target[step]
    if value is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return payload


@pytest.mark.parametrize(("name", "changes", "what", "field"), MALFORMED)
def test_malformed_payload_is_rejected_naming_the_field(name: str, changes: dict, what: str, field: str) -> None:
    payload = load(name)
    for path, value in changes.items():
        mutate(payload, path, value)
    with pytest.raises(Rejected, match=rf"^{what} payload has no {field}\b"):
        SOURCE.normalise(event(payload, name.split(".")[0]))


@pytest.mark.parametrize("kind", sorted(SOURCE.handlers))
@pytest.mark.parametrize("payload", [[], "x", 3, None])
def test_non_object_payload_is_rejected(kind: str, payload: Any) -> None:
    with pytest.raises(Rejected, match="must be a JSON object|names no object_kind"):
        SOURCE.normalise(event(payload, kind))


ODD_VALUES: list[Any] = [None, "x", 7, True, 1.5, [], {}, ["x"], [None], [{}], "2026-01-05 10:00:00 UTC"]


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in [(*prefix, key), *_paths(value, (*prefix, key))]]
    if isinstance(data, list):
        return [p for i, value in enumerate(data[:2]) for p in [(*prefix, i), *_paths(value, (*prefix, i))]]
    return []


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_any_field_of_any_type_gives_a_batch_or_a_rejection(name: str) -> None:
    """Swap every field of every fixture for values of the wrong type: never a crash."""
    original = load(name)
    outcomes: Counter[str] = Counter()
    for path in _paths(original):
        for value in [*ODD_VALUES, MISSING]:
            payload = mutate(copy.deepcopy(original), path, value)
            try:
                SOURCE.normalise(event(payload, None))
                outcomes["batch"] += 1
            except Rejected:
                outcomes["rejected"] += 1
    assert outcomes["batch"] > 0


# --- the public corpus ------------------------------------------------------------------------


@pytest.mark.skipif(not GITLAB_CORPUS.is_dir(), reason="shared corpus of real GitLab webhook payloads not present")
def test_corpus_payloads_give_a_batch_or_a_rejection() -> None:
    outcomes: Counter[str] = Counter()
    for path in sorted(GITLAB_CORPUS.rglob("*.json")):
        payload = json.loads(path.read_text())
        try:
            batch = SOURCE.normalise(
                Event(source="gitlab", type=None, id=path.name, payload=payload, received_at="2026-01-01T00:00:00Z")
            )
        except Rejected as rejected:
            outcomes[f"rejected: {str(rejected).split(' (known')[0]}"] += 1
            continue
        assert isinstance(batch, Batch) and len(batch) > 0
        outcomes["ingested"] += 1
    print("\ngitlab corpus:", dict(sorted(outcomes.items())))
    assert outcomes["ingested"] > 0
