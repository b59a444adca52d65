"""tracegraph's MCP server: read-only tools over the graph, for coding agents, with a reader token.

Tools (each answer is JSON; each call is written to the audit log under the token that started the server):

- `change_answer(repo, number)`: the five-minute answer — who approved the change and what evidence proved it.
- `gate_change(repo, number, environment?, strategy?)`: may the change ship; what is missing and how to supply it.
- `gate_commit(sha, environment, strategy?, service?)`: may the commit ship to the environment (every change it
  would add since what runs there).
- `incident_suspects(incident_id, window_hours?)`: the changes (and agent sessions) that may have caused it.

The token (TRACEGRAPH_TOKEN) must be a reader's (or an admin's); it is checked once when the server starts,
which refuses to start without one. Nothing here writes to the graph but the audit log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from governance import gate as gates
from governance.gate import describe, failure
from graph import access, repository
from graph.access import Principal, Role
from graph.driver import Graph, connected
from graph.policy import Policy, load_policy
from graph.settings import Settings
from graph.trace import RankedSuspect, trace_incident

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
INSTRUCTIONS = (
    "tracegraph answers who approved a change and what evidence proved it safe, and whether it may ship. "
    "Before asking for review, call gate_change for your pull request: each entry of `missing` names a "
    "requirement, its gaps and how to supply it. gate_commit tells a deploy whether every change it would "
    "add is VERIFIED. The tools are read-only."
)


class TokenRefused(PermissionError):
    """The MCP server's token is missing, unknown, revoked, or not a reader's."""


@dataclass
class Session:
    """What the tools share while the server runs: the graph, the policy and who is asking."""

    graph: Graph
    policy: Policy
    who: Principal


def _suspect(suspect: RankedSuspect) -> dict[str, Any]:
    sessions = [
        {"id": x.id, "tool": x.tool, "model": x.model, "operator": x.operator.login if x.operator else None}
        for x in suspect.change.sessions
    ]
    return {
        "change": suspect.change.id,
        "title": suspect.change.title,
        "verdict": suspect.change.verdict.status.value,
        "deployment": suspect.deployment.id if suspect.deployment else None,
        "sessions": sessions,
        "score": suspect.score,
        "reason": suspect.reason,
    }


def _json(model: Any) -> dict[str, Any]:
    found: dict[str, Any] = model.model_dump(mode="json", by_alias=True)
    return found


async def authorize(graph: Graph, settings: Settings) -> Principal:
    """The principal of TRACEGRAPH_TOKEN, when it is a reader's (or an admin's); TokenRefused otherwise."""
    secret = settings.token.get_secret_value() if settings.token else ""
    if not secret:
        raise TokenRefused("set TRACEGRAPH_TOKEN to a reader token (`tracegraph token create --role reader`)")
    who = await access.authenticate(graph, secret)
    if who is None:
        raise TokenRefused("TRACEGRAPH_TOKEN is unknown or revoked")
    if not who.allows(Role.READER):
        raise TokenRefused(f"TRACEGRAPH_TOKEN's role is {who.role.value}; the MCP server needs a reader token")
    return who


def build_server(settings: Settings) -> MCPServer[Any]:
    """The MCP server; the graph is opened, the policy read and the token checked when it starts."""
    state: dict[str, Session] = {}

    @asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        async with connected(settings) as graph:
            state["session"] = Session(graph, load_policy(settings.policy_file), await authorize(graph, settings))
            try:
                yield
            finally:
                state.pop("session", None)

    server: MCPServer[Any] = MCPServer(name="tracegraph", instructions=INSTRUCTIONS, lifespan=lifespan, version="0.1.0")

    async def audited(tool: str, what: str, records: int) -> None:
        session = state["session"]
        entry = access.audit_entry(session.who, action=f"mcp.{tool}", what=what, records=records, status=200)
        await access.write_audit(session.graph, [entry])

    @server.tool(annotations=READ_ONLY)
    async def change_answer(repo: str, number: int) -> dict[str, Any]:
        """The five-minute answer for a change (owner/repo and pull request number): who approved it, what
        evidence proved it safe, its verdict with one gap per missing piece, and any break-glass exception."""
        s = state["session"]
        found = await repository.change(s.graph, s.policy, repo=repo, number=number)
        await audited("change_answer", f"{repo}#{number}", 1 if found else 0)
        if found is None:
            return {
                "found": False,
                "error": f"no change {repo}#{number} in the graph; its pull request events have not been ingested",
            }
        return {"found": True, "change": _json(found)}

    @server.tool(annotations=READ_ONLY)
    async def gate_change(
        repo: str, number: int, environment: str | None = None, strategy: str | None = None
    ) -> dict[str, Any]:
        """Whether a change may ship: passed, and for every requirement it does not meet yet (`missing`) its
        gaps and how to supply what is missing. Pass environment and strategy (canary, flag, full) to include
        a risk area's staged-rollout rule."""
        s = state["session"]
        try:
            result = await gates.gate_change(
                s.graph, s.policy, repo, number, environment=environment, strategy=strategy
            )
        except Exception as exc:  # noqa: BLE001 - an error is an answer that does not pass
            result = failure("change", f"{repo}#{number}", describe(exc), environment=environment)
        await audited("gate_change", f"{repo}#{number} passed={result.passed}", len(result.changes))
        return _json(result)

    @server.tool(annotations=READ_ONLY)
    async def gate_commit(
        sha: str, environment: str, strategy: str | None = None, service: str | None = None
    ) -> dict[str, Any]:
        """Whether a commit may ship to an environment: every change it would add since what runs there now
        (git ancestry) must be VERIFIED or covered by an active exception. exitCode 0 passed, 1 gaps, 2 error."""
        s = state["session"]
        try:
            result = await gates.gate_commit(
                s.graph, s.policy, sha, environment=environment, strategy=strategy, service=service
            )
        except Exception as exc:  # noqa: BLE001 - an error is an answer that does not pass
            result = failure("commit", sha, describe(exc), environment=environment)
        await audited("gate_commit", f"{sha} environment={environment} passed={result.passed}", len(result.changes))
        return _json(result)

    @server.tool(annotations=READ_ONLY)
    async def incident_suspects(incident_id: str, window_hours: int = 72) -> dict[str, Any]:
        """The changes that may have caused an incident, most likely first, with the deployment that shipped
        each, the agent sessions behind it, a score and the reason for it."""
        if not 0 < window_hours <= 24 * 90:
            return {"found": False, "error": "window_hours must be between 1 and 2160 (90 days)"}
        s = state["session"]
        found = await trace_incident(s.graph, s.policy, incident_id, window=timedelta(hours=window_hours))
        await audited("incident_suspects", incident_id, len(found.suspects) if found else 0)
        if found is None:
            return {"found": False, "error": f"no incident {incident_id!r} in the graph"}
        return {
            "found": True,
            "incident": _json(found.incident),
            "suspects": [_suspect(suspect) for suspect in found.suspects],
            "notes": found.notes,
        }

    return server
