"""Token management and the audit log, for admins."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

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
    await access.record(
        request.app.state.graph, who, action="token.create", what=f"{info.id} {info.role}", records=1, status=201
    )
    return CreatedToken(token=secret, info=info)


@router.get("/tokens")
async def list_tokens(request: Request, who: Admin) -> list[TokenInfo]:
    return await access.list_tokens(request.app.state.graph)


@router.delete("/tokens/{token_id}")
async def revoke_token(token_id: str, request: Request, who: Admin) -> dict[str, str]:
    if not await access.revoke_token(request.app.state.graph, token_id):
        raise HTTPException(404, f"no token {token_id!r}")
    await access.record(request.app.state.graph, who, action="token.revoke", what=token_id, records=1, status=200)
    return {"revoked": token_id}


@router.get("/audit")
async def audit(request: Request, who: Admin, since: str = "", limit: int = 1000) -> list[AuditEntry]:
    """Who looked at what: every GraphQL query and export, newest first."""
    if not 0 < limit <= 10000:
        raise HTTPException(422, "limit must be between 1 and 10000")
    return await access.audit_log(request.app.state.graph, since=since, limit=limit)
