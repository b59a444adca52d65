"""File ingest: read files and folders, drive the pipeline, write in batches behind the reader.

For inputs of 50 MB or more, normalisation runs in a child process while this one writes
(ingest.parallel); the summary and the graph are the same either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from graph.driver import Graph
from ingest import parallel
from ingest.pipeline.events import Event, Rejection, Unreadable
from ingest.pipeline.feed import Summary, behind_a_writer
from ingest.pipeline.prepare import Pipeline, text_suffixes
from ingest.reader import list_files


async def feed_and_write(
    graph: Graph,
    items: Iterable[Event | Unreadable],
    *,
    pipeline: Pipeline | None = None,
    quarantine_dir: Path | None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> Summary:
    """Prepare events and write them behind the reader: what every in-process driver does."""
    started = time.monotonic()
    feeder, writer = behind_a_writer(graph, pipeline, quarantine_dir=quarantine_dir, on_reject=on_reject)
    try:
        for item in items:
            await feeder.feed(item)
        await feeder.flush()
        feeder.summary.written = await writer.drain()
    except BaseException:
        # Nothing may keep writing after the caller has given up (its transaction rolls back).
        writer.cancel()
        raise
    feeder.summary.seconds = time.monotonic() - started
    return feeder.summary


async def ingest_paths(
    graph: Graph,
    paths: list[Path],
    *,
    source: str | None,
    type: str | None,
    quarantine_dir: Path,
    on_reject: Callable[[Rejection], None] | None = None,
    on_file: Callable[[Path], None] | None = None,
    files: Iterable[Path] | None = None,
    processes: bool | None = None,
) -> Summary:
    """Ingest files and folders; returns what was read, accepted, rejected and written.

    With `processes` (by default: for inputs of 50 MB or more) normalisation runs in a child process
    while this one writes; the summary and the graph are the same either way.
    """
    listed = list(files) if files is not None else list_files(paths, text_suffixes(source))
    if processes if processes is not None else parallel.worth_a_process(listed):
        return await parallel.ingest_in_child(
            graph,
            listed,
            source=source,
            type=type,
            quarantine_dir=quarantine_dir,
            on_reject=on_reject,
            on_file=on_file,
        )
    return await feed_and_write(
        graph,
        parallel.read_all(listed, source=source, type=type, on_file=on_file),
        quarantine_dir=quarantine_dir,
        on_reject=on_reject,
    )


async def ingest_events(
    graph: Graph, events: Iterable[Event], *, quarantine_dir: Path | None, pipeline: Pipeline | None = None
) -> Summary:
    """Ingest already-built events (the demo, tests)."""
    return await feed_and_write(graph, events, pipeline=pipeline, quarantine_dir=quarantine_dir)
