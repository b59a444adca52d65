"""Signing in by pasting a token, and signing out; both are forms with CSRF protection."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from graph import access
from graph.access import Principal, Role
from web.render import PageRoute, page
from web.security import csrf_token, same_origin, tokens_match
from web.sessions import (
    COOKIE,
    SIGN_IN_COOKIE,
    browser_sessions,
    clear_session_cookie,
    set_session_cookie,
    signed_in,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
MAX_TOKEN = 200


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never //host or a full URL)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 2000:
        return "/"
    return target


def _form(request: Request, *, next_: str, error: str = "", status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = page(request, "sign_in.html", {"next": next_, "sign_in_token": nonce, "error": error}, status=status)
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=3600,
        path="/sign-in",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str = "/") -> Response:
    if await signed_in(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form(request, next_=safe_next(next))


async def _authenticate(request: Request, token: str) -> Principal | None:
    # The API's token cache when the app has one (api/auth.py), so both faces see revocations alike.
    principals = getattr(request.app.state, "principals", None)
    if principals is not None:
        found: Principal | None = await principals.authenticate(token)
        return found
    return await access.authenticate(request.app.state.graph, token)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=MAX_TOKEN)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = safe_next(next)
    if not same_origin(request) or not tokens_match(csrf, request.cookies.get(SIGN_IN_COOKIE)):
        return _form(
            request, next_=target, status=403, error="The form expired or came from another site; sign in again."
        )
    token = token.strip()
    who = await _authenticate(request, token) if token else None
    if who is None:
        return _form(
            request,
            next_=target,
            status=401,
            error="Unknown or revoked token. An admin creates one with `tracegraph token create --role reader`.",
        )
    if not who.allows(Role.READER):
        return _form(
            request,
            next_=target,
            status=403,
            error=f"This token's role is {who.role.value}; pages need a reader or an admin token.",
        )
    secret = await browser_sessions(request).open(who)
    request.app.state.audit.add(who, action="web.sign-in", what="sign in", records=0, status=303)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, secret, hours=request.app.state.settings.web_session_hours)
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    secret = request.cookies.get(COOKIE)
    who = await signed_in(request)
    if who is not None and secret:
        if not same_origin(request) or not tokens_match(csrf, csrf_token(secret)):
            return page(
                request,
                "error.html",
                {"status": 403, "title": "Not signed out", "detail": "The form came from another site or expired."},
                status=403,
            )
        await browser_sessions(request).end(secret)
        request.app.state.audit.add(who, action="web.sign-out", what="sign out", records=0, status=303)
        request.state.audited = True  # the sign-out itself is the entry
    response = RedirectResponse("/sign-in", status_code=303)
    clear_session_cookie(request, response)
    return response
