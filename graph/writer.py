"""Write a Batch to Neo4j: grouped UNWIND … MERGE statements in one transaction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from neo4j import AsyncManagedTransaction

from graph import queries
from graph.batch import Batch
from graph.driver import Graph
from graph.vocabulary import Label, Rel

CHUNK = 1000


@dataclass
class WriteStats:
    nodes_created: int = 0
    edges_created: int = 0
    properties_set: int = 0

    def add(self, other: WriteStats) -> None:
        self.nodes_created += other.nodes_created
        self.edges_created += other.edges_created
        self.properties_set += other.properties_set


def _fold_nodes(batch: Batch) -> dict[Label, list[dict[str, Any]]]:
    """One row per node: for each property, the value with the highest version among the rows."""
    folded: dict[tuple[Label, str], dict[str, Any]] = {}
    for n in batch.nodes:
        row = folded.setdefault((n.label, n.key), {"key": n.key, "p": {}, "v": {}})
        for prop, value in n.props.items():
            if n.version >= row["v"].get(prop, ""):
                row["p"][prop] = value
                row["v"][prop] = n.version
    grouped: dict[Label, list[dict[str, Any]]] = defaultdict(list)
    for (label, _), row in folded.items():
        grouped[label].append(row)
    return grouped


def _fold_edges(batch: Batch) -> dict[tuple[Label, Rel, Label], list[dict[str, Any]]]:
    """One row per edge: the properties of its highest version."""
    folded: dict[tuple[Label, Rel, Label, str, str], dict[str, Any]] = {}
    for e in batch.edges:
        ident = (e.src_label, e.rel, e.dst_label, e.src_key, e.dst_key)
        current = folded.get(ident)
        if current is None or e.version >= current["v"]:
            folded[ident] = {"s": e.src_key, "d": e.dst_key, "v": e.version, "p": e.props}
    grouped: dict[tuple[Label, Rel, Label], list[dict[str, Any]]] = defaultdict(list)
    for (src, rel, dst, _, _), row in folded.items():
        grouped[(src, rel, dst)].append(row)
    return grouped


def _plan(batch: Batch) -> list[tuple[str, list[dict[str, Any]]]]:
    """(statement, rows) pairs: nodes first, then edges, each group in chunks of CHUNK rows."""
    nodes, edges = _fold_nodes(batch), _fold_edges(batch)
    plan: list[tuple[str, list[dict[str, Any]]]] = []
    for label in sorted(nodes):
        rows = nodes[label]
        plan += [(queries.merge_nodes(label), rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
    for triple in sorted(edges):
        rows = edges[triple]
        plan += [(queries.merge_edges(*triple), rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
    return plan


async def _run(tx: AsyncManagedTransaction, plan: list[tuple[str, list[dict[str, Any]]]]) -> WriteStats:
    stats = WriteStats()
    for statement, rows in plan:
        result = await tx.run(statement, rows=rows)
        counters = (await result.consume()).counters
        stats.nodes_created += counters.nodes_created
        stats.edges_created += counters.relationships_created
        stats.properties_set += counters.properties_set
    return stats


async def write_batch(graph: Graph, batch: Batch) -> WriteStats:
    """MERGE the batch in one transaction (retried by the driver on transient errors)."""
    if not len(batch):
        return WriteStats()
    plan = _plan(batch)
    async with graph.driver.session(database=graph.database) as session:
        return await session.execute_write(_run, plan)
