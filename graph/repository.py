"""Reads: every question the API and CLI ask, answered as pydantic models."""

from __future__ import annotations

from graph import queries
from graph.driver import Graph
from graph.models import Change, CommitAnswer, DeploymentAnswer, IncidentAnswer, SessionAnswer
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


async def session(graph: Graph, id: str) -> SessionAnswer | None:
    """A session and the commits it authored, or None when the graph has no such session."""
    raw = await read_one(graph, queries.SESSION, id=id)
    if raw is None:
        return None
    return SessionAnswer.model_validate({**raw["session"], "commits": raw["commits"]})


async def change_ids_of_session(graph: Graph, id: str) -> list[str]:
    """Ids of the changes a session proposed or authored a commit of, in id order."""
    raw = await read_one(graph, queries.CHANGE_IDS_OF_SESSION, id=id)
    return sorted(raw["ids"]) if raw else []


async def commit(graph: Graph, policy: Policy, sha: str) -> CommitAnswer | None:
    """A commit, the ids of its changes (in order) and the evidence on it, or None when the graph has no such commit."""
    raw = await read_one(graph, queries.COMMIT, sha=sha)
    if raw is None:
        return None
    evidence = [to_evidence(e, policy) for e in raw["evidence"]]
    return CommitAnswer.model_validate({**raw["commit"], "changeIds": sorted(raw["changeIds"]), "evidence": evidence})


async def deployment(graph: Graph, id: str) -> DeploymentAnswer | None:
    """A deployment, the ids of the changes it shipped (in order) and the incidents it caused, or None."""
    raw = await read_one(graph, queries.DEPLOYMENT, id=id)
    if raw is None:
        return None
    return DeploymentAnswer.model_validate(
        {**raw["deployment"], "changeIds": sorted(raw["changeIds"]), "incidents": raw["incidents"]}
    )


async def incident(graph: Graph, id: str) -> IncidentAnswer | None:
    """An incident and its postmortems (its suspects come from graph.trace), or None."""
    raw = await read_one(graph, queries.INCIDENT, id=id)
    if raw is None:
        return None
    return IncidentAnswer.model_validate({**raw["incident"], "postmortems": raw["postmortems"]})


async def change_ids(graph: Graph, *, repo: str | None, skip: int, limit: int) -> list[str]:
    """A page of change ids, optionally of one repository, in id order."""
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
