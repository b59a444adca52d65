"""End-to-end ingest throughput (files → graph) against a raw-MERGE baseline in the same run.

    python -m bench.ingest DIR                     # baseline, then ours, each into an emptied database
    python -m bench.ingest DIR --raw-cost          # also ours without raw documents (no SourceEvents, no store)
    python -m bench.ingest DIR --raw-in-neo4j      # also ours keeping raw documents in Neo4j, as before issue 19

DIR is what bench.generate wrote. "Ours" is what `tracegraph ingest` does: ingest.reader →
ingest.runner (normalise, redact, keep the raw document) → graph.writer (the document store, then a
versioned MERGE), in a child process whose peak RSS is read from getrusage. After ours, the local
Neo4j is stopped cleanly (a checkpoint) and the disk it and the document store take is measured, then
it is started again. The baseline writes the same nodes and edges (rows precomputed from the batches
our normalisers produce, with the same flushes and chunk size) with the simplest
`UNWIND $rows MERGE … SET += row.p` through the driver: no parsing, no normalisation, no versions, no
documents. With --raw-in-neo4j, "ours-inneo4j" runs before ours: the same ingest, but each redacted raw
document is written on its SourceEvent as `body` (the layout before the document store, issue 19) and
no store is used; its disk is measured too, so both layouts are compared in one run. The graph left in
the database afterwards is ours (for bench.query, which starts the bench's Neo4j on it again: this
bench stops the server it started when it ends).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import pickle
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import common
from graph import local_neo4j, repository, writer
from graph.batch import Batch
from graph.driver import Graph, connected, run_with_graph
from graph.local_neo4j import status as local_status
from graph.settings import Settings
from graph.vocabulary import KEYS, Label, Rel
from ingest import parallel
from ingest.pipeline.events import Event
from ingest.pipeline.feed import Feeder
from ingest.pipeline.prepare import Pipeline, Prepared, source_event_id, text_suffixes
from ingest.reader import read_file
from ingest.runner import feed_and_write, ingest_paths
from ingest.sources import SOURCES

Inputs = list[tuple[Path, str | None]]


def inputs(folder: Path) -> tuple[Inputs, list[str]]:
    """The generated files to ingest, each with its --source, and notes about parts left out."""
    found: Inputs = [(p, None) for p in sorted(folder.glob("events-*.jsonl"))]
    notes = []
    incidents = sorted((folder / "incidents").glob("*.jsonl"))
    if incidents and "pagerduty" in SOURCES:
        found += [(p, None) for p in incidents]
    elif incidents:
        notes.append("PagerDuty incidents left out: no `pagerduty` source yet")
    postmortems = sorted((folder / "postmortems").glob("*.md"))
    if postmortems and "postmortem" in SOURCES:
        found += [(p, "postmortem") for p in postmortems]
    elif postmortems:
        notes.append("postmortems left out: no `postmortem` source yet")
    return found, notes


# --- the baseline: same rows, simplest statements ---------------------------------------------


def baseline_node_statement(label: Label) -> str:
    """The hand-written MERGE a developer would write first: key, then overwrite properties."""
    return f"UNWIND $rows AS row MERGE (n:`{label}` {{`{KEYS[label]}`: row.key}}) SET n += row.p"


def baseline_edge_statement(src: Label, rel: Rel, dst: Label) -> str:
    return (
        f"UNWIND $rows AS row MERGE (a:`{src}` {{`{KEYS[src]}`: row.s}}) "
        f"MERGE (b:`{dst}` {{`{KEYS[dst]}`: row.d}}) MERGE (a)-[r:`{rel}`]->(b) SET r += row.p"
    )


def _asserted(props: tuple[str, ...], values: list[Any]) -> dict[str, Any]:
    """A folded row as the map a person would send: only the properties it asserts (not null)."""
    return {p: v for p, v in zip(props, values, strict=True) if v is not None}


class Recorder:
    """Our pipeline up to the writer: each flush's folded rows are pickled instead of written."""

    def __init__(self, out: Any, quarantine_dir: Path):
        self.out = out
        self.flushes = 0
        self.feeder = Feeder(Pipeline(), self.record, quarantine_dir=quarantine_dir)

    async def record(self, batch: Batch) -> None:
        nodes, edges = writer.fold(batch)
        # The baseline writes each label (and each edge type) with one statement, as a person would.
        by_label: dict[Any, list[dict[str, Any]]] = {}
        for (label, props), rows in sorted(nodes.items()):
            by_label.setdefault(label, []).extend({"key": r[0], "p": _asserted(props, r[1])} for r in rows)
        by_triple: dict[Any, list[dict[str, Any]]] = {}
        for (src, rel, dst, props), rows in sorted(edges.items()):
            by_triple.setdefault((src, rel, dst), []).extend(
                {"s": r[0], "d": r[1], "p": _asserted(props, r[3])} for r in rows
            )
        plan = [("n", label, rows) for label, rows in by_label.items()]
        plan += [("e", triple, rows) for triple, rows in by_triple.items()]
        pickle.dump(plan, self.out, protocol=pickle.HIGHEST_PROTOCOL)
        self.flushes += 1


async def record_baseline_rows(files: Inputs, rows_file: Path, quarantine_dir: Path) -> dict[str, Any]:
    """Normalise every file through our pipeline and keep the rows each flush would write."""
    started = time.monotonic()
    with rows_file.open("wb") as out:
        recorder = Recorder(out, quarantine_dir)
        for path, source in files:
            for item in read_file(path, source=source, type=None, text_suffixes=text_suffixes(source)):
                await recorder.feeder.feed(item)
        await recorder.feeder.flush()
    seconds = time.monotonic() - started
    return {
        "events": recorder.feeder.summary.read,
        "rejected": len(recorder.feeder.summary.rejected),
        "flushes": recorder.flushes,
        "seconds": round(seconds, 2),
    }


async def write_baseline(graph: Graph, rows_file: Path) -> tuple[int, int]:
    """Replay the recorded flushes: one transaction each, statements of writer.CHUNK rows.

    Returns the number of flushes and the milliseconds Neo4j reported spending on the statements.
    """
    flushes = 0
    spent = 0

    async def work(tx: Any, plan: list[tuple[str, Any, list[dict[str, Any]]]]) -> int:
        ms = 0
        for kind, what, rows in plan:
            statement = baseline_node_statement(what) if kind == "n" else baseline_edge_statement(*what)
            for i in range(0, len(rows), writer.CHUNK):
                chunk = writer.Rows(rows[i : i + writer.CHUNK])  # the same driver workaround as ours
                summary = await (await tx.run(statement, rows=chunk)).consume()
                ms += (summary.result_available_after or 0) + (summary.result_consumed_after or 0)
        return ms

    with rows_file.open("rb") as handle:
        async with graph.driver.session(database=graph.database) as session:
            while True:
                try:
                    plan = pickle.load(handle)
                except EOFError:
                    break
                spent += await session.execute_write(work, plan)
                flushes += 1
    return flushes, spent


# --- raw documents kept in Neo4j: the layout before the document store, to compare in one run -----


class RawInNeo4j(Pipeline):
    """Our pipeline with each raw document on its SourceEvent as `body` and no document store (main before
    issue 19 wrote exactly these properties: type, digest, body, location, via)."""

    def prepare(self, event: Event) -> Prepared:
        prepared = super().prepare(event)
        batch = prepared.batch
        bodies = {source_event_id(d.record.source, d.record.id): d.body for d in batch.documents}
        for row in batch.nodes:
            if row.label is Label.SOURCE_EVENT and row.key in bodies:
                row.props["body"] = bodies[row.key].decode("utf-8", "surrogatepass")
        batch.documents.clear()
        return prepared


# --- the child process: one timed run ---------------------------------------------------------


async def child(mode: str, folder: Path, rows_file: Path, scratch: Path) -> dict[str, Any]:
    settings = Settings()
    files, _ = inputs(folder)
    async with connected(settings) as graph:
        started = time.monotonic()
        cpu = time.process_time()
        if mode == "baseline":
            flushes, spent = await write_baseline(graph, rows_file)
            result: dict[str, Any] = {"flushes": flushes, "statement_ms": spent}
        elif mode in ("ours", "ours-inneo4j"):
            # Exactly what `tracegraph ingest` runs, once per --source (JSON envelopes, Markdown postmortems).
            result = {"read": 0, "rejected": 0}
            for source in dict.fromkeys(s for _, s in files):
                chosen = [p for p, s in files if s == source]
                quarantine = scratch / "quarantine"
                if mode == "ours":
                    summary = await ingest_paths(
                        graph, [], source=source, type=None, quarantine_dir=quarantine, files=chosen
                    )
                elif parallel.worth_a_process(chosen):  # as ingest_paths decides, with the other pipeline
                    summary = await parallel.ingest_in_child(
                        graph, chosen, source=source, type=None, quarantine_dir=quarantine, pipeline=RawInNeo4j
                    )
                else:
                    items = parallel.read_all(chosen, source=source, type=None)
                    summary = await feed_and_write(graph, items, pipeline=RawInNeo4j(), quarantine_dir=quarantine)
                result["read"] += summary.read
                result["rejected"] += len(summary.rejected)
                result["statement_ms"] = result.get("statement_ms", 0) + summary.written.server_ms
        else:  # ours without the SourceEvent raw documents, to price them
            items = (
                item
                for path, source in files
                for item in read_file(path, source=source, type=None, text_suffixes=text_suffixes(source))
            )
            summary = await feed_and_write(
                graph, items, pipeline=Pipeline(keep_raw=False), quarantine_dir=scratch / "quarantine"
            )
            result = {"read": summary.read, "rejected": len(summary.rejected)}
        result["seconds"] = time.monotonic() - started
        result["client_cpu_seconds"] = time.process_time() - cpu
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Large inputs normalise in a child process (ingest.parallel), joined by now: its peak counts too,
    # and so does its CPU.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["normaliser_max_rss_mb"] = children.ru_maxrss / 1024
    result["client_cpu_seconds"] += children.ru_utime + children.ru_stime
    return result


def server_cpu_seconds() -> float | None:
    """CPU seconds the bench's local Neo4j has used so far (None for an external server)."""
    if common.external():
        return None
    server = local_status(common.local_settings())
    if server is None or server.pid is None:
        return None
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


def disk_bytes(path: Path) -> int:
    """What a folder takes on disk (allocated blocks, as du counts them)."""
    if path.is_file():
        return path.stat().st_blocks * 512
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def sizes() -> dict[str, int] | None:
    """Disk after a clean shutdown of the bench's Neo4j: its store, its transaction logs, the whole data
    folder, and the document store (None for an external server). The server is started again."""
    if common.external():
        return None
    local = common.local_settings()
    local_neo4j.stop(local)
    data = common.BENCH_HOME / "neo4j" / "data"  # the launcher's home; Neo4j's own data/ is inside it
    found = {
        "neo4j_store": disk_bytes(data / "data" / "databases" / "neo4j"),
        "neo4j_tx_logs": disk_bytes(data / "data" / "transactions" / "neo4j"),
        "neo4j_data": disk_bytes(data),
        "documents": disk_bytes(common.BENCH_HOME / "client" / "documents"),
    }
    local_neo4j.start(local, log=lambda line: None)
    return found


def run_mode(mode: str, folder: Path, rows_file: Path, scratch: Path) -> dict[str, Any]:
    """Empty the database, run one mode in a child process, return its figures and the graph's counts."""
    settings = common.fresh_database()
    # Each run stores its documents afresh (a store left by the previous run would skip their writes).
    shutil.rmtree(common.BENCH_HOME / "client" / "documents", ignore_errors=True)
    before = server_cpu_seconds()
    command = [sys.executable, "-m", "bench.ingest", str(folder), "--child", mode, "--rows", str(rows_file)]
    done = subprocess.run(command, env=common.client_env(settings), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    after = server_cpu_seconds()
    if before is not None and after is not None:
        result["server_cpu_seconds"] = round(after - before, 1)
    result["counts"] = run_with_graph(settings, repository.counts)
    if mode in ("ours", "ours-inneo4j"):
        result["disk"] = sizes()
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--raw-cost", action="store_true", help="also run ours without raw documents")
    parser.add_argument(
        "--raw-in-neo4j", action="store_true", help="also run ours keeping raw documents in Neo4j (before ours)"
    )
    parser.add_argument("--child", choices=["baseline", "ours-inneo4j", "ours", "ours-noraw"], help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    scratch = common.BENCH_HOME / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.folder, args.rows, scratch)), default=str))
        return

    files, notes = inputs(args.folder)
    if not files:
        raise SystemExit(f"no events-*.jsonl in {args.folder}: run `python -m bench.generate` first")
    manifest = json.loads((args.folder / "manifest.json").read_text())
    print(f"machine: {common.machine()}")
    print(f"neo4j:   {common.neo4j_memory()}")
    print(f"input:   {args.folder} ({manifest['changes']} changes, {len(files)} files)", *notes, sep="\n  ")
    rows_file = scratch / "baseline-rows.pickle"
    recorded = asyncio.run(record_baseline_rows(files, rows_file, scratch / "quarantine-record"))
    events = recorded["events"]
    print(
        f"recorded {events} events in {recorded['flushes']} flushes ({recorded['rejected']} rejected); "
        f"normalise-only {events / recorded['seconds']:.0f} events/s"
    )
    atexit.register(common.stop_local)  # however the run ends; the store stays for bench.query
    modes = ["baseline"] + (["ours-inneo4j"] if args.raw_in_neo4j else []) + ["ours"]
    modes += ["ours-noraw"] if args.raw_cost else []
    results: dict[str, dict[str, Any]] = {}
    for mode in modes:
        result = run_mode(mode, args.folder, rows_file, scratch)
        result["events_per_s"] = events / result["seconds"]
        results[mode] = result
        print(
            f"{mode:11s} {events} events in {result['seconds']:7.1f} s = {result['events_per_s']:7.0f} events/s; "
            f"peak RSS {result['max_rss_mb']:.0f} MB (normalising process {result['normaliser_max_rss_mb']:.0f} MB); "
            f"client CPU {result['client_cpu_seconds']:.1f} s, "
            f"Neo4j CPU {result.get('server_cpu_seconds', '?')} s"
        )
    ours, base = results["ours"], results["baseline"]
    print(f"ratio ours/baseline: {ours['events_per_s'] / base['events_per_s']:.2f}")
    if "ours-noraw" in results:
        noraw = results["ours-noraw"]
        print(f"raw documents cost: {1 - noraw['seconds'] / ours['seconds']:.0%} of our ingest time")
        if noraw["counts"].get("SourceEvent"):
            print("warning: the no-raw run still wrote SourceEvent nodes")
    if "ours-inneo4j" in results:
        inneo4j = results["ours-inneo4j"]
        print(f"ratio ours/raw documents in Neo4j: {ours['events_per_s'] / inneo4j['events_per_s']:.2f}")
        if not inneo4j["counts"].get("SourceEvent") or (inneo4j.get("disk") or {}).get("documents"):
            print("warning: the raw-in-Neo4j run wrote no SourceEvents, or wrote to the document store")
    for mode in ("ours-inneo4j", "ours"):
        if disk := results.get(mode, {}).get("disk"):
            gb = {k: f"{v / 1e9:.2f} GB" for k, v in disk.items()}
            print(
                f"disk after {mode}: Neo4j store {gb['neo4j_store']}, transaction logs {gb['neo4j_tx_logs']} "
                f"(data folder {gb['neo4j_data']}); document store {gb['documents']}"
            )
    if base["counts"] != ours["counts"]:
        diff = {k: (base["counts"].get(k), ours["counts"].get(k)) for k in base["counts"] | ours["counts"]}
        diff = {k: v for k, v in diff.items() if v[0] != v[1]}
        print(f"warning: the baseline and ours wrote different graphs (baseline, ours): {diff}")
    else:
        print(f"same graph: {sum(v for k, v in ours['counts'].items() if k[0].isupper() and not k.isupper())} nodes")
    record = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": common.machine(),
        "neo4j": common.neo4j_memory(),
        "changes": manifest["changes"],
        "events": events,
        "recorded": recorded,
        "results": results,
    }
    with (args.folder / "bench-ingest.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
