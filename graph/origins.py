"""Where each fact came from: the source, when it first arrived, and the stored raw document (SourceEvent)
of the event that last wrote it. Pages show these beside every fact of an answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from graph.driver import Graph
from graph.export_reads import SourceDocument
from graph.models import Approval, Change, Model
from graph.queries import web as q
from graph.reads import read_one


class Origin(Model):
    """A node's origin properties, and whether its raw document is stored."""

    source: str | None = None
    source_event_id: str | None = None
    received_at: datetime | None = None
    raw: bool = False

    @property
    def event(self) -> str | None:
        """The SourceEvent key (source:event id), when the node names one."""
        return f"{self.source}:{self.source_event_id}" if self.source and self.source_event_id else None


class ReviewOrigin(Origin):
    reviewer: str | None = None
    submitted_at: datetime | None = None
    commit_sha: str | None = None


class ChangeOrigins(Model):
    """The origins of everything a change's answer shows, by the key of each node."""

    change: Origin = Field(default_factory=Origin)
    reviews: list[ReviewOrigin] = Field(default_factory=list)
    commits: dict[str, Origin] = Field(default_factory=dict)
    sessions: dict[str, Origin] = Field(default_factory=dict)
    evidence: dict[str, Origin] = Field(default_factory=dict)
    deployments: dict[str, Origin] = Field(default_factory=dict)
    incidents: dict[str, Origin] = Field(default_factory=dict)

    def approval(self, approval: Approval) -> Origin | None:
        """The review an approval was derived from (same reviewer, commit and time)."""
        for review in self.reviews:
            if (
                review.reviewer == approval.reviewer.login
                and review.commit_sha == approval.commit_sha
                and review.submitted_at == approval.at
            ):
                return review
        return None


class RawDocument(SourceDocument):
    """A stored raw document and how it arrived (file, git, webhook:<source>, api:events, spool:<file>)."""

    via: str | None = None


def _by_key(rows: list[dict[str, Any]]) -> dict[str, Origin]:
    return {row["key"]: Origin.model_validate(row) for row in rows}


async def change_origins(graph: Graph, change: Change) -> ChangeOrigins:
    """The origins of a change's answer, in one read."""
    row = await read_one(
        graph,
        q.ORIGINS,
        id=change.id,
        commits=sorted({k.sha for k in change.commits} | {s for s in (change.head_sha, change.merge_commit_sha) if s}),
        sessions=[s.id for s in change.sessions],
        evidence=[e.id for e in change.evidence],
        deployments=[d.id for d in change.deployments],
        incidents=[i.id for i in change.incidents],
    )
    if row is None:
        return ChangeOrigins()
    return ChangeOrigins(
        change=Origin.model_validate(row["change"]),
        reviews=[ReviewOrigin.model_validate(r) for r in row["reviews"]],
        commits=_by_key(row["commits"]),
        sessions=_by_key(row["sessions"]),
        evidence=_by_key(row["evidence"]),
        deployments=_by_key(row["deployments"]),
        incidents=_by_key(row["incidents"]),
    )


_ONE = {
    "incident": q.ORIGIN_OF_INCIDENT,
    "session": q.ORIGIN_OF_SESSION,
    "deployment": q.ORIGIN_OF_DEPLOYMENT,
    "commit": q.ORIGIN_OF_COMMIT,
}


async def origin(graph: Graph, kind: str, key: str) -> Origin | None:
    """The origin of one incident, session, deployment or commit; None when the graph has no such node."""
    row = await read_one(graph, _ONE[kind], key=key)
    return Origin.model_validate(row["origin"]) if row else None


async def source_document(graph: Graph, id: str) -> RawDocument | None:
    """A stored raw document by its key (source:event id), secrets redacted as stored; None when absent."""
    row = await read_one(graph, q.SOURCE_EVENT, id=id)
    if row is None:
        return None
    e = row["event"]
    return RawDocument(
        id=e["id"],
        via=e.get("via"),
        source=e.get("source"),
        type=e.get("type"),
        digest=e.get("digest"),
        location=e.get("location"),
        received_at=e.get("receivedAt"),
        body=e.get("body") or "",
    )
