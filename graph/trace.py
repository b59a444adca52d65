"""Trace a regression back to its changes and agent sessions.

From an incident: the deployments to its service in a window before it was triggered; for each, every
commit between the previous successful deployment of that service (same environment) and this one,
found through git ancestry, mapped to changes; each change ranked by a score explained in `reason`.
Should two predecessors start at the same second, the one with the highest id counts.

Four reads whatever the number of deployments and candidates (graph/queries/trace.py says which).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from graph import repository
from graph.driver import Graph
from graph.models import Change, Deployment, Incident
from graph.policy import Policy
from graph.queries import trace as q
from graph.reads import read_one
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


def _shipped_rows(deployments: list[Deployment], service: str | None) -> list[dict[str, Any]]:
    """TRACE_SHIPPED's rows: what finding each deployment's predecessor and its shipped commits takes."""
    return [
        {
            "key": key,
            "id": deployment.id,
            "service": deployment.service or service or "",
            "environment": deployment.environment,
            "before": _iso(deployment.started_at or EPOCH),
            "sha": deployment.sha or "",
        }
        for key, deployment in enumerate(deployments)
    ]


async def trace_incident(graph: Graph, policy: Policy, id: str, *, window: timedelta = DEFAULT_WINDOW) -> Trace | None:
    """The ranked suspects of an incident, or None when there is no such incident (four reads at most)."""
    read = await read_one(graph, q.TRACE_INCIDENT, id=id)
    if read is None:
        return None
    incident = Incident.model_validate(read["incident"])
    named: dict[str, list[str]] = {}
    named_deployments: dict[str, list[str]] = {}
    for link in read["links"]:
        by = f"{'an inferred link' if link['inferred'] else 'an explicit link'} from {link['source'] or 'unknown'}"
        if link["changeId"]:
            named.setdefault(link["changeId"], []).append(by)
        if link["deploymentId"]:
            named_deployments.setdefault(link["deploymentId"], []).append(by)
    trace = Trace(incident)
    candidates: dict[str, tuple[Deployment | None, list[str]]] = {cid: (None, by) for cid, by in named.items()}

    search = incident.service is not None and incident.triggered_at is not None
    if incident.service is None:
        trace.notes.append(
            "the incident names no service, so no deployments could be searched; only changes "
            "linked explicitly (e.g. by a postmortem) are listed"
        )
    elif incident.triggered_at is None:
        trace.notes.append("the incident has no trigger time, so no deployment window could be searched")
    deployments: list[Deployment] = []
    if search or named_deployments:
        # Without a service and a trigger time only the named deployments are read ($service null).
        span = (
            (_iso(incident.triggered_at - window), _iso(incident.triggered_at))
            if incident.triggered_at
            else (None, None)
        )
        found = await read_one(
            graph,
            q.TRACE_DEPLOYMENTS,
            service=incident.service if search else None,
            named=list(named_deployments),
            **{"from": span[0], "to": span[1]},
        )
        assert found is not None  # a RETURN without MATCH always returns its one row
        deployments = [Deployment.model_validate({**d, "service": incident.service}) for d in found["window"]]
        if search and not deployments:
            trace.notes.append(f"no deployment to {incident.service} in the {window} before the incident")
        in_window = {d.id for d in deployments}
        deployments += [Deployment.model_validate(d) for d in found["named"] if d["id"] not in in_window]

    size_of: dict[str, int] = {}
    if deployments or candidates:
        shipped = await read_one(
            graph, q.TRACE_SHIPPED, rows=_shipped_rows(deployments, incident.service), named=list(candidates)
        )
        assert shipped is not None  # aggregates over every row: one row even when nothing matched
        by_key = {row["key"]: row for row in shipped["shipped"]}
        size_of = {c["id"]: c["size"] for row in shipped["shipped"] for c in row["changes"]}
        size_of.update({c["id"]: c["size"] for c in shipped["named"]})
        for key, deployment in enumerate(deployments):
            if by_key[key]["previous"] is None:
                trace.notes.append(
                    f"{deployment.id} has no earlier successful deployment of its service: "
                    "every ancestor commit within 200 generations counts as shipped"
                )
            for cid in sorted(c["id"] for c in by_key[key]["changes"]):
                current, reasons = candidates.get(cid, (None, []))
                # Keep the latest deployment before the incident that shipped the change.
                if current is None or (deployment.started_at or EPOCH) > (current.started_at or EPOCH):
                    current = deployment
                candidates[cid] = (current, reasons + named_deployments.get(deployment.id, []))

    changes = await repository.changes_by_ids(graph, policy, list(candidates))
    for cid, (shipped_by, named_by) in candidates.items():
        change = changes.get(cid)
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
