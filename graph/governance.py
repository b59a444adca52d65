"""Governance reads and writes: what runs in an environment, git ancestry and what ties each commit to
a change (for the gates), break-glass exceptions and rollback drills. Cypher in graph/queries/governance.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from graph.driver import Graph
from graph.environments import PRODUCTION
from graph.metrics.models import SUCCEEDED
from graph.models import Deployment, ExceptionGrant, Model
from graph.queries import governance as q
from graph.reads import read_all, read_one


def stamp(moment: datetime) -> str:
    """A datetime as the graph stores times ('YYYY-MM-DDTHH:MM:SSZ', UTC; naive means UTC)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


class CommitTie(Model):
    """A change a commit belongs to; `ships` when the commit is the change's final head or merge commit."""

    id: str
    state: str | None = None
    ships: bool = False

    @property
    def merged(self) -> bool:
        return self.state == "merged"


class CommitFacts(Model):
    """What the gates know of one commit: its parents and the changes it belongs to."""

    sha: str
    # git's ordered parents (the first is the branch the commit was made on), when git told us.
    parents: list[str] | None = None
    parent_edges: list[str] = Field(default_factory=list)
    ties: list[CommitTie] = Field(default_factory=list)

    @property
    def parents_known(self) -> bool:
        return self.parents is not None or bool(self.parent_edges)

    @property
    def first_parents(self) -> list[str]:
        """The parents a mainline walk follows: git's first parent, else every recorded parent."""
        if self.parents is not None:
            return self.parents[:1]
        return self.parent_edges


class Walk(Model):
    """The commits reachable from one sha (itself included), at most ANCESTRY_DEPTH generations back."""

    sha: str
    known: bool
    reached: list[str] = Field(default_factory=list)


class Drill(Model):
    """A rollback done on purpose: recorded with `tracegraph drill record`, or a deployment marked as a drill."""

    id: str
    service: str
    environment: str | None = None
    at: datetime
    restore_seconds: float | None = None
    recorded_by: str | None = None
    notes: str | None = None
    deployment_id: str | None = None
    # "recorded" or "deployment"
    origin: str = "recorded"


# --- what runs where -----------------------------------------------------------------------------


async def commits_by_prefix(graph: Graph, prefix: str) -> list[tuple[str, str | None]]:
    """(sha, repository) of the commits whose sha starts with `prefix`; two at most."""
    return [(r["sha"], r["repo"]) for r in await read_all(graph, q.COMMITS_BY_PREFIX, prefix=prefix.lower())]


async def running(
    graph: Graph,
    *,
    environment: str,
    repos: list[str],
    services: list[str],
    before: datetime | None = None,
    exclude: str | None = None,
) -> dict[str, Deployment | None]:
    """Per service (`services`, or those the repositories deploy as): its latest successful deployment
    to the environment (before `before`, other than `exclude`), None when it has none."""
    rows = await read_all(
        graph,
        q.RUNNING,
        environment=environment,
        repos=sorted(set(repos) | {r.lower() for r in repos}),
        services=services,
        ok=list(SUCCEEDED),
        before=stamp(before) if before else None,
        exclude=exclude,
    )
    return {r["service"]: Deployment.model_validate(r["running"]) if r["running"] else None for r in rows}


async def ancestry(graph: Graph, shas: list[str]) -> dict[str, Walk]:
    """The commits reachable from each sha through git parents (bounded), by sha."""
    if not shas:
        return {}
    rows = await read_all(graph, q.ANCESTRY, shas=sorted(set(shas)))
    return {r["sha"]: Walk(sha=r["sha"], known=r["known"], reached=r["reached"]) for r in rows}


async def commit_facts(graph: Graph, shas: list[str] | set[str]) -> dict[str, CommitFacts]:
    """Parents and ties to changes of each commit the graph holds, by sha."""
    if not shas:
        return {}
    rows = await read_all(graph, q.COMMIT_TIES, shas=sorted(shas))
    return {r["sha"]: CommitFacts.model_validate(r) for r in rows}


async def services(graph: Graph) -> list[tuple[str, str | None]]:
    """(name, tier) of every service the graph knows, by name."""
    return [(r["name"], r["tier"]) for r in await read_all(graph, q.SERVICES)]


async def deployment_history(
    graph: Graph, *, services: list[str], environment: str, limit: int
) -> dict[str, list[Deployment]]:
    """The latest `limit` successful deployments of each service to the environment, newest first."""
    rows = await read_all(
        graph, q.DEPLOYMENT_HISTORY, services=services, environment=environment, ok=list(SUCCEEDED), limit=limit
    )
    return {r["service"]: [Deployment.model_validate(d) for d in r["deployments"]] for r in rows}


async def production_deployments(
    graph: Graph, *, start: datetime, end: datetime, service: str | None
) -> list[Deployment]:
    """Successful production deployments started in [start, end), oldest first."""
    rows = await read_all(
        graph,
        q.PRODUCTION_DEPLOYMENTS,
        service=service,
        production=PRODUCTION.pattern,
        ok=list(SUCCEEDED),
        **{"from": stamp(start), "to": stamp(end)},
    )
    return [Deployment.model_validate(r["deployment"]) for r in rows]


async def predecessors(graph: Graph, deployments: list[Deployment]) -> dict[str, Deployment | None]:
    """For each deployment, the latest successful one of its service and environment that started before it."""
    rows = [
        {"id": d.id, "service": d.service, "environment": d.environment, "before": stamp(d.started_at)}
        for d in deployments
        if d.service and d.started_at
    ]
    found = {r["id"]: r["previous"] for r in await read_all(graph, q.PREDECESSORS, rows=rows, ok=list(SUCCEEDED))}
    return {d.id: Deployment.model_validate(found[d.id]) if found.get(d.id) else None for d in deployments}


async def change_people(graph: Graph, change_id: str) -> tuple[set[str], set[str]] | None:
    """(authors, agent operators) of a change, logins lower-cased; None when the graph has no such change."""
    row = await read_one(graph, q.CHANGE_PEOPLE, id=change_id)
    if row is None:
        return None
    return {a.lower() for a in row["authors"]}, {o.lower() for o in row["operators"]}


# --- exceptions ---------------------------------------------------------------------------------


async def _write(graph: Graph, query: str, **params: Any) -> dict[str, Any] | None:
    records, _, _ = await graph.driver.execute_query(query, parameters_=params, database_=graph.database)
    return dict(records[0]) if records else None


async def create_exception(
    graph: Graph,
    *,
    change_id: str,
    granted_by: str,
    granted_at: datetime,
    reason: str,
    expires_at: datetime,
    emergency: bool,
    review_due_at: datetime | None,
) -> ExceptionGrant | None:
    """Record an exception for a change; None when the graph has no such change."""
    row = await _write(
        graph,
        q.CREATE_EXCEPTION,
        id="exc_" + uuid.uuid4().hex[:12],
        changeId=change_id,
        grantedBy=granted_by,
        grantedAt=stamp(granted_at),
        reason=reason,
        expiresAt=stamp(expires_at),
        emergency=emergency,
        reviewDueAt=stamp(review_due_at) if review_due_at else None,
    )
    return ExceptionGrant.model_validate(row["exception"]) if row else None


async def exception(graph: Graph, id: str) -> ExceptionGrant | None:
    """One exception by id, or None."""
    row = await read_one(graph, q.EXCEPTION, id=id)
    return ExceptionGrant.model_validate(row["exception"]) if row else None


async def revoke_exception(graph: Graph, id: str, *, by: str, at: datetime, reason: str) -> ExceptionGrant | None:
    """Mark an exception revoked; None when there is no such exception or it was revoked already."""
    row = await _write(graph, q.REVOKE_EXCEPTION, id=id, by=by, at=stamp(at), reason=reason)
    return ExceptionGrant.model_validate(row["exception"]) if row else None


async def review_exception(graph: Graph, id: str, *, by: str, at: datetime, notes: str) -> ExceptionGrant | None:
    """Record the after-the-fact review of an exception; None when there is no such exception or it was reviewed."""
    row = await _write(graph, q.REVIEW_EXCEPTION, id=id, by=by, at=stamp(at), notes=notes)
    return ExceptionGrant.model_validate(row["exception"]) if row else None


async def exceptions_between(
    graph: Graph, *, start: datetime, end: datetime, service: str | None = None
) -> list[ExceptionGrant]:
    """Exceptions in force at some time in [start, end) (of one service's changes), oldest grant first."""
    rows = await read_all(graph, q.EXCEPTIONS_BETWEEN, service=service, **{"from": stamp(start), "to": stamp(end)})
    return [ExceptionGrant.model_validate(r["exception"]) for r in rows]


# --- drills -------------------------------------------------------------------------------------


async def record_drill(
    graph: Graph,
    *,
    service: str,
    environment: str,
    at: datetime,
    restore_seconds: float,
    recorded_by: str,
    notes: str | None,
    deployment_id: str | None,
) -> Drill:
    """Record a rollback drill."""
    row = await _write(
        graph,
        q.RECORD_DRILL,
        id="drill_" + uuid.uuid4().hex[:12],
        service=service,
        environment=environment,
        at=stamp(at),
        restoreSeconds=restore_seconds,
        recordedBy=recorded_by,
        recordedAt=stamp(datetime.now(UTC)),
        notes=notes,
        deploymentId=deployment_id,
    )
    assert row is not None  # CREATE always returns its row
    return Drill.model_validate(row["drill"])


async def drills(graph: Graph, services: list[str]) -> dict[str, list[Drill]]:
    """Every drill of each service, recorded or deployed as one, newest first."""
    found: dict[str, list[Drill]] = {}
    for row in await read_all(graph, q.DRILLS, services=services):
        items = [Drill.model_validate(r) for r in row["recorded"]]
        for d in (Deployment.model_validate(x) for x in row["deployed"]):
            if d.started_at is None or (d.status or "").lower() not in SUCCEEDED:
                continue  # a drill that did not restore anything has no time to restore
            restore = (d.finished_at - d.started_at).total_seconds() if d.finished_at else None
            items.append(
                Drill(
                    id=d.id,
                    service=row["service"],
                    environment=d.environment,
                    at=d.started_at,
                    restore_seconds=restore,
                    deployment_id=d.id,
                    origin="deployment",
                )
            )
        found[row["service"]] = sorted(items, key=lambda x: (x.at, x.id), reverse=True)
    return found
