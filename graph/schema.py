"""The one entry point for constraints and indexes: `ensure_schema` creates every one tracegraph wants."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graph import queries
from graph.queries import schema as ddl

if TYPE_CHECKING:  # graph.driver opens graphs with their schema ensured, so it imports this module
    from graph.driver import Graph


async def ensure_schema(graph: Graph) -> None:
    """Create missing constraints and indexes (natural keys, access log, metrics) and wait until they are online."""
    for statement in ddl.statements():
        await graph.driver.execute_query(statement, database_=graph.database)
    await graph.driver.execute_query(queries.AWAIT_INDEXES, database_=graph.database)
