"""Batching prepared events for a writer, and the summary every driver reports.

A driver reads events from somewhere (files, the inbox, git, a provider's API) and hands each to
`Feeder.feed`; the feeder prepares it through the pipeline, parks what is rejected with its reason,
and passes a batch of FLUSH_ROWS rows at a time to the driver's sink (a writer, or the queue to the
writing process). Nothing here decides what an event means: that is `prepare`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from graph.batch import Batch
from graph.driver import Graph
from graph.writer import WriteBehind, WriteStats
from ingest import quarantine
from ingest.pipeline.events import Event, Rejected, Rejection, Unreadable
from ingest.pipeline.prepare import Pipeline, raw_text
from ingest.redact import redact

FLUSH_ROWS = 5000

Sink = Callable[[Batch], Awaitable[None]]


@dataclass
class Summary:
    """What a run read, accepted, rejected (with reasons) and wrote."""

    read: int = 0
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    written: WriteStats = field(default_factory=WriteStats)
    redactions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def line(self) -> str:
        """One line for a person: counts, what was written, how long it took."""
        w = self.written
        return (
            f"read {self.read} events: {self.accepted} accepted, {len(self.rejected)} rejected; "
            f"{w.nodes_created} nodes and {w.edges_created} edges created, {w.properties_set} properties set; "
            f"{self.seconds:.1f} s"
        )


class Feeder:
    """Prepares events and hands batches of about FLUSH_ROWS rows to `sink`; call flush() at the end."""

    def __init__(
        self,
        pipeline: Pipeline,
        sink: Sink,
        *,
        quarantine_dir: Path | None,
        on_reject: Callable[[Rejection], None] | None = None,
        busy: Callable[[], bool] = lambda: False,
        flush_rows: int = FLUSH_ROWS,
    ):
        self.pipeline = pipeline
        self.sink = sink
        self.quarantine_dir = quarantine_dir
        self.on_reject = on_reject
        self.busy = busy
        self.flush_rows = flush_rows
        self.summary = Summary()
        self.pending = Batch()

    def reject(self, location: str, reason: str, raw: str, source: str | None) -> None:
        """Report a refused event and park it (secrets redacted) with its reason."""
        rejection = Rejection(location, reason)
        self.summary.rejected.append(rejection)
        if self.quarantine_dir is not None:
            quarantine.park(self.quarantine_dir, location=location, reason=reason, raw=redact(raw) or "", source=source)
        if self.on_reject:
            self.on_reject(rejection)

    async def feed(self, item: Event | Unreadable) -> None:
        """Prepare one event (or report an unreadable document) and flush when enough rows wait."""
        self.summary.read += 1
        if isinstance(item, Unreadable):
            self.reject(item.location, item.reason, item.raw, None)
            return
        try:
            prepared = self.pipeline.prepare(item)
        except Rejected as exc:
            self.reject(item.location, str(exc), raw_text(item), item.source)
            return
        self.summary.accepted += 1
        self.summary.redactions[item.source] += prepared.redactions
        self.pending.extend(prepared.batch)
        if len(self.pending) >= self.flush_rows:
            await self.flush()
        elif self.busy():
            # Hand the event loop to the write in flight so its Bolt traffic keeps moving.
            await asyncio.sleep(0)

    async def flush(self) -> None:
        """Hand the pending rows to the sink."""
        if len(self.pending):
            batch, self.pending = self.pending, Batch()
            await self.sink(batch)


def behind_a_writer(
    graph: Graph,
    pipeline: Pipeline | None = None,
    *,
    quarantine_dir: Path | None,
    on_reject: Callable[[Rejection], None] | None = None,
) -> tuple[Feeder, WriteBehind]:
    """A Feeder whose batches a WriteBehind writes while the driver reads on: how in-process drivers start."""
    writer = WriteBehind(graph)
    feeder = Feeder(
        pipeline or Pipeline(),
        writer.submit,
        quarantine_dir=quarantine_dir,
        on_reject=on_reject,
        busy=lambda: writer.busy,
    )
    return feeder, writer
