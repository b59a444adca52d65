"""File ingest with normalisation in a child process while this process writes.

In one process the writer's Bolt round trips wait for the normaliser to yield: on the first 250,000
events of the 100,000-change bench org the writer alone ran at 3,827 events/s and the interleaved
pipeline at 2,551 (a normalising thread was slower still: one GIL). Here a spawned child reads and
prepares events through the same pipeline, and hands each flush over a bounded queue; this process
only writes. Rejections are parked by the child and reported here, in order, as they happen.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from graph import writer
from graph.batch import Batch
from graph.driver import Graph
from graph.writer import WriteBehind
from ingest.pipeline.events import Event, Rejection, Unreadable
from ingest.pipeline.feed import Feeder, Summary
from ingest.pipeline.prepare import Pipeline, text_suffixes
from ingest.reader import read_file

# Messages waiting between the processes; a batch is one flush (pipeline.feed.FLUSH_ROWS rows).
HANDOFF = 4
# Below this much input, starting a process (~1 s of imports) costs more than it saves.
MIN_BYTES = 50_000_000


def read_all(
    files: list[Path], *, source: str | None, type: str | None, on_file: Callable[[Path], None] | None = None
) -> Iterator[Event | Unreadable]:
    """Every event (or unreadable document) in the files, in order; `on_file` after each file."""
    text = text_suffixes(source)
    for path in files:
        yield from read_file(path, source=source, type=type, text_suffixes=text)
        if on_file:
            on_file(path)


async def _normalise(
    out: Any, files: list[Path], source: str | None, type: str | None, quarantine: Path, pipeline: type[Pipeline]
) -> None:
    async def hand_over(batch: Batch) -> None:
        # Folded and grouped here: plain lists pickle several times faster than Batch rows.
        out.put(("batch", writer.plan(batch)))

    feeder = Feeder(pipeline(), hand_over, quarantine_dir=quarantine, on_reject=lambda r: out.put(("reject", r)))
    for item in read_all(files, source=source, type=type, on_file=lambda path: out.put(("file", path))):
        await feeder.feed(item)
    await feeder.flush()
    summary = feeder.summary
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


def worth_a_process(files: list[Path]) -> bool:
    """Whether the input is large enough for a normalising process to pay off."""
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:
            continue
        if total >= MIN_BYTES:
            return True
    return False


async def ingest_in_child(
    graph: Graph,
    files: list[Path],
    *,
    source: str | None,
    type: str | None,
    quarantine_dir: Path,
    on_reject: Callable[[Rejection], None] | None = None,
    on_file: Callable[[Path], None] | None = None,
    pipeline: type[Pipeline] = Pipeline,
) -> Summary:
    """File ingest with normalisation in a spawned child; same summary, same graph.

    `pipeline` is the class the child prepares events with (a module-level class: the child imports it).
    """
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")  # never fork a process that holds a driver and a loop
    out = context.Queue(maxsize=HANDOFF)
    child = context.Process(
        target=_child,
        args=(out, files, source, type, quarantine_dir, pipeline),
        name="tracegraph-normalise",
        daemon=True,
    )
    child.start()
    summary = Summary()
    writes = WriteBehind(graph)
    try:
        while True:
            try:
                kind, value = await asyncio.to_thread(out.get, True, 1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(f"the normalising process stopped (exit code {child.exitcode})") from None
                continue
            if kind == "batch":
                await writes.submit(value)
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
        summary.written = await writes.drain()
    except BaseException:
        writes.cancel()
        child.terminate()
        raise
    finally:
        await asyncio.to_thread(child.join, 10)
    summary.seconds = time.monotonic() - started
    return summary
