"""Reads: every question the API and CLI ask, answered as pydantic models."""

from __future__ import annotations

from typing import Any

from neo4j import RoutingControl

from graph import queries
from graph.driver import Graph
from graph.models import AgentSession, Change, Commit, Deployment, Evidence, Incident, Postmortem
from graph.policy import Policy
from graph.queries.trace import CHANGE_ANSWERS
from graph.verdict import build_change, to_evidence


def change_id(repo: str, number: int, provider: str = "github") -> str:
    """The natural key of a change: github:o/r#42, gitlab:group/project!17."""
    return f"{provider}:{repo}!{number}" if provider == "gitlab" else f"{provider}:{repo}#{number}"


async def _read_one(graph: Graph, query: str, **params: Any) -> dict[str, Any] | None:
    records, _, _ = await graph.driver.execute_query(
        query, parameters_=params, routing_=RoutingControl.READ, database_=graph.database
    )
    # The reads served here return maps, lists and values only (no nodes), which the driver already
    # hands over as dicts: record.data() would copy them all again (0.7 ms on a 34-commit change).
    return dict(records[0]) if records else None


async def change_by_id(graph: Graph, policy: Policy, id: str) -> Change | None:
    """The five-minute answer for one change id, or None when the graph has no such change."""
    raw = await _read_one(graph, queries.CHANGE_ANSWER, id=id)
    if raw is None:
        return None
    return build_change(raw, policy)


async def changes_by_ids(graph: Graph, policy: Policy, ids: list[str]) -> dict[str, Change]:
    """The five-minute answers for many change ids in one read, by id (ids not in the graph are absent)."""
    if not ids:
        return {}
    records, _, _ = await graph.driver.execute_query(
        CHANGE_ANSWERS,
        parameters_={"ids": list(dict.fromkeys(ids))},
        routing_=RoutingControl.READ,
        database_=graph.database,
    )
    # CHANGE_ANSWER returns maps, lists and scalars only, so a record needs none of data()'s conversion
    # (a fifth of the client's time for forty answers).
    return {r["changeId"]: build_change(dict(r.items()), policy) for r in records}


async def change(graph: Graph, policy: Policy, *, repo: str, number: int) -> Change | None:
    """The five-minute answer for repo#number (GitHub first, then GitLab)."""
    for provider in ("github", "gitlab"):
        answer = await change_by_id(graph, policy, change_id(repo, number, provider))
        if answer is not None:
            # A change known only from a later event (a review, a session) has no repo/number yet.
            return answer.model_copy(update={"repo": answer.repo or repo, "number": answer.number or number})
    return None


async def session(graph: Graph, id: str) -> tuple[AgentSession, list[Commit]] | None:
    raw = await _read_one(graph, queries.SESSION, id=id)
    if raw is None:
        return None
    return AgentSession.model_validate(raw["session"]), [Commit.model_validate(k) for k in raw["commits"]]


async def change_ids_of_session(graph: Graph, id: str) -> list[str]:
    raw = await _read_one(graph, queries.CHANGE_IDS_OF_SESSION, id=id)
    return sorted(raw["ids"]) if raw else []


async def commit(graph: Graph, policy: Policy, sha: str) -> tuple[Commit, list[str], list[Evidence]] | None:
    raw = await _read_one(graph, queries.COMMIT, sha=sha)
    if raw is None:
        return None
    evidence = [to_evidence(e, policy) for e in raw["evidence"]]
    return Commit.model_validate(raw["commit"]), sorted(raw["changeIds"]), evidence


async def deployment(graph: Graph, id: str) -> tuple[Deployment, list[str], list[Incident]] | None:
    raw = await _read_one(graph, queries.DEPLOYMENT, id=id)
    if raw is None:
        return None
    incidents = [Incident.model_validate(i) for i in raw["incidents"]]
    return Deployment.model_validate(raw["deployment"]), sorted(raw["changeIds"]), incidents


async def incident(graph: Graph, id: str) -> tuple[Incident, list[Postmortem]] | None:
    """An incident and its postmortems (its suspects come from graph.trace)."""
    raw = await _read_one(graph, queries.INCIDENT, id=id)
    if raw is None:
        return None
    postmortems = [Postmortem.model_validate(p) for p in raw["postmortems"]]
    return Incident.model_validate(raw["incident"]), postmortems


async def change_ids(graph: Graph, *, repo: str | None, skip: int, limit: int) -> list[str]:
    records, _, _ = await graph.driver.execute_query(
        queries.CHANGE_IDS,
        parameters_={"repo": repo, "skip": skip, "limit": limit},
        routing_=RoutingControl.READ,
        database_=graph.database,
    )
    return [r["id"] for r in records]


async def counts(graph: Graph) -> dict[str, int]:
    """Node and edge counts by label and type (for summaries and replay checks)."""
    result: dict[str, int] = {}
    for query, field in ((queries.COUNT_BY_LABEL, "label"), (queries.COUNT_BY_TYPE, "type")):
        records, _, _ = await graph.driver.execute_query(query, routing_=RoutingControl.READ, database_=graph.database)
        result.update({r[field]: r["n"] for r in records})
    return result


async def delete_all(graph: Graph) -> None:
    """Empty the database (tests and `tracegraph demo --reset`)."""
    await graph.driver.execute_query(queries.DELETE_ALL, database_=graph.database)
