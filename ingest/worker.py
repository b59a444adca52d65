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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neo4j.exceptions import DriverError, Neo4jError, TransientError

from graph.batch import Batch
from graph.driver import Graph
from graph.writer import write_batch
from ingest.inbox import FAILED, PENDING, QUARANTINE, Claim, Inbox, read_entry
from ingest.pipeline.events import Event, Rejected, Unreadable, to_event
from ingest.pipeline.prepare import Pipeline

BATCH_SIZE = 100
MAX_STRIKES = 5
MAX_BACKOFF = 30.0
RECOVER_EVERY = 10.0
# Neo4j errors caused by the data itself: retrying the same delivery will fail the same way.
POISON_CODES = ("Neo.ClientError.Statement.", "Neo.ClientError.Schema.")

Log = Callable[[str], None]


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


def _normalised(pipeline: Pipeline, claim: Claim, path: Path, result: Round) -> Batch | None:
    """The batch of one claimed delivery, or None once it is quarantined with its reason."""
    try:
        entry = read_entry(path)
    except (OSError, ValueError) as exc:
        claim.park(path, QUARANTINE, str(exc))
        result.quarantined += 1
        return None
    batch, reason, redactions = prepare(pipeline, entry, path.name)
    if batch is None:
        details = {k: entry.get(k) for k in ("source", "type", "id")}
        claim.park(path, QUARANTINE, reason or "cannot be normalised", **details)
        result.quarantined += 1
        return None
    result.redactions[str(entry.get("source"))] += redactions
    return batch


def _prepare_all(pipeline: Pipeline, claim: Claim, paths: list[Path], result: Round) -> list[tuple[Path, Batch]]:
    return [(path, batch) for path in paths if (batch := _normalised(pipeline, claim, path, result)) is not None]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Neo4jError):
        return f"{exc.code}: {exc.message}"
    return f"{exc.__class__.__name__}: {exc}"


class WriteRefused(RuntimeError):
    """Neo4j refused writes for a reason that may pass (not the data's fault); retry after a pause."""


async def process(
    graph: Graph, claim: Claim, paths: list[Path], strikes: Counter[str] | None = None, pipeline: Pipeline | None = None
) -> Round:
    """Normalise and write claimed deliveries; done/ only after the transaction commits.

    Raises when Neo4j is unavailable (the caller releases the claim). When the batch's transaction
    is refused, each delivery is written alone: one Neo4j refuses for its data goes to failed/;
    one refused for another reason gets a strike and goes to failed/ after MAX_STRIKES.
    """
    started = time.monotonic()
    strikes = Counter() if strikes is None else strikes
    result = Round(claimed=len(paths))
    # Reading and normalising is CPU and file work: off the event loop, so an API sharing it stays responsive.
    good = await asyncio.to_thread(_prepare_all, pipeline or Pipeline(), claim, paths, result)
    combined = Batch()
    for _, batch in good:
        combined.extend(batch)
    try:
        await write_batch(graph, combined)
        claim.done(path for path, _ in good)
        result.written = len(good)
    except Exception as exc:  # noqa: BLE001 - sorted below: unavailable (retry) or refused (isolate)
        if unavailable(exc):
            raise
        await _isolate(graph, claim, good, result, strikes)
    result.seconds = time.monotonic() - started
    return result


async def _isolate(
    graph: Graph, claim: Claim, good: list[tuple[Path, Batch]], result: Round, strikes: Counter[str]
) -> None:
    """Write deliveries one by one to find the one that spoils the transaction."""
    unclear: list[tuple[Path, BaseException]] = []
    for path, batch in good:
        try:
            await write_batch(graph, batch)
        except Exception as exc:  # noqa: BLE001
            if unavailable(exc):
                raise
            if refused_data(exc):
                claim.park(path, FAILED, f"Neo4j refused the write: {_describe(exc)}")
                result.failed += 1
            else:
                unclear.append((path, exc))
            continue
        claim.done([path])
        result.written += 1
    if not unclear:
        return
    if len(unclear) == len(good) > 1:
        raise WriteRefused(f"every write was refused: {_describe(unclear[0][1])}")  # Neo4j's trouble, not data's
    released = []
    for path, error in unclear:
        strikes[path.name] += 1
        if strikes[path.name] >= MAX_STRIKES:
            claim.park(path, FAILED, f"Neo4j refused the write {MAX_STRIKES} times: {_describe(error)}")
            result.failed += 1
            del strikes[path.name]
        else:
            released.append(path)
    if released:
        claim.release(released)
        raise WriteRefused(f"Neo4j refused a write ({len(released)} deliveries wait): {_describe(unclear[0][1])}")


async def drain_once(
    graph: Graph,
    claim: Claim,
    *,
    batch_size: int = BATCH_SIZE,
    strikes: Counter[str] | None = None,
    pipeline: Pipeline | None = None,
) -> list[Round]:
    """Process pending deliveries in batches until none is left; the driver's error propagates."""
    rounds = []
    pipeline = pipeline or Pipeline()
    while paths := claim.take(batch_size):
        try:
            rounds.append(await process(graph, claim, paths, strikes, pipeline))
        except BaseException:
            claim.release(p for p in paths if p.exists())
            raise
    return rounds


async def run(
    graph: Graph,
    inbox: Path | Inbox,
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

    quarantine_dir is accepted for compatibility and unused: dead letters live in INBOX/quarantine.
    """
    box = inbox if isinstance(inbox, Inbox) else Inbox(inbox)
    incoming(box.root).mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = stop or asyncio.Event()
    # The same pipeline as every other way in: identities resolved, keys canonical, secrets redacted.
    pipeline = pipeline or Pipeline()
    backoff = interval
    strikes: Counter[str] = Counter()
    with box.claim(worker_id) as claim:
        recovered_at = -RECOVER_EVERY
        while not stop.is_set():
            if time.monotonic() - recovered_at >= RECOVER_EVERY:
                if returned := box.recover_stale(keep=claim.worker_id):
                    log(f"returned {returned} deliveries of a dead worker to pending")
                recovered_at = time.monotonic()
            try:
                for name, accepted, rejected in box.import_spool():
                    log(f"{name}: {accepted} accepted, {rejected} rejected")
                rounds = await drain_once(graph, claim, batch_size=batch_size, strikes=strikes, pipeline=pipeline)
                for result in rounds:
                    log(result.line())
                backoff = interval
                if once:
                    return
            except Exception as exc:  # noqa: BLE001 - a worker logs, backs off and tries again; it never dies
                backoff = min(max(backoff, 0.05) * 2, MAX_BACKOFF)
                what = "Neo4j write failed" if unavailable(exc) else "unexpected error"
                log(
                    f"{what} ({exc.__class__.__name__}: {exc}); {len(box.names(PENDING))} deliveries wait; "
                    f"retrying in {backoff:.1f} s"
                )
                if once:
                    if unavailable(exc):
                        return
                    raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)


async def run_worker(graph: Graph, inbox: Inbox | Path, stop_event: asyncio.Event, *, log: Log = print) -> None:
    """The worker as a background task (e.g. in the API's lifespan): runs until stop_event is set."""
    await run(graph, inbox, stop=stop_event, log=log)
