"""Ingest files with normalisation in a child process while this process writes.

In one process the writer's Bolt round trips wait for the normaliser to yield: on the first 250,000
events of the 100,000-change bench org the writer alone ran at 3,827 events/s and the interleaved
pipeline at 2,551 (a normalising thread was slower still: one GIL). Here a spawned child reads,
normalises, redacts and resolves identities, and hands each flush over a bounded queue; this process
only writes. Rejections are parked by the child and reported here, in order, as they happen.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph import writer
from graph.batch import Batch
from graph.driver import Graph
from graph.writer import WriteBehind
from ingest.identity import resolve
from ingest.reader import list_files, read_file
from ingest.runner import Ingestor, Rejection, Summary, text_suffixes

# Messages waiting between the processes; a batch is one flush (runner.FLUSH_ROWS rows).
HANDOFF = 4
# Below this much input, starting a process (~1 s of imports) costs more than it saves.
MIN_BYTES = 50_000_000


class _Handover(Ingestor):
    """The child's ingestor: parks rejections and sends each flush to the parent instead of writing it."""

    def __init__(self, out: Any, quarantine_dir: Path):
        super().__init__(None, quarantine_dir=quarantine_dir, on_reject=lambda r: out.put(("reject", r)))  # type: ignore[arg-type]
        self.out = out

    async def flush(self) -> None:
        if len(self.pending):
            batch, self.pending = resolve(self.pending, self.identities), Batch()
            # Folded and grouped here: plain lists pickle several times faster than Batch rows.
            self.out.put(("batch", writer.plan(batch)))


async def _normalise(
    out: Any, paths: list[Path], files: list[Path] | None, source: str | None, type: str | None, quarantine: Path
) -> None:
    ingestor = _Handover(out, quarantine)
    text = text_suffixes(source)
    for path in files if files is not None else list_files(paths, text):
        for item in read_file(path, source=source, type=type, text_suffixes=text):
            await ingestor.feed(item)
        out.put(("file", path))
    await ingestor.flush()
    summary = ingestor.summary
    out.put(("done", (summary.read, summary.accepted, dict(summary.redactions))))


def _child(out: Any, *args: Any) -> None:
    # Each event allocates a few hundred short-lived containers and almost none form cycles (173 found
    # in the 10,000-change bench org): at the default threshold of 700 the cycle collector ran 57 full
    # passes over the live heap and took 5-8 % of the normaliser's CPU.
    gc.set_threshold(50_000, 20, 100)
    try:
        asyncio.run(_normalise(out, *args))
    except BaseException:  # noqa: BLE001 - the parent reports it and stops writing
        out.put(("error", traceback.format_exc()))


def worth_a_process(paths: list[Path], files: list[Path] | None) -> bool:
    """Whether the input is large enough for a normalising process to pay off."""
    total = 0
    for path in files if files is not None else paths:
        try:
            total += path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*"))
        except OSError:
            continue
        if total >= MIN_BYTES:
            return True
    return False


async def ingest_in_child(
    graph: Graph,
    paths: list[Path],
    *,
    source: str | None,
    type: str | None,
    quarantine_dir: Path,
    on_reject: Callable[[Rejection], None] | None = None,
    on_file: Callable[[Path], None] | None = None,
    files: list[Path] | None = None,
) -> Summary:
    """ingest_paths with normalisation in a spawned child; same summary, same graph."""
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")  # never fork a process that holds a driver and a loop
    out = context.Queue(maxsize=HANDOFF)
    args = (paths, files, source, type, quarantine_dir)
    child = context.Process(target=_child, args=(out, *args), name="tracegraph-normalise", daemon=True)
    child.start()
    summary = Summary()
    writer = WriteBehind(graph)
    try:
        while True:
            try:
                kind, value = await asyncio.to_thread(out.get, True, 1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(f"the normalising process stopped (exit code {child.exitcode})") from None
                continue
            if kind == "batch":
                await writer.submit(value)
            elif kind == "reject":
                summary.rejected.append(value)
                if on_reject:
                    on_reject(value)
            elif kind == "file":
                if on_file:
                    on_file(value)
            elif kind == "error":
                raise RuntimeError(f"normalising failed in the child process:\n{value}")
            else:
                summary.read, summary.accepted, redactions = value
                summary.redactions.update(redactions)
                break
        summary.written = await writer.drain()
    except BaseException:
        writer.cancel()
        child.terminate()
        raise
    finally:
        await asyncio.to_thread(child.join, 10)
    summary.seconds = time.monotonic() - started
    return summary
