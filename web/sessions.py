"""Who is looking: the browser session behind the cookie, checked against the same API tokens as GraphQL.

The cookie holds a random secret (HttpOnly, SameSite=Strict, Secure when the request came over TLS);
Neo4j holds only its hash, tied to the token it was opened with (graph.web_sessions). Lookups are
cached in-process for SESSION_TTL seconds, like API tokens (api/auth.py's PRINCIPAL_TTL): signing out
or revoking a token through this process takes effect at once; a token revoked elsewhere within that time.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from graph import web_sessions
from graph.access import Principal, Role
from graph.driver import Graph
from web.security import csrf_token

COOKIE = "tracegraph_session"
SIGN_IN_COOKIE = "tracegraph_sign_in"  # the sign-in form's own CSRF token (there is no session yet)
SESSION_TTL = 5.0
CACHE_SIZE = 1024


class SignInNeeded(Exception):
    """No live session: the page answers with the sign-in form."""


class Forbidden(Exception):
    """Signed in, but the role does not allow the page."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class BrowserSessions:
    """Live sessions by cookie secret, cached for SESSION_TTL seconds (unknown ones are not)."""

    def __init__(self, graph: Graph, *, lifetime: timedelta, ttl: float = SESSION_TTL):
        self.graph = graph
        self.lifetime = lifetime
        self.ttl = ttl
        self._known: dict[str, tuple[float, Principal]] = {}

    async def open(self, who: Principal) -> str:
        """A new session for `who`; returns the cookie's secret."""
        return await web_sessions.open_session(self.graph, who, lifetime=self.lifetime)

    async def principal(self, secret: str) -> Principal | None:
        now = time.monotonic()
        cached = self._known.get(secret)
        if cached is not None and cached[0] > now:
            return cached[1]
        who = await web_sessions.session_principal(self.graph, secret)
        if who is None:
            self._known.pop(secret, None)
            return None
        if len(self._known) >= CACHE_SIZE:
            self._known.clear()  # only live sessions get here: start over rather than grow
        self._known[secret] = (now + self.ttl, who)
        return who

    async def end(self, secret: str) -> None:
        self._known.pop(secret, None)
        await web_sessions.end_session(self.graph, secret)

    def forget_token(self, token_id: str) -> None:
        """A token was revoked through this process: its sessions open nothing from the next request on."""
        self._known = {k: v for k, v in self._known.items() if v[1].token_id != token_id}


def browser_sessions(request: Request) -> BrowserSessions:
    """The app's session store (made on first use, on the app's graph)."""
    state = request.app.state
    found: BrowserSessions | None = getattr(state, "web_sessions", None)
    if found is None:
        found = BrowserSessions(state.graph, lifetime=timedelta(hours=state.settings.web_session_hours))
        state.web_sessions = found
    return found


def set_session_cookie(request: Request, response: Response, secret: str, *, hours: int) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        max_age=hours * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")


async def signed_in(request: Request) -> Principal | None:
    """The principal of the request's session, or None; remembers it (and its form token) on request.state."""
    secret = request.cookies.get(COOKIE)
    if not secret or len(secret) > 200:
        return None
    who = await browser_sessions(request).principal(secret)
    if who is not None:
        request.state.viewer = who
        request.state.csrf = csrf_token(secret)
    return who


async def reader(request: Request) -> Principal:
    """A signed-in reader (or admin); sign-in form otherwise, a clear 403 page for other roles."""
    who = await signed_in(request)
    if who is None:
        raise SignInNeeded()
    if not who.allows(Role.READER):
        raise Forbidden(f"this token's role is {who.role.value}; pages need a reader or an admin token")
    return who


async def admin(who: Annotated[Principal, Depends(reader)]) -> Principal:
    """A signed-in admin; a clear 403 page for readers."""
    if not who.allows(Role.ADMIN):
        raise Forbidden(f"you are signed in as {who.name} with the {who.role.value} role; this page is for admins only")
    return who


Viewer = Annotated[Principal, Depends(reader)]
Admin = Annotated[Principal, Depends(admin)]
