"""The one way graph/ reads: a read transaction, routed to a reader, rows handed back as dicts.

Routing reads (`RoutingControl.READ`) lets a `neo4j://` cluster (or Aura) serve them from followers;
every read of graph/ goes through here so none forgets it or the database. `execute_query` chains the
driver's bookmarks, so a process reads its own writes even from a follower; what another process wrote
reaches a follower after Neo4j's replication (milliseconds on a healthy cluster). A read transaction
also refuses to write (Neo.ClientError.Statement.AccessMode), even on a single server.
"""

from __future__ import annotations

from typing import Any

from neo4j import RoutingControl

from graph.driver import Graph


async def read_all(graph: Graph, query: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a read query, as a dict per record."""
    records, _, _ = await graph.driver.execute_query(
        query, parameters_=params, routing_=RoutingControl.READ, database_=graph.database
    )
    # Every read in graph/queries returns maps, lists and values only (no nodes), which the driver
    # already hands over as Python values: record.data() would copy them all again (0.7 ms on a
    # 34-commit change).
    return [dict(record) for record in records]


async def read_one(graph: Graph, query: str, **params: Any) -> dict[str, Any] | None:
    """The first row of a read query, or None when it returns no row."""
    rows = await read_all(graph, query, **params)
    return rows[0] if rows else None
