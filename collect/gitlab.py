"""`tracegraph collect gitlab`: merge requests with approvals, pipelines with jobs, and deployments (REST v4).

Per project (a group's, nested subgroups included, or named ones), each resource read oldest first
with `updated_after` (collect.cursor.OldestFirst), so the next run, and a run resumed after a kill,
start at the last record written. Every record becomes the webhook payload GitLab would have sent
(`merge_request`, `push`, `pipeline`, `deployment` hooks) and goes through the one pipeline:

- a merge request: its `merge_request` hook (with `files`, the paths it changes, which hooks lack),
  its commits as one `push` of its source branch at its head, and one approval hook per "approved" /
  "unapproved" system note, naming the head the merge request had at that moment (from its diff
  versions): an approval is only as good as the commit it saw;
- a pipeline with its jobs (retried ones too) as a `pipeline` hook;
- a deployment as its `deployment` hooks: running when it was created, then its final status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from collect.cursor import OldestFirst
from collect.http import Api, Dialect, Provider
from collect.run import Collector, Page, event
from collect.run import Options as BaseOptions
from graph.driver import Graph
from ingest.pipeline.events import Event
from ingest.timestamps import iso

DEFAULT_API = "https://gitlab.com/api/v4"
SOURCE = "gitlab"
PER_PAGE = 100
FINAL = frozenset({"success", "failed", "canceled", "skipped"})
APPROVAL_NOTES = {"approved this merge request": "approval", "unapproved this merge request": "unapproval"}

DIALECT = Dialect(
    provider="GitLab",
    token_variable="GITLAB_TOKEN",
    limit_header="ratelimit-limit",
    remaining_header="ratelimit-remaining",
    reset_header="ratelimit-reset",
    needs="the `read_api` scope (a personal, group or project access token with at least Reporter role)",
)


API = Provider(DIALECT, DEFAULT_API, lambda token: {"PRIVATE-TOKEN": token, "Accept": "application/json"})
client = API.client


def gitlab_event(kind: str, key: str, payload: dict[str, Any]) -> Event:
    return event(SOURCE, kind, key, payload)


@dataclass
class Options(BaseOptions):
    """Groups (their subgroups' projects too) and named projects."""

    groups: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)


def _project(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": p.get("id"),
        "name": p.get("name"),
        "path_with_namespace": p["path_with_namespace"],
        "web_url": p.get("web_url"),
    }


def _user(u: Any) -> dict[str, Any] | None:
    if not isinstance(u, dict) or not u.get("username"):
        return None
    return {k: u.get(k) for k in ("id", "username", "name", "bot") if u.get(k) is not None}


def head_at(versions: list[dict[str, Any]], at: Any) -> str | None:
    """The head a merge request had at `at`: its latest diff version created by then."""
    when = iso(at)
    if when is None:
        return None
    found = [(iso(v.get("created_at")) or "", v.get("id") or 0, v.get("head_commit_sha")) for v in versions]
    found = sorted(f for f in found if f[0] and f[0] <= when)
    return found[-1][2] if found else None


class GitLabCollector(Collector):
    """Reads GitLab's API page by page and yields the pages of events (see collect.run.drive)."""

    options: Options

    def __init__(self, graph: Graph, api: Api, options: Options, *, warn: Callable[[str], None] = lambda _: None):
        super().__init__(graph, api, options, warn=warn)
        self.projects: list[dict[str, Any]] = []

    async def all_pages(self, url: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a Link-paginated list (a list that is not there is an error naming it)."""
        return await self.maybe_pages(url, params, optional=False) or []

    async def maybe_pages(
        self, url: str, params: dict[str, Any] | None = None, *, optional: bool = True
    ) -> list[Any] | None:
        """Every item of a Link-paginated list, or None when the list is not there (404) and `optional`."""
        found: list[Any] = []
        next_url: str | None = url
        allow = frozenset({404}) if optional else frozenset()
        while next_url:
            reply = await self.api.request("GET", next_url, params=params, allow=allow)
            if reply.status == 404:
                return None
            found += reply.body if isinstance(reply.body, list) else []
            next_url, params = reply.next_link(), None
        return found

    async def changed_paths(self, base: str) -> list[str]:
        """The paths a merge request changes: GET …/diffs (GitLab 15.7+), else the older …/changes."""
        diffs = await self.maybe_pages(f"{base}/diffs", {"per_page": PER_PAGE})
        if diffs is None:
            reply = await self.api.request("GET", f"{base}/changes")
            diffs = (reply.body or {}).get("changes") or []
        return sorted({p for d in diffs if isinstance(d, dict) for p in (d.get("new_path"), d.get("old_path")) if p})

    async def pages(self) -> AsyncIterator[Page]:
        seen: dict[int, dict[str, Any]] = {}
        for group in self.options.groups:
            listed = await self.all_pages(
                f"/groups/{quote(group, safe='')}/projects",
                {"include_subgroups": "true", "per_page": PER_PAGE, "order_by": "id", "sort": "asc"},
            )
            for p in listed:
                seen.setdefault(p["id"], p)
        for path in self.options.projects:
            reply = await self.api.request("GET", f"/projects/{quote(path, safe='')}")
            seen.setdefault(reply.body["id"], reply.body)
        self.projects = list(seen.values())
        yield Page(records=Counter({"projects": len(self.projects)}))
        for p in self.projects:
            project = _project(p)
            async for page in self.merge_requests(project):
                yield page
            async for page in self.pipelines(project):
                yield page
            async for page in self.deployments(project):
                yield page

    async def _scan(
        self, project: dict[str, Any], resource: str, path: str, extra: dict[str, Any] | None = None
    ) -> AsyncIterator[tuple[list[Any], Any]]:
        """Pages of a resource read oldest first by updated_at; yields (records, checkpoint maker)."""
        key = f"gitlab:{project['path_with_namespace'].lower()}:{resource}"
        scan = OldestFirst(await self.load(key), since=self.options.since)
        while not scan.done:
            params: dict[str, Any] = {"order_by": "updated_at", "sort": "asc", "per_page": PER_PAGE, "page": scan.page}
            params.update(extra or {})
            if scan.next:
                params["updated_after"] = scan.next
            reply = await self.api.request("GET", f"/projects/{project['id']}/{path}", params=params)
            records = reply.body if isinstance(reply.body, list) else []
            state = scan.checkpoint([r.get("updated_at") for r in records], full=len(records) >= PER_PAGE)
            yield records, (key, state)

    # --- merge requests ------------------------------------------------------------------------

    async def merge_requests(self, project: dict[str, Any]) -> AsyncIterator[Page]:
        extra = {"scope": "all", "state": "all"}
        async for records, cursor in self._scan(project, "merge_requests", "merge_requests", extra):
            page = Page(cursor=cursor)
            for mr in records:
                page.events += await self.merge_request_events(project, mr)
                page.records["merge requests"] += 1
            yield page

    async def merge_request_events(self, project: dict[str, Any], mr: dict[str, Any]) -> list[Event]:
        base = f"/projects/{project['id']}/merge_requests/{mr['iid']}"
        commits = await self.all_pages(f"{base}/commits", {"per_page": PER_PAGE})
        files = await self.changed_paths(base)
        notes = await self.all_pages(f"{base}/notes", {"per_page": PER_PAGE, "sort": "asc", "order_by": "created_at"})
        versions = await self.all_pages(f"{base}/versions", {"per_page": PER_PAGE})
        where = f"{project['path_with_namespace'].lower()}!{mr['iid']}"
        ordered = list(reversed(commits))  # the API lists newest first; hooks oldest first
        head = next((c for c in commits if c.get("id") == mr.get("sha")), commits[0] if commits else None)
        labels = [{"title": label} for label in mr.get("labels") or [] if isinstance(label, str)]
        author = mr.get("author") or {}
        attributes = {
            "id": mr.get("id"),
            "iid": mr["iid"],
            "title": mr.get("title"),
            "description": mr.get("description"),
            "state": mr.get("state"),
            "created_at": mr.get("created_at"),
            "updated_at": mr.get("updated_at"),
            "merged_at": mr.get("merged_at"),
            "closed_at": mr.get("closed_at"),
            "target_branch": mr.get("target_branch"),
            "source_branch": mr.get("source_branch"),
            "author_id": author.get("id"),
            "merge_commit_sha": mr.get("merge_commit_sha"),
            "squash_commit_sha": mr.get("squash_commit_sha"),
            "draft": mr.get("draft"),
            "url": mr.get("web_url"),
            "last_commit": _hook_commit(head) if head else ({"id": mr["sha"]} if mr.get("sha") else None),
            "labels": labels,
        }
        hook = {
            "object_kind": "merge_request",
            "event_type": "merge_request",
            "user": _user(author),
            "project": project,
            "object_attributes": attributes,
            "labels": labels,
            # Not in the hook: the paths the merge request changes (GET …/diffs names them).
            "files": [{"new_path": f} for f in files],
        }
        events = [gitlab_event("merge_request", where, hook)]
        if ordered and mr.get("sha"):
            events.append(gitlab_event("push", f"{where}:commits", self._push(project, mr, ordered)))
        for note in notes:
            action = APPROVAL_NOTES.get(str(note.get("body") or "").strip().lower()) if note.get("system") else None
            if action is None:
                continue
            sha = head_at(versions, note.get("created_at"))
            if sha is None:
                self.warn(
                    f"{where}: {action} by {(note.get('author') or {}).get('username')} skipped: no head known then"
                )
                continue
            approval = {
                "object_kind": "merge_request",
                "event_type": "merge_request",
                "user": _user(note.get("author")),
                "project": project,
                "object_attributes": {
                    "iid": mr["iid"],
                    "action": action,
                    "updated_at": note.get("created_at"),
                    "url": mr.get("web_url"),
                    "last_commit": {"id": sha},
                },
            }
            events.append(gitlab_event("merge_request", f"{where}:note:{note.get('id')}", approval))
        return events

    @staticmethod
    def _push(project: dict[str, Any], mr: dict[str, Any], commits: list[dict[str, Any]]) -> dict[str, Any]:
        # A straight line (each commit the parent of the next) is what the hook's commit list means.
        pairs = zip(commits, commits[1:], strict=False)
        linear = all((child.get("parent_ids") or [None])[0] == parent.get("id") for parent, child in pairs)
        listed = [_hook_commit(c) for c in commits]
        return {
            "object_kind": "push",
            "event_name": "push",
            "ref": f"refs/heads/{mr.get('source_branch')}",
            "after": mr["sha"],
            "checkout_sha": mr["sha"],
            "commits": listed,
            "total_commits_count": len(listed) if linear else None,
            "project": project,
        }

    # --- pipelines and deployments -------------------------------------------------------------

    async def pipelines(self, project: dict[str, Any]) -> AsyncIterator[Page]:
        async for records, cursor in self._scan(project, "pipelines", "pipelines"):
            page = Page(cursor=cursor)
            for p in records:
                jobs = await self.all_pages(
                    f"/projects/{project['id']}/pipelines/{p['id']}/jobs",
                    {"per_page": PER_PAGE, "include_retried": "true"},
                )
                status = p.get("status")
                hook = {
                    "object_kind": "pipeline",
                    "object_attributes": {
                        "id": p["id"],
                        "iid": p.get("iid"),
                        "sha": p.get("sha"),
                        "ref": p.get("ref"),
                        "status": status,
                        "source": p.get("source"),
                        "name": p.get("name"),
                        "created_at": p.get("created_at"),
                        # The list has no finished_at: a finished pipeline's last update is its end.
                        "finished_at": p.get("finished_at") or (p.get("updated_at") if status in FINAL else None),
                        "url": p.get("web_url"),
                    },
                    "builds": [
                        {
                            k: j.get(k)
                            for k in ("id", "name", "stage", "status", "created_at", "started_at", "finished_at")
                        }
                        for j in jobs
                    ],
                    "project": project,
                }
                where = f"{project['path_with_namespace'].lower()}:pipeline:{p['id']}"
                page.events.append(gitlab_event("pipeline", where, hook))
                page.records["pipelines"] += 1
                page.records["jobs"] += len(jobs)
            yield page

    async def deployments(self, project: dict[str, Any]) -> AsyncIterator[Page]:
        async for records, cursor in self._scan(project, "deployments", "deployments"):
            page = Page(cursor=cursor)
            for d in records:
                if not d.get("sha"):
                    continue
                where = f"{project['path_with_namespace'].lower()}:deployment:{d['id']}"
                deployable = d.get("deployable") or {}
                started = deployable.get("started_at") or d.get("created_at")
                base = {
                    "object_kind": "deployment",
                    "deployment_id": d["id"],
                    "deployable_id": deployable.get("id"),
                    "deployable_url": deployable.get("web_url"),
                    "environment": (d.get("environment") or {}).get("name"),
                    "project": project,
                    "short_sha": d["sha"][:8],
                    "user": _user(d.get("user")),
                    "commit_url": f"{project.get('web_url')}/-/commit/{d['sha']}",
                    "ref": d.get("ref"),
                }
                page.events.append(
                    gitlab_event(
                        "deployment", f"{where}:running", base | {"status": "running", "status_changed_at": started}
                    )
                )
                status = d.get("status")
                if status in FINAL:
                    ended = deployable.get("finished_at") or d.get("updated_at")
                    payload = base | {"status": status, "status_changed_at": ended}
                    page.events.append(gitlab_event("deployment", f"{where}:{status}", payload))
                page.records["deployments"] += 1
            yield page


def _hook_commit(c: dict[str, Any]) -> dict[str, Any]:
    """A commit of the REST API as hooks carry it."""
    return {
        "id": c.get("id"),
        "message": c.get("message"),
        "title": c.get("title"),
        "timestamp": c.get("authored_date") or c.get("created_at"),
        "url": c.get("web_url"),
        "author": {"name": c.get("author_name"), "email": c.get("author_email")},
    }
