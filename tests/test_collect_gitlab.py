"""A GitLab merge request collected from the API and the same merge request received as webhooks give
the same five-minute answer (the GitHub counterpart is in tests/test_collect_github.py).

The webhooks are built here in the shapes of GitLab's webhook documentation (Push Hook, Merge Request
Hook with its `approval` action, Pipeline Hook with its builds, Deployment Hook), independently of the
collector's own shapes, so the comparison can fail.
"""

from __future__ import annotations

from typing import Any

from collect import gitlab
from graph import repository
from graph.policy import load_policy
from graph.settings import Settings
from ingest import examples as ex
from tests.conftest import load, run_graph
from tests.fakes import gitlab as gl
from tests.fakes.harness import FakeClock, collect

TOKEN = "glpat-collect-test-8c1d4e"
PATH = "acme/platform/api"
FIRST, HEAD, MERGE = ex.sha("gl-eq-first"), ex.sha("gl-eq-head"), ex.sha("gl-eq-merge")
CAROL, DAVE, ERIN = gl.user("carol", 1), gl.user("dave", 2), gl.user("erin", 3)
FILES = ["src/auth/session.py", "src/payments/refund.py"]
MESSAGES = {FIRST: "Add refund idempotency", HEAD: "Tests for refunds"}
AUTHORED = {FIRST: "2026-01-05T09:10:00Z", HEAD: "2026-01-05T09:20:00Z"}


def served(fake: gl.FakeGitLab) -> gl.FakeProject:
    """!7: two commits (pushed one after the other), approved by dave on the final head, merged,
    tested by a pipeline on the merge commit, deployed to production."""
    project = fake.project(PATH)
    mr = gl.merge_request(
        project, 7, author=CAROL, sha=HEAD, updated="2026-01-05T12:00:00.000Z", state="merged", merge_sha=MERGE
    )
    mr["created_at"] = "2026-01-05T09:05:00.000Z"
    mr["title"] = "Idempotent refunds"
    project.mrs.append(mr)
    project.commits[7] = [
        gl.commit(HEAD, message="Tests for refunds", author="carol", at="2026-01-05T09:20:00Z", parent=FIRST),
        gl.commit(FIRST, message="Add refund idempotency", author="carol", at="2026-01-05T09:10:00Z"),
    ]
    project.diffs[7] = [{"old_path": f, "new_path": f, "diff": "@@ -1 +1 @@"} for f in FILES]
    project.versions[7] = [
        gl.version(701, head=FIRST, at="2026-01-05T09:11:00.000Z"),
        gl.version(702, head=HEAD, at="2026-01-05T09:21:00.000Z"),
    ]
    project.notes[7] = [gl.note(801, body="approved this merge request", author=DAVE, at="2026-01-05T11:00:00.000Z")]
    project.pipelines.append(
        gl.pipeline(601, sha=MERGE, status="success", updated="2026-01-05T12:10:00.000Z", web=project.web_url)
    )
    project.jobs[601] = [gl.job(6001, name="security-scan", status="success", at="2026-01-05T12:09:00.000Z")]
    project.deployments.append(
        gl.deployment(
            41,
            sha=MERGE,
            status="success",
            created="2026-01-06T09:00:00.000Z",
            updated="2026-01-06T09:10:00.000Z",
            deployer=ERIN,
        )
    )
    return project


def hooks(project: gl.FakeProject) -> list[dict[str, Any]]:
    """What GitLab's webhooks deliver for the same story, in their documented shapes."""
    web = project.web_url
    hook_project = {
        "id": project.id,
        "name": "api",
        "web_url": web,
        "path_with_namespace": PATH,
        "default_branch": "main",
    }

    def push(before: str, sha: str, message: str, at: str, n: int) -> dict[str, Any]:
        commit = {
            "id": sha,
            "message": message,
            "title": message,
            "timestamp": at,
            "url": f"{web}/-/commit/{sha}",
            "author": {"name": "Carol", "email": "carol@example.com"},
            "added": [],
            "modified": [FILES[n]],
            "removed": [],
        }
        payload = {
            "object_kind": "push",
            "event_name": "push",
            "before": before,
            "after": sha,
            "ref": "refs/heads/feature-7",
            "checkout_sha": sha,
            "user_username": "carol",
            "project": hook_project,
            "commits": [commit],
            "total_commits_count": 1,
        }
        return {"source": "gitlab", "type": "Push Hook", "id": f"push-{sha}", "payload": payload}

    def mr(action: str, by: dict[str, Any], head: str, at: str, **attributes: Any) -> dict[str, Any]:
        payload = {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "user": {"id": by["id"], "name": by["name"], "username": by["username"]},
            "project": hook_project,
            "object_attributes": {
                "id": 50_007,
                "iid": 7,
                "title": "Idempotent refunds",
                "description": "",
                "author_id": CAROL["id"],
                "state": "opened",
                "action": action,
                "created_at": "2026-01-05 09:05:00 UTC",
                "updated_at": at,
                "source_branch": "feature-7",
                "target_branch": "main",
                "url": f"{web}/-/merge_requests/7",
                "last_commit": {"id": head, "message": MESSAGES[head], "timestamp": AUTHORED[head]},
                **attributes,
            },
        }
        return {"source": "gitlab", "id": f"mr-7-{action}-{at}", "payload": payload}

    pipeline = {
        "object_kind": "pipeline",
        "object_attributes": {
            "id": 601,
            "iid": 601,
            "sha": MERGE,
            "ref": "main",
            "status": "success",
            "source": "push",
            "created_at": "2026-01-05 12:10:00 UTC",
            "finished_at": "2026-01-05 12:10:00 UTC",
            "url": f"{web}/-/pipelines/601",
        },
        "builds": [
            {
                "id": 6001,
                "name": "security-scan",
                "stage": "test",
                "status": "success",
                "created_at": "2026-01-05 12:09:00 UTC",
                "started_at": "2026-01-05 12:09:00 UTC",
                "finished_at": "2026-01-05 12:09:00 UTC",
            }
        ],
        "project": hook_project,
    }

    def deployment(status: str, at: str) -> dict[str, Any]:
        payload = {
            "object_kind": "deployment",
            "deployment_id": 41,
            "deployable_id": 42,
            "deployable_url": "https://gitlab.example.com/jobs/42",
            "status": status,
            "status_changed_at": at,
            "environment": "production",
            "project": hook_project,
            "short_sha": MERGE[:8],
            "user": {"id": ERIN["id"], "name": ERIN["name"], "username": ERIN["username"]},
            "commit_url": f"{web}/-/commit/{MERGE}",
            "ref": "main",
        }
        return {"source": "gitlab", "type": "Deployment Hook", "id": f"dep-41-{status}", "payload": payload}

    return [
        push("0" * 40, FIRST, "Add refund idempotency", "2026-01-05T09:10:00Z", 0),
        mr("open", CAROL, FIRST, "2026-01-05 09:11:00 UTC"),
        push(FIRST, HEAD, "Tests for refunds", "2026-01-05T09:20:00Z", 1),
        mr("update", CAROL, HEAD, "2026-01-05 09:21:00 UTC"),
        mr("approval", DAVE, HEAD, "2026-01-05 11:00:00 UTC"),
        mr("merge", CAROL, HEAD, "2026-01-05 12:00:00 UTC", state="merged", merge_commit_sha=MERGE),
        {"source": "gitlab", "type": "Pipeline Hook", "id": "pipeline-601", "payload": pipeline},
        deployment("running", "2026-01-06 09:00:00 UTC"),
        deployment("success", "2026-01-06 09:10:00 UTC"),
    ]


def answer(settings: Settings) -> dict[str, Any]:
    found = run_graph(settings, lambda g: repository.change(g, load_policy(), repo=PATH, number=7))
    assert found is not None
    result = found.model_dump(mode="json")
    for commit in result["commits"]:
        commit.pop("files")  # hooks name each commit's paths, the API the merge request's (see GitHub's test)
    for fact in result["approvals"] + result["evidence"]:  # both `provider`: one names the API, one the hook
        assert fact.pop("trust_by") in (
            "gitlab API, read with the organisation's credentials",
            "gitlab webhook, signature checked",
        )
    return result


def test_a_collected_merge_request_and_its_webhooks_give_the_same_answer(settings: Settings) -> None:
    with gl.FakeGitLab(TOKEN) as fake:
        project = served(fake)
        run = collect(
            settings,
            lambda: gitlab.client(TOKEN, api_url=fake.api_url, clock=FakeClock()),
            lambda graph, api, warn: gitlab.GitLabCollector(
                graph, api, gitlab.Options(projects=[PATH], api_url=fake.api_url), warn=warn
            ),
        )
        assert not run.summary.rejected and not run.warnings
        from_api = answer(settings)
        run_graph(settings, repository.delete_all)
        summary = load(settings, hooks(project), via="webhook:gitlab")  # verified deliveries: provider trust
        assert not summary.rejected
        from_webhooks = answer(settings)
    assert from_api == from_webhooks
    assert from_api["risk_area"] == "auth"
    assert [(a["reviewer"]["login"], a["stale"]) for a in from_api["approvals"]] == [("gitlab:dave", False)]
    assert {e["name"] for e in from_api["evidence"]} >= {"security-scan"}
    assert [d["status"] for d in from_api["deployments"]] == ["success"]
