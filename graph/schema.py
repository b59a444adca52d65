"""Constraints and indexes for every natural key, created idempotently."""

from __future__ import annotations

from graph import queries
from graph.driver import Graph
from graph.queries import metrics as metrics_queries
from graph.vocabulary import INDEXED, KEYS


def statements() -> list[str]:
    """The DDL, built only from the closed vocabulary."""
    ddl = [queries.unique_constraint(label, key) for label, key in KEYS.items()]
    ddl += [queries.property_index(label, prop) for label, props in INDEXED.items() for prop in props]
    ddl += list(metrics_queries.INDEXES)
    return ddl


async def ensure_schema(graph: Graph) -> None:
    """Create missing constraints and indexes and wait until they are online."""
    for statement in statements():
        await graph.driver.execute_query(statement, database_=graph.database)
    await graph.driver.execute_query(queries.AWAIT_INDEXES, database_=graph.database)
