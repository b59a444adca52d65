"""A GitHub API (REST + GraphQL) for the collector's tests and bench.

Shapes follow GitHub's published responses: GraphQL `pullRequests`/`deployments` connections with
`pageInfo` cursors and `rateLimit { cost remaining resetAt }`, `statusCheckRollup` contexts of
CheckRun/StatusContext nodes (as in corpus/github-graphql/cli-fixtures), REST lists with Link headers,
X-RateLimit-* and X-OAuth-Scopes/X-Accepted-OAuth-Scopes (corpus/github-api/hub4j-recorded mappings),
workflow runs (corpus/github-rest/openapi-examples-2020/workflow-run.json), branch protection and
rules for a branch (hub4j recordings). Cursors encode the sort key, as GitHub's do, so a record updated
while a client pages moves to the front instead of shifting the others.
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.server import Answer, FakeApi, Request, page_links

# Page sizes of the nested lists in the collector's query (GitHub serves what `first:` asks for).
NESTED = {"labels": 50, "files": 100, "reviews": 50, "commits": 100}
CONTEXTS = 100
MORE = 100


def cursor(*key: Any) -> str:
    return base64.b64encode(json.dumps(list(key)).encode()).decode()


def uncursor(value: str | None) -> Any:
    return json.loads(base64.b64decode(value)) if value else None


@dataclass
class FakeRepo:
    full_name: str
    private: bool = False
    default_branch: str | None = "main"
    prs: dict[int, dict[str, Any]] = field(default_factory=dict)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    protection: dict[str, Any] | None = None
    rules: list[dict[str, Any]] = field(default_factory=list)
    rulesets: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://github.com/{self.full_name}"

    def rest(self) -> dict[str, Any]:
        owner, name = self.full_name.split("/")
        return {
            "id": abs(hash(self.full_name)) % 10**8,
            "name": name,
            "full_name": self.full_name,
            "private": self.private,
            "owner": {"login": owner, "type": "Organization"},
            "html_url": self.url,
            "default_branch": self.default_branch,
            "archived": False,
        }


def _page(items: list[Any], size: int, after: str | None) -> dict[str, Any]:
    start = int((uncursor(after) or [0])[0])
    chunk = items[start : start + size]
    more = start + size < len(items)
    return {
        "nodes": chunk,
        "pageInfo": {"hasNextPage": more, "endCursor": cursor(start + len(chunk)) if chunk else after},
    }


class FakeGitHub(FakeApi):
    """GitHub at http://127.0.0.1:PORT (REST at /, GraphQL at /graphql)."""

    def __init__(self, token: str, *, delay: float = 0.0, scopes: str = "repo, read:org"):
        super().__init__(token, delay=delay)
        self.repos: dict[str, FakeRepo] = {}
        self.orgs: dict[str, list[str]] = {}
        self.scopes = scopes
        self.budget = {"core": 5000, "graphql": 5000}
        self.reset_at = int(time.time()) + 3600

    def repo(self, full_name: str, **kwargs: Any) -> FakeRepo:
        found = self.repos.setdefault(full_name.lower(), FakeRepo(full_name, **kwargs))
        self.orgs.setdefault(full_name.split("/")[0].lower(), [])
        if full_name not in self.orgs[full_name.split("/")[0].lower()]:
            self.orgs[full_name.split("/")[0].lower()].append(full_name)
        return found

    # --- the base's hooks ------------------------------------------------------------------------

    def operation(self, body: Any) -> str | None:
        if isinstance(body, dict) and isinstance(body.get("query"), str):
            words = body["query"].split()
            return words[words.index("query") + 1].split("(")[0] if "query" in words else "anonymous"
        return None

    def resource(self, request: Request) -> str:
        return "graphql" if request.operation else "core"

    def spend(self, request: Request) -> None:
        resource = self.resource(request)
        self.budget[resource] = max(0, self.budget[resource] - self.cost(request))

    def cost(self, request: Request) -> int:
        if request.operation == "PullRequests":
            first = int((request.body.get("variables") or {}).get("first") or 50)
            return max(1, round((1 + 7 * first) / 100))
        return 1

    def limit_headers(self, request: Request) -> dict[str, str]:
        resource = self.resource(request)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.budget[resource]),
            "X-RateLimit-Reset": str(self.reset_at),
            "X-RateLimit-Used": str(self.limit - self.budget[resource]),
            "X-RateLimit-Resource": resource,
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-OAuth-Scopes": self.scopes,
            "X-Accepted-OAuth-Scopes": "repo" if request.path.startswith("/repos/") else "",
        }
        return headers

    def has_repo_scope(self) -> bool:
        return "repo" in {s.strip() for s in self.scopes.split(",")}

    # --- routes ----------------------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        if request.method == "POST" and request.path == "/graphql":
            return self.graphql(request)
        parts = request.path.strip("/").split("/")
        if parts[0] == "orgs" and len(parts) == 3 and parts[2] == "repos":
            return self.org_repos(request, parts[1])
        if parts[0] == "repos" and len(parts) >= 3:
            repo = self.repos.get(f"{parts[1]}/{parts[2]}".lower())
            if repo is None or (repo.private and not self.has_repo_scope()):
                return Answer(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
            rest = parts[3:]
            if rest == ["actions", "runs"]:
                return self.workflow_runs(request, repo)
            if len(rest) == 3 and rest[0] == "branches" and rest[2] == "protection":
                if repo.protection is None:
                    return Answer(404, {"message": "Branch not protected"}, etag=True)
                return Answer(200, repo.protection, etag=True)
            if len(rest) == 3 and rest[:2] == ["rules", "branches"]:
                return Answer(200, repo.rules, etag=True)
            if len(rest) == 2 and rest[0] == "rulesets":
                found = repo.rulesets.get(int(rest[1]))
                return Answer(200, found, etag=True) if found else Answer(404, {"message": "Not Found"})
        return Answer(404, {"message": "Not Found"})

    def org_repos(self, request: Request, org: str) -> Answer:
        names = [
            n for n in self.orgs.get(org.lower(), []) if not self.repos[n.lower()].private or self.has_repo_scope()
        ]
        listed = [self.repos[n.lower()].rest() for n in sorted(names, key=str.lower)]
        size = int(request.query.get("per_page", 30))
        page = int(request.query.get("page", 1))
        last = max(1, math.ceil(len(listed) / size))
        query = {k: v for k, v in request.query.items() if k != "page"}
        links = page_links(self.url, request.path, query, page, last)
        return Answer(200, listed[(page - 1) * size : page * size], {"Link": links} if links else {}, etag=True)

    def workflow_runs(self, request: Request, repo: FakeRepo) -> Answer:
        runs = sorted(repo.runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        created = request.query.get("created")
        if created:
            if created.startswith(">="):
                runs = [r for r in runs if r["created_at"] >= created[2:]]
            elif created.startswith("<="):
                runs = [r for r in runs if r["created_at"] <= created[2:]]
            elif ".." in created:
                low, high = created.split("..")
                runs = [
                    r
                    for r in runs
                    if (low == "*" or r["created_at"] >= low) and (high == "*" or r["created_at"] <= high)
                ]
        size = int(request.query.get("per_page", 30))
        page = int(request.query.get("page", 1))
        last = max(1, math.ceil(len(runs) / size))
        query = {k: v for k, v in request.query.items() if k != "page"}
        links = page_links(self.url, request.path, query, page, last)
        body = {"total_count": len(runs), "workflow_runs": runs[(page - 1) * size : page * size]}
        return Answer(200, body, {"Link": links} if links else {}, etag=True)

    # --- GraphQL ---------------------------------------------------------------------------------

    def graphql(self, request: Request) -> Answer:
        variables = request.body.get("variables") or {}
        op = request.operation
        rate = {
            "cost": self.cost(request),
            "remaining": self.budget["graphql"],
            "limit": self.limit,
            "resetAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.reset_at)),
        }
        repo = self.repos.get(f"{variables.get('owner')}/{variables.get('name')}".lower())
        if repo is None or (repo.private and not self.has_repo_scope()):
            name = f"{variables.get('owner')}/{variables.get('name')}"
            error = {
                "type": "NOT_FOUND",
                "path": ["repository"],
                "locations": [{"line": 3, "column": 3}],
                "message": f"Could not resolve to a Repository with the name '{name}'.",
            }
            return Answer(200, {"data": {"rateLimit": rate, "repository": None}, "errors": [error]})
        if op == "PullRequests":
            data = self.pull_requests(repo, variables)
        elif op and op.startswith("PullRequest"):
            field_name = op[len("PullRequest") :].lower()
            pr = repo.prs[variables["number"]]
            data = {"pullRequest": {"list": self._nested(pr, field_name, MORE, variables.get("after"))}}
        elif op == "CommitChecks":
            contexts = self._contexts(repo, variables["oid"])
            data = {"object": {"statusCheckRollup": {"contexts": _page(contexts, CONTEXTS, variables.get("after"))}}}
        elif op == "Deployments":
            data = self.deployments(repo, variables)
        else:
            return Answer(200, {"errors": [{"message": f"unknown operation {op}"}]})
        return Answer(200, {"data": {"rateLimit": rate, "repository": data}})

    def pull_requests(self, repo: FakeRepo, variables: dict[str, Any]) -> dict[str, Any]:
        ordered = sorted(repo.prs.values(), key=lambda p: (p["updatedAt"], p["number"]), reverse=True)
        after = uncursor(variables.get("after"))
        if after:
            ordered = [p for p in ordered if [p["updatedAt"], p["number"]] < after]
        first = int(variables.get("first") or 50)
        chunk = ordered[:first]
        end = cursor(chunk[-1]["updatedAt"], chunk[-1]["number"]) if chunk else variables.get("after")
        return {
            "nameWithOwner": repo.full_name,
            "url": repo.url,
            "defaultBranchRef": {"name": repo.default_branch} if repo.default_branch else None,
            "pullRequests": {
                "pageInfo": {"hasNextPage": len(ordered) > first, "endCursor": end},
                "nodes": [self._render(repo, p) for p in chunk],
            },
        }

    def _nested(self, pr: dict[str, Any], field_name: str, size: int, after: str | None) -> dict[str, Any]:
        items = pr[field_name]
        if field_name == "labels":
            items = [{"name": n} for n in items]
        elif field_name == "files":
            items = [{"path": p} for p in items]
        elif field_name == "commits":
            items = [{"commit": c} for c in items]
        return _page(items, size, after)

    def _contexts(self, repo: FakeRepo, oid: str) -> list[dict[str, Any]]:
        for pr in repo.prs.values():
            if pr["headRefOid"] == oid:
                return pr.get("headContexts") or []
            if (pr.get("mergeCommit") or {}).get("oid") == oid:
                return pr["mergeCommit"].get("contexts") or []
        return []

    def _rollup(self, contexts: list[dict[str, Any]]) -> dict[str, Any] | None:
        return {"contexts": _page(contexts, CONTEXTS, None)} if contexts else None

    def _render(self, repo: FakeRepo, pr: dict[str, Any]) -> dict[str, Any]:
        node = {k: v for k, v in pr.items() if k not in ("labels", "files", "reviews", "commits", "headContexts")}
        for name, size in NESTED.items():
            node[name] = self._nested(pr, name, size, None)
        merge = pr.get("mergeCommit")
        node["mergeCommit"] = (
            {"oid": merge["oid"], "statusCheckRollup": self._rollup(merge.get("contexts") or [])} if merge else None
        )
        last = pr["commits"][-1] if pr["commits"] else None
        node["lastCommit"] = {
            "nodes": [{"commit": {"oid": last["oid"], "statusCheckRollup": self._rollup(pr.get("headContexts") or [])}}]
            if last
            else []
        }
        return node

    def deployments(self, repo: FakeRepo, variables: dict[str, Any]) -> dict[str, Any]:
        ordered = sorted(repo.deployments, key=lambda d: (d["createdAt"], d["databaseId"]), reverse=True)
        after = uncursor(variables.get("after"))
        if after:
            ordered = [d for d in ordered if [d["createdAt"], d["databaseId"]] < after]
        first = int(variables.get("first") or 50)
        chunk = ordered[:first]
        end = cursor(chunk[-1]["createdAt"], chunk[-1]["databaseId"]) if chunk else variables.get("after")
        return {"deployments": {"pageInfo": {"hasNextPage": len(ordered) > first, "endCursor": end}, "nodes": chunk}}


# --- builders for tests ------------------------------------------------------------------------------


def actor(login: str) -> dict[str, Any]:
    """A GraphQL actor; bots are named without `[bot]`, as GitHub's GraphQL API does."""
    if login.endswith("[bot]"):
        return {"login": login[: -len("[bot]")], "__typename": "Bot"}
    return {"login": login, "__typename": "User"}


def commit(oid: str, *, message: str, author: str, at: str) -> dict[str, Any]:
    person = {"name": author.title(), "email": f"{author}@example.com", "user": {"login": author}}
    return {
        "oid": oid,
        "message": message,
        "authoredDate": at,
        "committedDate": at,
        "author": person,
        "committer": person,
    }


def review(review_id: int, *, repo: str, number: int, reviewer: str, state: str, oid: str, at: str) -> dict[str, Any]:
    return {
        "databaseId": review_id,
        "state": state,
        "submittedAt": at,
        "url": f"https://github.com/{repo}/pull/{number}#pullrequestreview-{review_id}",
        "author": actor(reviewer),
        "commit": {"oid": oid},
    }


def check_run(
    run_id: int, *, repo: str, name: str, conclusion: str | None, suite: int, started: str, completed: str | None
) -> dict[str, Any]:
    done = conclusion is not None
    return {
        "__typename": "CheckRun",
        "databaseId": run_id,
        "name": name,
        "status": "COMPLETED" if done else "IN_PROGRESS",
        "conclusion": conclusion.upper() if conclusion else None,
        "startedAt": started,
        "completedAt": completed,
        "detailsUrl": f"https://ci.example.com/{run_id}",
        "url": f"https://github.com/{repo}/runs/{run_id}",
        "checkSuite": {
            "databaseId": suite,
            "status": "COMPLETED" if done else "IN_PROGRESS",
            "conclusion": conclusion.upper() if conclusion else None,
            "createdAt": started,
            "updatedAt": completed or started,
            "app": {"slug": "github-actions", "name": "GitHub Actions"},
        },
    }


def status_context(context: str, *, state: str, at: str) -> dict[str, Any]:
    return {
        "__typename": "StatusContext",
        "context": context,
        "state": state.upper(),
        "targetUrl": f"https://ci.example.com/{context}",
        "createdAt": at,
        "description": f"{context} {state}",
    }


def pull_request(
    repo: str,
    number: int,
    *,
    author: str,
    title: str,
    updated: str,
    commits: list[dict[str, Any]],
    body: str | None = None,
    created: str = "2026-01-05T09:00:00Z",
    labels: list[str] | None = None,
    files: list[str] | None = None,
    reviews: list[dict[str, Any]] | None = None,
    head_contexts: list[dict[str, Any]] | None = None,
    merge: dict[str, Any] | None = None,
    draft: bool = False,
) -> dict[str, Any]:
    """A pull request as the fake stores it (full lists; the fake pages them like GitHub)."""
    merged = merge is not None
    return {
        "databaseId": number * 1000 + 7,
        "number": number,
        "title": title,
        "body": body,
        "url": f"https://github.com/{repo}/pull/{number}",
        "state": "MERGED" if merged else "OPEN",
        "isDraft": draft,
        "merged": merged,
        "createdAt": created,
        "updatedAt": updated,
        "mergedAt": updated if merged else None,
        "closedAt": updated if merged else None,
        "additions": 10,
        "deletions": 2,
        "changedFiles": len(files or []),
        "author": actor(author),
        "baseRefName": "main",
        "headRefName": f"feature-{number}",
        "headRefOid": commits[-1]["oid"],
        "mergeCommit": merge,
        "labels": labels or [],
        "files": files or [],
        "reviews": reviews or [],
        "commits": commits,
        "headContexts": head_contexts or [],
    }


def workflow_run(
    run_id: int, *, repo: str, name: str, sha: str, created: str, conclusion: str | None = "success", attempt: int = 1
) -> dict[str, Any]:
    """A REST workflow run (corpus/github-rest/openapi-examples-2020/workflow-run.json, trimmed)."""
    owner, short = repo.split("/")
    done = conclusion is not None
    return {
        "id": run_id,
        "name": name,
        "head_branch": "main",
        "head_sha": sha,
        "run_number": run_id % 1000,
        "run_attempt": attempt,
        "event": "push",
        "status": "completed" if done else "in_progress",
        "conclusion": conclusion,
        "workflow_id": 159038,
        "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
        "created_at": created,
        "updated_at": created,
        "run_started_at": created,
        "repository": {
            "name": short,
            "full_name": repo,
            "owner": {"login": owner, "type": "Organization"},
            "html_url": f"https://github.com/{repo}",
        },
    }


def deployment(
    deployment_id: int, *, sha: str, created: str, states: list[tuple[str, str]], service: str | None = None
) -> dict[str, Any]:
    """A GraphQL Deployment with its statuses [(state, at), ...], oldest first."""
    statuses = [
        {
            "state": state.upper(),
            "createdAt": at,
            "updatedAt": at,
            "description": None,
            "environmentUrl": None,
            "logUrl": f"https://deploy.example.com/{deployment_id}",
            "creator": actor("deploy-bot[bot]"),
        }
        for state, at in states
    ]
    return {
        "databaseId": deployment_id,
        "environment": "production",
        "originalEnvironment": "production",
        "commitOid": sha,
        "task": "deploy",
        "payload": json.dumps({"service": service, "strategy": "canary"}) if service else "{}",
        "description": None,
        "createdAt": created,
        "updatedAt": statuses[-1]["updatedAt"] if statuses else created,
        "state": statuses[-1]["state"] if statuses else "PENDING",
        "ref": {"name": "main"},
        "creator": actor("deploy-bot[bot]"),
        "latestStatus": statuses[-1] if statuses else None,
        "statuses": {"nodes": statuses},
    }
