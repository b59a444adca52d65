"""Token management and the audit log, for admins."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from api.audit import WRITE_ERRORS
from api.auth import Admin
from graph import access
from graph.access import AuditEntry, Role, TokenInfo

router = APIRouter(prefix="/admin", tags=["admin"])


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    name: str = Field(min_length=1, max_length=200)


class CreatedToken(BaseModel):
    token: str
    info: TokenInfo


@router.post("/tokens", status_code=201)
async def create_token(body: NewToken, request: Request, who: Admin) -> CreatedToken:
    """Create a token; the secret is in this response only."""
    secret, info = await access.create_token(request.app.state.graph, role=body.role, name=body.name)
    request.app.state.audit.add(who, action="token.create", what=f"{info.id} {info.role}", records=1, status=201)
    return CreatedToken(token=secret, info=info)


@router.get("/tokens")
async def list_tokens(request: Request, who: Admin) -> list[TokenInfo]:
    return await access.list_tokens(request.app.state.graph)


@router.delete("/tokens/{token_id}")
async def revoke_token(token_id: str, request: Request, who: Admin) -> dict[str, str]:
    if not await access.revoke_token(request.app.state.graph, token_id):
        raise HTTPException(404, f"no token {token_id!r}")
    request.app.state.principals.forget(token_id)
    request.app.state.audit.add(who, action="token.revoke", what=token_id, records=1, status=200)
    return {"revoked": token_id}


@router.get("/audit")
async def audit(request: Request, who: Admin, since: str = "", limit: int = 1000) -> list[AuditEntry]:
    """Who looked at what: every GraphQL query and export, newest first."""
    if not 0 < limit <= 10000:
        raise HTTPException(422, "limit must be between 1 and 10000")
    try:
        await request.app.state.audit.flush()  # everything this app accepted so far is in the answer
    except WRITE_ERRORS as exc:
        raise HTTPException(
            503, f"the audit log could not be written to Neo4j ({exc.__class__.__name__}); try again"
        ) from exc
    return await access.audit_log(request.app.state.graph, since=since, limit=limit)
