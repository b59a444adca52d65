"""GraphQL `metrics(service, from, to)`: delivery metrics derived from graph.metrics models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import strawberry
from strawberry.experimental.pydantic import type as pydantic_type
from strawberry.types import Info

from governance.exceptions import counts
from governance.models import ExceptionCounts as ExceptionCountsModel
from graph import metrics as m


@pydantic_type(model=m.Rate, description="numerator / denominator; value is null when the denominator is 0.")
class Rate:
    numerator: strawberry.auto
    denominator: strawberry.auto
    value: strawberry.auto


@pydantic_type(model=m.Durations)
class Durations:
    count: strawberry.auto
    median_hours: strawberry.auto
    p90_hours: strawberry.auto


@pydantic_type(model=m.FailedDeployment)
class FailedDeployment:
    id: strawberry.ID
    service: strawberry.auto
    environment: strawberry.auto
    started_at: strawberry.auto
    reasons: strawberry.auto


@pydantic_type(model=m.SpendMonth, name="AiSpendMonth")
class SpendMonth:
    month: strawberry.auto
    cost_usd: strawberry.auto
    engineers: strawberry.auto
    per_engineer_usd: strawberry.auto


@pydantic_type(model=m.SpendRow, name="AiSpendRow")
class SpendRow:
    operator: strawberry.auto
    month: strawberry.auto
    cost_usd: strawberry.auto
    sessions: strawberry.auto


@pydantic_type(model=m.Week, name="MetricsWeek")
class Week:
    week: strawberry.auto
    start: strawberry.auto
    deployments: strawberry.auto
    failures: strawberry.auto
    ai_assisted_share: strawberry.auto
    median_lead_time_hours: strawberry.auto


@pydantic_type(model=ExceptionCountsModel, name="ExceptionCounts")
class ExceptionCounts:
    in_force: strawberry.auto
    granted: strawberry.auto
    emergency: strawberry.auto
    with_gaps: strawberry.auto
    unreviewed: strawberry.auto
    expired_unverified: strawberry.auto


@pydantic_type(model=m.Metrics, description="Delivery metrics over [windowStart, windowEnd); see graph/metrics.py.")
class Metrics:
    service: strawberry.auto
    window_start: strawberry.auto
    window_end: strawberry.auto
    days: strawberry.auto
    deployments: strawberry.auto
    deployments_per_week: strawberry.auto
    deployments_per_day: strawberry.auto
    lead_time: strawberry.auto
    change_failure_rate: strawberry.auto
    failed_deployments: strawberry.auto
    time_to_restore: strawberry.auto
    unresolved_incidents: strawberry.auto
    merged_changes: strawberry.auto
    shipped_changes: strawberry.auto
    ai_assisted_share: strawberry.auto
    change_failure_rate_ai: strawberry.auto
    change_failure_rate_human: strawberry.auto
    median_agent_diff_size: strawberry.auto
    test_delta_share: strawberry.auto
    independent_approval_share: strawberry.auto
    evidence_coverage: strawberry.auto
    ai_spend_usd: strawberry.auto
    ai_spend_per_engineer_month_usd: strawberry.auto
    ai_spend_months: strawberry.auto
    ai_spend_by_engineer: strawberry.auto
    weekly: strawberry.auto

    @strawberry.field(description="Break-glass exceptions in force in the window; gaps of their own as of now.")
    async def exceptions(self, info: Info) -> ExceptionCounts:
        context = info.context["tracegraph"]
        found = await counts(
            context.graph,
            context.policy,
            start=self.window_start,
            end=self.window_end,
            service=self.service,
            now=datetime.now(UTC),
        )
        return ExceptionCounts.from_pydantic(found)


@strawberry.type
class MetricsQuery:
    @strawberry.field(
        description="Deployment frequency, lead time, change failure rate, time to restore and the AI-era "
        "signals for one service (all when omitted) over [from, to)."
    )
    async def metrics(
        self,
        info: Info,
        service: str | None = None,
        *,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
    ) -> Metrics:
        context = info.context["tracegraph"]
        found = await m.metrics(context.graph, context.policy, service=service, start=from_, end=to)
        return Metrics.from_pydantic(found)
