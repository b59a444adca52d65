"""The reads behind the delivery metrics (Cypher in graph/queries/metrics.py), each from an indexed time
range, and the turning of their rows into the facts graph/metrics/rules.py computes over.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from graph.driver import Graph
from graph.environments import PRODUCTION, is_production
from graph.metrics.models import SUCCEEDED, ChangeFacts, Deploy, Incident, Metrics, Session
from graph.metrics.rules import (
    ancestry_rows,
    chains,
    compute,
    is_test_path,
    iso,
    parse,
    shipping,
    utc,
    window_of,
)
from graph.policy import Policy
from graph.queries import metrics as q
from graph.reads import read_all
from graph.verdict import build_change, evidence_gaps


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
    # The verdict of every change and the computation below are pure Python over a whole window: they run in
    # a worker thread, so the event loop (an API's other requests, /healthz) keeps answering meanwhile.
    changes = await asyncio.to_thread(lambda: {f.id: f for f in (change_facts(row, policy) for row in change_rows)})

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
    return await asyncio.to_thread(
        compute,
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
