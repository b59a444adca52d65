"""Rollback drills: a rollback done on purpose, with its time to restore, and whether a service's is overdue.

A drill comes from `tracegraph drill record --service S --environment E --restore-minutes N`, or from a
deployment event marked as one (GitHub: the deployment's payload `{"drill": true}`), whose time to
restore is its start to its successful finish. The policy's `drills.within_days` names, per service
tier, how recent the last drill in an environment must be; the tier comes from the Service node, else
the policy's `drills.tiers`, else `drills.default_tier`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from governance.models import DrillStatus
from graph.governance import Drill
from graph.policy import Policy


class DrillError(ValueError):
    """A drill cannot be recorded as given; the message says why."""


def drill_status(
    policy: Policy, *, service: str, tier: str | None, environment: str, drills: list[Drill], now: datetime
) -> DrillStatus:
    """The service's last drill in the environment, against what its tier requires."""
    tier_name = policy.drills.tier_of(service, tier)
    due = policy.drills.due_within(service, tier)
    here = [d for d in drills if (d.environment or "").lower() == environment.lower() and d.at <= now]
    last = max(here, key=lambda d: (d.at, d.id)) if here else None
    status = DrillStatus(tier=tier_name, due_within_days=due, last=last)
    if due is None:
        return status
    if last is None or last.at < now - timedelta(days=due):
        status.overdue = True
        when = f"the last was on {last.at:%Y-%m-%d}" if last else "there has been none"
        status.gap = f"no rollback drill of {service} in {environment} within {due} days (tier {tier_name}); {when}"
    return status


def restore_seconds(minutes: float | None, seconds: float | None) -> float:
    """The time to restore a drill took, from --restore-minutes or --restore-seconds (exactly one, not negative)."""
    if (minutes is None) == (seconds is None):
        raise DrillError("give the time to restore with exactly one of --restore-minutes or --restore-seconds")
    value = minutes * 60 if minutes is not None else seconds
    assert value is not None
    if value < 0:
        raise DrillError("the time to restore cannot be negative")
    return float(value)
