"""The one entry point for constraints and indexes: `ensure_schema` creates every one tracegraph wants."""

from __future__ import annotations

from graph import queries
from graph.driver import Graph
from graph.queries import schema as ddl


async def ensure_schema(graph: Graph) -> None:
    """Create missing constraints and indexes (natural keys, access log, metrics) and wait until they are online."""
    for statement in ddl.statements():
        await graph.driver.execute_query(statement, database_=graph.database)
    await graph.driver.execute_query(queries.AWAIT_INDEXES, database_=graph.database)
