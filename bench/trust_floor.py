"""What keeping each evidence's trust costs the writer: the same evidence rows written by the real statement
(which ends by recomputing `trustFloor` from the versions, graph.queries.core) and by the same statement
without that clause, alternately, in one run against one Neo4j.

    .venv/bin/python -m bench.trust_floor [--rows 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

from bench.common import fresh_database, machine
from graph.batch import Batch, Origin
from graph.driver import Graph, run_with_graph
from graph.queries.core import merge_nodes
from graph.vocabulary import Label
from graph.writer import CHUNK, Rows, fold


def batch(rows: int, round_: int, trust: int) -> Batch:
    """Evidence rows as the pipeline stamps them (a new node each, so both sides write the same amount)."""
    found = Batch()
    origin = Origin("github", f"bench-{round_}", "2026-01-01T00:00:00Z")
    for i in range(rows):
        found.node(
            Label.EVIDENCE,
            f"bench:{round_}:{trust}:{i}",
            version=f"2026-01-01T00:00:{i % 60:02d}Z#00#T{trust}#bench-{i}",
            origin=origin,
            type="check_run",
            name=f"check-{i % 17}",
            conclusion="success",
            status="completed",
            commitSha=f"{i:040x}",
            trust="provider",
            trustBy="github webhook, signature checked",
            signatureProblem="",
        )
    return found


async def write(graph: Graph, statement: str, rows: list[list[object]]) -> float:
    started = time.perf_counter()
    async with graph.driver.session(database=graph.database) as session:
        for i in range(0, len(rows), CHUNK):
            chunk = Rows(rows[i : i + CHUNK])
            await session.execute_write(lambda tx, c=chunk: _run(tx, statement, c))
    return time.perf_counter() - started


async def _run(tx: object, statement: str, rows: Rows) -> None:
    result = await tx.run(statement, rows=rows)  # type: ignore[attr-defined]
    await result.consume()


async def measure(graph: Graph, rows: int, rounds: int) -> None:
    with_floor: list[float] = []
    without: list[float] = []
    for round_ in range(rounds):
        for side in ("floor", "plain"):
            nodes, _ = fold(batch(rows, round_, 2 if side == "floor" else 1))
            [(group, grouped)] = nodes.items()
            statement = merge_nodes(*group)
            if side == "plain":
                statement = statement[: statement.index("\nWITH n, [part IN")]
            (with_floor if side == "floor" else without).append(await write(graph, statement, grouped))
    best_floor, best_plain = min(with_floor), min(without)
    print(machine())
    print(f"{rows} new evidence rows per side, best of {rounds} rounds, alternating:")
    print(f"  with trustFloor    {rows / best_floor:8.0f} rows/s  ({best_floor:.2f} s)")
    print(f"  without the clause {rows / best_plain:8.0f} rows/s  ({best_plain:.2f} s)")
    print(f"  ratio              {best_plain / best_floor:.2f} of the plain statement's speed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run_with_graph(fresh_database(), lambda g: measure(g, args.rows, args.rounds))


if __name__ == "__main__":
    main()
