"""The GraphQL contract of DESIGN.md, derived from graph.models (names are public API)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import GraphQLError
from pydantic import BaseModel
from strawberry.dataloader import DataLoader
from strawberry.experimental.pydantic import type as pydantic_type
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info

from api.cost import MAX_PAGE
from api.errors import QueryError
from governance.exceptions import state as exception_state
from graph import models, repository
from graph.driver import Graph
from graph.policy import Policy
from graph.trace import Trace, trace_incident

A = TypeVar("A", bound=BaseModel)
VerdictStatus = strawberry.enum(models.VerdictStatus, name="VerdictStatus")
Trust = strawberry.enum(
    models.Trust,
    name="Trust",
    description="How evidence or an approval arrived, weakest first: UNVERIFIED, UPLOADED, PROVIDER, SIGNED.",
)


class Context(dict[str, Any]):
    """Per-request context: the graph, the policy and DataLoaders that batch nested reads."""

    def __init__(self, graph: Graph, policy: Policy):
        super().__init__(graph=graph, policy=policy)
        self.graph = graph
        self.policy = policy
        self.changes: DataLoader[str, models.Change | None] = DataLoader(self._load_changes)
        self._traces: dict[tuple[str, int], Trace | None] = {}

    async def trace(self, incident_id: str, window_hours: int) -> Trace | None:
        """The incident's trace, computed once per request."""
        key = (incident_id, window_hours)
        if key not in self._traces:
            self._traces[key] = await trace_incident(
                self.graph, self.policy, incident_id, window=timedelta(hours=window_hours)
            )
        return self._traces[key]

    async def _load_changes(self, ids: list[str]) -> list[models.Change | None]:
        if len(ids) == 1:  # the five-minute question: its own single read
            return [await repository.change_by_id(self.graph, self.policy, ids[0])]
        found = await repository.changes_by_ids(self.graph, self.policy, ids)  # one read for a page of changes
        return [found.get(i) for i in ids]


def served(model: BaseModel | None) -> Any:
    """A graph.models answer served as its strawberry type as it is: the pydantic-derived types accept the
    model itself (their is_type_of) and read its fields by attribute, so nothing is copied per request."""
    return model


def ctx(info: Info) -> Context:
    context: Context = info.context["tracegraph"]
    return context


async def answer(node: object, kind: type[A], read: Callable[[], Awaitable[A | None]]) -> A | None:
    """A node's answer: the node itself when a top-level query read it whole, else `read()` once."""
    return node if isinstance(node, kind) else await read()


async def _commit(info: Info, node: object, sha: str) -> models.CommitAnswer | None:
    return await answer(node, models.CommitAnswer, lambda: repository.commit(ctx(info).graph, ctx(info).policy, sha))


async def _deployment(info: Info, node: object, id: str) -> models.DeploymentAnswer | None:
    return await answer(node, models.DeploymentAnswer, lambda: repository.deployment(ctx(info).graph, id))


async def _changes(info: Info, ids: list[str]) -> list["Change"]:
    loaded = await ctx(info).changes.load_many(ids)
    return [served(c) for c in loaded if c is not None]


@pydantic_type(model=models.Person)
class Person:
    login: strawberry.auto
    name: strawberry.auto
    is_bot: strawberry.auto


@pydantic_type(model=models.Commit)
class Commit:
    sha: strawberry.auto
    message: strawberry.auto
    authored_at: strawberry.auto
    author: strawberry.auto
    trailers: strawberry.auto
    files: strawberry.auto
    ai_tools: strawberry.auto

    @strawberry.field
    async def sessions(self, info: Info) -> list[Annotated["AgentSession", strawberry.lazy("api.schema")]]:
        found = await _commit(info, self, self.sha)
        sessions = [await repository.session(ctx(info).graph, sid) for sid in (found.session_ids if found else [])]
        return [served(s) for s in sessions if s is not None]

    @strawberry.field
    async def changes(self, info: Info) -> list[Annotated["Change", strawberry.lazy("api.schema")]]:
        found = await _commit(info, self, self.sha)
        return await _changes(info, found.change_ids) if found else []


@pydantic_type(model=models.AgentSession)
class AgentSession:
    id: strawberry.ID
    tool: strawberry.auto
    tool_version: strawberry.auto
    model: strawberry.auto
    prompt_summary: strawberry.auto
    operator: strawberry.auto
    started_at: strawberry.auto
    ended_at: strawberry.auto
    cost_usd: strawberry.auto
    risk_area: strawberry.auto

    @strawberry.field
    async def changes(self, info: Info) -> list[Annotated["Change", strawberry.lazy("api.schema")]]:
        return await _changes(info, await repository.change_ids_of_session(ctx(info).graph, self.id))

    @strawberry.field
    async def commits(self, info: Info) -> list[Annotated["Commit", strawberry.lazy("api.schema")]]:
        found = await answer(self, models.SessionAnswer, lambda: repository.session(ctx(info).graph, self.id))
        return [served(k) for k in found.commits] if found else []


@pydantic_type(model=models.Approval)
class Approval:
    reviewer: strawberry.auto
    at: strawberry.auto
    commit_sha: strawberry.auto
    stale: strawberry.auto
    independent: strawberry.auto
    reasons: strawberry.auto
    trust: strawberry.auto
    trust_by: strawberry.auto


@pydantic_type(model=models.Evidence)
class Evidence:
    kind: strawberry.auto
    name: strawberry.auto
    conclusion: strawberry.auto
    commit_sha: strawberry.auto
    url: strawberry.auto
    at: strawberry.auto
    source: strawberry.auto
    trust: strawberry.auto
    trust_by: strawberry.auto
    signature_problem: strawberry.auto


@pydantic_type(model=models.Postmortem)
class Postmortem:
    id: strawberry.ID
    title: strawberry.auto
    root_cause: strawberry.auto
    action_items: strawberry.auto
    digest: strawberry.auto


@pydantic_type(model=models.Incident)
class Incident:
    id: strawberry.ID
    title: strawberry.auto
    severity: strawberry.auto
    status: strawberry.auto
    service: strawberry.auto
    triggered_at: strawberry.auto
    resolved_at: strawberry.auto

    @strawberry.field(description="Changes that may have caused this incident, most likely first (see reason).")
    async def suspects(
        self, info: Info, window_hours: int = 72
    ) -> list[Annotated["Suspect", strawberry.lazy("api.schema")]]:
        if not 0 < window_hours <= 24 * 90:
            raise QueryError("windowHours must be between 1 and 2160 (90 days)")
        found = await ctx(info).trace(self.id, window_hours)
        if found is None:
            return []
        return [
            Suspect(
                change=served(s.change),
                deployment=served(s.deployment),
                sessions=[served(x) for x in s.change.sessions],
                score=s.score,
                reason=s.reason,
            )
            for s in found.suspects
        ]

    @strawberry.field(description="Why the trace may be incomplete (no service, no trigger time, first deployment).")
    async def trace_notes(self, info: Info, window_hours: int = 72) -> list[str]:
        found = await ctx(info).trace(self.id, window_hours)
        return found.notes if found else []

    @strawberry.field
    async def postmortems(self, info: Info) -> list[Annotated["Postmortem", strawberry.lazy("api.schema")]]:
        found = await answer(self, models.IncidentAnswer, lambda: repository.incident(ctx(info).graph, self.id))
        return [served(p) for p in found.postmortems] if found else []


@pydantic_type(model=models.Deployment)
class Deployment:
    id: strawberry.ID
    environment: strawberry.auto
    status: strawberry.auto
    sha: strawberry.auto
    service: strawberry.auto
    strategy: strawberry.auto
    started_at: strawberry.auto
    finished_at: strawberry.auto

    @strawberry.field(description="When it finished, or started if it has not finished.")
    def at(self) -> datetime | None:
        return self.finished_at or self.started_at

    @strawberry.field
    async def changes(self, info: Info) -> list[Annotated["Change", strawberry.lazy("api.schema")]]:
        found = await _deployment(info, self, self.id)
        return await _changes(info, found.change_ids) if found else []

    @strawberry.field
    async def incidents(self, info: Info) -> list[Annotated["Incident", strawberry.lazy("api.schema")]]:
        found = await _deployment(info, self, self.id)
        return [served(i) for i in found.incidents] if found else []


@pydantic_type(model=models.Verdict)
class Verdict:
    status: VerdictStatus  # type: ignore[valid-type]
    gaps: strawberry.auto


@pydantic_type(model=models.Contract, description="The pull request's contract: sections of its description.")
class Contract:
    intent: strawberry.auto
    risk: strawberry.auto
    test_evidence: strawberry.auto
    rollout: strawberry.auto
    rollback: strawberry.auto


@pydantic_type(
    model=models.ExceptionGrant,
    description="A break-glass exception: never a VERIFIED verdict; while active, gates let its change through.",
)
class ExceptionGrant:
    id: strawberry.ID
    change_id: strawberry.auto
    granted_by: strawberry.auto
    granted_at: strawberry.auto
    reason: strawberry.auto
    expires_at: strawberry.auto
    emergency: strawberry.auto
    review_due_at: strawberry.auto
    reviewed_by: strawberry.auto
    reviewed_at: strawberry.auto
    review_notes: strawberry.auto
    revoked_by: strawberry.auto
    revoked_at: strawberry.auto
    revoke_reason: strawberry.auto

    @strawberry.field(description="Now: active, expired, revoked, or review overdue (an unreviewed emergency).")
    def state(self) -> str:
        return exception_state(self, datetime.now(UTC))  # type: ignore[arg-type]  # served as the model


@pydantic_type(model=models.Change)
class Change:
    id: strawberry.ID
    repo: strawberry.auto
    number: strawberry.auto
    title: strawberry.auto
    url: strawberry.auto
    state: strawberry.auto
    risk_area: strawberry.auto
    head_sha: strawberry.auto
    merge_commit_sha: strawberry.auto
    created_at: strawberry.auto
    merged_at: strawberry.auto
    author: strawberry.auto
    sessions: strawberry.auto
    commits: strawberry.auto
    approvals: strawberry.auto
    evidence: strawberry.auto
    deployments: strawberry.auto
    incidents: strawberry.auto
    verdict: strawberry.auto
    contract: strawberry.auto
    exceptions: strawberry.auto


@strawberry.type
class Suspect:
    change: Change
    deployment: Deployment | None
    sessions: list[AgentSession]
    score: float
    reason: str


@strawberry.type
class Query:
    @strawberry.field(description="The five-minute answer: who approved this change, and what evidence proved it safe.")
    async def change(self, info: Info, repo: str, number: int) -> Change | None:
        found = await repository.change(ctx(info).graph, ctx(info).policy, repo=repo, number=number)
        return served(found) if found else None

    @strawberry.field
    async def commit(self, info: Info, sha: str) -> Commit | None:
        return served(await repository.commit(ctx(info).graph, ctx(info).policy, sha))

    @strawberry.field
    async def deployment(self, info: Info, id: strawberry.ID) -> Deployment | None:
        return served(await repository.deployment(ctx(info).graph, str(id)))

    @strawberry.field
    async def incident(self, info: Info, id: strawberry.ID) -> Incident | None:
        return served(await repository.incident(ctx(info).graph, str(id)))

    @strawberry.field
    async def session(self, info: Info, id: strawberry.ID) -> AgentSession | None:
        return served(await repository.session(ctx(info).graph, str(id)))

    @strawberry.field(description="Changes, optionally of one repository, in id order.")
    async def changes(
        self, info: Info, repo: str | None = None, first: int = 50, offset: int = 0
    ) -> list[Annotated["Change", strawberry.lazy("api.schema")]]:
        if not 0 < first <= MAX_PAGE or offset < 0:
            raise QueryError(f"first must be between 1 and {MAX_PAGE} and offset must not be negative")
        ids = await repository.change_ids(ctx(info).graph, repo=repo, skip=offset, limit=first)
        return await _changes(info, ids)


def build_schema() -> strawberry.Schema:
    """The public schema, with depth/alias/token limits and the audit log."""
    from api.governance import GovernanceQuery
    from api.limits import graphql_extensions
    from api.metrics import MetricsQuery

    root = merge_types("Query", (Query, MetricsQuery, GovernanceQuery))
    return _Schema(query=root, extensions=graphql_extensions())


class _Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Nothing here: api.errors.ClientErrors logs the unexpected errors (with the reference the client got);
        the rest are the client's own mistakes, answered to it."""


schema = build_schema()
