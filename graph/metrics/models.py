"""What the metrics are made of: the rows the reads turn into facts (dataclasses), and the answer
(pydantic models, from which api/metrics.py derives the GraphQL types). The rules that fill them
are in graph/metrics/rules.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# A deployment's final statuses (rules.py's docstring says why `inactive` counts as a success).
SUCCEEDED = ("success", "inactive")
FAILED = ("failure", "error")


# --- the answer -------------------------------------------------------------------------------


class MetricModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Rate(MetricModel):
    """numerator / denominator; value is None when the denominator is 0."""

    numerator: int
    denominator: int
    value: float | None = None


class Durations(MetricModel):
    count: int
    median_hours: float | None = None
    p90_hours: float | None = None


class FailedDeployment(MetricModel):
    id: str
    service: str | None = None
    environment: str | None = None
    started_at: datetime | None = None
    reasons: list[str] = Field(default_factory=list)


class SpendRow(MetricModel):
    operator: str | None = None
    month: str
    cost_usd: float
    sessions: int


class SpendMonth(MetricModel):
    month: str
    cost_usd: float
    engineers: int
    per_engineer_usd: float | None = None


class Week(MetricModel):
    week: str
    start: date
    deployments: int
    failures: int
    ai_assisted_share: float | None = None
    median_lead_time_hours: float | None = None


class Metrics(MetricModel):
    """DORA metrics and the AI-era signals for one service (or all) over [window_start, window_end)."""

    service: str | None = None
    window_start: datetime
    window_end: datetime
    days: float
    deployments: int
    deployments_per_week: float
    deployments_per_day: float
    lead_time: Durations
    change_failure_rate: Rate
    failed_deployments: list[FailedDeployment]
    time_to_restore: Durations
    unresolved_incidents: int
    merged_changes: int
    shipped_changes: int
    ai_assisted_share: Rate
    change_failure_rate_ai: Rate
    change_failure_rate_human: Rate
    median_agent_diff_size: float | None = None
    test_delta_share: Rate
    independent_approval_share: Rate
    evidence_coverage: Rate
    ai_spend_usd: float
    ai_spend_per_engineer_month_usd: float | None = None
    ai_spend_months: list[SpendMonth]
    ai_spend_by_engineer: list[SpendRow]
    weekly: list[Week]


# --- rows read --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deploy:
    id: str
    sha: str | None
    environment: str | None
    status: str | None
    started_at: datetime
    finished_at: datetime | None
    service: str | None
    incident_ids: frozenset[str]

    @property
    def group(self) -> tuple[str | None, str | None]:
        # "Production" and "production" are one environment.
        return self.service, self.environment.lower() if self.environment else None

    @property
    def at(self) -> datetime:
        return self.finished_at or self.started_at

    @property
    def succeeded(self) -> bool:
        return (self.status or "").lower() in SUCCEEDED

    @property
    def final(self) -> bool:
        return self.succeeded or (self.status or "").lower() in FAILED


@dataclass(frozen=True)
class ChangeFacts:
    """What the metrics need of one change (derived from its five-minute answer)."""

    id: str
    merged_at: datetime | None
    first_commit_at: datetime | None
    ai: bool
    diff: int | None
    behaviour: bool
    test_delta: bool
    independent: bool
    covered: bool
    caused_by: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Incident:
    id: str
    triggered_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class Session:
    id: str
    started_at: datetime
    cost_usd: float | None
    operator: str | None
