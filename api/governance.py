"""GraphQL for governance: `status(environment)`, `gateCommit(sha, environment)` and `exceptions(from, to)`,
derived from governance.models (the same answers the CLI prints)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry
from strawberry.experimental.pydantic import type as pydantic_type
from strawberry.types import Info

from api.schema import ExceptionGrant, VerdictStatus, ctx, served
from governance import models as gm
from governance import status as service_status
from governance.gate import gate_commit
from graph import governance as records


@pydantic_type(model=gm.Remedy, description="A requirement not met: its gaps and how to supply what is missing.")
class Remedy:
    requirement: strawberry.auto
    gaps: strawberry.auto
    how: strawberry.auto


@pydantic_type(model=gm.ExceptionView, description="An exception now: its state and the gaps it is of its own.")
class ExceptionView:
    exception: strawberry.auto
    state: str
    gaps: strawberry.auto


@pydantic_type(model=gm.GateChange)
class GateChange:
    id: strawberry.ID
    repo: strawberry.auto
    number: strawberry.auto
    title: strawberry.auto
    url: strawberry.auto
    state: strawberry.auto
    risk_area: strawberry.auto
    verdict: VerdictStatus  # type: ignore[valid-type]
    gaps: strawberry.auto
    covered_by: strawberry.auto
    exceptions: strawberry.auto
    passes: strawberry.auto
    missing: strawberry.auto


@pydantic_type(model=gm.RunningDeployment)
class RunningDeployment:
    service: strawberry.auto
    deployment: strawberry.auto


@pydantic_type(model=gm.GateResult, description="May it ship? exitCode 0 passed, 1 gaps, 2 not evaluated.")
class GateResult:
    gate: str
    target: strawberry.auto
    environment: strawberry.auto
    repo: strawberry.auto
    sha: strawberry.auto
    strategy: strawberry.auto
    passed: strawberry.auto
    exit_code: strawberry.auto
    running: strawberry.auto
    changes: strawberry.auto
    gaps: strawberry.auto
    missing: strawberry.auto
    error: strawberry.auto
    evaluated_at: strawberry.auto


@pydantic_type(model=records.Drill, description="A rollback done on purpose, with its time to restore.")
class Drill:
    id: strawberry.ID
    service: strawberry.auto
    environment: strawberry.auto
    at: strawberry.auto
    restore_seconds: strawberry.auto
    recorded_by: strawberry.auto
    notes: strawberry.auto
    deployment_id: strawberry.auto
    origin: strawberry.auto


@pydantic_type(model=gm.DrillStatus)
class DrillStatus:
    tier: strawberry.auto
    due_within_days: strawberry.auto
    last: strawberry.auto
    overdue: strawberry.auto
    gap: strawberry.auto


@pydantic_type(model=gm.ServiceStatus, description="What runs in an environment for a service, and is it compliant.")
class ServiceStatus:
    service: strawberry.auto
    environment: strawberry.auto
    running: strawberry.auto
    changes: strawberry.auto
    not_verified: strawberry.auto
    not_verified_ids: strawberry.auto
    covered: strawberry.auto
    drift: strawberry.auto
    compliant: strawberry.auto
    compliant_since: strawberry.auto
    compliant_since_bounded: strawberry.auto
    gaps: strawberry.auto
    drill: strawberry.auto


@strawberry.type
class GovernanceQuery:
    @strawberry.field(
        description="Per service, what runs in the environment now, how many of its changes are not VERIFIED, "
        "and since when it has been fully compliant."
    )
    async def status(self, info: Info, environment: str, service: str | None = None) -> list[ServiceStatus]:
        found = await service_status.status(ctx(info).graph, ctx(info).policy, environment=environment, service=service)
        return [served(s) for s in found]

    @strawberry.field(
        description="May the commit ship to the environment? The answer of `tracegraph gate commit`; an unknown "
        "commit is an error, never a pass."
    )
    async def gate_commit(
        self,
        info: Info,
        sha: str,
        environment: str,
        strategy: str | None = None,
        service: str | None = None,
    ) -> GateResult:
        found = await gate_commit(
            ctx(info).graph, ctx(info).policy, sha, environment=environment, strategy=strategy, service=service
        )
        return served(found)  # type: ignore[no-any-return]

    @strawberry.field(description="Exceptions in force at some time in [from, to).")
    async def exceptions(
        self,
        info: Info,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
    ) -> list[ExceptionGrant]:
        start = from_ if from_.tzinfo else from_.replace(tzinfo=UTC)
        end = to if to.tzinfo else to.replace(tzinfo=UTC)
        return [served(x) for x in await records.exceptions_between(ctx(info).graph, start=start, end=end)]
