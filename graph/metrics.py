"""Delivery metrics (DORA, split by AI-assisted vs human changes) for a service over [start, end).

A handful of reads (graph/queries/metrics.py), each starting from an indexed time range, then pure
functions over the rows. The rules, so every number can be recomputed by hand:

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

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from graph.driver import Graph
from graph.policy import Policy
from graph.queries import metrics as q
from graph.reads import read_all
from graph.verdict import build_change, evidence_gaps, short

# Python's re and Neo4j's (Java) regex read this the same way; `=~` matches the whole string.
PRODUCTION = re.compile(
    r"(?i)(?!.*\b(?:pre|non)[-_ .]?(?:production|prod|live)\b)(?:.*[^a-z0-9])?(?:production|prod|live)(?:[^a-z0-9].*)?"
)
SUCCEEDED = ("success", "inactive")
FAILED = ("failure", "error")
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "e2e", "integration_tests"})
TEST_NAMES = re.compile(
    r"(?i)(^test_.*\.py$|.*_test\.(py|go|rb|exs?)$|^conftest\.py$|.*\.(test|spec)\.[cm]?[jt]sx?$"
    r"|.*_spec\.rb$|.*Tests?\.(java|kt|cs|swift|scala)$)"
)


class MetricsError(ValueError):
    """The window is not usable; the message says why."""


def is_production(environment: str | None) -> bool:
    """Whether a deployment environment name means production."""
    return bool(environment) and PRODUCTION.fullmatch(environment or "") is not None


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


def rate(numerator: int, denominator: int) -> Rate:
    return Rate(numerator=numerator, denominator=denominator, value=numerator / denominator if denominator else None)


def durations(hours: list[float]) -> Durations:
    return Durations(count=len(hours), median_hours=median(hours), p90_hours=p90(hours))


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


def deploy(row: dict[str, Any]) -> Deploy | None:
    """A deployment row; None when it has no usable start time."""
    started = parse(row.get("startedAt"))
    if started is None:
        return None
    return Deploy(
        id=row["id"],
        sha=row.get("sha"),
        environment=row.get("environment"),
        status=row.get("status"),
        started_at=started,
        finished_at=parse(row.get("finishedAt")),
        service=row.get("service"),
        incident_ids=frozenset(row.get("incidentIds") or []),
    )


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


def change_facts(row: dict[str, Any], policy: Policy) -> ChangeFacts:
    """Facts of one CHANGES row, using the verdict's own semantics for approvals and evidence."""
    change = build_change(row, policy)
    raw = row["change"]
    files: set[str] = set()
    tests: set[str] = set()
    for commit in row.get("commits") or []:
        files.update(f for f in commit.get("files") or [] if isinstance(f, str))
        tests.update(f for f in commit.get("testFiles") or [] if isinstance(f, str))
    tests |= {f for f in files if is_test_path(f)}
    behaviour = bool(files - tests)
    times = [k.authored_at for k in change.commits if k.authored_at]
    additions, deletions = raw.get("additions"), raw.get("deletions")
    shipped = [s for s in (change.merge_commit_sha, change.head_sha) if s]
    required = policy.areas[change.risk_area or policy.default_area].required_evidence
    return ChangeFacts(
        id=change.id,
        merged_at=change.merged_at and utc(change.merged_at),
        first_commit_at=utc(min(times)) if times else (change.created_at and utc(change.created_at)),
        ai=bool(change.sessions),
        diff=None if additions is None and deletions is None else (additions or 0) + (deletions or 0),
        behaviour=behaviour,
        test_delta=behaviour and bool(tests),
        # The verdict lists a reason for every approval it does not count.
        independent=any(not a.reasons for a in change.approvals),
        covered=not evidence_gaps(required, shipped=shipped, evidence=change.evidence),
        caused_by=frozenset(row.get("causedBy") or []),
    )


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


# --- the reads --------------------------------------------------------------------------------


def window_of(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The window in UTC, or MetricsError when it is empty."""
    start, end = utc(start), utc(end)
    if end <= start:
        raise MetricsError(f"the window is empty: 'to' ({iso(end)}) must be after 'from' ({iso(start)})")
    return start, end


async def metrics(graph: Graph, policy: Policy, *, service: str | None, start: datetime, end: datetime) -> Metrics:
    """Delivery metrics for one service (None: all) over [start, end), in six reads."""
    start, end = window_of(start, end)
    span = {"from": iso(start), "to": iso(end), "production": PRODUCTION.pattern}
    query = q.DEPLOYMENTS_OF_SERVICE if service else q.DEPLOYMENTS
    window = [d for row in await read_all(graph, query, service=service, **span) if (d := deploy(row))]
    window = [d for d in window if is_production(d.environment)]

    groups = sorted({d.group for d in window if d.succeeded and d.service}, key=str)
    neighbour_rows = await read_all(
        graph,
        q.NEIGHBOURS,
        groups=[{"service": s, "environment": e} for s, e in groups],
        ok=list(SUCCEEDED),
        **{"from": span["from"], "to": span["to"]},
    )
    neighbours = [d for row in neighbour_rows if (d := deploy(row))]
    all_chains = chains(window, neighbours, start=start)

    shipped_rows = await read_all(graph, q.SHIPPED, rows=ancestry_rows(all_chains.values()))
    ship = shipping(list(all_chains.values()), {row["key"]: row for row in shipped_rows})

    change_rows = await read_all(
        graph, q.CHANGES, service=service, shipped=sorted(set().union(*ship.new.values())), **span
    )
    changes = {f.id: f for f in (change_facts(row, policy) for row in change_rows)}

    incidents = [
        Incident(row["id"], triggered, parse(row.get("resolvedAt")))
        for row in await read_all(graph, q.INCIDENTS, service=service, **span)
        if (triggered := parse(row.get("triggeredAt")))
    ]
    sessions = [
        Session(row["id"], started, _cost(row.get("costUsd")), row.get("operator"))
        for row in await read_all(graph, q.SESSIONS, service=service, **span)
        if (started := parse(row.get("startedAt")))
    ]
    return compute(
        service=service,
        start=start,
        end=end,
        window=window,
        all_chains=all_chains,
        ship=ship,
        changes=changes,
        incidents=incidents,
        sessions=sessions,
    )


def _cost(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
