"""Workers drain the durable inbox into Neo4j in batches (at-least-once, idempotent MERGE).

One round: import spooled files, claim up to `batch_size` pending deliveries (an atomic rename
into this worker's claim folder), normalise each (what cannot be normalised goes to quarantine with
its reason), write the rest in one transaction, and only after it commits move them to done/.
If Neo4j is unavailable the claim is released and the worker backs off exponentially. When Neo4j
refuses a batch, its deliveries are written one by one: one refused for its data (a statement or
schema error) goes to failed/ with the error; one refused for an unclear reason is retried, and set
aside in failed/ after MAX_STRIKES refusals, so a single delivery can never block the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from graph.vocabulary import INDEXED
from graph.writer import write_batch
from ingest.inbox import FAILED, PENDING, QUARANTINE, Claim, Inbox, read_entry
from ingest.reader import Unreadable, to_event
from ingest.redact import count_redactions
from ingest.runner import add_source_event, normalise
from ingest.sources import SOURCES
from ingest.sources.base import Event, Rejected

BATCH_SIZE = 100
MAX_STRIKES = 5
MAX_INDEXED_BYTES = 4000  # Neo4j's range indexes refuse values above about 8 kB; stay well clear
INT64 = (-(2**63), 2**63 - 1)
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


def resolve_type(source: str, kind: str | None) -> str | None:
    """The handler name a source knows for a webhook's event header.

    Webhook headers name events their own way (GitLab `Merge Request Hook`, PagerDuty
    `incident.triggered`, Opsgenie `Create`); a source may key its handlers by another spelling.
    The sender named the event, so nothing is guessed from the payload: when no spelling fits,
    the original is kept and the rejection names it.
    """
    found = SOURCES.get(source)
    if found is None or kind is None or kind in found.handlers:
        return kind
    base = kind.removesuffix(" Hook").removesuffix(" hook")
    for candidate in (kind.lower(), base.lower().replace(" ", "_")):
        if candidate in found.handlers:
            return candidate
    return kind


def to_event_of(entry: dict[str, Any], path: Path) -> Event | Unreadable:
    """The source event an inbox entry holds (its type resolved to the source's handler name)."""
    raw = json.dumps(entry, default=str)
    item = to_event(entry, raw, f"inbox:{path.name}", source=None, type=None)
    if isinstance(item, Unreadable):
        reason = "not an event envelope: it needs a source and a payload" if "--source" in item.reason else item.reason
        return Unreadable(item.location, reason, raw)
    kind = resolve_type(item.source, item.type)
    if kind == item.type:
        return item
    return Event(item.source, kind, item.id, item.payload, item.received_at, item.subject, item.location)


def storable_problem(batch: Batch) -> str | None:
    """Why Neo4j would refuse to store this batch (a map, a 65-bit integer, a lone surrogate...), or None."""
    for node in batch.nodes:
        indexed = INDEXED.get(node.label, ())
        if problem := _key_problem(node.key):
            return f"{node.label} key {problem}"
        for prop, value in node.props.items():
            if problem := _value_problem(value, indexed=prop in indexed):
                return f"{node.label} {node.key[:80]!r} property {prop} is {problem}"
    for edge in batch.edges:
        if problem := _key_problem(edge.src_key) or _key_problem(edge.dst_key):
            return f"{edge.rel} edge key {problem}"
        for prop, value in edge.props.items():
            if problem := _value_problem(value, indexed=False):
                return f"{edge.rel} edge property {prop} is {problem}"
    return None


def _key_problem(key: str) -> str | None:
    problem = _value_problem(key, indexed=True)
    return problem and problem.removeprefix("text ")


def _value_problem(value: Any, *, indexed: bool) -> str | None:
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else "an integer beyond Neo4j's 64-bit range"
    if isinstance(value, str):
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            return "text with a lone surrogate (not valid Unicode)"
        return (
            f"text longer than {MAX_INDEXED_BYTES} bytes in an index" if indexed and size > MAX_INDEXED_BYTES else None
        )
    if isinstance(value, list):
        kinds = {
            "number" if isinstance(v, int | float) and not isinstance(v, bool) else type(v).__name__ for v in value
        }
        if len(kinds) > 1 or kinds & {"list", "dict"}:
            return "a list mixing kinds or nesting lists and maps (Neo4j stores flat lists of one kind)"
        return next((p for v in value if (p := _value_problem(v, indexed=False))), None)
    if isinstance(value, dict):
        return "a map (Neo4j stores primitives and flat lists of them)"
    return f"a {type(value).__name__}"


def prepare(entry: dict[str, Any], name: str) -> tuple[Batch | None, str | None]:
    """The batch one inbox entry writes (its raw document included), or the reason to quarantine it.

    Pure and total: whatever the entry holds, it answers (batch, None) or (None, reason).
    """
    item = to_event_of(entry, Path(name))
    if isinstance(item, Unreadable):
        return None, item.reason
    try:
        batch = normalise(item)
        add_source_event(batch, item)
    except Rejected as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad payload must never stop the worker
        return None, f"normaliser crashed: {exc.__class__.__name__}: {exc}"
    problem = storable_problem(batch)
    return (None, f"cannot be stored in Neo4j: {problem}") if problem else (batch, None)


def _normalised(claim: Claim, path: Path, result: Round) -> Batch | None:
    """The batch of one claimed delivery, or None once it is quarantined with its reason."""
    try:
        entry = read_entry(path)
    except (OSError, ValueError) as exc:
        claim.park(path, QUARANTINE, str(exc))
        result.quarantined += 1
        return None
    batch, reason = prepare(entry, path.name)
    if batch is None:
        details = {k: entry.get(k) for k in ("source", "type", "id")}
        claim.park(path, QUARANTINE, reason or "cannot be normalised", **details)
        result.quarantined += 1
        return None
    result.redactions[str(entry.get("source"))] += sum(count_redactions(n.props) for n in batch.nodes)
    return batch


def _prepare_all(claim: Claim, paths: list[Path], result: Round) -> list[tuple[Path, Batch]]:
    return [(path, batch) for path in paths if (batch := _normalised(claim, path, result)) is not None]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Neo4jError):
        return f"{exc.code}: {exc.message}"
    return f"{exc.__class__.__name__}: {exc}"


class WriteRefused(RuntimeError):
    """Neo4j refused writes for a reason that may pass (not the data's fault); retry after a pause."""


async def process(graph: Graph, claim: Claim, paths: list[Path], strikes: Counter[str] | None = None) -> Round:
    """Normalise and write claimed deliveries; done/ only after the transaction commits.

    Raises when Neo4j is unavailable (the caller releases the claim). When the batch's transaction
    is refused, each delivery is written alone: one Neo4j refuses for its data goes to failed/;
    one refused for another reason gets a strike and goes to failed/ after MAX_STRIKES.
    """
    started = time.monotonic()
    strikes = Counter() if strikes is None else strikes
    result = Round(claimed=len(paths))
    # Reading and normalising is CPU and file work: off the event loop, so an API sharing it stays responsive.
    good = await asyncio.to_thread(_prepare_all, claim, paths, result)
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
    graph: Graph, claim: Claim, *, batch_size: int = BATCH_SIZE, strikes: Counter[str] | None = None
) -> list[Round]:
    """Process pending deliveries in batches until none is left; the driver's error propagates."""
    rounds = []
    while paths := claim.take(batch_size):
        try:
            rounds.append(await process(graph, claim, paths, strikes))
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
) -> None:
    """Drain the inbox until stopped (or until empty with once), backing off exponentially while Neo4j is down.

    quarantine_dir is accepted for compatibility and unused: dead letters live in INBOX/quarantine.
    """
    box = inbox if isinstance(inbox, Inbox) else Inbox(inbox)
    incoming(box.root).mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = stop or asyncio.Event()
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
                for result in await drain_once(graph, claim, batch_size=batch_size, strikes=strikes):
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
