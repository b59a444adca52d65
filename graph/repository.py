"""Reads: every question the API and CLI ask, answered as pydantic models."""

from __future__ import annotations

from graph import queries
from graph.driver import Graph
from graph.models import AgentSession, Change, Commit, Deployment, Evidence, Incident, Postmortem
from graph.policy import Policy
from graph.queries.trace import CHANGE_ANSWERS
from graph.reads import read_all, read_one
from graph.verdict import build_change, to_evidence


def change_id(repo: str, number: int, provider: str = "github") -> str:
    """The natural key of a change: github:o/r#42, gitlab:group/project!17."""
    return f"{provider}:{repo}!{number}" if provider == "gitlab" else f"{provider}:{repo}#{number}"


async def change_by_id(graph: Graph, policy: Policy, id: str) -> Change | None:
    """The five-minute answer for one change id, or None when the graph has no such change."""
    raw = await read_one(graph, queries.CHANGE_ANSWER, id=id)
    if raw is None:
        return None
    return build_change(raw, policy)


async def changes_by_ids(graph: Graph, policy: Policy, ids: list[str]) -> dict[str, Change]:
    """The five-minute answers for many change ids in one read, by id (ids not in the graph are absent)."""
    if not ids:
        return {}
    rows = await read_all(graph, CHANGE_ANSWERS, ids=list(dict.fromkeys(ids)))
    return {row["changeId"]: build_change(row, policy) for row in rows}


async def change(graph: Graph, policy: Policy, *, repo: str, number: int) -> Change | None:
    """The five-minute answer for repo#number (GitHub first, then GitLab)."""
    for provider in ("github", "gitlab"):
        answer = await change_by_id(graph, policy, change_id(repo, number, provider))
        if answer is not None:
            # A change known only from a later event (a review, a session) has no repo/number yet.
            return answer.model_copy(update={"repo": answer.repo or repo, "number": answer.number or number})
    return None


async def session(graph: Graph, id: str) -> tuple[AgentSession, list[Commit]] | None:
    raw = await read_one(graph, queries.SESSION, id=id)
    if raw is None:
        return None
    return AgentSession.model_validate(raw["session"]), [Commit.model_validate(k) for k in raw["commits"]]


async def change_ids_of_session(graph: Graph, id: str) -> list[str]:
    raw = await read_one(graph, queries.CHANGE_IDS_OF_SESSION, id=id)
    return sorted(raw["ids"]) if raw else []


async def commit(graph: Graph, policy: Policy, sha: str) -> tuple[Commit, list[str], list[Evidence]] | None:
    raw = await read_one(graph, queries.COMMIT, sha=sha)
    if raw is None:
        return None
    evidence = [to_evidence(e, policy) for e in raw["evidence"]]
    return Commit.model_validate(raw["commit"]), sorted(raw["changeIds"]), evidence


async def deployment(graph: Graph, id: str) -> tuple[Deployment, list[str], list[Incident]] | None:
    raw = await read_one(graph, queries.DEPLOYMENT, id=id)
    if raw is None:
        return None
    incidents = [Incident.model_validate(i) for i in raw["incidents"]]
    return Deployment.model_validate(raw["deployment"]), sorted(raw["changeIds"]), incidents


async def incident(graph: Graph, id: str) -> tuple[Incident, list[Postmortem]] | None:
    """An incident and its postmortems (its suspects come from graph.trace)."""
    raw = await read_one(graph, queries.INCIDENT, id=id)
    if raw is None:
        return None
    postmortems = [Postmortem.model_validate(p) for p in raw["postmortems"]]
    return Incident.model_validate(raw["incident"]), postmortems


async def change_ids(graph: Graph, *, repo: str | None, skip: int, limit: int) -> list[str]:
    return [row["id"] for row in await read_all(graph, queries.CHANGE_IDS, repo=repo, skip=skip, limit=limit)]


async def counts(graph: Graph) -> dict[str, int]:
    """Node and edge counts by label and type (for summaries and replay checks)."""
    result: dict[str, int] = {}
    for query, field in ((queries.COUNT_BY_LABEL, "label"), (queries.COUNT_BY_TYPE, "type")):
        result.update({row[field]: row["n"] for row in await read_all(graph, query)})
    return result


async def delete_all(graph: Graph) -> None:
    """Empty the database (tests and `tracegraph demo --reset`)."""
    await graph.driver.execute_query(queries.DELETE_ALL, database_=graph.database)
