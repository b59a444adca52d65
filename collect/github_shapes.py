"""GitHub API records as the webhook payloads `ingest/sources/github.py` reads.

Pure functions: a GraphQL pull request becomes a `pull_request` payload, each review a
`pull_request_review`, its commits one `push` of the pull request's branch at its head, each check run,
check suite and commit status a `check_run`, `check_suite` and `status` payload; a deployment and each
of its statuses `deployment` and `deployment_status`; a REST workflow run (the very object the
`workflow_run` webhook carries) a `workflow_run`. Only the fields the webhooks carry are set, under the
webhooks' names, so the normalisers need no second path: what a collected record becomes is what the
same record delivered by webhook becomes.

Where the API knows more than the webhook, the payload says so under a name of its own, read by the
normaliser: `files` of a pull_request (the paths it changes, for risk areas).
"""

from __future__ import annotations

import json
from typing import Any

from ingest.timestamps import iso


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def user(actor: Any) -> dict[str, Any] | None:
    """A GraphQL actor as a webhook user object; GraphQL names bots without their `[bot]` suffix."""
    if not isinstance(actor, dict) or not actor.get("login"):
        return None
    bot = actor.get("__typename") == "Bot"
    login = str(actor["login"])
    if bot and not login.endswith("[bot]"):
        login += "[bot]"
    return {"login": login, "type": "Bot" if bot else "User"}


def repository(name_with_owner: str, url: str | None) -> dict[str, Any]:
    """A webhook `repository` object."""
    owner, name = name_with_owner.split("/", 1)
    return {"full_name": name_with_owner, "name": name, "owner": {"login": owner}, "html_url": url}


def pull_request(pr: dict[str, Any], repo: dict[str, Any], *, labels: list[str], files: list[str]) -> dict[str, Any]:
    """A `pull_request` payload for the pull request as it is now."""
    merged = bool(pr.get("merged"))
    closed = pr.get("state") in ("CLOSED", "MERGED")
    merge_commit = pr.get("mergeCommit") or {}
    return {
        "action": "closed" if closed else "opened",
        "number": pr["number"],
        "pull_request": {
            "id": pr.get("databaseId"),
            "number": pr["number"],
            "html_url": pr.get("url"),
            "state": "closed" if closed else "open",
            "title": pr.get("title"),
            "body": pr.get("body"),
            "user": user(pr.get("author")),
            "labels": [{"name": label} for label in labels],
            "created_at": pr.get("createdAt"),
            "updated_at": pr.get("updatedAt"),
            "closed_at": pr.get("closedAt"),
            "merged_at": pr.get("mergedAt"),
            "merged": merged,
            "merge_commit_sha": merge_commit.get("oid") if merged else None,
            "draft": bool(pr.get("isDraft")),
            "head": {"ref": pr.get("headRefName"), "sha": pr.get("headRefOid")},
            "base": {"ref": pr.get("baseRefName")},
            "additions": pr.get("additions"),
            "deletions": pr.get("deletions"),
            "changed_files": pr.get("changedFiles"),
        },
        "repository": repo,
        # Not in the webhook: the paths the pull request changes (GET /pulls/{n}/files has `filename`).
        "files": [{"filename": path} for path in files],
    }


def review(r: dict[str, Any], pr: dict[str, Any], repo: dict[str, Any]) -> dict[str, Any] | None:
    """A `pull_request_review` payload; None for a pending review (not submitted, so not a review yet)."""
    state = _lower(r.get("state"))
    if state in (None, "pending") or r.get("databaseId") is None:
        return None
    return {
        "action": "dismissed" if state == "dismissed" else "submitted",
        "review": {
            "id": r["databaseId"],
            "user": user(r.get("author")),
            "state": state,
            "commit_id": (r.get("commit") or {}).get("oid"),
            "submitted_at": r.get("submittedAt"),
            "html_url": r.get("url"),
        },
        # The webhook embeds the whole pull request; its facts come with the pull_request payload.
        "pull_request": {"number": pr["number"], "html_url": pr.get("url")},
        "repository": repo,
    }


def _git_user(person: Any) -> dict[str, Any]:
    person = person if isinstance(person, dict) else {}
    return {
        "name": person.get("name"),
        "email": person.get("email"),
        "username": (person.get("user") or {}).get("login"),
    }


def push(pr: dict[str, Any], commits: list[dict[str, Any]], repo: dict[str, Any]) -> dict[str, Any] | None:
    """The pull request's commits as one `push` of its branch at its head (None when it has none)."""
    if not commits or not pr.get("headRefOid"):
        return None
    listed = [
        {
            "id": c["oid"],
            "message": c.get("message"),
            "timestamp": c.get("authoredDate"),
            "author": _git_user(c.get("author")),
            "committer": _git_user(c.get("committer")),
        }
        for c in commits
    ]
    return {
        "ref": f"refs/heads/{pr.get('headRefName')}",
        "after": pr["headRefOid"],
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": listed,
        "head_commit": listed[-1],
        "repository": repo,
    }


def check_run(run: dict[str, Any], sha: str, repo: dict[str, Any]) -> dict[str, Any]:
    """A `check_run` payload for a CheckRun of the status rollup."""
    suite = run.get("checkSuite") or {}
    status = _lower(run.get("status"))
    return {
        "action": "completed" if status == "completed" else "created",
        "check_run": {
            "id": run["databaseId"],
            "name": run.get("name"),
            "head_sha": sha,
            "status": status,
            "conclusion": _lower(run.get("conclusion")),
            "started_at": run.get("startedAt"),
            "completed_at": run.get("completedAt"),
            "html_url": run.get("url"),
            "details_url": run.get("detailsUrl"),
            "app": {"slug": (suite.get("app") or {}).get("slug")},
            "check_suite": {"id": suite.get("databaseId")},
        },
        "repository": repo,
    }


def check_suite(suite: dict[str, Any], sha: str, repo: dict[str, Any]) -> dict[str, Any]:
    """A `check_suite` payload for the suite of a check run."""
    status = _lower(suite.get("status"))
    app = suite.get("app") or {}
    return {
        "action": "completed" if status == "completed" else "requested",
        "check_suite": {
            "id": suite["databaseId"],
            "head_sha": sha,
            "status": status,
            "conclusion": _lower(suite.get("conclusion")),
            "created_at": suite.get("createdAt"),
            "updated_at": suite.get("updatedAt"),
            "app": {"slug": app.get("slug"), "name": app.get("name")},
        },
        "repository": repo,
    }


def status(context: dict[str, Any], sha: str, repo: dict[str, Any]) -> dict[str, Any]:
    """A `status` payload for a StatusContext (its latest state; GitHub keeps one per context)."""
    return {
        "sha": sha,
        "name": repo["full_name"],
        "context": context.get("context"),
        "state": _lower(context.get("state")),
        "description": context.get("description"),
        "target_url": context.get("targetUrl"),
        "created_at": context.get("createdAt"),
        "updated_at": context.get("createdAt"),
        "repository": repo,
    }


def _settings(payload: Any) -> Any:
    # GraphQL hands a deployment's payload over as JSON text; webhooks carry the object.
    if isinstance(payload, str):
        try:
            found = json.loads(payload)
        except ValueError:
            return payload
        return found if isinstance(found, dict) else payload
    return payload


def deployment(d: dict[str, Any], repo: dict[str, Any], api_url: str) -> dict[str, Any]:
    """The `deployment` object of a GraphQL Deployment, as webhooks and REST carry it."""
    return {
        "id": d["databaseId"],
        "sha": d.get("commitOid"),
        "ref": (d.get("ref") or {}).get("name"),
        "task": d.get("task"),
        "payload": _settings(d.get("payload")),
        "environment": d.get("environment"),
        "original_environment": d.get("originalEnvironment"),
        "description": d.get("description"),
        "created_at": d.get("createdAt"),
        "updated_at": d.get("updatedAt"),
        "creator": user(d.get("creator")),
        "url": f"{api_url.rstrip('/')}/repos/{repo['full_name']}/deployments/{d['databaseId']}",
    }


def deployment_created(d: dict[str, Any], repo: dict[str, Any], api_url: str) -> dict[str, Any]:
    """A `deployment` payload."""
    return {"action": "created", "deployment": deployment(d, repo, api_url), "repository": repo}


def deployment_statuses(d: dict[str, Any], repo: dict[str, Any], api_url: str) -> list[dict[str, Any]]:
    """A `deployment_status` payload per status of a deployment (the latest one always included)."""
    seen: dict[tuple[Any, Any], dict[str, Any]] = {}
    for s in [*((d.get("statuses") or {}).get("nodes") or []), d.get("latestStatus")]:
        if isinstance(s, dict) and s.get("state"):
            seen[(s.get("state"), s.get("createdAt"))] = s
    return [
        {
            "action": "created",
            "deployment_status": {
                "state": _lower(s["state"]),
                "description": s.get("description"),
                "environment": d.get("environment"),
                "environment_url": s.get("environmentUrl"),
                "log_url": s.get("logUrl"),
                "created_at": s.get("createdAt"),
                "updated_at": s.get("updatedAt"),
                "creator": user(s.get("creator")),
            },
            "deployment": deployment(d, repo, api_url),
            "repository": repo,
        }
        for s in seen.values()
    ]


FINISHED_DEPLOYMENTS = frozenset({"success", "failure", "error", "inactive", "destroyed", "abandoned"})


def deployment_finished(d: dict[str, Any]) -> bool:
    """Whether a deployment reached a state no later status moves (so it need not be read again)."""
    latest = _lower((d.get("latestStatus") or {}).get("state")) or _lower(d.get("state"))
    return latest in FINISHED_DEPLOYMENTS


def workflow_run(run: dict[str, Any]) -> dict[str, Any]:
    """A `workflow_run` payload: the REST run object is the webhook's `workflow_run`."""
    status = _lower(run.get("status"))
    return {
        "action": "completed" if status == "completed" else "in_progress" if status == "in_progress" else "requested",
        "workflow_run": run,
        "repository": run.get("repository"),
    }


def posture(
    repo: dict[str, Any],
    branch: str,
    *,
    protection: Any,
    rules: list[Any],
    rulesets: list[Any],
    observed_at: str,
) -> dict[str, Any]:
    """A `branch_protection` payload: the default branch's protection and rules as the REST API gave them."""
    return {
        "repository": repo,
        "branch": branch,
        "observed_at": iso(observed_at),
        "protection": protection,
        "rules": rules,
        "rulesets": rulesets,
    }
