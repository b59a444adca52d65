"""API tokens with roles, and the audit log. Tokens are shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel

from graph.driver import Graph
from graph.queries import access as q
from graph.reads import read_all, read_one


class Role(StrEnum):
    READER = "reader"  # GraphQL queries, exports
    INGESTER = "ingester"  # POST /events
    ADMIN = "admin"  # token management, the audit log, and everything a reader and an ingester do
    # Grants, revokes and reviews break-glass exceptions; the token's name is the person's login.
    APPROVER = "approver"


class Principal(BaseModel):
    """Who is calling: the token's id, name and role."""

    token_id: str
    name: str
    role: Role

    def allows(self, role: Role) -> bool:
        return self.role == role or self.role == Role.ADMIN


class TokenInfo(BaseModel):
    id: str
    role: Role
    name: str
    created_at: str
    revoked_at: str | None = None


class AuditEntry(BaseModel):
    id: str
    at: str
    token_id: str
    token_name: str
    role: str
    action: str
    what: str
    records: int
    status: int


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hash_token(token: str) -> str:
    """Tokens are 256-bit random values, so a plain SHA-256 is enough (no dictionary to attack)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(graph: Graph, *, role: Role, name: str) -> tuple[str, TokenInfo]:
    """Create a token; returns the secret (shown once) and what is stored about it."""
    secret = "tg_" + secrets.token_urlsafe(32)
    info = TokenInfo(id="tok_" + uuid.uuid4().hex[:12], role=role, name=name, created_at=_now())
    await graph.driver.execute_query(
        q.CREATE_TOKEN,
        parameters_={
            "id": info.id,
            "hash": hash_token(secret),
            "role": role.value,
            "name": name,
            "at": info.created_at,
        },
        database_=graph.database,
    )
    return secret, info


async def authenticate(graph: Graph, token: str) -> Principal | None:
    """The principal a presented token stands for, or None (unknown or revoked)."""
    return await principal_by_hash(graph, hash_token(token))


async def principal_by_hash(graph: Graph, digest: str) -> Principal | None:
    """The principal of an active token with this hash, or None (unknown or revoked)."""
    row = await read_one(graph, q.TOKEN_BY_HASH, hash=digest)
    if row is None:
        return None
    return Principal(token_id=row["id"], name=row["name"], role=Role(row["role"]))


async def list_tokens(graph: Graph) -> list[TokenInfo]:
    return [
        TokenInfo(
            id=r["id"], role=Role(r["role"]), name=r["name"], created_at=r["createdAt"], revoked_at=r["revokedAt"]
        )
        for r in await read_all(graph, q.LIST_TOKENS)
    ]


async def revoke_token(graph: Graph, token_id: str) -> bool:
    """Revoke a token by id; False when there is no such token."""
    records, _, _ = await graph.driver.execute_query(
        q.REVOKE_TOKEN, parameters_={"id": token_id, "at": _now()}, database_=graph.database
    )
    return bool(records)


def audit_entry(who: Principal, *, action: str, what: str, records: int, status: int) -> AuditEntry:
    """One audit entry, stamped now: who, when, what, how many records."""
    return AuditEntry(
        id=uuid.uuid4().hex,
        at=_now(),
        token_id=who.token_id,
        token_name=who.name,
        role=who.role.value,
        action=action,
        what=what[:4000],
        records=records,
        status=status,
    )


async def write_audit(graph: Graph, entries: list[AuditEntry]) -> None:
    """Append audit entries in one transaction (idempotent: an entry already written is kept as it is)."""
    rows = [
        {
            "id": e.id,
            "at": e.at,
            "tokenId": e.token_id,
            "tokenName": e.token_name,
            "role": e.role,
            "action": e.action,
            "what": e.what,
            "records": e.records,
            "status": e.status,
        }
        for e in entries
    ]
    await graph.driver.execute_query(q.RECORD_AUDIT, parameters_={"rows": rows}, database_=graph.database)


async def audit_log(
    graph: Graph,
    *,
    since: str = "",
    limit: int = 1000,
    until: str | None = None,
    token_id: str | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """Audit entries in [since, until), of one token and one action when given, newest first."""
    rows = await read_all(graph, q.LIST_AUDIT, since=since, limit=limit, until=until, tokenId=token_id, action=action)
    return [
        AuditEntry(
            id=e["id"],
            at=e["at"],
            token_id=e["tokenId"],
            token_name=e["tokenName"],
            role=e["role"],
            action=e["action"],
            what=e["what"],
            records=e["records"],
            status=e["status"],
        )
        for e in (row["entry"] for row in rows)
    ]
