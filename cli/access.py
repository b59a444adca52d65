"""`tracegraph token …` and `tracegraph audit`: API tokens with roles, and who read what."""

from __future__ import annotations

import json

import click

from cli.common import echo, fail, line, user_errors
from graph import access
from graph.access import Role
from graph.driver import run_with_graph
from graph.settings import get_settings


@click.group()
def token() -> None:
    """API tokens: reader (queries, exports), ingester (POST /events), admin (tokens, audit), approver (exceptions)."""


@token.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", default="", help="Who or what the token is for.")
@user_errors
def create(role: str, name: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    if role == Role.APPROVER.value and not name.strip():
        fail("an approver token stands for a person: pass --name <their login> (exceptions are granted in that name)")
    secret, info = run_with_graph(
        get_settings(), lambda g: access.create_token(g, role=Role(role), name=name or f"{role} token"), ensure=True
    )
    echo(secret)
    echo(
        f"{info.id} ({info.role.value}) created; this is the only time the token is shown. "
        "Send it as `Authorization: Bearer <token>`.",
        err=True,
    )


@token.command("list")
@user_errors
def list_() -> None:
    """Tokens with their role and whether they are revoked (never the secrets)."""
    for info in run_with_graph(get_settings(), access.list_tokens, ensure=True):
        state = f"revoked {info.revoked_at}" if info.revoked_at else "active"
        echo(f"{line(info.id)}  {info.role.value:<8}  {line(state):<32}  {line(info.name)}")


@token.command("revoke")
@click.argument("token_id")
@user_errors
def revoke(token_id: str) -> None:
    """Revoke a token by its id (tok_…)."""
    if not run_with_graph(get_settings(), lambda g: access.revoke_token(g, token_id), ensure=True):
        fail(f"no token {token_id!r}; `tracegraph token list` shows the ids", code=1)
    echo(f"{token_id} revoked")


@click.command()
@click.option("--since", default="", help="ISO time; entries at or after it.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@user_errors
def audit(since: str, limit: int, as_json: bool) -> None:
    """Who looked at what: GraphQL queries and exports, newest first."""
    entries = run_with_graph(get_settings(), lambda g: access.audit_log(g, since=since, limit=limit), ensure=True)
    if as_json:
        echo(json.dumps([e.model_dump() for e in entries], indent=2))
        return
    for e in entries:
        what = line(" ".join(e.what.split()))[:80]
        echo(
            f"{line(e.at)}  {line(e.token_name)} ({line(e.role)})  {line(e.action)}  {e.records} records  {e.status}"
            f"  {what}"
        )
