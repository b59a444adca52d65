"""GitLab merge requests, approvals, jobs and deployments, end to end against a real Neo4j."""

from __future__ import annotations

import hashlib
from typing import Any

from graph.settings import Settings
from tests.conftest import api, load

PATH = "group/project"
WEB = f"https://gitlab.example.com/{PATH}"
PROJECT = {"id": 5, "name": "project", "web_url": WEB, "path_with_namespace": PATH, "default_branch": "main"}
USERS = {"alice": 1, "bob": 2, "carol": 3, "project_5_bot_9e1d": 99}
QUERY = """
query($repo: String!, $number: Int!) {
  change(repo: $repo, number: $number) {
    id repo number state headSha mergeCommitSha
    author { login isBot }
    approvals { reviewer { login isBot } commitSha stale independent }
    evidence { kind name conclusion commitSha source }
    deployments { id environment service status }
    verdict { status gaps }
  }
}
"""


def sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


def user(username: str) -> dict[str, Any]:
    return {"id": USERS[username], "name": username.title(), "username": username}


def merge_request(
    action: str, head: str, *, by: str = "alice", at: str, iid: int = 17, merged_as: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A Merge Request Hook delivery (type left out: GitLab payloads name their object_kind)."""
    attributes = {
        "id": 1000 + iid,
        "iid": iid,
        "title": f"Change {iid}",
        "description": "",
        "author_id": USERS["alice"],
        "state": "merged" if action == "merge" else "opened",
        "action": action,
        "created_at": "2026-02-01 10:00:00 UTC",
        "updated_at": at,
        "source_branch": f"feature-{iid}",
        "target_branch": "main",
        "url": f"{WEB}/-/merge_requests/{iid}",
        "last_commit": {"id": head, "message": "Work\n", "timestamp": "2026-02-01T09:00:00+00:00"},
        "merge_commit_sha": merged_as,
        **extra,
    }
    payload = {"object_kind": "merge_request", "user": user(by), "project": PROJECT, "object_attributes": attributes}
    return {"source": "gitlab", "id": f"mr-{iid}-{action}-{by}-{at}", "payload": payload}


def job(build_id: int, commit: str, *, name: str = "unit-tests", status: str = "success") -> dict[str, Any]:
    """A Job Hook delivery, typed by its X-Gitlab-Event header name."""
    payload = {
        "object_kind": "build",
        "build_id": build_id,
        "build_name": name,
        "build_status": status,
        "build_started_at": "2026-02-01 11:00:00 UTC",
        "build_finished_at": "2026-02-01 11:05:00 UTC",
        "sha": commit,
        "project": PROJECT,
    }
    return {"source": "gitlab", "type": "Job Hook", "id": f"job-{build_id}", "payload": payload}


def deployment(deployment_id: int, commit: str) -> dict[str, Any]:
    payload = {
        "object_kind": "deployment",
        "deployment_id": deployment_id,
        "status": "success",
        "status_changed_at": "2026-02-01 16:00:00 +0100",
        "environment": "production",
        "short_sha": commit[:8],
        "commit_url": f"{WEB}/-/commit/{commit}",
        "project": PROJECT,
        "user": user("carol"),
    }
    return {"source": "gitlab", "type": "Deployment Hook", "id": f"dep-{deployment_id}", "payload": payload}


def ask(settings: Settings, number: int = 17) -> dict[str, Any]:
    with api(settings) as client:
        response = client.post("/graphql", json={"query": QUERY, "variables": {"repo": PATH, "number": number}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["change"]


def verified_story() -> list[dict[str, Any]]:
    head, merge = sha("head"), sha("merge")
    return [
        merge_request("open", head, at="2026-02-01 10:00:00 UTC"),
        merge_request("approval", head, by="bob", at="2026-02-01 12:00:00 UTC"),
        job(501, head),
        merge_request("merge", head, by="carol", at="2026-02-01 15:00:00 UTC", merged_as=merge),
        deployment(71, merge),
    ]


def test_approved_tested_and_merged_merge_request_is_verified(settings: Settings) -> None:
    summary = load(settings, verified_story())
    assert summary.rejected == [] and summary.accepted == 5
    change = ask(settings)
    assert change["verdict"] == {"status": "VERIFIED", "gaps": []}
    assert change["id"] == f"gitlab:{PATH}!17"
    assert (change["repo"], change["number"], change["state"]) == (PATH, 17, "merged")
    assert (change["headSha"], change["mergeCommitSha"]) == (sha("head"), sha("merge"))
    assert change["author"] == {"login": "gitlab:alice", "isBot": False}  # carol merged it, alice wrote it
    assert change["approvals"] == [
        {
            "reviewer": {"login": "gitlab:bob", "isBot": False},
            "commitSha": sha("head"),
            "stale": False,
            "independent": True,
        }
    ]
    assert {(e["kind"], e["name"], e["conclusion"], e["source"]) for e in change["evidence"]} == {
        ("tests", "unit-tests", "success", "gitlab")
    }
    assert change["deployments"] == [
        {"id": "gitlab:deployment:71", "environment": "production", "service": "project", "status": "success"}
    ]


def test_any_delivery_order_gives_the_same_answer(settings: Settings) -> None:
    load(settings, list(reversed(verified_story())))
    load(settings, verified_story())  # and redelivered
    change = ask(settings)
    assert change["verdict"]["status"] == "VERIFIED"
    assert change["state"] == "merged" and change["headSha"] == sha("head")
    assert len(change["approvals"]) == 1


def test_approval_before_new_commits_is_stale(settings: Settings) -> None:
    first, second = sha("first"), sha("second")
    load(
        settings,
        [
            merge_request("open", first, at="2026-02-01 10:00:00 UTC"),
            merge_request("approval", first, by="bob", at="2026-02-01 11:00:00 UTC"),
            merge_request("update", second, at="2026-02-01 11:30:00 UTC", oldrev=first),
            job(502, second),
            merge_request("merge", second, by="carol", at="2026-02-01 15:00:00 UTC", merged_as=sha("merge-2")),
        ],
    )
    change = ask(settings)
    assert change["headSha"] == second
    assert change["approvals"] == [
        {"reviewer": {"login": "gitlab:bob", "isBot": False}, "commitSha": first, "stale": True, "independent": True}
    ]
    assert change["verdict"]["status"] == "UNVERIFIED"
    [gap] = change["verdict"]["gaps"]
    assert "has 0" in gap and "bob" in gap and "final head" in gap


def test_withdrawn_approval_does_not_count(settings: Settings) -> None:
    head = sha("withdrawn")
    at = "2026-02-01 12:00:00 UTC"
    load(
        settings,
        [
            merge_request("open", head, at="2026-02-01 10:00:00 UTC"),
            # Same second: the unapproval must still win, whatever order the deliveries come in.
            merge_request("unapproval", head, by="bob", at=at),
            merge_request("approval", head, by="bob", at=at),
            job(503, head),
            merge_request("merge", head, by="carol", at="2026-02-01 15:00:00 UTC", merged_as=sha("merge-3")),
        ],
    )
    change = ask(settings)
    assert change["approvals"] == []
    assert change["verdict"]["status"] == "UNVERIFIED"


def test_self_and_bot_approvals_are_not_independent(settings: Settings) -> None:
    head = sha("self")
    load(
        settings,
        [
            merge_request("open", head, at="2026-02-01 10:00:00 UTC"),
            merge_request("approval", head, by="alice", at="2026-02-01 11:00:00 UTC"),
            merge_request("approval", head, by="project_5_bot_9e1d", at="2026-02-01 11:10:00 UTC"),
            job(504, head),
            merge_request("merge", head, by="carol", at="2026-02-01 15:00:00 UTC", merged_as=sha("merge-4")),
        ],
    )
    change = ask(settings)
    flags = {a["reviewer"]["login"]: (a["reviewer"]["isBot"], a["independent"]) for a in change["approvals"]}
    assert flags == {"gitlab:alice": (False, False), "gitlab:project_5_bot_9e1d": (True, False)}
    assert change["verdict"]["status"] == "UNVERIFIED"


def test_failed_job_on_the_head_leaves_the_change_unverified(settings: Settings) -> None:
    head = sha("red")
    load(
        settings,
        [
            merge_request("open", head, at="2026-02-01 10:00:00 UTC"),
            merge_request("approved", head, by="bob", at="2026-02-01 12:00:00 UTC"),
            job(505, head, status="failed"),
            job(506, sha("older"), name="unit-tests"),  # green, but on a commit that did not ship
            merge_request("merge", head, by="carol", at="2026-02-01 15:00:00 UTC", merged_as=sha("merge-5")),
        ],
    )
    change = ask(settings)
    assert change["verdict"]["status"] == "UNVERIFIED"
    assert any("unit-tests is failure" in gap for gap in change["verdict"]["gaps"])
