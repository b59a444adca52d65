"""Write a Batch: its raw documents to the document store, then grouped UNWIND … MERGE statements in one
Neo4j transaction.

Rows are folded first (one per node, one per edge) and grouped by the exact set of properties they
carry, so each statement sets only what its rows assert and values travel as compact lists (see
graph.queries.merge_nodes): packing parameters is most of the client's cost of a write.
WriteBehind lets a caller normalise the next batch while Neo4j writes the previous one.

Documents go first, and the store's put is durable when it returns: a crash between the two leaves
documents no node names yet (a replay writes them again as the same documents), never a SourceEvent
whose document is missing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neo4j import AsyncManagedTransaction

from documents import Document
from graph import queries
from graph.batch import Batch
from graph.driver import Graph
from graph.vocabulary import KEYS, Label, Rel

CHUNK = 1000

# A row is a list, not a map: see graph.queries.merge_nodes and merge_edges for its fields.
Row = list[Any]
NodeGroup = tuple[Label, tuple[str, ...]]
EdgeGroup = tuple[Label, Rel, Label, tuple[str, ...]]


@dataclass
class WriteStats:
    nodes_created: int = 0
    edges_created: int = 0
    properties_set: int = 0
    # Time Neo4j reports spending on the statements (planning, executing, streaming), for benchmarks.
    server_ms: int = 0

    def add(self, other: WriteStats) -> None:
        self.nodes_created += other.nodes_created
        self.edges_created += other.edges_created
        self.properties_set += other.properties_set
        self.server_ms += other.server_ms


VERSION = "_v"
VERSION_PREFIX = "_v_"


def versions(props: Mapping[str, Any], label: Label | None = None) -> dict[str, str]:
    """The version of each property a node of `label` (or an edge) holds, from the writer's bookkeeping.

    `_v_<prop>` where the writer kept one, else `_v`, the version of every other present property
    (graph.queries.merge_nodes). A node's key has none.
    """
    base = props.get(VERSION)
    key = KEYS[label] if label else None
    found = {p: base for p in props if not p.startswith(VERSION) and p != key and base is not None}
    found |= {k[len(VERSION_PREFIX) :]: v for k, v in props.items() if k.startswith(VERSION_PREFIX) and v is not None}
    return found


def is_bookkeeping(prop: str) -> bool:
    """Whether `prop` is the writer's version bookkeeping rather than a property of the graph."""
    return prop.startswith(VERSION)


def _fold_nodes(batch: Batch) -> dict[NodeGroup, list[Row]]:
    """One row per node: for each property, the value with the highest version among the rows.

    One group per label, whose properties are every property any of its rows carries; a row holds
    null for a property it does not assert (Batch never holds None values), which the statement
    leaves untouched. One statement per label instead of one per set of properties: at 10,000
    changes 6,259 statements instead of 8,695, and the writer alone ~10 % faster.
    """
    # Per node: its values, and its version (one string while every value comes from one row, else a
    # dict of versions by property). Most nodes appear once per batch, so the cheap case comes first.
    folded: dict[tuple[Label, str], list[Any]] = {}
    for n in batch.nodes:
        seen = folded.get((n.label, n.key))
        if seen is None:
            folded[(n.label, n.key)] = [dict(n.props), n.version]
            continue
        values, versions = seen
        if isinstance(versions, str):
            if versions == n.version:
                values.update(n.props)
                continue
            versions = seen[1] = dict.fromkeys(values, versions)
        for prop, value in n.props.items():
            if n.version >= versions.get(prop, ""):
                values[prop] = value
                versions[prop] = n.version
    by_label: dict[Label, list[tuple[str, dict[str, Any], str | dict[str, str]]]] = defaultdict(list)
    for (label, key), (values, versions) in folded.items():
        by_label[label].append((key, values, versions))
    grouped: dict[NodeGroup, list[Row]] = {}
    for label, found in by_label.items():
        props = tuple(sorted({p for _, values, _ in found for p in values}))
        rows = grouped[(label, props)] = []
        for key, values, versions in found:
            row: Row = [key, list(map(values.get, props))]
            if isinstance(versions, str):
                row.append(versions)
            elif len(distinct := set(versions.values())) == 1:
                row.append(distinct.pop())
            else:
                row += [next(iter(versions.values())), list(map(versions.get, props))]
            rows.append(row)
    return grouped


def _fold_edges(batch: Batch) -> dict[EdgeGroup, list[Row]]:
    """One row per edge: the properties of its highest version; one group per (label, type, label)."""
    folded: dict[tuple[Label, Rel, Label, str, str], tuple[str, dict[str, Any]]] = {}
    for e in batch.edges:
        ident = (e.src_label, e.rel, e.dst_label, e.src_key, e.dst_key)
        current = folded.get(ident)
        if current is None or e.version >= current[0]:
            folded[ident] = (e.version, e.props)
    by_triple: dict[tuple[Label, Rel, Label], list[tuple[str, str, str, dict[str, Any]]]] = defaultdict(list)
    for (src, rel, dst, s, d), (version, values) in folded.items():
        by_triple[(src, rel, dst)].append((s, d, version, values))
    grouped: dict[EdgeGroup, list[Row]] = {}
    for (src, rel, dst), found in by_triple.items():
        props = tuple(sorted({p for *_, values in found for p in values}))
        grouped[(src, rel, dst, props)] = [
            [s, d, version, list(map(values.get, props))] for s, d, version, values in found
        ]
    return grouped


def fold(batch: Batch) -> tuple[dict[NodeGroup, list[Row]], dict[EdgeGroup, list[Row]]]:
    """The rows the writer sends, grouped by label and by (label, type, label), each with the
    properties its rows carry (null where a row asserts nothing)."""
    return _fold_nodes(batch), _fold_edges(batch)


Statements = list[tuple[str, list[Row]]]


@dataclass
class Plan:
    """A batch ready to write: (statement, rows) pairs, and the raw documents that go first.

    Plain lists and named tuples, so a plan crosses a process boundary cheaply (ingest.parallel).
    """

    statements: Statements
    documents: list[Document] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.statements) + len(self.documents)


class Rows(list[Any]):
    """A statement's rows, whose repr is their count.

    The driver formats every RUN's parameters for its debug log even when nothing logs at debug
    level (neo4j 5.28, `AsyncBolt5x5.run`: `" ".join(map(repr, fields))`): for the writer's chunks,
    ~1.8 ms and ~220 KB of text per statement, ~50 ms per 5,000-row flush, thrown away. A short repr
    saves that and keeps raw documents out of a debug log that is switched on. Packed like any list.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def plan(batch: Batch) -> Plan:
    """(statement, rows) pairs, nodes first, then edges, each group in chunks of CHUNK rows; the documents."""
    nodes, edges = fold(batch)
    planned: Statements = []
    for label, props in sorted(nodes):
        rows = nodes[(label, props)]
        statement = queries.merge_nodes(label, props)
        planned += [(statement, rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
    for src, rel, dst, props in sorted(edges):
        rows = edges[(src, rel, dst, props)]
        statement = queries.merge_edges(src, rel, dst, props)
        planned += [(statement, rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
    return Plan(planned, list(batch.documents))


async def _run(tx: AsyncManagedTransaction, statements: Statements) -> WriteStats:
    stats = WriteStats()
    for statement, rows in statements:
        result = await tx.run(statement, rows=Rows(rows))
        summary = await result.consume()
        counters = summary.counters
        stats.server_ms += (summary.result_available_after or 0) + (summary.result_consumed_after or 0)
        stats.nodes_created += counters.nodes_created
        stats.edges_created += counters.relationships_created
        stats.properties_set += counters.properties_set
    return stats


async def write_batch(graph: Graph, batch: Batch | Plan) -> WriteStats:
    """Store the batch's documents, then MERGE the batch (or a plan made of one) in one transaction
    (retried by the driver on transient errors)."""
    if not len(batch):
        return WriteStats()
    planned = batch if isinstance(batch, Plan) else plan(batch)
    if planned.documents:
        if graph.documents is None:
            raise RuntimeError("this graph was opened without a document store: open it with graph.driver.connected")
        # Off the event loop: compressing and an fsync'd commit (or S3 round trips) take milliseconds.
        await asyncio.to_thread(graph.documents.put, planned.documents)
    if not planned.statements:
        return WriteStats()
    async with graph.driver.session(database=graph.database) as session:
        return await session.execute_write(_run, planned.statements)


class WriteBehind:
    """Writes batches in the background, in order, so the caller normalises the next ones meanwhile.

    On a machine with two cores, Python (parsing, normalising) and Neo4j (MERGE) then work at the
    same time instead of taking turns. One transaction runs at a time; up to `depth` more batches wait
    behind it, which absorbs the batch-to-batch variance of both sides (with one batch in flight and
    none waiting, the 100,000-change ingest kept each side idle a third of the time). submit() waits
    while `depth` batches are waiting and raises the error of a failed write; drain() waits for all.
    The caller must yield to the event loop now and then (`await asyncio.sleep(0)`) so the write in
    flight can progress.
    """

    def __init__(self, graph: Graph, depth: int = 2):
        self.graph = graph
        self.stats = WriteStats()
        self._queue: asyncio.Queue[Batch | Plan | None] = asyncio.Queue(maxsize=depth)
        self._task: asyncio.Task[None] | None = None
        self._writing = False

    @property
    def busy(self) -> bool:
        """Whether a write is in flight or waiting."""
        return self._writing or not self._queue.empty()

    async def _write_all(self) -> None:
        while (batch := await self._queue.get()) is not None:
            self._writing = True
            try:
                self.stats.add(await write_batch(self.graph, batch))
            finally:
                self._writing = False

    async def _put(self, item: Batch | Plan | None) -> None:
        """Queue an item for the writer; raise the writer's error instead of waiting on a dead writer."""
        if self._task is None:
            self._task = asyncio.create_task(self._write_all())
        if not self._task.done():
            put = asyncio.ensure_future(self._queue.put(item))
            await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
            if put.done():
                return
            put.cancel()
        task, self._task = self._task, None
        await task  # raises the failed write's error
        raise RuntimeError("the background writer stopped before it was drained")

    async def submit(self, batch: Batch | Plan) -> None:
        """Queue `batch`; waits while `depth` batches are already waiting."""
        if len(batch):
            await self._put(batch)

    async def drain(self) -> WriteStats:
        """Wait until every queued batch is written; the totals of everything written so far."""
        if self._task is not None:
            await self._put(None)
            task, self._task = self._task, None
            await task
        return self.stats

    def cancel(self) -> None:
        """Abandon queued and in-flight writes (the transaction rolls back), e.g. when the caller fails."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        while not self._queue.empty():
            self._queue.get_nowait()
