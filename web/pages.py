"""The pages that answer one thing: home, search, a change, a commit, an agent session, a deployment, an
incident, and a stored raw document. Each reads through the same repositories as GraphQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from graph import listing, origins, repository, search
from graph.driver import Graph
from graph.policy import Policy
from graph.repository import change_id
from graph.trace import DEFAULT_WINDOW, trace_incident
from web.render import PageError, PageRoute, item_path, page
from web.sessions import Viewer

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def graph_of(request: Request) -> Graph:
    graph: Graph = request.app.state.graph
    return graph


def policy_of(request: Request) -> Policy:
    policy: Policy = request.app.state.policy
    return policy


@router.get("/")
async def home(request: Request, who: Viewer) -> Response:
    now = datetime.now(UTC)
    recent = await listing.changes_page(
        graph_of(request),
        policy_of(request),
        listing.ChangeFilter(
            start="1970-01-01T00:00:00Z", end=(now + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
        ),
        size=10,
    )
    return page(request, "home.html", {"recent": recent.changes}, records=len(recent.changes))


@router.get("/search")
async def search_page(request: Request, who: Viewer, q: Annotated[str, Query(max_length=300)] = "") -> Response:
    hits = await search.search(graph_of(request), q) if q.strip() else []
    exact = search.parse(q)
    # One exact hit (a change reference or URL, a sha prefix, an id): straight to its page.
    named = exact.change_ids or (hits and (hits[0].kind == "commit" or hits[0].key in exact.ids))
    if len(hits) == 1 and named:
        return RedirectResponse(item_path(hits[0].kind, hits[0].key), status_code=303)
    return page(request, "search.html", {"q": q, "hits": hits}, records=len(hits))


async def _change(request: Request, repo: str, number: int, provider: str | None) -> Response:
    graph, policy = graph_of(request), policy_of(request)
    if provider:
        answer = await repository.change_by_id(graph, policy, change_id(repo.lower(), number, provider))
    else:
        answer = await repository.change(graph, policy, repo=repo.lower(), number=number)
    if answer is None:
        raise PageError(
            404, f"No change {repo}#{number}", "The graph holds no such change; ingest its pull request first."
        )
    where = await origins.change_origins(graph, answer)
    records = 1 + len(answer.approvals) + len(answer.evidence) + len(answer.sessions) + len(answer.commits)
    records += len(answer.deployments) + len(answer.incidents)
    return page(request, "change.html", {"c": answer, "o": where}, records=records)


@router.get("/changes/{repo:path}/{number:int}")
async def change_page(request: Request, who: Viewer, repo: str, number: int, provider: str | None = None) -> Response:
    if provider not in (None, "github", "gitlab"):
        raise PageError(400, f"Unknown provider {provider!r}", "Use github or gitlab.")
    return await _change(request, repo, number, provider)


@router.get("/commits/{sha}")
async def commit_page(request: Request, who: Viewer, sha: str) -> Response:
    graph = graph_of(request)
    found = await repository.commit(graph, policy_of(request), sha.lower())
    if found is None:
        raise PageError(404, f"No commit {sha[:40]}", "Search for a sha prefix to find a commit the graph holds.")
    where = await origins.origin(graph, "commit", found.sha)
    return page(request, "commit.html", {"k": found, "where": where}, records=1 + len(found.evidence))


@router.get("/sessions/{id:path}")
async def session_page(request: Request, who: Viewer, id: str) -> Response:
    graph = graph_of(request)
    found = await repository.session(graph, id)
    if found is None:
        raise PageError(404, f"No agent session {id}", "The graph holds no session with this id.")
    change_ids = await repository.change_ids_of_session(graph, id)
    where = await origins.origin(graph, "session", id)
    context = {"s": found, "change_ids": change_ids, "where": where}
    return page(request, "session.html", context, records=1 + len(found.commits) + len(change_ids))


@router.get("/deployments/{id:path}")
async def deployment_page(request: Request, who: Viewer, id: str) -> Response:
    graph = graph_of(request)
    found = await repository.deployment(graph, id)
    if found is None:
        raise PageError(404, f"No deployment {id}", "The graph holds no deployment with this id.")
    changes = await repository.changes_by_ids(graph, policy_of(request), found.change_ids)
    where = await origins.origin(graph, "deployment", id)
    context = {"d": found, "changes": [changes[i] for i in found.change_ids if i in changes], "where": where}
    return page(request, "deployment.html", context, records=1 + len(changes) + len(found.incidents))


@router.get("/incidents/{id:path}")
async def incident_page(
    request: Request,
    who: Viewer,
    id: str,
    window: Annotated[int, Query(ge=1, le=24 * 90, description="hours before the incident to search")] = int(
        DEFAULT_WINDOW.total_seconds() // 3600
    ),
) -> Response:
    graph, policy = graph_of(request), policy_of(request)
    found = await repository.incident(graph, id)
    if found is None:
        raise PageError(404, f"No incident {id}", "The graph holds no incident with this id.")
    trace = await trace_incident(graph, policy, id, window=timedelta(hours=window))
    where = await origins.origin(graph, "incident", id)
    suspects = trace.suspects if trace else []
    context = {
        "i": found,
        "suspects": suspects,
        "notes": trace.notes if trace else [],
        "window": window,
        "where": where,
    }
    return page(request, "incident.html", context, records=1 + len(suspects) + len(found.postmortems))


@router.get("/sources/{id:path}")
async def source_page(request: Request, who: Viewer, id: str) -> Response:
    found = await origins.source_document(graph_of(request), id)
    if found is None:
        raise PageError(
            404,
            f"No stored document {id}",
            "The event was ingested without keeping its raw document, or the id is wrong.",
        )
    try:
        body = json.dumps(json.loads(found.body), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        body = found.body
    return page(request, "source.html", {"doc": found, "body": body}, records=1)
