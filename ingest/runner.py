"""The ingest pipeline: read → normalise → MERGE in batches, parking what cannot be normalised."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from graph.batch import Batch, BatchError
from graph.driver import Graph
from graph.vocabulary import Label
from graph.writer import WriteBehind, WriteStats
from ingest import quarantine
from ingest.identity import Identities, resolve
from ingest.reader import Unreadable, list_files, read_file
from ingest.redact import count_redactions, dumps_sorted, redact, redact_document, redact_value
from ingest.sources import SOURCES
from ingest.sources.base import Event, Rejected

FLUSH_ROWS = 5000


@dataclass(frozen=True)
class Rejection:
    location: str
    reason: str


@dataclass
class Summary:
    read: int = 0
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    written: WriteStats = field(default_factory=WriteStats)
    redactions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def normalise(event: Event) -> Batch:
    """The batch for one event, or Rejected with the reason."""
    source = SOURCES.get(event.source)
    if source is None:
        raise Rejected(f"unknown source {event.source!r} (known: {', '.join(sorted(SOURCES))})")
    try:
        return source.normalise(event)
    except Rejected:
        raise
    except BatchError as exc:
        raise Rejected(f"{event.source} event does not fit the graph model: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any normaliser failure parks the event instead of stopping the run
        # A normaliser bug must not take the rest of the input down; the event is parked with the cause.
        raise Rejected(
            f"{event.source} {event.type or ''} payload could not be read: {exc.__class__.__name__}: {exc}"
        ) from exc


def add_source_event(batch: Batch, event: Event, *, already_redacted: bool = False) -> None:
    """Keep the raw document (secrets redacted) as a SourceEvent node keyed by source:event id.

    `already_redacted` skips a second pass where the caller built the payload from redacted text.
    """
    if already_redacted:
        body = event.payload if isinstance(event.payload, str) else dumps_sorted(event.payload)
    elif isinstance(event.payload, str):
        body = redact(event.payload) or ""
    else:
        body = redact_document(event.payload)
    batch.node(
        Label.SOURCE_EVENT,
        source_event_id(event.source, event.id),
        version=event.version(event.received_at),
        origin=event.origin,
        type=event.type or "",
        digest="sha256:" + hashlib.sha256(body.encode()).hexdigest(),
        body=body,
        location=event.location,
    )


def source_event_id(source: str, event_id: str) -> str:
    """The key of the SourceEvent a node's (source, sourceEventId) points at."""
    return f"{source}:{event_id}"


def text_suffixes(source: str | None) -> frozenset[str]:
    """File suffixes the named source reads as text (none for JSON sources or no source)."""
    found = SOURCES.get(source) if source else None
    return found.text_suffixes if found else frozenset()


class Ingestor:
    """Feeds events through normalisers into the graph, flushing every FLUSH_ROWS rows.

    Writes happen behind: while Neo4j writes one flush, the next is normalised (on two cores the
    client and the server then work at the same time instead of taking turns). Call finish() at the
    end: it writes what is pending and waits for every write, raising the first write error.
    """

    def __init__(
        self,
        graph: Graph,
        *,
        quarantine_dir: Path,
        on_reject: Callable[[Rejection], None] | None = None,
        keep_raw: bool = True,
        identities: Identities | None = None,
    ):
        self.graph = graph
        self.keep_raw = keep_raw
        # One person, many handles: Person keys are rewritten to the canonical login before writing.
        self.identities = identities if identities is not None else Identities.load()
        self.quarantine_dir = quarantine_dir
        self.on_reject = on_reject
        self.summary = Summary()
        self.pending = Batch()
        self.writer = WriteBehind(graph)

    def _reject(self, location: str, reason: str, raw: str, source: str | None) -> None:
        rejection = Rejection(location, reason)
        self.summary.rejected.append(rejection)
        quarantine.park(self.quarantine_dir, location=location, reason=reason, raw=redact(raw) or "", source=source)
        if self.on_reject:
            self.on_reject(rejection)

    async def feed(self, item: Event | Unreadable, raw: str = "") -> None:
        self.summary.read += 1
        if isinstance(item, Unreadable):
            self._reject(item.location, item.reason, item.raw, None)
            return
        try:
            batch = normalise(item)
        except Rejected as exc:
            document = (
                item.payload if isinstance(item.payload, str) else json.dumps(redact_value(item.payload), default=str)
            )
            self._reject(item.location, str(exc), raw or document, item.source)
            return
        self.summary.accepted += 1
        self.summary.redactions[item.source] += sum(count_redactions(n.props) for n in batch.nodes)
        if self.keep_raw:
            add_source_event(batch, item)
        self.pending.extend(batch)
        if len(self.pending) >= FLUSH_ROWS:
            await self.flush()
        elif self.writer.busy:
            # Hand the event loop to the write in flight so its Bolt traffic keeps moving.
            await asyncio.sleep(0)

    async def flush(self) -> None:
        """Hand the pending rows to the writer (once the previous write has finished)."""
        if len(self.pending):
            batch, self.pending = resolve(self.pending, self.identities), Batch()
            await self.writer.submit(batch)

    async def finish(self) -> None:
        """Write what is pending and wait until everything is written."""
        try:
            await self.flush()
            self.summary.written = await self.writer.drain()
        except BaseException:
            # Nothing may keep writing after the caller has given up (its transaction rolls back).
            self.writer.cancel()
            raise


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
    while this one writes (ingest.parallel); the summary and the graph are the same either way.
    """
    from ingest import parallel  # it builds on this module

    listed = list(files) if files is not None else None
    if processes if processes is not None else parallel.worth_a_process(paths, listed):
        return await parallel.ingest_in_child(
            graph,
            paths,
            source=source,
            type=type,
            quarantine_dir=quarantine_dir,
            on_reject=on_reject,
            on_file=on_file,
            files=listed,
        )
    files = listed
    started = time.monotonic()
    ingestor = Ingestor(graph, quarantine_dir=quarantine_dir, on_reject=on_reject)
    text = text_suffixes(source)
    for path in files if files is not None else list_files(paths, text):
        for item in read_file(path, source=source, type=type, text_suffixes=text):
            await ingestor.feed(item)
        if on_file:
            on_file(path)
    await ingestor.finish()
    ingestor.summary.seconds = time.monotonic() - started
    return ingestor.summary


async def ingest_events(graph: Graph, events: Iterable[Event], *, quarantine_dir: Path) -> Summary:
    """Ingest already-built events (the demo, tests, the webhook inbox)."""
    started = time.monotonic()
    ingestor = Ingestor(graph, quarantine_dir=quarantine_dir)
    for event in events:
        await ingestor.feed(event)
    await ingestor.finish()
    ingestor.summary.seconds = time.monotonic() - started
    return ingestor.summary
