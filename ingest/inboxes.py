"""The durable inbox behind one small interface, and the one Settings selects.

Two backends keep the same contract — a delivery is acknowledged only once it is durable, a replay
within the retention is answered "duplicate", a worker takes deliveries, writes them, and marks them
done only after the Neo4j transaction commits (at-least-once; MERGE makes it an exactly-once effect):

- the local spool folder (`ingest.inbox`), the embedded default: one machine, no broker;
- NATS JetStream (`ingest.jetstream`) when TRACEGRAPH_NATS_URL is set: several API processes and
  workers on several machines.

The API stores through `InboxBackend.put_many`, workers drain through a `Consumer`, and `tracegraph
inbox` lists and retries through the rest, whichever backend it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from graph.settings import Settings
from ingest.inbox import FAILED, PENDING, QUARANTINE, Claim, Delivery, Entry, Inbox, Stored, read_entry

Log = Callable[[str], None]
RECOVER_EVERY = 10.0  # seconds between looks for dead workers' claims (spool)
PRUNE_EVERY = 600.0  # seconds between prunes of done/ and seen/ (spool)


class DeliveryTooLarge(ValueError):
    """The backend cannot store a delivery this large (a broker's message size limit); sending it again cannot help."""


class Taken(Protocol):
    """One delivery a worker took: its name in logs and reasons, and the envelope it holds."""

    @property
    def name(self) -> str: ...

    def read(self) -> dict[str, Any]:
        """The stored envelope; ValueError (or OSError) when it cannot be read."""
        ...


class Consumer(Protocol):
    """One worker's hold on the inbox."""

    worker_id: str

    async def take(self, limit: int) -> list[Taken]:
        """Up to limit deliveries, each held by this worker alone until done, released or parked."""
        ...

    async def done(self, taken: Sequence[Taken]) -> None:
        """The graph holds these deliveries' effects (the transaction committed)."""
        ...

    async def release(self, taken: Sequence[Taken]) -> None:
        """Not written now; they are taken again later, without counting as a failed delivery."""
        ...

    async def park(self, taken: Taken, state: str, reason: str, **details: Any) -> None:
        """Set one delivery aside (quarantine or failed) with its reason, for `tracegraph inbox`."""
        ...

    async def housekeeping(self, log: Log) -> None:
        """What the backend needs done between batches (the spool: dead claims, spooled files, pruning)."""
        ...

    async def waiting(self) -> int | None:
        """How many deliveries wait (None when the backend cannot say now)."""
        ...


class InboxBackend(Protocol):
    """Where deliveries are stored, taken from, listed and retried."""

    kind: str  # "spool" or "nats"
    where: str  # for people: the folder, or the server and stream

    async def put_many(self, deliveries: Sequence[Delivery]) -> list[Stored]:
        """Store durably (or recognise as duplicates); InboxUnavailable when nothing could be stored."""
        ...

    async def counts(self) -> dict[str, int]:
        """How many deliveries are in each state (ingest.inbox.STATES)."""
        ...

    async def entries(self, state: str, *, limit: int | None = None) -> list[Entry]:
        """Deliveries of one state (pending, failed, quarantine), oldest first, with their reasons."""
        ...

    async def find(self, ref: str, states: tuple[str, ...] = (FAILED, QUARANTINE)) -> list[Entry]:
        """Entries of these states that ref names (name, key prefix of 6+, or delivery id)."""
        ...

    async def retry(self, entries: Iterable[Entry]) -> int:
        """Send failed or quarantined deliveries to the workers again; returns how many."""
        ...

    def consumer(self, worker_id: str | None = None) -> AbstractAsyncContextManager[Consumer]:
        """A worker's hold on the inbox for as long as the block runs."""
        ...

    async def close(self) -> None: ...


# --- the spool folder --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpoolTaken:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def read(self) -> dict[str, Any]:
        return read_entry(self.path)


def _paths(taken: Sequence[Taken]) -> list[Path]:
    return [t.path for t in taken if isinstance(t, SpoolTaken)]


class SpoolConsumer:
    """A worker's claim folder, with the spool's housekeeping between batches."""

    def __init__(self, inbox: Inbox, claim: Claim, retention_seconds: float):
        self.inbox, self.claim, self.retention = inbox, claim, retention_seconds
        self.worker_id = claim.worker_id
        self._recovered_at = -RECOVER_EVERY
        self._pruned_at = -PRUNE_EVERY
        self._emptying: set[asyncio.Task[int]] = set()

    async def take(self, limit: int) -> list[Taken]:
        return [SpoolTaken(path) for path in self.claim.take(limit)]

    async def done(self, taken: Sequence[Taken]) -> None:
        paths = _paths(taken)
        self.claim.done(paths)
        # The raw deliveries (secrets and all) go beside the next batch; a stopped worker's rest go at the next prune.
        task = asyncio.create_task(asyncio.to_thread(self.inbox.empty, [p.name for p in paths]))
        self._emptying.add(task)
        task.add_done_callback(self._emptying.discard)

    async def close(self) -> None:
        """Let the documents of done deliveries be dropped before the worker goes."""
        if self._emptying:
            await asyncio.wait(set(self._emptying), timeout=30)

    async def release(self, taken: Sequence[Taken]) -> None:
        self.claim.release(p for p in _paths(taken) if p.exists())

    async def park(self, taken: Taken, state: str, reason: str, **details: Any) -> None:
        assert isinstance(taken, SpoolTaken)
        self.claim.park(taken.path, state, reason, **details)

    async def housekeeping(self, log: Log) -> None:
        if time.monotonic() - self._recovered_at >= RECOVER_EVERY:
            if returned := self.inbox.recover_stale(keep=self.worker_id):
                log(f"returned {returned} deliveries of a dead worker to pending")
            self._recovered_at = time.monotonic()
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            pruned = await asyncio.to_thread(self.inbox.prune, self.retention)
            if pruned.done or pruned.seen or pruned.emptied:
                log(
                    f"pruned the inbox: {pruned.done} done and {pruned.seen} seen markers older than "
                    f"{self.retention / 3600:g} h removed, {pruned.emptied} raw deliveries in done/ emptied"
                )
            self._pruned_at = time.monotonic()
        for name, accepted, rejected in self.inbox.import_spool():
            log(f"{name}: {accepted} accepted, {rejected} rejected")

    async def waiting(self) -> int | None:
        return len(self.inbox.names(PENDING))


class SpoolInbox:
    """The local spool folder (ingest.inbox) behind the inbox interface."""

    kind = "spool"

    def __init__(self, inbox: Inbox, *, retention_seconds: float = 72 * 3600.0):
        self.inbox = inbox
        self.retention = retention_seconds
        self.where = str(inbox.root.resolve())

    async def put_many(self, deliveries: Sequence[Delivery]) -> list[Stored]:
        # Writing and fsyncing is disk work: off the event loop, so other requests go on meanwhile.
        return await asyncio.to_thread(self.inbox.put_many, list(deliveries))

    async def counts(self) -> dict[str, int]:
        return self.inbox.counts()

    async def entries(self, state: str, *, limit: int | None = None) -> list[Entry]:
        return self.inbox.entries(state, limit=limit)

    async def find(self, ref: str, states: tuple[str, ...] = (FAILED, QUARANTINE)) -> list[Entry]:
        return self.inbox.find(ref, states)

    async def retry(self, entries: Iterable[Entry]) -> int:
        return self.inbox.retry(entries)

    @asynccontextmanager
    async def consumer(self, worker_id: str | None = None) -> AsyncIterator[Consumer]:
        with self.inbox.claim(worker_id) as claim:
            consumer = SpoolConsumer(self.inbox, claim, self.retention)
            try:
                yield consumer
            finally:
                await consumer.close()

    async def close(self) -> None:
        return None


# --- choosing one ------------------------------------------------------------------------------------


def spool(settings: Settings, folder: Path | None = None) -> SpoolInbox:
    """The spool folder of these settings (or folder), with their retention."""
    return SpoolInbox(Inbox(folder or settings.inbox_dir), retention_seconds=settings.inbox_retention_hours * 3600)


async def open_inbox(settings: Settings, *, folder: Path | None = None, name: str = "tracegraph") -> InboxBackend:
    """JetStream when TRACEGRAPH_NATS_URL is set (connected, its streams ensured), else the spool folder.

    name tells the NATS server who connected (api, worker, cli). InboxUnavailable when NATS does not answer.
    """
    if settings.nats_url and folder is None:
        from ingest.jetstream import JetStreamInbox  # only a deployment with a broker loads its client

        return await JetStreamInbox.connect(settings, name=name)
    return spool(settings, folder)


def as_backend(inbox: Path | Inbox | InboxBackend) -> InboxBackend:
    """A folder or a spool Inbox as the interface; a backend as it is."""
    if isinstance(inbox, Path):
        return SpoolInbox(Inbox(inbox))
    if isinstance(inbox, Inbox):
        return SpoolInbox(inbox)
    return inbox


@asynccontextmanager
async def opened(
    settings: Settings, *, folder: Path | None = None, name: str = "tracegraph"
) -> AsyncIterator[InboxBackend]:
    """open_inbox for the block, closed after it."""
    backend = await open_inbox(settings, folder=folder, name=name)
    try:
        yield backend
    finally:
        with contextlib.suppress(Exception):
            await backend.close()
