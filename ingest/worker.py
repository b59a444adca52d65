"""Workers drain the durable inbox into Neo4j in batches (at-least-once, idempotent MERGE).

One round: import spooled files, claim up to `batch_size` pending deliveries (an atomic rename
into this worker's claim folder), prepare each through the one pipeline (what it refuses goes to
quarantine with its reason), write the rest in one transaction, and only after it commits move them to done/.
If Neo4j is unavailable the claim is released and the worker backs off exponentially. When Neo4j
refuses a batch, its deliveries are written one by one: one refused for its data (a statement or
schema error) goes to failed/ with the error; one refused for an unclear reason is retried, and set
aside in failed/ after MAX_STRIKES refusals, so a single delivery can never block the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neo4j.exceptions import DriverError, Neo4jError, TransientError

from graph.batch import Batch
from graph.driver import Graph
from graph.writer import write_batch
from ingest.inbox import FAILED, QUARANTINE, Inbox, InboxUnavailable
from ingest.inboxes import Consumer, InboxBackend, Log, SpoolInbox, Taken, as_backend
from ingest.pipeline.events import Event, Rejected, Unreadable, to_event
from ingest.pipeline.prepare import Pipeline

BATCH_SIZE = 100
MAX_STRIKES = 5
MAX_BACKOFF = 30.0
# Neo4j errors caused by the data itself: retrying the same delivery will fail the same way.
POISON_CODES = ("Neo.ClientError.Statement.", "Neo.ClientError.Schema.")


def incoming(inbox: Path) -> Path:
    """The spool folder people and tools drop envelope files into."""
    return inbox / "incoming"


@dataclass
class Round:
    """What one batch did."""

    claimed: int = 0
    written: int = 0
    quarantined: int = 0
    failed: int = 0
    redactions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def line(self) -> str:
        redacted = ", ".join(f"{k} {v}" for k, v in sorted(self.redactions.items()) if v)
        return (
            f"batch of {self.claimed}: {self.written} written, {self.quarantined} quarantined, "
            f"{self.failed} failed ({self.seconds:.2f} s)" + (f"; secrets redacted: {redacted}" if redacted else "")
        )


def unavailable(exc: BaseException) -> bool:
    """True when Neo4j could not be reached or asked for a retry: the same write may succeed later."""
    return isinstance(exc, DriverError | OSError | TransientError | WriteRefused)


def refused_data(exc: BaseException) -> bool:
    """True when Neo4j (or the driver, encoding values) refused the data itself: retrying cannot help."""
    if isinstance(exc, Neo4jError):
        return (exc.code or "").startswith(POISON_CODES)
    return isinstance(exc, ValueError | TypeError | OverflowError)


def to_event_of(entry: dict[str, Any], path: Path) -> Event | Unreadable:
    """The source event an inbox entry holds."""
    raw = json.dumps(entry, default=str)
    item = to_event(entry, raw, f"inbox:{path.name}", source=None, type=None)
    if isinstance(item, Unreadable):
        if "--source" in item.reason:
            return Unreadable(item.location, "not an event envelope: it needs a source and a payload", raw)
        return item
    # The inbox wrote `via` itself when it stored the delivery (webhook, /events, spool).
    return dataclasses.replace(item, via=str(entry.get("via") or "inbox"))


def prepare(pipeline: Pipeline, entry: dict[str, Any], name: str) -> tuple[Batch | None, str | None, int]:
    """The batch one inbox entry writes (its raw document included), or the reason to quarantine it.

    Total: whatever the entry holds, it answers (batch, None, redactions) or (None, reason, 0).
    """
    item = to_event_of(entry, Path(name))
    if isinstance(item, Unreadable):
        return None, item.reason, 0
    try:
        prepared = pipeline.prepare(item)
    except Rejected as exc:
        return None, str(exc), 0
    return prepared.batch, None, prepared.redactions


def _normalised(pipeline: Pipeline, item: Taken, result: Round) -> tuple[Batch | None, str | None, dict[str, Any]]:
    """The batch of one taken delivery, or the reason (and what is known of it) to quarantine it."""
    try:
        entry = item.read()
    except (OSError, ValueError) as exc:
        return None, str(exc), {}
    batch, reason, redactions = prepare(pipeline, entry, item.name)
    if batch is None:
        return None, reason or "cannot be normalised", {k: entry.get(k) for k in ("source", "type", "id")}
    result.redactions[str(entry.get("source"))] += redactions
    return batch, None, {}


def _prepare_all(
    pipeline: Pipeline, taken: list[Taken], result: Round
) -> tuple[list[tuple[Taken, Batch]], list[tuple[Taken, str, dict[str, Any]]]]:
    good, bad = [], []
    for item in taken:
        batch, reason, details = _normalised(pipeline, item, result)
        if batch is not None:
            good.append((item, batch))
        else:
            bad.append((item, reason or "cannot be normalised", details))
    return good, bad


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Neo4jError):
        return f"{exc.code}: {exc.message}"
    return f"{exc.__class__.__name__}: {exc}"


class WriteRefused(RuntimeError):
    """Neo4j refused writes for a reason that may pass (not the data's fault); retry after a pause."""


async def process(
    graph: Graph,
    consumer: Consumer,
    taken: list[Taken],
    strikes: Counter[str] | None = None,
    pipeline: Pipeline | None = None,
) -> Round:
    """Normalise and write taken deliveries; done only after the transaction commits.

    Raises when Neo4j is unavailable (the caller releases them). When the batch's transaction is
    refused, each delivery is written alone: one Neo4j refuses for its data is parked as failed; one
    refused for another reason gets a strike and is parked as failed after MAX_STRIKES.
    """
    started = time.monotonic()
    strikes = Counter() if strikes is None else strikes
    result = Round(claimed=len(taken))
    # Reading and normalising is CPU and file work: off the event loop, so an API sharing it stays responsive.
    good, bad = await asyncio.to_thread(_prepare_all, pipeline or Pipeline(), taken, result)
    for item, reason, details in bad:
        await consumer.park(item, QUARANTINE, reason, **details)
        result.quarantined += 1
    combined = Batch()
    for _, batch in good:
        combined.extend(batch)
    try:
        await write_batch(graph, combined)
    except Exception as exc:  # noqa: BLE001 - sorted below: unavailable (retry) or refused (isolate)
        if unavailable(exc):
            raise
        await _isolate(graph, consumer, good, result, strikes)
    else:
        await consumer.done([item for item, _ in good])
        result.written = len(good)
    result.seconds = time.monotonic() - started
    return result


async def _isolate(
    graph: Graph, consumer: Consumer, good: list[tuple[Taken, Batch]], result: Round, strikes: Counter[str]
) -> None:
    """Write deliveries one by one to find the one that spoils the transaction."""
    unclear: list[tuple[Taken, BaseException]] = []
    for item, batch in good:
        try:
            await write_batch(graph, batch)
        except Exception as exc:  # noqa: BLE001
            if unavailable(exc):
                raise
            if refused_data(exc):
                await consumer.park(item, FAILED, f"Neo4j refused the write: {_describe(exc)}")
                result.failed += 1
            else:
                unclear.append((item, exc))
            continue
        await consumer.done([item])
        result.written += 1
    if not unclear:
        return
    if len(unclear) == len(good) > 1:
        raise WriteRefused(f"every write was refused: {_describe(unclear[0][1])}")  # Neo4j's trouble, not data's
    released = []
    for item, error in unclear:
        strikes[item.name] += 1
        if strikes[item.name] >= MAX_STRIKES:
            await consumer.park(item, FAILED, f"Neo4j refused the write {MAX_STRIKES} times: {_describe(error)}")
            result.failed += 1
            del strikes[item.name]
        else:
            released.append(item)
    if released:
        await consumer.release(released)
        raise WriteRefused(f"Neo4j refused a write ({len(released)} deliveries wait): {_describe(unclear[0][1])}")


async def drain_once(
    graph: Graph,
    consumer: Consumer,
    *,
    batch_size: int = BATCH_SIZE,
    strikes: Counter[str] | None = None,
    pipeline: Pipeline | None = None,
    log: Log | None = None,
) -> list[Round]:
    """Process waiting deliveries in batches until none is left (each batch's line logged as it ends);
    the driver's error propagates."""
    rounds = []
    pipeline = pipeline or Pipeline()
    while taken := await consumer.take(batch_size):
        try:
            rounds.append(await process(graph, consumer, taken, strikes, pipeline))
        except BaseException:
            await consumer.release(taken)  # the ones done or parked are no longer held, whatever this says
            raise
        if log is not None:
            # A broker's backlog may never run dry while deliveries keep coming: say what each batch did now.
            log(rounds[-1].line())
    return rounds


async def run(
    graph: Graph,
    inbox: Path | Inbox | InboxBackend,
    *,
    quarantine_dir: Path | None = None,
    interval: float = 1.0,
    once: bool = False,
    log: Log = print,
    batch_size: int = BATCH_SIZE,
    stop: asyncio.Event | None = None,
    worker_id: str | None = None,
    pipeline: Pipeline | None = None,
) -> None:
    """Drain the inbox until stopped (or until empty with once), backing off exponentially while Neo4j is down.

    inbox is a spool folder, a spool Inbox, or any backend (ingest.inboxes). quarantine_dir is accepted
    for compatibility and unused: dead letters stay in the inbox (`tracegraph inbox`).
    """
    backend = as_backend(inbox)
    if isinstance(backend, SpoolInbox):
        incoming(backend.inbox.root).mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = stop or asyncio.Event()
    # The same pipeline as every other way in: identities resolved, keys canonical, secrets redacted.
    pipeline = pipeline or Pipeline()
    backoff = interval
    strikes: Counter[str] = Counter()
    async with backend.consumer(worker_id) as consumer:
        while not stop.is_set():
            try:
                await consumer.housekeeping(log)
                await drain_once(graph, consumer, batch_size=batch_size, strikes=strikes, pipeline=pipeline, log=log)
                backoff = interval
                if once:
                    return
            except Exception as exc:  # noqa: BLE001 - a worker logs, backs off and tries again; it never dies
                backoff = min(max(backoff, 0.05) * 2, MAX_BACKOFF)
                what = (
                    "Neo4j write failed"
                    if unavailable(exc)
                    else "the inbox is unavailable"
                    if isinstance(exc, InboxUnavailable)
                    else "unexpected error"
                )
                waiting = await consumer.waiting()
                log(
                    f"{what} ({exc.__class__.__name__}: {exc}); "
                    f"{'some' if waiting is None else waiting} deliveries wait; retrying in {backoff:.1f} s"
                )
                if once:
                    if unavailable(exc) or isinstance(exc, InboxUnavailable):
                        return
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)


async def run_worker(
    graph: Graph, inbox: Inbox | Path | InboxBackend, stop_event: asyncio.Event, *, log: Log = print
) -> None:
    """The worker as a background task (e.g. in the API's lifespan): runs until stop_event is set."""
    await run(graph, inbox, stop=stop_event, log=log)
