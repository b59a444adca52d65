"""Plain functions that build realistic event envelopes (GitHub webhook shapes, provenance records).

The built-in demo and the scenario tests are made of these, so both speak the formats the
ingesters really accept.
"""

from __future__ import annotations

import hashlib
from typing import Any

Envelope = dict[str, Any]


def sha(seed: str) -> str:
    """A deterministic 40-hex commit SHA for a readable seed."""
    return hashlib.sha1(seed.encode()).hexdigest()


def _repo(full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    return {
        "id": int(hashlib.sha1(full_name.encode()).hexdigest()[:8], 16),
        "name": name,
        "full_name": full_name,
        "html_url": f"https://github.com/{full_name}",
        "owner": {"login": owner, "type": "Organization"},
    }


def _user(login: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": int(hashlib.sha1(login.encode()).hexdigest()[:6], 16),
        "type": "Bot" if login.endswith("[bot]") else "User",
    }


def _envelope(event: str, delivery: str, payload: dict[str, Any]) -> Envelope:
    return {"source": "github", "type": event, "id": delivery, "payload": payload}


def pull_request(
    repo: str,
    number: int,
    *,
    action: str,
    author: str,
    head: str,
    title: str = "A change",
    body: str | None = None,
    labels: list[str] | None = None,
    merged: bool = False,
    merge_sha: str | None = None,
    at: str = "2026-01-05T10:00:00Z",
    created_at: str = "2026-01-05T09:00:00Z",
    additions: int = 10,
    deletions: int = 2,
) -> Envelope:
    """A `pull_request` webhook delivery."""
    closed = action == "closed"
    pr = {
        "id": number * 1000 + 7,
        "number": number,
        "html_url": f"https://github.com/{repo}/pull/{number}",
        "state": "closed" if closed else "open",
        "title": title,
        "body": body,
        "user": _user(author),
        "labels": [{"name": label} for label in labels or []],
        "created_at": created_at,
        "updated_at": at,
        "closed_at": at if closed else None,
        "merged_at": at if merged else None,
        "merged": merged,
        "merge_commit_sha": merge_sha if merged else sha(f"test-merge-{repo}-{number}-{head}"),
        "draft": False,
        "head": {"ref": f"feature-{number}", "sha": head},
        "base": {"ref": "main", "sha": sha(f"base-{repo}")},
        "additions": additions,
        "deletions": deletions,
        "changed_files": 2,
    }
    payload = {
        "action": action,
        "number": number,
        "pull_request": pr,
        "repository": _repo(repo),
        "sender": _user(author),
    }
    return _envelope("pull_request", f"pr-{repo}-{number}-{action}-{head[:7]}-{at}", payload)


def review(
    repo: str,
    number: int,
    *,
    reviewer: str,
    state: str,
    commit: str,
    review_id: int,
    at: str = "2026-01-05T11:00:00Z",
    pr_author: str = "someone",
    head: str | None = None,
) -> Envelope:
    """A `pull_request_review` delivery (webhook review states are lowercase)."""
    payload = {
        "action": "submitted",
        "review": {
            "id": review_id,
            "user": _user(reviewer),
            "state": state.lower(),
            "commit_id": commit,
            "submitted_at": at,
            "html_url": f"https://github.com/{repo}/pull/{number}#review-{review_id}",
        },
        "pull_request": {
            "number": number,
            "html_url": f"https://github.com/{repo}/pull/{number}",
            "state": "open",
            "user": _user(pr_author),
            "updated_at": at,
            "head": {"sha": head or commit, "ref": f"feature-{number}"},
        },
        "repository": _repo(repo),
        "sender": _user(reviewer),
    }
    return _envelope("pull_request_review", f"review-{review_id}", payload)


def push(
    repo: str,
    *,
    commits: list[dict[str, Any]],
    before: str,
    ref: str = "refs/heads/feature",
    forced: bool = False,
    pusher: str = "someone",
) -> Envelope:
    """A `push` delivery; commits are made with `commit()`."""
    after = commits[-1]["id"] if commits else "0" * 40
    payload = {
        "ref": ref,
        "before": before,
        "after": after,
        "forced": forced,
        "deleted": not commits,
        "created": False,
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "repository": _repo(repo),
        "pusher": {"name": pusher},
        "sender": _user(pusher),
    }
    return _envelope("push", f"push-{repo}-{after[:12]}-{before[:7]}", payload)


def commit(
    sha_: str, *, message: str, author: str, at: str = "2026-01-05T09:30:00Z", files: list[str] | None = None
) -> dict[str, Any]:
    """One commit of a push payload."""
    return {
        "id": sha_,
        "tree_id": sha(f"tree-{sha_}"),
        "message": message,
        "timestamp": at,
        "author": {"name": author.title(), "email": f"{author}@example.com", "username": author},
        "committer": {"name": author.title(), "email": f"{author}@example.com", "username": author},
        "added": [],
        "removed": [],
        "modified": files or ["src/app.py"],
        "distinct": True,
    }


def check_run(
    repo: str, *, name: str, head: str, conclusion: str | None, run_id: int, at: str = "2026-01-05T10:30:00Z"
) -> Envelope:
    """A `check_run` delivery; conclusion None means still in progress."""
    status = "completed" if conclusion else "in_progress"
    payload: dict[str, Any] = {
        "action": "completed" if conclusion else "created",
        "check_run": {
            "id": run_id,
            "name": name,
            "head_sha": head,
            "status": status,
            "conclusion": conclusion,
            "started_at": "2026-01-05T10:20:00Z",
            "completed_at": at if conclusion else None,
            "html_url": f"https://github.com/{repo}/runs/{run_id}",
            "app": {"slug": "github-actions"},
            "pull_requests": [],
        },
        "repository": _repo(repo),
    }
    return _envelope("check_run", f"check-{run_id}-{status}", payload)


def deployment(
    repo: str,
    *,
    deployment_id: int,
    sha_: str,
    environment: str = "production",
    service: str | None = None,
    at: str = "2026-01-06T09:00:00Z",
    creator: str = "deploy-bot[bot]",
    strategy: str | None = "canary",
    drill: bool = False,
) -> Envelope:
    """A `deployment` delivery (its payload names the service, the strategy and whether it is a rollback drill)."""
    settings: dict[str, Any] = {"service": service, "strategy": strategy} if service else {}
    if strategy is None:
        settings.pop("strategy", None)
    if drill:
        settings["drill"] = True
    payload = {
        "action": "created",
        "deployment": {
            "id": deployment_id,
            "sha": sha_,
            "ref": "main",
            "task": "deploy",
            "environment": environment,
            "payload": settings,
            "created_at": at,
            "updated_at": at,
            "creator": _user(creator),
            "url": f"https://api.github.com/repos/{repo}/deployments/{deployment_id}",
        },
        "repository": _repo(repo),
    }
    return _envelope("deployment", f"deployment-{deployment_id}", payload)


def deployment_status(
    repo: str,
    *,
    deployment_id: int,
    sha_: str,
    state: str,
    status_id: int,
    environment: str = "production",
    service: str | None = None,
    at: str = "2026-01-06T09:10:00Z",
    started_at: str | None = None,
    strategy: str | None = "canary",
    drill: bool = False,
) -> Envelope:
    """A `deployment_status` delivery (it embeds the deployment, created at `started_at`, default `at`)."""
    dep = deployment(
        repo,
        deployment_id=deployment_id,
        sha_=sha_,
        environment=environment,
        service=service,
        at=started_at or at,
        strategy=strategy,
        drill=drill,
    )
    payload = {
        "action": "created",
        "deployment_status": {
            "id": status_id,
            "state": state,
            "environment": environment,
            "created_at": at,
            "updated_at": at,
            "target_url": f"https://deploy.example.com/{deployment_id}",
        },
        "deployment": dep["payload"]["deployment"],
        "repository": _repo(repo),
    }
    return _envelope("deployment_status", f"deployment-status-{status_id}", payload)


def provenance(
    repo: str,
    number: int,
    *,
    session_id: str,
    tool: str,
    model: str,
    prompt_summary: str,
    operator: str | None = None,
    risk_area: str | None = None,
) -> Envelope:
    """An `.ai/provenance.json` record linked to a change through the provenance envelope."""
    record = {
        "tool": tool,
        "model": model,
        "session_id": session_id,
        "prompt_summary": prompt_summary,
        "reviewer": None,
        "risk_area": risk_area,
        "verification": "unit tests added",
    }
    if operator:
        record["operator"] = operator
    return {
        "source": "provenance",
        "type": "session",
        "id": f"provenance-{session_id}",
        "subject": {"repo": repo, "number": number},
        "payload": record,
    }
