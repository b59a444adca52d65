"""Admin pages: API tokens (create, revoke) and the audit log with filters. Admin role only; a reader
gets a clear 403 page. Every form that changes something carries the session's CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from export.scope import ExportError, instant
from graph import access
from graph.access import Role
from web.pages import graph_of
from web.render import PageError, PageRoute, page
from web.security import same_origin, tokens_match
from web.sessions import Admin, browser_sessions

router = APIRouter(prefix="/manage", route_class=PageRoute, include_in_schema=False)
ROLES = [r.value for r in Role]
ACTIONS = ["page", "graphql", "export", "token.create", "token.revoke", "web.sign-in", "web.sign-out"]


def _check_form(request: Request, csrf: str) -> None:
    if not same_origin(request) or not tokens_match(csrf, getattr(request.state, "csrf", None)):
        raise PageError(403, "The form expired or came from another site", "Reload the page and try again.")


@router.get("/tokens")
async def tokens_page(request: Request, who: Admin) -> Response:
    tokens = await access.list_tokens(graph_of(request))
    return page(request, "tokens.html", {"tokens": tokens, "roles": ROLES, "created": None}, records=len(tokens))


@router.post("/tokens")
async def create_token(
    request: Request,
    who: Admin,
    role: Annotated[str, Form(max_length=20)],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _check_form(request, csrf)
    if role not in ROLES:
        raise PageError(400, f"Unknown role {role!r}", f"Choose one of {', '.join(ROLES)}.")
    graph = graph_of(request)
    secret, info = await access.create_token(graph, role=Role(role), name=name.strip())
    request.app.state.audit.add(who, action="token.create", what=f"{info.id} {info.role}", records=1, status=201)
    request.state.audited = True
    tokens = await access.list_tokens(graph)
    context = {"tokens": tokens, "roles": ROLES, "created": {"secret": secret, "info": info}}
    return page(request, "tokens.html", context, status=201, records=len(tokens))


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, who: Admin, token_id: str, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    _check_form(request, csrf)
    if not await access.revoke_token(graph_of(request), token_id):
        raise PageError(404, f"No token {token_id}", "It may have been removed; reload the token list.")
    principals = getattr(request.app.state, "principals", None)
    if principals is not None:
        principals.forget(token_id)
    browser_sessions(request).forget_token(token_id)
    request.app.state.audit.add(who, action="token.revoke", what=token_id, records=1, status=200)
    request.state.audited = True
    return RedirectResponse("/manage/tokens", status_code=303)


@router.get("/audit")
async def audit_page(
    request: Request,
    who: Admin,
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    token: Annotated[str, Query(max_length=100)] = "",
    action: Annotated[str, Query(max_length=40)] = "",
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> Response:
    try:
        first = instant(since, "since") if since else ""
        last = instant(until, "until") if until else None
    except ExportError as exc:
        raise PageError(400, "The period cannot be read", str(exc)) from exc
    await request.app.state.audit.flush()  # what this process accepted so far is in the answer
    graph = graph_of(request)
    entries = await access.audit_log(
        graph, since=first, until=last, token_id=token or None, action=action or None, limit=limit
    )
    tokens = await access.list_tokens(graph)
    context = {
        "entries": entries,
        "tokens": tokens,
        "actions": ACTIONS,
        "f": {"since": since, "until": until, "token": token, "action": action, "limit": limit},
    }
    return page(request, "audit.html", context, records=len(entries))
