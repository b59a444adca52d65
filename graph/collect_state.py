"""Where each collector stopped (cursors kept in the graph), and the repository posture it recorded.

A cursor's state is a small JSON document the collector owns (high-water marks, a page cursor while a
run is under way, ETags); it is saved only after the page it describes is written, so a run killed at
any moment resumes from its last written page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from graph.driver import Graph
from graph.models import RepositoryPosture
from graph.queries import collect as q
from graph.reads import read_one


async def load_cursor(graph: Graph, key: str) -> dict[str, Any]:
    """The saved state of a cursor (empty when the resource was never collected)."""
    row = await read_one(graph, q.CURSOR, id=key)
    if row is None or not row.get("state"):
        return {}
    found = json.loads(row["state"])
    return found if isinstance(found, dict) else {}


async def save_cursor(graph: Graph, key: str, state: dict[str, Any]) -> None:
    """Replace a cursor's state (call it only once what it describes is written)."""
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    await graph.driver.execute_query(
        q.SAVE_CURSOR, id=key, state=json.dumps(state, sort_keys=True), at=at, database_=graph.database
    )


async def forget_cursors(graph: Graph, prefix: str) -> None:
    """Drop every cursor whose key starts with `prefix` (a full collection starts from nothing)."""
    await graph.driver.execute_query(q.FORGET_CURSORS, prefix=prefix, database_=graph.database)


async def posture(graph: Graph, repo: str) -> RepositoryPosture | None:
    """The default-branch protection recorded for a repository, or None when the repository is unknown."""
    row = await read_one(graph, q.POSTURE, repo=repo.lower())
    return RepositoryPosture.model_validate(row["repository"]) if row else None
