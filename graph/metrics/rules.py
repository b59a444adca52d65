"""The rules of the delivery metrics, and the pure functions that apply them to the rows
graph/metrics/reads.py reads (nothing here touches the database). The rules, so every number can be
recomputed by hand:

- *Production* is an environment with a token `production`, `prod` or `live` (case-insensitive),
  not preceded by `pre` or `non` (`prod-eu` and `Live` are, `preprod` and `non-prod` are not).
- A deployment *succeeded* when its latest status is `success` (or `inactive`: replaced later);
  it *failed to deploy* when `failure` or `error`. Others (pending, in progress, none) are not final
  and are left out everywhere.
- *Deployment frequency* counts distinct successful production deployments started in the window.
- A successful deployment D *ships* the changes whose merge commit or head is D's commit or one of
  its ancestors (PARENT, at most 200 deep), minus those the previous successful deployment to the
  same service and environment already shipped. A change's *shipping deployment* is the earliest
  one that ships it. *Lead time* is first commit authoredAt (the change's createdAt when no commit
  time is known) → the shipping deployment finishing (or starting), over changes shipped in the window.
- *Change failure rate*: failed production deployments / production deployments with a final status
  in the window. D failed when its status is failure/error, an incident is CAUSED_BY it or by a
  change it shipped (or a commit of one), or it was *rolled back*: the next successful deployment
  to the same service and environment shipped another commit that is an ancestor of D's, or the
  commit of the deployment before D. One deployment counts once whatever the number of incidents.
- *Time to restore*: incidents affecting the service triggered in the window, triggeredAt →
  resolvedAt (unresolved ones are counted apart).
- Change signals are over changes *merged* in the window (for a service: of a repository that
  deploys as it, or shipped to it): AI-assisted when an agent session PROPOSED it or AUTHORED one
  of its commits; agent diff size = additions + deletions of AI-assisted ones; a *behaviour change*
  touches a non-test file, and has a *test delta* when its commits also touch a test file (changes
  whose files are unknown are left out); *independent approval* = at least one approval the verdict
  counts (independent, on the final head, the reviewer's latest word); *evidence coverage* = every
  evidence kind the change's risk area requires is present and successful on the shipped commit.
- *Change failure rate, AI vs human* is per change shipped in the window: failed when a deployment
  that shipped it failed or an incident is CAUSED_BY it (or one of its commits).
- *AI spend*: costUsd of sessions started in the window, summed per operator and month; per engineer
  per month = attributed spend / number of (operator, month) pairs with any session.
- Medians are the middle value (mean of the two middle ones); p90 is the nearest rank ⌈0.9·n⌉.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from graph.environments import PRODUCTION, is_production  # noqa: F401 - the rules above name them here
from graph.metrics.models import (
    ChangeFacts,
    Deploy,
    Durations,
    FailedDeployment,
    Incident,
    Metrics,
    Rate,
    Session,
    SpendMonth,
    SpendRow,
    Week,
)
from graph.verdict import short

TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "e2e", "integration_tests"})
TEST_NAMES = re.compile(
    r"(?i)(^test_.*\.py$|.*_test\.(py|go|rb|exs?)$|^conftest\.py$|.*\.(test|spec)\.[cm]?[jt]sx?$"
    r"|.*_spec\.rb$|.*Tests?\.(java|kt|cs|swift|scala)$)"
)


class MetricsError(ValueError):
    """The window is not usable; the message says why."""


# The work grows with the window (one row per week, every deployment and change in it): a reader may ask
# for two years at a time, not for 0001-01-01 to 9999-12-01.
MAX_WINDOW_DAYS = 731
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)  # weeks past the end of a window must still be dates


def is_test_path(path: str) -> bool:
    """Whether a repository path is a test file (by folder or by file name convention)."""
    parts = path.replace("\\", "/").split("/")
    return any(part.lower() in TEST_DIRS for part in parts[:-1]) or TEST_NAMES.match(parts[-1]) is not None


def iso(moment: datetime) -> str:
    """A datetime as the graph stores timestamps ('YYYY-MM-DDTHH:MM:SSZ', UTC)."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse(value: Any) -> datetime | None:
    """A stored timestamp (or None) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def median(values: list[float]) -> float | None:
    """The middle value (mean of the two middle ones), None for no values."""
    return statistics.median(values) if values else None


def p90(values: list[float]) -> float | None:
    """The nearest-rank 90th percentile: the ⌈0.9·n⌉-th smallest value."""
    if not values:
        return None
    return sorted(values)[math.ceil(0.9 * len(values)) - 1]


def rate(numerator: int, denominator: int) -> Rate:
    """numerator / denominator, None when nothing was counted."""
    return Rate(numerator=numerator, denominator=denominator, value=numerator / denominator if denominator else None)


def durations(hours: list[float]) -> Durations:
    """How many durations, their median and p90."""
    return Durations(count=len(hours), median_hours=median(hours), p90_hours=p90(hours))


# --- pure computation -------------------------------------------------------------------------


@dataclass
class Chain:
    """Successful production deployments of one (service, environment) in time order."""

    before: Deploy | None
    inside: list[Deploy]
    after: Deploy | None

    def neighbours(self) -> list[tuple[Deploy | None, Deploy, Deploy | None]]:
        """(previous, deployment, next) for each deployment in the window."""
        result = []
        for i, d in enumerate(self.inside):
            prev = self.inside[i - 1] if i else self.before
            nxt = self.inside[i + 1] if i + 1 < len(self.inside) else self.after
            result.append((prev, d, nxt))
        return result


def _order(d: Deploy) -> tuple[datetime, str]:
    return d.started_at, d.id


def chains(window: list[Deploy], neighbours: list[Deploy], *, start: datetime) -> dict[tuple[Any, Any], Chain]:
    """The successful deployments of each (service, environment), with their outside neighbours."""
    result: dict[tuple[Any, Any], Chain] = {}
    for d in sorted((d for d in window if d.succeeded), key=_order):
        result.setdefault(d.group, Chain(None, [], None)).inside.append(d)
    for n in neighbours:
        chain = result.get(n.group)
        if chain is None:
            continue
        if n.started_at < start:
            chain.before = n
        else:
            chain.after = n
    return result


def ancestry_rows(all_chains: Iterable[Chain]) -> list[dict[str, Any]]:
    """The SHIPPED rows: each deployment's commit, and its next deployment's commit (for rollbacks)."""
    rows = []
    for chain in all_chains:
        if chain.before is not None and chain.before.sha:
            rows.append({"key": chain.before.id, "sha": chain.before.sha, "next": None})
        for _, d, nxt in chain.neighbours():
            if d.sha:
                rows.append({"key": d.id, "sha": d.sha, "next": nxt.sha if nxt else None})
    return rows


@dataclass
class Shipping:
    """What each deployment in the window shipped, and which were rolled back."""

    new: dict[str, set[str]] = field(default_factory=dict)  # deployment id -> change ids first shipped
    rolled_back: dict[str, str] = field(default_factory=dict)  # deployment id -> reason
    first: dict[str, Deploy] = field(default_factory=dict)  # change id -> its shipping deployment


def shipping(all_chains: list[Chain], shipped: dict[str, dict[str, Any]]) -> Shipping:
    """New changes per deployment (set difference with its predecessor) and rollbacks."""
    result = Shipping()
    for chain in all_chains:
        for prev, d, nxt in chain.neighbours():
            mine = set(shipped.get(d.id, {}).get("changeIds") or [])
            before = set(shipped.get(prev.id, {}).get("changeIds") or []) if prev else set()
            result.new[d.id] = mine - before
            if nxt is None or not nxt.sha or nxt.sha == d.sha:
                continue
            older = shipped.get(d.id, {}).get("nextIsOlder")
            if older or (prev is not None and nxt.sha == prev.sha):
                result.rolled_back[d.id] = (
                    f"rolled back: the next deployment {nxt.id} shipped older commit {short(nxt.sha)}"
                )
    for chain in all_chains:
        for d in chain.inside:
            for cid in result.new.get(d.id, ()):
                if cid not in result.first or _order(d) < _order(result.first[cid]):
                    result.first[cid] = d
    return result


def failures(counted: list[Deploy], ship: Shipping, changes: dict[str, ChangeFacts]) -> dict[str, list[str]]:
    """Reasons each failed deployment failed (a deployment with no reason did not fail)."""
    result: dict[str, list[str]] = {}
    for d in counted:
        reasons = []
        if not d.succeeded:
            reasons.append(f"deployment status is {d.status}")
        reasons += [f"incident {i} was caused by it" for i in sorted(d.incident_ids)]
        for cid in sorted(ship.new.get(d.id, ())):
            facts = changes.get(cid)
            if facts is not None:
                reasons += [f"incident {i} was caused by change {cid} it shipped" for i in sorted(facts.caused_by)]
        if d.id in ship.rolled_back:
            reasons.append(ship.rolled_back[d.id])
        if reasons:
            result[d.id] = reasons
    return result


def iso_weeks(start: datetime, end: datetime) -> list[tuple[str, date]]:
    """(label, Monday) of every ISO week that overlaps [start, end)."""
    monday = start.date() - timedelta(days=start.weekday())
    last = (end - timedelta(microseconds=1)).date()
    weeks = []
    while monday <= last:
        year, number, _ = monday.isocalendar()
        weeks.append((f"{year}-W{number:02d}", monday))
        monday += timedelta(days=7)
    return weeks


def week_of(moment: datetime) -> str:
    year, number, _ = moment.isocalendar()
    return f"{year}-W{number:02d}"


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def spend(sessions: list[Session]) -> tuple[float, float | None, list[SpendMonth], list[SpendRow]]:
    """Total spend, spend per engineer per month, and the breakdowns by month and by engineer."""
    rows: dict[tuple[str | None, str], list[Session]] = defaultdict(list)
    for s in sessions:
        rows[(s.operator, s.started_at.strftime("%Y-%m"))].append(s)
    by_engineer = [
        SpendRow(
            operator=operator,
            month=month,
            cost_usd=round(sum(s.cost_usd or 0.0 for s in found), 6),
            sessions=len(found),
        )
        for (operator, month), found in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0] or ""))
    ]
    attributed = [r for r in by_engineer if r.operator is not None]
    months = []
    for month in sorted({r.month for r in by_engineer}):
        people = [r for r in attributed if r.month == month]
        cost = round(sum(r.cost_usd for r in by_engineer if r.month == month), 6)
        per = sum(r.cost_usd for r in people) / len(people) if people else None
        months.append(SpendMonth(month=month, cost_usd=cost, engineers=len(people), per_engineer_usd=per))
    total = round(sum(r.cost_usd for r in by_engineer), 6)
    per_engineer_month = sum(r.cost_usd for r in attributed) / len(attributed) if attributed else None
    return total, per_engineer_month, months, by_engineer


def compute(
    *,
    service: str | None,
    start: datetime,
    end: datetime,
    window: list[Deploy],
    all_chains: dict[tuple[Any, Any], Chain],
    ship: Shipping,
    changes: dict[str, ChangeFacts],
    incidents: list[Incident],
    sessions: list[Session],
) -> Metrics:
    """Every metric from the rows read (pure: no database)."""
    days = (end - start).total_seconds() / 86400
    succeeded = sorted((d for d in window if d.succeeded), key=_order)
    counted = sorted((d for d in window if d.final), key=_order)
    failed = failures(counted, ship, changes)

    lead: dict[str, float] = {}
    for cid, d in ship.first.items():
        facts = changes.get(cid)
        if facts is not None and facts.first_commit_at is not None:
            lead[cid] = hours(d.at - facts.first_commit_at)

    merged = [c for c in changes.values() if c.merged_at is not None and start <= c.merged_at < end]
    ai = [c for c in merged if c.ai]
    behaviour = [c for c in merged if c.behaviour]
    shipped = [changes[cid] for cid in ship.first if cid in changes]

    def change_failed(c: ChangeFacts) -> bool:
        return bool(c.caused_by) or any(c.id in ship.new.get(d, ()) for d in failed)

    resolved = [hours(i.resolved_at - i.triggered_at) for i in incidents if i.resolved_at is not None]
    total, per_engineer_month, months, by_engineer = spend(sessions)

    weekly = []
    for label, monday in iso_weeks(start, end):
        in_week = [c for c in merged if c.merged_at and week_of(c.merged_at) == label]
        leads = [lead[cid] for cid, d in ship.first.items() if cid in lead and week_of(d.started_at) == label]
        weekly.append(
            Week(
                week=label,
                start=monday,
                deployments=sum(1 for d in succeeded if week_of(d.started_at) == label),
                failures=sum(1 for d in counted if d.id in failed and week_of(d.started_at) == label),
                ai_assisted_share=sum(c.ai for c in in_week) / len(in_week) if in_week else None,
                median_lead_time_hours=median(leads),
            )
        )

    ai_shipped = [c for c in shipped if c.ai]
    human_shipped = [c for c in shipped if not c.ai]
    return Metrics(
        service=service,
        window_start=start,
        window_end=end,
        days=days,
        deployments=len(succeeded),
        deployments_per_week=len(succeeded) / days * 7,
        deployments_per_day=len(succeeded) / days,
        lead_time=durations(sorted(lead.values())),
        change_failure_rate=rate(len(failed), len(counted)),
        failed_deployments=[
            FailedDeployment(
                id=d.id, service=d.service, environment=d.environment, started_at=d.started_at, reasons=failed[d.id]
            )
            for d in counted
            if d.id in failed
        ],
        time_to_restore=durations(resolved),
        unresolved_incidents=sum(1 for i in incidents if i.resolved_at is None),
        merged_changes=len(merged),
        shipped_changes=len(shipped),
        ai_assisted_share=rate(len(ai), len(merged)),
        change_failure_rate_ai=rate(sum(map(change_failed, ai_shipped)), len(ai_shipped)),
        change_failure_rate_human=rate(sum(map(change_failed, human_shipped)), len(human_shipped)),
        median_agent_diff_size=median([c.diff for c in ai if c.diff is not None]),
        test_delta_share=rate(sum(c.test_delta for c in behaviour), len(behaviour)),
        independent_approval_share=rate(sum(c.independent for c in merged), len(merged)),
        evidence_coverage=rate(sum(c.covered for c in merged), len(merged)),
        ai_spend_usd=total,
        ai_spend_per_engineer_month_usd=per_engineer_month,
        ai_spend_months=months,
        ai_spend_by_engineer=by_engineer,
        weekly=weekly,
    )


def window_of(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The window in UTC, or MetricsError when it is empty, too long or outside the years metrics cover."""
    start, end = utc(start), utc(end)
    if end <= start:
        raise MetricsError(f"the window is empty: 'to' ({iso(end)}) must be after 'from' ({iso(start)})")
    if start < EARLIEST or end > LATEST:
        raise MetricsError(
            f"'from' and 'to' must fall between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} "
            f"(asked: {start.date().isoformat()} to {end.date().isoformat()})"
        )
    days = (end - start).total_seconds() / 86400
    if days > MAX_WINDOW_DAYS:
        raise MetricsError(
            f"the window is {days:,.0f} days; metrics cover at most {MAX_WINDOW_DAYS} days (two years) at a time: "
            "narrow 'from' and 'to', or ask for several windows"
        )
    return start, end
