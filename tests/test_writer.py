"""The writer's contract: per property, the value with the highest version wins, whatever the order.

Random rows over a few nodes and edges are written in random batches and orders; the graph must
equal what a Python model of last-writer-wins says, values and versions alike (versions as
graph.writer.versions reads them from the compact bookkeeping).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from graph.batch import Batch
from graph.driver import Graph
from graph.settings import Settings
from graph.vocabulary import Label, Rel
from graph.writer import WriteBehind, is_bookkeeping, versions, write_batch
from tests.conftest import run_graph

PROPS = ("title", "state", "additions", "labels", "draft")
KEYS = [f"o/r#{i}" for i in range(6)]
READ_NODES = "MATCH (n:Change) RETURN n.id AS key, properties(n) AS props"
READ_EDGES = "MATCH (c:Change)-[r:IN]->(s:Repository) RETURN c.id AS src, s.fullName AS dst, properties(r) AS props"


def _value(rng: random.Random, prop: str) -> Any:
    return {
        "title": lambda: rng.choice(["a", "b", "c", "d"]),
        "state": lambda: rng.choice(["open", "closed", "merged"]),
        "additions": lambda: rng.randint(0, 5),
        "labels": lambda: rng.sample(["x", "y", "z"], rng.randint(1, 3)),
        "draft": lambda: rng.random() < 0.5,
    }[prop]()


def _rows(rng: random.Random, n: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(key, version, props) with colliding versions, so ties and equal versions are exercised."""
    rows = []
    for _ in range(n):
        props = {p: _value(rng, p) for p in rng.sample(PROPS, rng.randint(1, len(PROPS)))}
        rows.append((rng.choice(KEYS), f"2025-01-0{rng.randint(1, 3)}T00:00:00Z#00#e{rng.randint(0, 3)}", props))
    return rows


def _model(rows: list[tuple[str, str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Last writer wins per property; equal versions carry equal values in real input, so ties keep the max."""
    best: dict[str, dict[str, tuple[str, Any]]] = {}
    for key, version, props in rows:
        for prop, value in props.items():
            current = best.setdefault(key, {}).get(prop)
            if current is None or (version, repr(value)) > (current[0], repr(current[1])):
                best[key][prop] = (version, value)
    return {
        key: {p: v for p, (_, v) in props.items()} | {"versions": {p: ver for p, (ver, _) in props.items()}}
        for key, props in best.items()
    }


def _normalise_ties(rows: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, Any]]]:
    """One value per (key, version, property): a source never asserts two values in one event."""
    chosen: dict[tuple[str, str, str], Any] = {}
    out = []
    for key, version, props in rows:
        fixed = {p: chosen.setdefault((key, version, p), v) for p, v in props.items()}
        out.append((key, version, fixed))
    return out


async def _write(graph: Graph, rows: list[tuple[str, str, dict[str, Any]]], rng: random.Random) -> None:
    rng.shuffle(rows)
    while rows:
        size = rng.randint(1, 12)
        batch = Batch()
        for key, version, props in rows[:size]:
            batch.node(Label.CHANGE, key, version=version, **props)
            batch.edge((Label.CHANGE, key), Rel.IN, (Label.REPOSITORY, "o/r"), version=version)
        rows = rows[size:]
        await write_batch(graph, batch)


async def _read(graph: Graph) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    nodes, _, _ = await graph.driver.execute_query(READ_NODES, database_=graph.database)
    edges, _, _ = await graph.driver.execute_query(READ_EDGES, database_=graph.database)
    return (
        {
            r["key"]: {k: v for k, v in r["props"].items() if k != "id" and not is_bookkeeping(k)}
            | {"versions": versions(r["props"], Label.CHANGE)}
            for r in nodes
        },
        {(r["src"], r["dst"]): r["props"] for r in edges},
    )


@pytest.mark.parametrize("seed", range(4))
def test_random_batches_in_random_orders_match_last_writer_wins(settings: Settings, seed: int) -> None:
    rng = random.Random(seed)
    rows = _normalise_ties(_rows(rng, 60))
    expected = _model(rows)
    expected_edges = {(key, "o/r"): {"_v": max(v for k, v, _ in rows if k == key)} for key in expected}

    async def write_and_read(graph: Graph) -> Any:
        await _write(graph, list(rows), rng)
        first = await _read(graph)
        await _write(graph, list(rows), rng)  # a replay in another order changes nothing
        return first, await _read(graph)

    (nodes, edges), again = run_graph(settings, write_and_read)
    assert nodes == expected
    assert edges == expected_edges
    assert again == (nodes, edges)


def _change(key: str, **props: Any) -> Batch:
    batch = Batch()
    batch.node(Label.CHANGE, key, version="2025-01-01T00:00:00Z#00#e", **props)
    return batch


def test_write_behind_writes_every_queued_batch(settings: Settings) -> None:
    async def work(graph: Graph) -> Any:
        writer = WriteBehind(graph, depth=2)
        for i in range(7):
            await writer.submit(_change(f"o/r#{i}", title=f"t{i}"))
        stats = await writer.drain()
        nodes, _ = await _read(graph)
        return stats, nodes

    stats, nodes = run_graph(settings, work)
    assert stats.nodes_created == 7
    assert {key: props["title"] for key, props in nodes.items()} == {f"o/r#{i}": f"t{i}" for i in range(7)}


def test_write_behind_raises_a_failed_write_instead_of_hanging(settings: Settings) -> None:
    from neo4j.exceptions import Neo4jError

    async def work(graph: Graph) -> None:
        writer = WriteBehind(graph, depth=1)
        await writer.submit(_change("o/r#1", labels=["a", 1]))  # Neo4j refuses lists of mixed types
        for i in range(5):
            await writer.submit(_change(f"o/r#{i + 2}", title="t"))
        await writer.drain()

    with pytest.raises(Neo4jError):
        run_graph(settings, lambda g: asyncio.wait_for(work(g), timeout=60))


def test_a_node_keeps_one_version_until_another_event_changes_it(settings: Settings) -> None:
    """The compact bookkeeping: one `_v` per node, `_v_<prop>` only for what a later event wrote."""
    first = Batch()
    first.node(Label.CHANGE, "o/r#1", version="2025-01-01T00:00:00Z#00#a", title="t", state="open", additions=3)
    later = Batch()
    later.node(Label.CHANGE, "o/r#1", version="2025-01-02T00:00:00Z#00#b", state="merged")

    async def work(graph: Graph) -> Any:
        await write_batch(graph, first)
        once = (await _read(graph))[0]["o/r#1"]
        stored_once, _, _ = await graph.driver.execute_query(READ_NODES, database_=graph.database)
        await write_batch(graph, later)
        stored_twice, _, _ = await graph.driver.execute_query(READ_NODES, database_=graph.database)
        return once, sorted(stored_once[0]["props"]), sorted(stored_twice[0]["props"])

    once, stored_once, stored_twice = run_graph(settings, work)
    assert once["versions"] == dict.fromkeys(("title", "state", "additions"), "2025-01-01T00:00:00Z#00#a")
    assert [k for k in stored_once if k.startswith("_v")] == ["_v"]
    assert [k for k in stored_twice if k.startswith("_v")] == ["_v", "_v_state"]


def test_an_edge_row_leaves_the_properties_it_does_not_carry(settings: Settings) -> None:
    """Rows of one (label, type, label) share a statement; a row's null is "not asserted", not "remove"."""
    first = Batch()
    first.edge((Label.CHANGE, "o/r#1"), Rel.IN, (Label.REPOSITORY, "o/r"), version="v1", inferred=True, confidence=0.9)
    later = Batch()
    later.edge((Label.CHANGE, "o/r#1"), Rel.IN, (Label.REPOSITORY, "o/r"), version="v2")
    later.edge((Label.CHANGE, "o/r#2"), Rel.IN, (Label.REPOSITORY, "o/r"), version="v2", confidence=0.5)

    async def work(graph: Graph) -> Any:
        await write_batch(graph, first)
        await write_batch(graph, later)
        return (await _read(graph))[1]

    edges = run_graph(settings, work)
    assert edges == {
        ("o/r#1", "o/r"): {"_v": "v2", "inferred": True, "confidence": 0.9},
        ("o/r#2", "o/r"): {"_v": "v2", "confidence": 0.5},
    }


def test_rows_stay_out_of_the_drivers_debug_log(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """The driver formats RUN parameters for its debug log; the writer's rows show as a count there.

    Raw documents are long (formatting them was ~50 ms of every 5,000-row flush) and belong in the
    graph, not in a log someone switched on.
    """
    batch = Batch()
    batch.node(Label.SOURCE_EVENT, "github:d1", version="v1", body="raw-document-text", type="push")
    batch.node(Label.SOURCE_EVENT, "github:d2", version="v1", body="another-raw-document", type="push")

    async def work(graph: Graph) -> Any:
        await write_batch(graph, batch)
        records, _, _ = await graph.driver.execute_query(
            "MATCH (s:SourceEvent) RETURN s.body AS body ORDER BY body", database_=graph.database
        )
        return [r["body"] for r in records]

    with caplog.at_level(logging.DEBUG, logger="neo4j"):
        bodies = run_graph(settings, work)
    runs = [
        r.getMessage()
        for r in caplog.records
        if "C: RUN" in r.getMessage() and "MERGE (n:`SourceEvent`" in r.getMessage()
    ]
    assert bodies == ["another-raw-document", "raw-document-text"]
    assert runs and all("<2 rows>" in line for line in runs)
    assert not any("raw-document" in r.getMessage() for r in caplog.records)
