"""A GitLab REST API v4 for the collector's tests (served under /api/v4).

Shapes follow GitLab's documented responses, as recorded in corpus/gitlab-api: merge request lists
(danger-recorded, with Link / X-Page / X-Total headers and an Etag), commits, diffs, notes (system notes
"approved this merge request"), diff versions, pipelines and jobs (gitlab4j-models, go-gitlab derived),
deployments (go-gitlab derived__list_project_deployments.json); RateLimit-* headers; a token without
`read_api` gets GitLab's `insufficient_scope` error body.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.server import Answer, FakeApi, Request, page_links

PREFIX = "/api/v4"


@dataclass
class FakeProject:
    id: int
    path: str
    mrs: list[dict[str, Any]] = field(default_factory=list)
    commits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    diffs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    versions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    deployments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        return f"https://gitlab.example.com/{self.path}"

    def rest(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.path.rsplit("/", 1)[-1],
            "path": self.path.rsplit("/", 1)[-1],
            "path_with_namespace": self.path,
            "web_url": self.web_url,
            "default_branch": "main",
        }


class FakeGitLab(FakeApi):
    auth_header = "private-token"
    token_prefix = ""

    def __init__(self, token: str, *, delay: float = 0.0, scopes: tuple[str, ...] = ("read_api",)):
        super().__init__(token, delay=delay)
        self.projects: dict[int, FakeProject] = {}
        self.scopes = scopes
        self.reset_at = int(time.time()) + 60

    @property
    def api_url(self) -> str:
        return self.url + PREFIX

    def project(self, path: str) -> FakeProject:
        for p in self.projects.values():
            if p.path == path:
                return p
        found = FakeProject(1000 + len(self.projects), path)
        self.projects[found.id] = found
        return found

    def limit_headers(self, request: Request) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Observed": str(self.limit - self.remaining),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_at),
        }

    def _list(self, request: Request, items: list[Any]) -> Answer:
        size = int(request.query.get("per_page", 20))
        page = int(request.query.get("page", 1))
        last = max(1, math.ceil(len(items) / size))
        query = {k: v for k, v in request.query.items() if k != "page"}
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(size),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(last),
            "X-Next-Page": str(page + 1) if page < last else "",
        }
        if links := page_links(self.api_url, request.path.removeprefix(PREFIX), query, page, last):
            headers["Link"] = links
        return Answer(200, items[(page - 1) * size : page * size], headers, etag=True)

    def _updated(self, request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        after = request.query.get("updated_after")
        found = [i for i in items if not after or i["updated_at"] >= after]
        return sorted(found, key=lambda i: (i["updated_at"], i["id"]))

    def route(self, request: Request) -> Answer:
        if "read_api" not in self.scopes and "api" not in self.scopes:
            return Answer(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges than provided by the access token.",
                    "scope": "api read_api",
                },
            )
        parts = [unquote(p) for p in request.path.removeprefix(PREFIX).strip("/").split("/")]
        if parts[0] == "groups" and len(parts) == 3 and parts[2] == "projects":
            group = parts[1]
            nested = request.query.get("include_subgroups") == "true"
            found = [
                p.rest()
                for p in self.projects.values()
                if p.path.rsplit("/", 1)[0] == group or (nested and p.path.startswith(group + "/"))
            ]
            return self._list(request, sorted(found, key=lambda p: p["id"]))
        if parts[0] != "projects" or len(parts) < 2:
            return Answer(404, {"message": "404 Not Found"})
        project = next((p for p in self.projects.values() if parts[1] in (str(p.id), p.path)), None)
        if project is None:
            return Answer(404, {"message": "404 Project Not Found"})
        rest = parts[2:]
        if not rest:
            return Answer(200, project.rest())
        if rest == ["merge_requests"]:
            return self._list(request, self._updated(request, project.mrs))
        if len(rest) == 3 and rest[0] == "merge_requests":
            iid = int(rest[1])
            table = {
                "commits": project.commits,
                "diffs": project.diffs,
                "notes": project.notes,
                "versions": project.versions,
            }
            return self._list(request, table[rest[2]].get(iid, []))
        if rest == ["pipelines"]:
            return self._list(request, self._updated(request, project.pipelines))
        if len(rest) == 3 and rest[0] == "pipelines" and rest[2] == "jobs":
            return self._list(request, project.jobs.get(int(rest[1]), []))
        if rest == ["deployments"]:
            return self._list(request, self._updated(request, project.deployments))
        return Answer(404, {"message": "404 Not Found"})


# --- builders ----------------------------------------------------------------------------------------


def user(username: str, ident: int) -> dict[str, Any]:
    return {"id": ident, "username": username, "name": username.title(), "state": "active"}


def commit(sha: str, *, message: str, author: str, at: str, parent: str | None = None) -> dict[str, Any]:
    return {
        "id": sha,
        "short_id": sha[:8],
        "title": message.splitlines()[0],
        "message": message,
        "author_name": author.title(),
        "author_email": f"{author}@example.com",
        "authored_date": at,
        "committer_name": author.title(),
        "committer_email": f"{author}@example.com",
        "committed_date": at,
        "created_at": at,
        "parent_ids": [parent] if parent else [],
        "web_url": f"https://gitlab.example.com/commit/{sha}",
    }


def merge_request(
    project: FakeProject,
    iid: int,
    *,
    author: dict[str, Any],
    sha: str,
    updated: str,
    state: str = "opened",
    title: str = "A change",
    merge_sha: str | None = None,
    labels: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": 50_000 + iid,
        "iid": iid,
        "project_id": project.id,
        "title": title,
        "description": "",
        "state": state,
        "created_at": "2026-01-05T09:00:00.000Z",
        "updated_at": updated,
        "merged_at": updated if state == "merged" else None,
        "closed_at": None,
        "target_branch": "main",
        "source_branch": f"feature-{iid}",
        "author": author,
        "labels": labels or [],
        "draft": False,
        "work_in_progress": False,
        "sha": sha,
        "merge_commit_sha": merge_sha,
        "squash_commit_sha": None,
        "web_url": f"{project.web_url}/-/merge_requests/{iid}",
    }


def note(note_id: int, *, body: str, author: dict[str, Any], at: str) -> dict[str, Any]:
    return {
        "id": note_id,
        "body": body,
        "author": author,
        "created_at": at,
        "updated_at": at,
        "system": True,
        "noteable_type": "MergeRequest",
    }


def version(version_id: int, *, head: str, at: str) -> dict[str, Any]:
    return {
        "id": version_id,
        "head_commit_sha": head,
        "base_commit_sha": "0" * 40,
        "start_commit_sha": "0" * 40,
        "created_at": at,
        "state": "collected",
    }


def pipeline(pipeline_id: int, *, sha: str, status: str, updated: str, web: str) -> dict[str, Any]:
    return {
        "id": pipeline_id,
        "iid": pipeline_id % 1000,
        "sha": sha,
        "ref": "main",
        "status": status,
        "source": "push",
        "created_at": updated,
        "updated_at": updated,
        "web_url": f"{web}/-/pipelines/{pipeline_id}",
    }


def job(job_id: int, *, name: str, status: str, at: str) -> dict[str, Any]:
    return {
        "id": job_id,
        "name": name,
        "stage": "test",
        "status": status,
        "created_at": at,
        "started_at": at,
        "finished_at": at,
    }


def deployment(
    deployment_id: int, *, sha: str, status: str, created: str, updated: str, deployer: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": deployment_id,
        "iid": deployment_id % 1000,
        "ref": "main",
        "sha": sha,
        "created_at": created,
        "updated_at": updated,
        "status": status,
        "user": deployer,
        "environment": {"id": 9, "name": "production", "external_url": "https://shop.example.com"},
        "deployable": {
            "id": deployment_id + 1,
            "status": status,
            "started_at": created,
            "finished_at": updated,
            "web_url": f"https://gitlab.example.com/jobs/{deployment_id + 1}",
        },
    }
