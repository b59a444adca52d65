"""`tracegraph collect github`: an organisation's (or some repositories') history from GitHub's API.

Per repository, in this order, each resource with its own cursor in the graph:
- pull requests, newest updatedAt first, one GraphQL request per page of 50 with their reviews,
  commits, changed paths, labels and the checks and statuses of their head and merge commits
  (collect/github_query.py); the first run goes back to --since, later runs stop at what they saw;
- deployments with their statuses (GraphQL, newest first; unfinished ones are read again next time);
- workflow runs (REST: GraphQL has no run attempt), newest first, with an ETag on the first page;
- the protection and rulesets of the default branch (REST, with ETags), recorded as the repository's
  posture whenever it changed.

Every record becomes the webhook-shaped event its webhook would deliver (collect/github_shapes.py)
and goes through the one pipeline (collect/run.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collect import github_query as q
from collect import github_shapes as shape
from collect.cursor import NewestFirst, earlier
from collect.http import MAX_LIMIT_WAITS, Api, CollectError, Dialect, MissingScope, Provider, ServerBusy
from collect.run import Collector, Page, event
from collect.run import Options as BaseOptions
from graph.driver import Graph
from ingest.pipeline.events import Event
from ingest.timestamps import iso, now

DEFAULT_API = "https://api.github.com"
SOURCE = "github"

# What a classic token's scope also grants (GitHub's scope hierarchy).
IMPLIED = {
    "repo": frozenset({"repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"}),
    "admin:org": frozenset({"write:org", "read:org"}),
    "write:org": frozenset({"read:org"}),
    "user": frozenset({"read:user", "user:email", "user:follow"}),
    "admin:repo_hook": frozenset({"write:repo_hook", "read:repo_hook"}),
    "write:repo_hook": frozenset({"read:repo_hook"}),
}

DIALECT = Dialect(
    provider="GitHub",
    token_variable="GITHUB_TOKEN",
    resource_header="x-ratelimit-resource",
    scope_headers=("x-oauth-scopes", "x-accepted-oauth-scopes"),
    implied_scopes=IMPLIED,
    needs=(
        "the `repo` scope (and `read:org` for --org) on a classic token; on a fine-grained token or a "
        "GitHub App, read access to metadata, contents, pull requests, checks, commit statuses, actions, "
        "deployments and administration"
    ),
)


def graphql_url(api_url: str) -> str:
    """GitHub's GraphQL endpoint for a REST base URL (GHES serves /api/v3 and /api/graphql)."""
    base = api_url.rstrip("/")
    return base[: -len("/v3")] + "/graphql" if base.endswith("/api/v3") else base + "/graphql"


API = Provider(
    DIALECT,
    DEFAULT_API,
    lambda token: {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    },
)
client = API.client


def github_event(kind: str, key: str, payload: dict[str, Any]) -> Event:
    return event(SOURCE, kind, key, payload)


def _epoch(value: Any) -> float | None:
    found = iso(value)
    return datetime.strptime(found, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() if found else None


@dataclass
class Options(BaseOptions):
    """An organisation's repositories and/or named ones; pull requests per GraphQL request."""

    org: str | None = None
    repos: list[str] = field(default_factory=list)
    page_size: int = 50


class GitHubCollector(Collector):
    """Reads GitHub's API page by page and yields the pages of events (see collect.run.drive)."""

    options: Options

    def __init__(self, graph: Graph, api: Api, options: Options, *, warn: Callable[[str], None] = lambda _: None):
        super().__init__(graph, api, options, warn=warn)
        self.api_url = (options.api_url or DEFAULT_API).rstrip("/")
        self.graphql_url = graphql_url(self.api_url)
        self.default_branch: dict[str, str | None] = {}
        self.repo_objects: dict[str, dict[str, Any]] = {}
        self.points = 0
        self.repositories: list[str] = []
        self._scope_warned = False

    # --- GraphQL -------------------------------------------------------------------------------

    async def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """The data of a GraphQL answer; rate-limit errors waited out, other errors raised clearly."""
        limited = 0
        while True:
            operation = query.split("(", 1)[0].split()[-1]
            reply = await self.api.request(
                "POST",
                self.graphql_url,
                json={"query": query, "variables": variables},
                kind=f"graphql {operation}",
                resource="graphql",
            )
            self._check_scopes()
            body: dict[str, Any] = reply.body if isinstance(reply.body, dict) else {}
            data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else {}
            rate = data.get("rateLimit")
            if isinstance(rate, dict):
                self.points += int(rate.get("cost") or 0)
                self.api.note_budget(
                    "graphql",
                    limit=rate.get("limit"),
                    remaining=rate.get("remaining"),
                    reset_at=_epoch(rate.get("resetAt")),
                )
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            if not errors:
                return data
            kinds = {e.get("type") for e in errors}
            if "RATE_LIMITED" in kinds:
                limited += 1
                if limited > MAX_LIMIT_WAITS:
                    raise CollectError("GitHub kept answering RATE_LIMITED; run the command again later (it resumes)")
                # Points spent: wait for the reset GitHub named; a minute when it named none, or one already
                # past (waiting for a past reset would be no wait at all: the next request would hammer).
                budget = self.api.budget("graphql")
                delay = budget.reset_at - self.api.clock.now() + 1 if budget.reset_at is not None else 0.0
                await self.api.wait("GitHub GraphQL points spent until their reset", delay if delay > 1 else 60.0)
                budget.remaining = None  # unknown until the next answer says
                continue
            said = "; ".join(str(e.get("message")) for e in errors)[:500]
            if "INSUFFICIENT_SCOPES" in kinds:
                raise MissingScope(f"GITHUB_TOKEN lacks a scope GitHub's GraphQL API needs: {said}")
            if "NOT_FOUND" in kinds and variables.get("owner") and not self.api.has_scope("repo"):
                granted = ", ".join(sorted(self.api.granted_scopes or ())) or "no scopes"
                raise MissingScope(
                    f"GITHUB_TOKEN lacks the `repo` scope: GitHub says {variables['owner']}/{variables.get('name')} "
                    f"does not exist, which is how a private repository looks to a token without it (the token "
                    f"has {granted}); create a token with {DIALECT.needs}"
                )
            if "NOT_FOUND" in kinds and variables.get("owner"):
                raise CollectError(
                    f"GitHub has no repository {variables['owner']}/{variables.get('name')}, or GITHUB_TOKEN "
                    f"cannot see it (a private repository needs the `repo` scope): {said}"
                )
            raise CollectError(f"GitHub's GraphQL API answered errors: {said}")

    def _check_scopes(self) -> None:
        if not self._scope_warned and self.api.granted_scopes is not None and not self.api.has_scope("repo"):
            self._scope_warned = True
            granted = ", ".join(sorted(self.api.granted_scopes)) or "no scopes"
            self.warn(
                f"GITHUB_TOKEN has no `repo` scope (it has {granted}): private repositories, and the "
                "branch protection of any repository, are invisible to it"
            )

    # --- the whole collection ------------------------------------------------------------------

    async def pages(self) -> AsyncIterator[Page]:
        """Every page of every repository, in order; each carries the cursor to save after it."""
        names: dict[str, str] = {}  # by lower-cased name: GitHub ignores case in repository names
        if self.options.org:
            async for page in self._org_repositories(names):
                yield page
        for name in self.options.repos:
            names.setdefault(name.lower(), name)
        self.repositories = list(names.values())
        for repo in self.repositories:
            async for page in self.pull_requests(repo):
                yield page
            async for page in self.deployments(repo):
                yield page
            async for page in self.workflow_runs(repo):
                yield page
            async for page in self.posture(repo):
                yield page

    async def _org_repositories(self, names: dict[str, str]) -> AsyncIterator[Page]:
        org = self.options.org or ""
        key = f"github:org:{org.lower()}"
        saved = (await self.load(key)).get("pages") or {}
        pages: dict[str, Any] = {}
        url: str | None = f"/orgs/{org}/repos?per_page=100&type=all&sort=full_name"
        while url:
            before = saved.get(url) or {}
            reply = await self.api.request("GET", url, etag=before.get("etag"), kind="rest repositories")
            self._check_scopes()
            if reply.not_modified:
                listed, following = before.get("repos") or [], before.get("next")
            else:
                listed = [[r["full_name"], r.get("default_branch")] for r in reply.body or [] if r.get("full_name")]
                following = reply.next_link()
            pages[url] = {"etag": reply.etag or before.get("etag"), "repos": listed, "next": following}
            for name, branch in listed:
                names.setdefault(name.lower(), name)
                self.default_branch.setdefault(name.lower(), branch)
            url = following
        yield Page(cursor=(key, {"pages": pages}), records=Counter({"repositories": len(names)}))

    # --- pull requests -------------------------------------------------------------------------

    async def pull_requests(self, repo: str) -> AsyncIterator[Page]:
        key = f"github:{repo.lower()}:pull_requests"
        scan = NewestFirst(await self.load(key), since=self.options.since)
        owner, name = repo.split("/", 1)
        size = self.options.page_size
        while not scan.done:
            try:
                data = await self.graphql(q.PULL_REQUESTS, owner=owner, name=name, first=size, after=scan.after)
            except ServerBusy:
                if size <= 5:
                    raise
                size //= 2  # GitHub answers 502 when a query takes too long: ask for less
                continue
            repository = data.get("repository")
            if not isinstance(repository, dict):
                raise CollectError(f"GitHub has no repository {repo}, or GITHUB_TOKEN cannot see it")
            self.default_branch[repo.lower()] = (repository.get("defaultBranchRef") or {}).get("name")
            repo_obj = shape.repository(repository.get("nameWithOwner") or repo, repository.get("url"))
            self.repo_objects[repo.lower()] = repo_obj
            connection = repository["pullRequests"]
            page = Page()
            for pr in connection["nodes"]:
                if not scan.keep(pr.get("updatedAt")):
                    break
                await self._complete(pr, owner, name)
                page.events += self.pull_request_events(pr, repo_obj, page)
            info = connection["pageInfo"]
            page.cursor = (key, scan.checkpoint(info.get("endCursor"), has_next=bool(info.get("hasNextPage"))))
            yield page

    async def _complete(self, pr: dict[str, Any], owner: str, name: str) -> None:
        """Fetch the rest of any list of a pull request that did not fit in its page."""
        for field_name in q.MORE:
            connection = pr[field_name]
            while connection["pageInfo"].get("hasNextPage"):
                data = await self.graphql(
                    q.more(field_name),
                    owner=owner,
                    name=name,
                    number=pr["number"],
                    after=connection["pageInfo"]["endCursor"],
                )
                found = data["repository"]["pullRequest"]["list"]
                connection["nodes"] += found["nodes"]
                connection["pageInfo"] = found["pageInfo"]
        for commit in self._checked_commits(pr):
            contexts = commit["statusCheckRollup"]["contexts"]
            while contexts["pageInfo"].get("hasNextPage"):
                data = await self.graphql(
                    q.COMMIT_CHECKS, owner=owner, name=name, oid=commit["oid"], after=contexts["pageInfo"]["endCursor"]
                )
                found = data["repository"]["object"]["statusCheckRollup"]["contexts"]
                contexts["nodes"] += found["nodes"]
                contexts["pageInfo"] = found["pageInfo"]

    @staticmethod
    def _checked_commits(pr: dict[str, Any]) -> list[dict[str, Any]]:
        """The head commit and, once merged, the merge commit: the commits whose checks count."""
        found = [n["commit"] for n in (pr.get("lastCommit") or {}).get("nodes") or [] if n.get("commit")]
        if pr.get("merged") and pr.get("mergeCommit"):
            found.append(pr["mergeCommit"])
        return [c for c in found if (c.get("statusCheckRollup") or {}).get("contexts")]

    def pull_request_events(self, pr: dict[str, Any], repo: dict[str, Any], page: Page) -> list[Event]:
        """Every event one pull request becomes: itself, its reviews, its commits, its checks."""
        full = repo["full_name"].lower()
        where = f"{full}#{pr['number']}"
        labels = [n["name"] for n in pr["labels"]["nodes"] if n.get("name")]
        files = [n["path"] for n in pr["files"]["nodes"] if n.get("path")]
        if isinstance(pr.get("changedFiles"), int) and len(files) < pr["changedFiles"]:
            self.warn(f"{where}: GitHub listed {len(files)} of its {pr['changedFiles']} changed files")
        events = [github_event("pull_request", where, shape.pull_request(pr, repo, labels=labels, files=files))]
        page.records["pull requests"] += 1
        for r in pr["reviews"]["nodes"]:
            if (payload := shape.review(r, pr, repo)) is not None:
                events.append(github_event("pull_request_review", f"{where}:review:{r['databaseId']}", payload))
                page.records["reviews"] += 1
        commits = [n["commit"] for n in pr["commits"]["nodes"] if n.get("commit")]
        if (pushed := shape.push(pr, commits, repo)) is not None:
            events.append(github_event("push", f"{where}:commits", pushed))
            page.records["commits"] += len(commits)
        suites: set[Any] = set()
        for commit in self._checked_commits(pr):
            sha = commit["oid"]
            for node in commit["statusCheckRollup"]["contexts"]["nodes"]:
                if node.get("__typename") == "CheckRun" and node.get("databaseId") is not None:
                    events.append(
                        github_event(
                            "check_run", f"{full}:check_run:{node['databaseId']}", shape.check_run(node, sha, repo)
                        )
                    )
                    page.records["checks"] += 1
                    suite = node.get("checkSuite") or {}
                    if suite.get("databaseId") is not None and suite["databaseId"] not in suites:
                        suites.add(suite["databaseId"])
                        events.append(
                            github_event(
                                "check_suite",
                                f"{full}:check_suite:{suite['databaseId']}",
                                shape.check_suite(suite, sha, repo),
                            )
                        )
                elif node.get("__typename") == "StatusContext" and node.get("context"):
                    events.append(
                        github_event("status", f"{full}@{sha}:{node['context']}", shape.status(node, sha, repo))
                    )
                    page.records["statuses"] += 1
        return events

    # --- deployments ---------------------------------------------------------------------------

    async def deployments(self, repo: str) -> AsyncIterator[Page]:
        key = f"github:{repo.lower()}:deployments"
        scan = NewestFirst(await self.load(key), since=self.options.since)
        owner, name = repo.split("/", 1)
        while not scan.done:
            data = await self.graphql(q.DEPLOYMENTS, owner=owner, name=name, first=50, after=scan.after)
            repository = data.get("repository") or {}
            repo_obj = self._repository_object(repo)
            connection = repository.get("deployments") or {"nodes": [], "pageInfo": {}}
            page = Page()
            full = repo.lower()
            for d in connection["nodes"]:
                if d.get("databaseId") is None or not d.get("commitOid"):
                    continue
                if not scan.keep(d.get("createdAt"), finished=shape.deployment_finished(d)):
                    break
                where = f"{full}:deployment:{d['databaseId']}"
                page.events.append(
                    github_event("deployment", where, shape.deployment_created(d, repo_obj, self.api_url))
                )
                for payload in shape.deployment_statuses(d, repo_obj, self.api_url):
                    status = payload["deployment_status"]
                    at = f"{status['state']}@{status['created_at']}"
                    page.events.append(github_event("deployment_status", f"{where}:{at}", payload))
                page.records["deployments"] += 1
            info = connection["pageInfo"]
            page.cursor = (key, scan.checkpoint(info.get("endCursor"), has_next=bool(info.get("hasNextPage"))))
            yield page

    def _repository_object(self, repo: str) -> dict[str, Any]:
        """The repository as its pull requests named it, else at the address GitHub gives every repository."""
        if found := self.repo_objects.get(repo.lower()):
            return found
        web = self.api_url.removesuffix("/api/v3")
        web = "https://github.com" if web == DEFAULT_API else web
        return shape.repository(repo, f"{web}/{repo}")

    # --- workflow runs (REST) ------------------------------------------------------------------

    async def workflow_runs(self, repo: str) -> AsyncIterator[Page]:
        """Runs newest first, until those the last run saw. The first page of a fresh run carries the
        ETag of the last one (a 304 says nothing is new, free of charge); a resumed run asks only for
        runs created up to where it got (GitHub serves at most 1,000 runs per filtered listing, so a
        long listing goes on in windows the same way)."""
        key = f"github:{repo.lower()}:workflow_runs"
        saved = await self.load(key)
        scan = NewestFirst(saved, since=self.options.since)
        seen: set[Any] = set()
        more_windows = True
        while not scan.done and more_windows:
            upper = iso(scan.after)
            url: str | None = f"/repos/{repo}/actions/runs"
            params: dict[str, Any] | None = {"per_page": 100, **({"created": f"<={upper}"} if upper else {})}
            etag = saved.get("etag") if upper is None else None
            window = 0
            while url:
                reply = await self.api.request("GET", url, params=params, etag=etag, kind="rest workflow runs")
                if reply.not_modified:
                    yield Page(cursor=(key, saved))  # the newest runs are what the last run saw
                    return
                if upper is None and params is not None:
                    scan.extra["etag"] = reply.etag  # of the first page of a fresh run
                etag, params = None, None
                runs = (reply.body or {}).get("workflow_runs") or []
                url = reply.next_link()
                page = Page()
                oldest = scan.after
                for run in runs:
                    window += 1
                    if run.get("id") is None or run["id"] in seen:
                        continue
                    seen.add(run["id"])
                    if not scan.keep(run.get("created_at"), finished=run.get("status") == "completed"):
                        url = None
                        break
                    oldest = earlier(oldest, iso(run.get("created_at")))
                    attempt = run.get("run_attempt") or 1
                    where = f"{repo.lower()}:workflow_run:{run['id']}:{attempt}"
                    page.events.append(github_event("workflow_run", where, shape.workflow_run(run)))
                    page.records["workflow runs"] += 1
                total = (reply.body or {}).get("total_count")
                # A listing that ended before its total: GitHub's 1,000 cap; go on below the oldest run read.
                more_windows = url is None and not scan.done and isinstance(total, int) and total > window
                page.cursor = (key, scan.checkpoint(oldest, has_next=bool(url) or more_windows))
                yield page

    # --- posture (REST) ------------------------------------------------------------------------

    async def posture(self, repo: str) -> AsyncIterator[Page]:
        branch = self.default_branch.get(repo.lower())
        if not branch:
            return  # an empty repository has no default branch to protect
        key = f"github:{repo.lower()}:posture"
        saved = await self.load(key)
        etags, bodies = dict(saved.get("etags") or {}), dict(saved.get("bodies") or {})
        changed = False

        async def fetch(url: str, missing: Any) -> Any:
            nonlocal changed
            reply = await self.api.request(
                "GET", url, etag=etags.get(url), kind="rest branch protection", allow=frozenset({403, 404})
            )
            if reply.not_modified:
                return bodies.get(url, missing)
            if reply.status == 403:
                raise _NoAdmin(str((reply.body or {}).get("message") or "forbidden"))
            body = missing if reply.status == 404 else reply.body
            changed = changed or bodies.get(url) != body or url not in bodies
            etags[url] = reply.etag
            bodies[url] = body
            return body

        try:
            protection = await fetch(f"/repos/{repo}/branches/{branch}/protection", None)
            rules = await fetch(f"/repos/{repo}/rules/branches/{branch}", [])
            ids = sorted({int(r["ruleset_id"]) for r in rules or [] if isinstance(r, dict) and r.get("ruleset_id")})
            rulesets = [await fetch(f"/repos/{repo}/rulesets/{i}", {"id": i}) for i in ids]
        except _NoAdmin as exc:
            self.warn(
                f"{repo}: branch protection not recorded: GitHub refused to show it ({exc}); "
                "reading it needs admin rights on the repository (Administration: read)"
            )
            return
        state = {"etags": etags, "bodies": bodies}
        page = Page(cursor=(key, state))
        if changed or self.options.full:
            payload = shape.posture(
                self._repository_object(repo),
                branch,
                protection=protection,
                rules=rules if isinstance(rules, list) else [],
                rulesets=rulesets,
                observed_at=now(),
            )
            page.events.append(github_event("branch_protection", f"{repo.lower()}:posture", payload))
            page.records["branch protections"] += 1
        yield page


class _NoAdmin(Exception):
    """GitHub would not show the branch protection (the token has no admin rights on the repository)."""
