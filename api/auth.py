"""Bearer tokens with roles: reader (queries, exports), ingester (/events), admin (tokens, audit)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from graph import access
from graph.access import Principal, Role

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
    who = await access.authenticate(request.app.state.graph, credentials.credentials)
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
