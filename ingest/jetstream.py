"""The inbox on NATS JetStream (TRACEGRAPH_NATS_URL): the spool's contract, on a broker several machines share.

- A delivery is acknowledged (202) only after JetStream acknowledged its publish to TRACEGRAPH_INBOX, a
  stream with file storage. Its message id (Nats-Msg-Id) is its dedup key — a digest of the source and
  the provider's delivery id — so the stream's duplicate window (the inbox retention) answers replays.
- Workers share the durable pull consumer `tracegraph-workers` and ack each message only after the
  Neo4j transaction that wrote it committed. A running worker extends the ack wait of what it holds
  (in-progress acks), so a slow write or a Neo4j outage is not a redelivery; a dead worker's messages
  come back after the ack wait. A message delivered more than TRACEGRAPH_NATS_MAX_DELIVERIES times,
  one that cannot be normalised, and one Neo4j refuses go to TRACEGRAPH_DEAD with their reason
  (`tracegraph inbox` lists them, `tracegraph inbox retry` publishes them again).

The inbox stream's retention is work-queue: a message is removed once acknowledged, so no raw delivery
stays on the broker after its (redacted) document is in the graph. JetStream rebuilds its duplicate
window from the messages it still holds when it restarts, so after a nats-server restart a replay of a
delivery already written is stored again; the worker then writes it again, which changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api

from graph.settings import Settings
from ingest.inbox import (
    CLAIMED,
    DONE,
    FAILED,
    PENDING,
    QUARANTINE,
    Delivery,
    Entry,
    InboxUnavailable,
    Stored,
    default_worker_id,
    matches,
    now,
)
from ingest.inboxes import Consumer, DeliveryTooLarge, Log, Taken
from ingest.redact import redact

log = logging.getLogger("tracegraph.nats")

STREAM, DEAD = "TRACEGRAPH_INBOX", "TRACEGRAPH_DEAD"
SUBJECT, DEAD_SUBJECT = "tracegraph.inbox", "tracegraph.dead"
CONSUMER = "tracegraph-workers"
KEY, STATE, REASON = "Tracegraph-Key", "Tracegraph-State", "Tracegraph-Reason"
PUBLISH_TIMEOUT = 5.0  # seconds to wait for JetStream's acknowledgement before answering 503
FETCH_WAIT = 1.0  # seconds a worker's pull waits for messages when none are there
MAX_ACK_PENDING = 10_000  # messages held by all workers together, unacknowledged
MAX_REASON = 2000  # characters of a dead letter's reason (it travels in a header)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
NATS_ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)


def display(url: str) -> str:
    """The URL without credentials, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) if parts.scheme else url


def _token(source: str | None) -> str:
    """A subject token for a source name (sources are plugin names; anything else is `other`)."""
    return source if source and _TOKEN.fullmatch(source) else "other"


def _data(data: bytes | None) -> dict[str, Any] | None:
    try:
        doc = json.loads(data or b"")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


@dataclass(frozen=True)
class NatsTaken:
    """A message a worker holds: its stream sequence, how many times it was delivered."""

    msg: Msg
    seq: int
    deliveries: int

    @property
    def name(self) -> str:
        return f"{STREAM}:{self.seq}"

    def read(self) -> dict[str, Any]:
        doc = _data(self.msg.data)
        if doc is None:
            raise ValueError(f"inbox message {self.name} is not a JSON object")
        return doc

    @property
    def key(self) -> str:
        headers = self.msg.headers or {}
        return str(headers.get(KEY) or headers.get("Nats-Msg-Id") or "")


class JetStreamConsumer:
    """One worker on the durable pull consumer: fetch, keep alive, ack after the commit, dead-letter."""

    def __init__(self, inbox: JetStreamInbox, worker_id: str):
        self.inbox = inbox
        self.worker_id = worker_id
        self._sub: Any = None
        self._held: list[NatsTaken] = []  # released: taken again before anything new is fetched
        self._open: dict[int, NatsTaken] = {}  # taken, not yet acknowledged: kept alive
        self._keepalive: asyncio.Task[None] | None = None

    async def start(self, *, keepalive: bool = True) -> None:
        """Bind to the durable consumer; keepalive extends the ack wait of what this worker holds."""
        try:
            self._sub = await self.inbox.nc.jetstream().pull_subscribe_bind(CONSUMER, stream=STREAM)
        except NATS_ERRORS as exc:
            raise self.inbox.unavailable("cannot bind to the workers' consumer", exc) from exc
        if keepalive:
            self._keepalive = asyncio.create_task(self._touch(), name="nats-keepalive")

    async def _touch(self) -> None:
        """Tell JetStream every third of the ack wait that the messages held here are being worked on."""
        every = max(0.2, self.inbox.ack_wait / 3)
        while True:
            await asyncio.sleep(every)
            for item in list(self._open.values()):
                with contextlib.suppress(*NATS_ERRORS):
                    await item.msg.in_progress()

    async def take(self, limit: int) -> list[Taken]:
        candidates = list(self._held[:limit])
        del self._held[:limit]
        if len(candidates) < limit:
            candidates += await self._fetch(limit - len(candidates), holding=bool(candidates))
        taken: list[Taken] = []
        for item in candidates:
            if item.deliveries <= self.inbox.max_deliveries:
                taken.append(item)
                continue
            reason = (
                f"delivered {item.deliveries} times and never acknowledged: the workers that took it died "
                f"or ran past the ack wait ({self.inbox.ack_wait:g} s)"
            )
            try:
                await self.park(item, FAILED, reason)
            except InboxUnavailable:
                self._held.append(item)  # still ours: dead-lettered on a later take
        return taken

    async def _fetch(self, count: int, *, holding: bool) -> list[NatsTaken]:
        """Up to count new messages (none when NATS is away and this worker already holds some)."""
        if not self.inbox.nc.is_connected:
            if holding:
                return []
            raise InboxUnavailable(f"NATS at {self.inbox.url} is not connected (reconnecting)")
        try:
            fetched = await self._sub.fetch(count, timeout=FETCH_WAIT)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except NATS_ERRORS as exc:
            if holding:
                return []
            raise self.inbox.unavailable("cannot fetch deliveries", exc) from exc
        items = [NatsTaken(msg, msg.metadata.sequence.stream, msg.metadata.num_delivered) for msg in fetched]
        self._open.update((item.seq, item) for item in items)
        return items

    async def done(self, taken: Sequence[Taken]) -> None:
        for item in taken:
            assert isinstance(item, NatsTaken)
            await item.msg.ack()
            self._open.pop(item.seq, None)

    async def release(self, taken: Sequence[Taken]) -> None:
        # Only what is still held: one acked (written, or dead-lettered) in the meantime is settled.
        self._held.extend(t for t in taken if isinstance(t, NatsTaken) and t.seq in self._open)

    async def park(self, taken: Taken, state: str, reason: str, **details: Any) -> None:
        """Publish the message to the dead-letter stream with its reason, then ack it in the inbox."""
        assert isinstance(taken, NatsTaken)
        record = {
            "reason": (redact(reason) or "")[:MAX_REASON],
            "at": now(),
            "worker": self.worker_id,
            "deliveries": taken.deliveries,
            **details,
        }
        source = taken.msg.subject.rsplit(".", 1)[-1]
        headers = {
            "Nats-Msg-Id": f"{taken.key}:{taken.seq}",  # a worker killed before its ack parks it once
            KEY: taken.key,
            STATE: state,
            REASON: json.dumps(record, default=str),
        }
        try:
            await self.inbox.js.publish(
                f"{DEAD_SUBJECT}.{state}.{_token(source)}",
                taken.msg.data,
                timeout=PUBLISH_TIMEOUT,
                stream=DEAD,
                headers=headers,
            )
            await taken.msg.ack()
        except NATS_ERRORS as exc:
            raise self.inbox.unavailable("cannot set a delivery aside", exc) from exc
        self._open.pop(taken.seq, None)

    async def housekeeping(self, log: Log) -> None:
        return None  # JetStream redelivers dead workers' messages and keeps its own store

    async def waiting(self) -> int | None:
        try:
            info = await self.inbox.jsm.consumer_info(STREAM, CONSUMER, timeout=2)
        except NATS_ERRORS:
            return None
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    async def close(self) -> None:
        """Stop keeping messages alive and hand back what is still held, for another worker to take now."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        for item in list(self._open.values()):
            with contextlib.suppress(*NATS_ERRORS):
                await item.msg.nak()
        self._open.clear()
        self._held.clear()
        if self._sub is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await self._sub.unsubscribe()


class JetStreamInbox:
    """The inbox on NATS JetStream: publish, consume, list and retry."""

    kind = "nats"

    def __init__(self, nc: Client, settings: Settings):
        assert settings.nats_url is not None
        self.nc = nc
        self.js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
        self.jsm = nc.jsm(timeout=PUBLISH_TIMEOUT)
        self.url = display(settings.nats_url)
        self.where = f"{self.url} stream {STREAM}"
        self.retention = settings.inbox_retention_hours * 3600
        self.ack_wait = settings.nats_ack_wait
        self.max_deliveries = settings.nats_max_deliveries

    def unavailable(self, what: str, exc: BaseException) -> InboxUnavailable:
        return InboxUnavailable(f"NATS JetStream at {self.url}: {what} ({exc.__class__.__name__}: {exc})")

    @classmethod
    async def connect(cls, settings: Settings, *, name: str = "tracegraph") -> JetStreamInbox:
        """Connect (reconnecting for ever once connected) and make sure the streams and the consumer exist."""
        assert settings.nats_url is not None
        url = display(settings.nats_url)

        said = ""

        async def on_error(exc: Exception) -> None:
            nonlocal said
            line = f"{exc.__class__.__name__}: {exc}"
            if line != said:  # while reconnecting, every attempt fails the same way: say it once
                log.warning("NATS at %s: %s (reconnecting)", url, line)
                said = line

        async def on_reconnect() -> None:
            nonlocal said
            log.warning("NATS at %s: reconnected", url)
            said = ""

        try:
            nc = await nats.connect(
                settings.nats_url,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                error_cb=on_error,
                reconnected_cb=on_reconnect,
            )
        except NATS_ERRORS as exc:
            raise InboxUnavailable(
                f"NATS at {url} does not answer ({exc.__class__.__name__}); start nats-server with JetStream "
                "(`nats-server -js`) or unset TRACEGRAPH_NATS_URL to use the local spool folder"
            ) from exc
        inbox = cls(nc, settings)
        try:
            await inbox._ensure(settings)
        except BaseException:
            await nc.close()
            raise
        return inbox

    async def _ensure(self, settings: Settings) -> None:
        if self.nc.max_payload < settings.max_body_bytes:
            raise InboxUnavailable(
                f"NATS at {self.url} takes messages of at most {self.nc.max_payload} bytes, less than "
                f"TRACEGRAPH_MAX_BODY_BYTES ({settings.max_body_bytes}): raise max_payload in nats-server's "
                "configuration (8MB is enough for the default)"
            )
        inbox = api.StreamConfig(
            name=STREAM,
            subjects=[f"{SUBJECT}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.WORK_QUEUE,
            duplicate_window=self.retention,
        )
        dead = api.StreamConfig(
            name=DEAD,
            subjects=[f"{DEAD_SUBJECT}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,  # kept until retried
            duplicate_window=120,
        )
        try:
            await self._stream(inbox)
            await self._stream(dead)
            try:
                await self.jsm.consumer_info(STREAM, CONSUMER)
            except nats.js.errors.NotFoundError:
                await self.jsm.add_consumer(
                    STREAM,
                    api.ConsumerConfig(
                        name=CONSUMER,
                        durable_name=CONSUMER,
                        ack_policy=api.AckPolicy.EXPLICIT,
                        ack_wait=self.ack_wait,
                        max_deliver=-1,  # the workers dead-letter past max deliveries, with the reason
                        max_ack_pending=MAX_ACK_PENDING,
                        filter_subject=f"{SUBJECT}.>",
                    ),
                )
        except nats.js.errors.ServiceUnavailableError as exc:
            raise self.unavailable("JetStream is not enabled (start nats-server with -js)", exc) from exc
        except NATS_ERRORS as exc:
            raise self.unavailable("cannot set up the inbox streams", exc) from exc

    async def _stream(self, config: api.StreamConfig) -> None:
        """Create the stream, or check an existing one keeps messages on disk (its replicas are the operator's)."""
        try:
            info = await self.jsm.stream_info(str(config.name))
        except nats.js.errors.NotFoundError:
            await self.jsm.add_stream(config)
            return
        if info.config.storage != api.StorageType.FILE:
            raise InboxUnavailable(
                f"NATS stream {config.name} at {self.url} keeps messages in memory: an acknowledged delivery must "
                "survive a restart, so tracegraph needs file storage (recreate the stream)"
            )
        if info.config.retention != config.retention:
            raise InboxUnavailable(f"NATS stream {config.name} at {self.url} has retention {info.config.retention}")
        if info.config.duplicate_window != config.duplicate_window:
            info.config.duplicate_window = config.duplicate_window
            await self.jsm.update_stream(info.config)

    # --- storing -------------------------------------------------------------------------------------

    async def put_many(self, deliveries: Sequence[Delivery]) -> list[Stored]:
        results = []
        for delivery in deliveries:
            data = json.dumps(delivery.envelope()).encode()  # ASCII escapes keep lone surrogates storable
            if len(data) > self.nc.max_payload:
                raise DeliveryTooLarge(
                    f"the delivery is {len(data)} bytes as stored, above the NATS server's max_payload "
                    f"({self.nc.max_payload})"
                )
            headers = {"Nats-Msg-Id": delivery.key, KEY: delivery.key}
            try:
                ack = await self.js.publish(
                    f"{SUBJECT}.{_token(delivery.source)}",
                    data,
                    timeout=PUBLISH_TIMEOUT,
                    stream=STREAM,
                    headers=headers,
                )
            except NATS_ERRORS as exc:
                raise self.unavailable("the delivery was not acknowledged", exc) from exc
            results.append(Stored(delivery.id, delivery.key, duplicate=bool(ack.duplicate), name=f"{STREAM}:{ack.seq}"))
        return results

    # --- consuming -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def consumer(self, worker_id: str | None = None) -> AsyncIterator[Consumer]:
        consumer = JetStreamConsumer(self, worker_id or default_worker_id())
        await consumer.start()
        try:
            yield consumer
        finally:
            await consumer.close()

    # --- listing and retrying ------------------------------------------------------------------------

    async def counts(self) -> dict[str, int]:
        try:
            workers = await self.jsm.consumer_info(STREAM, CONSUMER)
            inbox = await self.jsm.stream_info(STREAM)
            dead = await self.jsm.stream_info(DEAD, subjects_filter=f"{DEAD_SUBJECT}.>")
        except NATS_ERRORS as exc:
            raise self.unavailable("cannot read the inbox state", exc) from exc
        by_state = {QUARANTINE: 0, FAILED: 0}
        for subject, count in (dead.state.subjects or {}).items():
            state = subject.split(".")[2] if subject.count(".") >= 2 else ""
            if state in by_state:
                by_state[state] += count
        # A work-queue stream removes what was acknowledged: written, or moved to the dead-letter stream.
        done = inbox.state.last_seq - inbox.state.messages - dead.state.last_seq
        return {
            PENDING: int(workers.num_pending or 0),
            CLAIMED: int(workers.num_ack_pending or 0),
            DONE: max(0, done),
            **by_state,
        }

    async def entries(self, state: str, *, limit: int | None = None) -> list[Entry]:
        if state == PENDING:
            stream, subject = STREAM, f"{SUBJECT}.>"
        elif state in (FAILED, QUARANTINE):
            stream, subject = DEAD, f"{DEAD_SUBJECT}.{state}.>"
        else:
            return []
        found: list[Entry] = []
        seq = 1
        try:
            while limit is None or len(found) < limit:
                try:
                    raw = await self.jsm.get_msg(stream, seq=seq, subject=subject, next=True)
                except nats.js.errors.NotFoundError:
                    break
                headers = raw.headers or {}
                reason = headers.get(REASON)
                found.append(
                    Entry(
                        state,
                        f"{stream}:{raw.seq}",
                        str(headers.get(KEY) or headers.get("Nats-Msg-Id") or ""),
                        _data(raw.data),
                        _data(reason.encode()) if reason else None,
                    )
                )
                seq = int(raw.seq or seq) + 1
        except NATS_ERRORS as exc:
            raise self.unavailable("cannot list the inbox", exc) from exc
        return found

    async def find(self, ref: str, states: tuple[str, ...] = (FAILED, QUARANTINE)) -> list[Entry]:
        return [entry for state in states for entry in await self.entries(state) if matches(entry, ref)]

    async def retry(self, entries: Iterable[Entry]) -> int:
        """Publish dead letters to the inbox again (a fresh message id, so the duplicate window lets them in)."""
        moved = 0
        for entry in entries:
            stream, _, number = entry.name.partition(":")
            if entry.state not in (FAILED, QUARANTINE) or stream != DEAD or not number.isdigit():
                continue
            try:
                raw = await self.jsm.get_msg(DEAD, seq=int(number))
            except nats.js.errors.NotFoundError:
                continue  # retried by someone else meanwhile
            except NATS_ERRORS as exc:
                raise self.unavailable("cannot read a dead letter", exc) from exc
            source = str(raw.subject or "").rsplit(".", 1)[-1]
            headers = {"Nats-Msg-Id": f"{entry.key}:retry:{number}", KEY: entry.key}
            try:
                await self.js.publish(
                    f"{SUBJECT}.{_token(source)}",
                    raw.data or b"",
                    timeout=PUBLISH_TIMEOUT,
                    stream=STREAM,
                    headers=headers,
                )
                await self.jsm.delete_msg(DEAD, int(number))
            except NATS_ERRORS as exc:
                raise self.unavailable("cannot send a dead letter again", exc) from exc
            moved += 1
        return moved

    async def close(self) -> None:
        with contextlib.suppress(*NATS_ERRORS):
            await self.nc.flush(timeout=2)
        await self.nc.close()
