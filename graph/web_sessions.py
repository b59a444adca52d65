"""Signed-in browser sessions: a random secret in the browser's cookie, only its hash in Neo4j, tied to
the API token it was opened with (revoking the token ends its sessions), ended by signing out or by time.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from graph.access import Principal, Role, hash_token
from graph.driver import Graph
from graph.queries import web as q
from graph.reads import read_one


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def open_session(graph: Graph, who: Principal, *, lifetime: timedelta) -> str:
    """A new session for the principal; returns its secret (set as the cookie, never stored)."""
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await graph.driver.execute_query(q.PRUNE_WEB_SESSIONS, parameters_={"now": _stamp(now)}, database_=graph.database)
    await graph.driver.execute_query(
        q.CREATE_WEB_SESSION,
        parameters_={
            "hash": hash_token(secret),
            "tokenId": who.token_id,
            "at": _stamp(now),
            "expiresAt": _stamp(now + lifetime),
        },
        database_=graph.database,
    )
    return secret


async def session_principal(graph: Graph, secret: str) -> Principal | None:
    """Who a live session stands for; None when it is unknown, ended, expired or its token was revoked."""
    row = await read_one(graph, q.WEB_SESSION, hash=hash_token(secret), now=_stamp(datetime.now(UTC)))
    if row is None:
        return None
    return Principal(token_id=row["id"], name=row["name"], role=Role(row["role"]))


async def end_session(graph: Graph, secret: str) -> None:
    """End a session (signing out): its cookie no longer opens anything."""
    await graph.driver.execute_query(
        q.END_WEB_SESSION, parameters_={"hash": hash_token(secret)}, database_=graph.database
    )
