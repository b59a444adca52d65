"""Trace a regression back to its changes and agent sessions.

From an incident: the deployments to its service in a window before it was triggered; for each, every
commit between the previous successful deployment of that service (same environment) and this one,
found through git ancestry, mapped to changes; each change ranked by a score explained in `reason`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from neo4j import RoutingControl

from graph import repository
from graph.driver import Graph
from graph.models import Change, Deployment, Incident
from graph.policy import Policy
from graph.queries import trace as q
from graph.verdict import EPOCH

DEFAULT_WINDOW = timedelta(hours=72)
# Score weights: an explicit postmortem/incident link outranks anything inferred.
NAMED, RECENCY, RISK, SIZE, CHECK = 100.0, 10.0, 5.0, 5.0, 5.0
MAX_SCORE = NAMED + RECENCY + RISK + SIZE + CHECK


@dataclass
class RankedSuspect:
    change: Change
    deployment: Deployment | None
    score: float
    reason: str


@dataclass
class Trace:
    incident: Incident
    suspects: list[RankedSuspect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def _rows(graph: Graph, query: str, **params: Any) -> list[dict[str, Any]]:
    records, _, _ = await graph.driver.execute_query(
        query, parameters_=params, routing_=RoutingControl.READ, database_=graph.database
    )
    return [r.data() for r in records]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def score(
    change: Change,
    *,
    named_by: list[str],
    deployment: Deployment | None,
    triggered_at: datetime | None,
    window: timedelta,
    default_area: str,
    size: int | None,
) -> tuple[float, str]:
    """A score in [0, 1] and the human-readable reason behind it."""
    points, reasons = 0.0, []
    if named_by:
        points += NAMED
        reasons.append(f"named by {', '.join(sorted(set(named_by)))}")
    if deployment is not None and deployment.started_at and triggered_at:
        before = triggered_at - deployment.started_at
        hours = before.total_seconds() / 3600
        points += RECENCY * max(0.0, 1 - before / window)
        reasons.append(f"deployed {hours:.1f} h before the incident in {deployment.id}")
    if change.risk_area and change.risk_area != default_area:
        points += RISK
        reasons.append(f"risk area {change.risk_area}")
    if size:
        # Log scale: a 1,000-line change scores full size points, a 10-line one a third.
        points += SIZE * min(1.0, math.log10(1 + size) / 3)
        reasons.append(f"{size} lines changed")
    bad = [e for e in change.evidence if e.conclusion in {"failure", "skipped", "cancelled", "timed_out", "error"}]
    if bad:
        points += CHECK
        reasons.append("check " + ", ".join(f"{e.name} {e.conclusion}" for e in bad))
    if change.verdict.status.value == "UNVERIFIED":
        reasons.append("verdict UNVERIFIED")
    return round(points / MAX_SCORE, 4), "; ".join(reasons) or "shipped in the window"


async def _shipped(graph: Graph, deployment: Deployment, service: str) -> tuple[list[str], str | None]:
    """Change ids the deployment shipped and the id of its predecessor (None for the first)."""
    previous = await _rows(
        graph,
        q.PREVIOUS_DEPLOYMENT,
        service=service,
        environment=deployment.environment,
        before=_iso(deployment.started_at or EPOCH),
        id=deployment.id,
    )
    prev = previous[0]["deployment"] if previous else None
    found = await _rows(graph, q.SHIPPED_CHANGES, sha=deployment.sha or "", previous=prev["sha"] if prev else None)
    ids = found[0]["changeIds"] if found else []
    return sorted(ids), prev["id"] if prev else None


async def trace_incident(graph: Graph, policy: Policy, id: str, *, window: timedelta = DEFAULT_WINDOW) -> Trace | None:
    """The ranked suspects of an incident, or None when there is no such incident."""
    rows = await _rows(graph, q.TRACE_INCIDENT, id=id)
    if not rows:
        return None
    incident = Incident.model_validate(rows[0]["incident"])
    named: dict[str, list[str]] = {}
    named_deployments: dict[str, list[str]] = {}
    for link in rows[0]["links"]:
        by = f"{'an inferred link' if link['inferred'] else 'an explicit link'} from {link['source'] or 'unknown'}"
        if link["changeId"]:
            named.setdefault(link["changeId"], []).append(by)
        if link["deploymentId"]:
            named_deployments.setdefault(link["deploymentId"], []).append(by)
    trace = Trace(incident)
    candidates: dict[str, tuple[Deployment | None, list[str]]] = {cid: (None, by) for cid, by in named.items()}

    deployments: list[Deployment] = []
    if incident.service is None:
        trace.notes.append(
            "the incident names no service, so no deployments could be searched; only changes "
            "linked explicitly (e.g. by a postmortem) are listed"
        )
    elif incident.triggered_at is None:
        trace.notes.append("the incident has no trigger time, so no deployment window could be searched")
    else:
        found = await _rows(
            graph,
            q.DEPLOYMENTS_BEFORE,
            service=incident.service,
            **{"from": _iso(incident.triggered_at - window), "to": _iso(incident.triggered_at)},
        )
        deployments = [Deployment.model_validate({**r["deployment"], "service": incident.service}) for r in found]
        if not deployments:
            trace.notes.append(f"no deployment to {incident.service} in the {window} before the incident")
    for dep_id in named_deployments:
        if all(d.id != dep_id for d in deployments):
            extra = await _rows(graph, q.DEPLOYMENT_BY_ID, id=dep_id)
            deployments += [Deployment.model_validate(r["deployment"]) for r in extra]

    for deployment in deployments:
        change_ids, previous = await _shipped(graph, deployment, deployment.service or incident.service or "")
        if previous is None:
            trace.notes.append(
                f"{deployment.id} has no earlier successful deployment of its service: "
                "every ancestor commit within 200 generations counts as shipped"
            )
        for cid in change_ids:
            current, reasons = candidates.get(cid, (None, []))
            # Keep the latest deployment before the incident that shipped the change.
            if current is None or (deployment.started_at or EPOCH) > (current.started_at or EPOCH):
                current = deployment
            candidates[cid] = (current, reasons + named_deployments.get(deployment.id, []))

    sizes = await _rows(graph, q.CHANGE_SIZES, ids=list(candidates)) if candidates else []
    size_of = {r["id"]: r["size"] for r in sizes}
    for cid, (shipped_by, named_by) in candidates.items():
        change = await repository.change_by_id(graph, policy, cid)
        if change is None:
            continue
        value, reason = score(
            change,
            named_by=named_by,
            deployment=shipped_by,
            triggered_at=incident.triggered_at,
            window=window,
            default_area=policy.default_area,
            size=size_of.get(cid),
        )
        trace.suspects.append(RankedSuspect(change, shipped_by, value, reason))
    trace.suspects.sort(key=lambda s: (-s.score, s.change.id))
    return trace
