"""The answers of governance: gate results, what is missing and how to supply it, service status."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from graph.governance import Drill
from graph.models import Deployment, ExceptionGrant, Model, VerdictStatus

ExceptionState = Literal["active", "expired", "revoked", "review overdue"]
GateKind = Literal["commit", "change", "deployment"]


class Remedy(Model):
    """One requirement that is not met: the gaps behind it and how to supply what is missing."""

    requirement: str
    gaps: list[str] = Field(default_factory=list)
    how: str


class ExceptionView(Model):
    """An exception as of the time it was looked at: its record, its state, and the gaps it is of its own."""

    exception: ExceptionGrant
    state: ExceptionState
    gaps: list[str] = Field(default_factory=list)


class ExceptionCounts(Model):
    """Break-glass exceptions of a window, for the metrics: how many, and how many are gaps of their own now."""

    in_force: int = 0
    granted: int = 0
    emergency: int = 0
    # Gaps of their own: emergency ones not reviewed yet, and ones that expired while their change is not VERIFIED.
    with_gaps: int = 0
    unreviewed: int = 0
    expired_unverified: int = 0


class GateChange(Model):
    """One change a gate looked at: its verdict, what the gate adds to its gaps, and whether it may ship."""

    id: str
    repo: str
    number: int
    title: str | None = None
    url: str | None = None
    state: str | None = None
    risk_area: str | None = None
    verdict: VerdictStatus
    # The verdict's gaps, then the gate's own (the strategy of the deployment being gated).
    gaps: list[str] = Field(default_factory=list)
    # The exception that lets this change through, if one is active.
    covered_by: str | None = None
    exceptions: list[ExceptionView] = Field(default_factory=list)
    passes: bool
    missing: list[Remedy] = Field(default_factory=list)


class RunningDeployment(Model):
    """What runs in the gated environment for one service: the base the gate measures from."""

    service: str
    deployment: Deployment | None = None


class GateResult(Model):
    """A gate's answer. `exit_code` is the CLI's status: 0 passed, 1 gaps, 2 could not evaluate (never passes)."""

    gate: GateKind
    target: str
    environment: str | None = None
    repo: str | None = None
    sha: str | None = None
    strategy: str | None = None
    passed: bool
    exit_code: int
    running: list[RunningDeployment] = Field(default_factory=list)
    changes: list[GateChange] = Field(default_factory=list)
    # Gaps of the shipment itself, not of one change (commits outside the reviewed flow, unknown ancestry).
    gaps: list[str] = Field(default_factory=list)
    missing: list[Remedy] = Field(default_factory=list)
    error: str | None = None
    evaluated_at: datetime


class DrillStatus(Model):
    """A service's rollback drills in one environment against the policy's rule for its tier."""

    tier: str | None = None
    due_within_days: int | None = None
    last: Drill | None = None
    overdue: bool = False
    gap: str | None = None


class ServiceStatus(Model):
    """What runs in an environment for one service, and whether it is compliant."""

    service: str
    environment: str
    running: Deployment | None = None
    # Changes in the running commit's git ancestry (as far as the gates walk it).
    changes: int = 0
    not_verified: int = 0
    not_verified_ids: list[str] = Field(default_factory=list)
    # Of the changes not VERIFIED, those an active exception covers (they stay UNVERIFIED).
    covered: int = 0
    # The running commit cannot be tied to a merged change (shipped outside the reviewed flow, or from a branch).
    drift: bool = False
    compliant: bool = False
    # Since when every deployment up to the running one shipped only VERIFIED changes of the reviewed flow;
    # None when the running one did not. `compliant_since_bounded`: the look-back ended before the streak did.
    compliant_since: datetime | None = None
    compliant_since_bounded: bool = False
    gaps: list[str] = Field(default_factory=list)
    drill: DrillStatus = Field(default_factory=DrillStatus)
