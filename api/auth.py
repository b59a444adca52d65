"""Bearer tokens with roles: reader (queries, exports), ingester (/events), admin (tokens, audit)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from graph import access
from graph.access import Principal, Role
from graph.driver import Graph

# Seconds an authenticated token is trusted without asking Neo4j again (the app takes
# TRACEGRAPH_TOKEN_CACHE_SECONDS). Revoking through this process's /admin/tokens takes effect at once; a
# token revoked elsewhere (`tracegraph token revoke`, another API process) keeps working here for at most
# this long.
PRINCIPAL_TTL = 5.0
PRINCIPAL_CACHE_SIZE = 1024


class Principals:
    """Authenticated tokens, cached in-process by token hash for PRINCIPAL_TTL seconds (unknown ones are not)."""

    def __init__(
        self,
        graph: Graph,
        *,
        ttl: float = PRINCIPAL_TTL,
        size: int = PRINCIPAL_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.graph = graph
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._known: dict[str, tuple[float, Principal]] = {}
        # Revocation is final; remembering it stops a lookup that raced the revoke from caching the token.
        self._revoked: set[str] = set()

    async def authenticate(self, token: str) -> Principal | None:
        """The principal a presented token stands for, or None (unknown or revoked)."""
        digest = access.hash_token(token)
        now = self.clock()
        cached = self._known.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        who = await access.principal_by_hash(self.graph, digest)
        if who is None or who.token_id in self._revoked:
            self._known.pop(digest, None)
            return None
        if len(self._known) >= self.size:
            self._known = {k: v for k, v in self._known.items() if v[0] > now}
            if len(self._known) >= self.size:
                self._known.clear()  # only valid tokens get here, so this is rare: start over
        self._known[digest] = (now + self.ttl, who)
        return who

    def forget(self, token_id: str) -> None:
        """A token was revoked through this process: refuse it from the next request on."""
        self._revoked.add(token_id)
        self._known = {k: v for k, v in self._known.items() if v[1].token_id != token_id}


async def principal(request: Request, token: str) -> Principal | None:
    """The caller a token stands for, through the app's cache when the app has one."""
    principals: Principals | None = getattr(request.app.state, "principals", None)
    if principals is not None:
        return await principals.authenticate(token)
    return await access.authenticate(request.app.state.graph, token)


bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token from `tracegraph token create`>")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def authenticate(request: Request, credentials: Credentials) -> Principal:
    """The caller, or 401 saying how to get a token."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(
            401,
            "missing bearer token: send `Authorization: Bearer <token>` (an admin creates one with "
            "`tracegraph token create --role reader`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    who = await principal(request, credentials.credentials)
    if who is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return who


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through tokens of `role` (and admins), 403 otherwise."""

    async def check(who: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not who.allows(role):
            raise HTTPException(403, f"this token's role is {who.role.value}; this needs {role.value}")
        return who

    return check


Reader = Annotated[Principal, Depends(require(Role.READER))]
Ingester = Annotated[Principal, Depends(require(Role.INGESTER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


async def graphql_caller(request: Request, credentials: Credentials) -> Principal | None:
    """Readers for every GraphQL operation; only the GraphiQL page itself (static, no data) is open."""
    is_ide_page = (
        request.method == "GET" and "text/html" in request.headers.get("accept", "") and not request.query_params
    )
    if is_ide_page:
        return None
    return await require(Role.READER)(await authenticate(request, credentials))
