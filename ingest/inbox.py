"""The durable inbox: a delivery is on disk (fsynced, renamed into place) before it is acknowledged.

Layout under the inbox folder (one file per delivery, named `<received ns>-<key>.json`, where the
key is a digest of (source, delivery id), so names sort by arrival and identify the delivery):

    tmp/                      partial writes, never read
    pending/                  durable, waiting for a worker
    claimed/<worker-id>/      taken by one worker (atomic rename), held with a flock on `.lock`
    done/                     written to the graph (the transaction committed); emptied soon after by
                              the worker (the graph keeps the redacted document), removed after the
                              retention
    quarantine/               cannot be normalised; `<stem>.reason.json` next to each
    failed/                   Neo4j refused the write; `<stem>.reason.json` next to each
    seen/<kk>/<key>           dedup markers: this delivery was stored once already (removed after the
                              retention, TRACEGRAPH_INBOX_RETENTION_HOURS)
    incoming/                 spool files people and tools drop (imported into pending)

A claim is an atomic rename, so two workers never hold the same delivery. A worker keeps an
exclusive flock on its claim folder's `.lock` while it lives; the kernel drops it when the process
dies (even by SIGKILL), so any worker can tell a dead claim and hand its deliveries back.
At-least-once delivery plus idempotent MERGE in the graph gives an exactly-once effect.
A worker lists pending/ once and claims from that list until it runs out, so draining a backlog of
n deliveries lists the folder about n / batch times fewer than listing it for every claim would.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import socket
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.pipeline.events import Unreadable, content_id
from ingest.reader import JSON_SUFFIXES, read_file
from ingest.redact import redact

PENDING, CLAIMED, DONE, QUARANTINE, FAILED = "pending", "claimed", "done", "quarantine", "failed"
STATES = (PENDING, CLAIMED, DONE, QUARANTINE, FAILED)
ENTRY_NAME = re.compile(r"^(?P<ns>\d{20})-(?P<key>[0-9a-f]{32})\.json$")
LOCK = ".lock"
# A claim folder without a lock file is a worker caught between mkdir and flock; give it this long.
LOCKLESS_GRACE_SECONDS = 60.0
TMP_GRACE_SECONDS = 3600.0


class InboxUnavailable(RuntimeError):
    """The inbox cannot be written (disk full, read-only, missing permission); nothing was stored."""


def delivery_key(source: str, delivery_id: str) -> str:
    """The dedup key of a delivery: a digest of its source and the source's delivery id."""
    return hashlib.sha256(f"{source}\x00{delivery_id}".encode()).hexdigest()[:32]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Delivery:
    """One delivery to store: an event envelope as `tracegraph ingest` reads it."""

    source: str
    type: str | None
    id: str
    payload: Any
    subject: dict[str, Any] | None = None
    received_at: str = field(default_factory=now)
    via: str = ""

    @property
    def key(self) -> str:
        return delivery_key(self.source, self.id)

    def envelope(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "source": self.source,
            "type": self.type,
            "id": self.id,
            "received_at": self.received_at,
            "via": self.via,
            "payload": self.payload,
        }
        if self.subject is not None:
            doc["subject"] = self.subject
        return doc


@dataclass(frozen=True)
class Stored:
    """What put() did with one delivery: stored now, or already seen (a duplicate)."""

    id: str
    key: str
    duplicate: bool
    name: str | None = None


@dataclass(frozen=True)
class Entry:
    """A delivery in one state, with its reason when quarantined or failed (the same shape on every backend).

    name is the spool's file name, or where a broker keeps it (`TRACEGRAPH_DEAD:12`); key the delivery's
    dedup key; path the spool's file (None elsewhere).
    """

    state: str
    name: str
    key: str
    document: dict[str, Any] | None
    reason: dict[str, Any] | None
    path: Path | None = None

    def get(self, name: str) -> Any:
        """A field of the stored envelope (None when the file could not be read)."""
        return (self.document or {}).get(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    """Create path with data and fsync it (the caller renames it into place)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_entry(name: str) -> bool:
    return ENTRY_NAME.match(name) is not None


def _stem(name: str) -> str:
    return name[: -len(".json")]


def read_entry(path: Path) -> dict[str, Any]:
    """The envelope stored in an entry file; ValueError when it is not a JSON object."""
    try:
        doc = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"inbox entry {path.name} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"inbox entry {path.name} is not a JSON object")
    return doc


class Inbox:
    """A durable inbox folder: store deliveries, claim them for a worker, list and retry them."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def dir(self, state: str) -> Path:
        return self.root / state

    # --- storing ---------------------------------------------------------------------------

    def is_duplicate(self, source: str, delivery_id: str) -> bool:
        """True when a delivery with this source and id was stored before."""
        return self._marker(delivery_key(source, delivery_id)).exists()

    def _marker(self, key: str) -> Path:
        return self.root / "seen" / key[:2] / key

    def put(self, delivery: Delivery) -> Stored:
        """Store one delivery durably (or recognise it as a duplicate); InboxUnavailable when the disk refuses."""
        return self.put_many([delivery])[0]

    def put_many(self, deliveries: Iterable[Delivery]) -> list[Stored]:
        """Store deliveries durably: each written and fsynced, renamed into pending/, the folder fsynced."""
        results: list[Stored] = []
        fresh: list[tuple[Delivery, str]] = []
        keys: set[str] = set()
        for delivery in deliveries:
            key = delivery.key
            if key in keys or self._marker(key).exists():
                results.append(Stored(delivery.id, key, duplicate=True))
                continue
            keys.add(key)
            name = f"{time.time_ns():020d}-{key}.json"
            fresh.append((delivery, name))
            results.append(Stored(delivery.id, key, duplicate=False, name=name))
        if not fresh:
            return results
        tmp, pending = self.dir("tmp"), self.dir(PENDING)
        written: list[Path] = []
        try:
            for folder in (tmp, pending):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            for delivery, name in fresh:
                staged = tmp / f"{name}.{secrets.token_hex(4)}"
                written.append(staged)
                # ASCII escapes keep lone surrogates (legal in JSON text) storable.
                _write_synced(staged, json.dumps(delivery.envelope()).encode())
            for (_, name), staged in zip(fresh, written, strict=True):
                os.rename(staged, pending / name)
            _fsync_dir(pending)
        except OSError as exc:
            for staged in written:
                with contextlib.suppress(OSError):
                    staged.unlink()
            raise InboxUnavailable(
                f"cannot store the delivery in the inbox {self.root}: {exc.strerror or exc}"
            ) from exc
        duplicates = {name for (_, name) in fresh if not self._mark(name)}
        return [Stored(r.id, r.key, True) if r.name in duplicates else r for r in results]

    def _mark(self, name: str) -> bool:
        """Record that the delivery in pending/name is stored; False if a concurrent copy won the race."""
        key = _stem(name).split("-", 1)[1]
        marker = self._marker(key)
        try:
            marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            # The other copy was durable before its marker existed, so ours is redundant. If a worker
            # already claimed ours, processing it twice is harmless (idempotent MERGE).
            with contextlib.suppress(OSError):
                (self.dir(PENDING) / name).unlink()
            return False
        except OSError:
            # The delivery itself is durable; a missing marker only means a replay may be stored again.
            pass
        return True

    # --- claiming ---------------------------------------------------------------------------

    def claim(self, worker_id: str | None = None) -> Claim:
        """Open this worker's claim folder (held with a flock while the worker lives)."""
        return Claim(self, worker_id or default_worker_id())

    def recover_stale(self, *, keep: str | None = None) -> int:
        """Hand the deliveries of dead workers' claims back to pending; returns how many."""
        self._clean_tmp()
        claimed = self.dir(CLAIMED)
        if not claimed.is_dir():
            return 0
        returned = 0
        for folder in sorted(claimed.iterdir()):
            if folder.name == keep or not folder.is_dir():
                continue
            returned += self._recover_folder(folder)
        return returned

    def _clean_tmp(self) -> None:
        """Drop partial writes a killed process left behind (never acknowledged, so never promised)."""
        tmp = self.dir("tmp")
        if tmp.is_dir():
            for path in tmp.iterdir():
                if _older_than(path, TMP_GRACE_SECONDS):
                    with contextlib.suppress(OSError):
                        path.unlink()

    def _recover_folder(self, folder: Path) -> int:
        lock_path = folder / LOCK
        if folder.name.startswith(".new-") and not _older_than(folder, LOCKLESS_GRACE_SECONDS):
            return 0  # a worker between creating its claim folder and locking it
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            return self._return_all(folder, None) if _older_than(folder, LOCKLESS_GRACE_SECONDS) else 0
        except OSError:
            return 0
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return 0  # its worker is alive
            raise
        try:
            return self._return_all(folder, lock_path)
        finally:
            os.close(fd)

    def _return_all(self, folder: Path, lock_path: Path | None) -> int:
        pending = self.dir(PENDING)
        pending.mkdir(parents=True, exist_ok=True, mode=0o700)
        returned = 0
        for name in os.listdir(folder):
            if _is_entry(name):
                with contextlib.suppress(FileNotFoundError):
                    os.rename(folder / name, pending / name)
                    returned += 1
        if lock_path is not None:
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
        return returned

    # --- reading, listing, retrying ---------------------------------------------------------

    def names(self, state: str) -> list[str]:
        """Entry file names in one state, oldest first (claimed: across every worker)."""
        if state == CLAIMED:
            claimed = self.dir(CLAIMED)
            if not claimed.is_dir():
                return []
            return sorted(n for d in claimed.iterdir() if d.is_dir() for n in os.listdir(d) if _is_entry(n))
        folder = self.dir(state)
        if not folder.is_dir():
            return []
        return sorted(n for n in os.listdir(folder) if _is_entry(n))

    def counts(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        return {state: len(self.names(state)) for state in STATES}

    def entries(self, state: str, *, limit: int | None = None) -> list[Entry]:
        """Entries of one state (not claimed), oldest first, with their reasons."""
        folder = self.dir(state)
        found = []
        for name in self.names(state)[:limit]:
            path = folder / name
            try:
                document: dict[str, Any] | None = read_entry(path)
            except (OSError, ValueError):
                document = None
            reason_path = folder / f"{_stem(name)}.reason.json"
            try:
                reason = json.loads(reason_path.read_text()) if reason_path.exists() else None
            except (OSError, ValueError):
                reason = None
            match = ENTRY_NAME.match(name)
            found.append(Entry(state, name, match["key"] if match else "", document, reason, path))
        return found

    def find(self, ref: str, states: tuple[str, ...] = (FAILED, QUARANTINE)) -> list[Entry]:
        """Entries named ref (file name or stem), whose key starts with ref (6+ characters) or whose id is ref."""
        found = []
        for state in states:
            for entry in self.entries(state):
                if matches(entry, ref):
                    found.append(entry)
        return found

    def retry(self, entries: Iterable[Entry]) -> int:
        """Move failed or quarantined entries back to pending (their reasons are dropped)."""
        pending = self.dir(PENDING)
        pending.mkdir(parents=True, exist_ok=True, mode=0o700)
        moved = 0
        for entry in entries:
            if entry.state not in (FAILED, QUARANTINE) or entry.path is None:
                continue
            try:
                os.rename(entry.path, pending / entry.name)
            except FileNotFoundError:
                continue
            moved += 1
            with contextlib.suppress(FileNotFoundError):
                (entry.path.parent / f"{_stem(entry.name)}.reason.json").unlink()
        if moved:
            _fsync_dir(pending)
        return moved

    def empty(self, names: Iterable[str]) -> int:
        """Drop the documents of done/ entries (the graph holds them, redacted); the empty entries stay until pruned.

        Freeing a file's blocks is the slow part of a done delivery (milliseconds on a disk mounted with
        `discard`), so workers do it beside their next batch rather than before it.
        """
        folder, emptied = self.dir(DONE), 0
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                os.truncate(folder / name, 0)
                emptied += 1
        return emptied

    def prune(self, retention_seconds: float, *, now: float | None = None) -> Pruned:
        """Empty every done/ entry still holding its document; remove done/ entries and seen/ markers older
        than the retention. A replay after that is stored again, and rewrites nothing (idempotent MERGE)."""
        cutoff = (time.time() if now is None else now) - retention_seconds
        pruned = Pruned()
        for path in _files(self.dir(DONE)):
            try:
                stat = path.stat()
                if stat.st_mtime < cutoff:
                    path.unlink()
                    pruned.done += 1
                elif stat.st_size:
                    # A worker stopped before it emptied this one, or a file spooled into incoming/.
                    os.truncate(path, 0)
                    pruned.emptied += 1
            except FileNotFoundError:
                continue
        for shard in _files(self.root / "seen"):
            for marker in _files(shard):
                with contextlib.suppress(FileNotFoundError):
                    if marker.stat().st_mtime < cutoff:
                        marker.unlink()
                        pruned.seen += 1
        return pruned

    # --- the spool folder -------------------------------------------------------------------

    def import_spool(self) -> Iterator[tuple[str, int, int]]:
        """Store every envelope of files dropped into incoming/, then move each file to done/.

        Yields (file name, envelopes stored or already seen, documents that are not envelopes);
        the latter go straight to quarantine with their reason.
        """
        incoming = self.dir("incoming")
        if not incoming.is_dir():
            return
        for path in sorted(p for p in incoming.iterdir() if p.is_file() and p.suffix.lower() in JSON_SUFFIXES):
            accepted, rejected = 0, 0
            for item in read_file(path, source=None, type=None):
                if isinstance(item, Unreadable):
                    self.quarantine_document(item.raw, reason=item.reason, location=item.location)
                    rejected += 1
                    continue
                delivery = Delivery(
                    source=item.source,
                    type=item.type,
                    id=item.id,
                    payload=item.payload,
                    subject=dict(item.subject) if item.subject is not None else None,
                    received_at=item.received_at,
                    via=f"spool:{path.name}",
                )
                self.put(delivery)
                accepted += 1
            done = self.dir(DONE)
            done.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(path, done / path.name)
            yield path.name, accepted, rejected

    def quarantine_document(self, raw: str, *, reason: str, location: str) -> Path:
        """Park a document that is not an envelope at all (it has no source or id to store it by)."""
        key = hashlib.sha256(f"{location}\n{raw}".encode()).hexdigest()[:32]
        folder = self.dir(QUARANTINE)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns():020d}-{key}.json"
        doc = {"source": None, "type": None, "id": content_id(raw), "received_at": now(), "via": location, "raw": raw}
        _write_atomically(folder / name, json.dumps(doc).encode(), self.dir("tmp"))
        _write_atomically(
            folder / f"{_stem(name)}.reason.json",
            json.dumps({"reason": redact(reason), "at": now(), "location": location}).encode(),
            self.dir("tmp"),
        )
        return folder / name


@dataclass
class Pruned:
    """What one prune() did: done/ entries removed and emptied, seen/ markers removed."""

    done: int = 0
    emptied: int = 0
    seen: int = 0


def _files(folder: Path) -> list[Path]:
    """The entries of a folder (none when it does not exist)."""
    try:
        with os.scandir(folder) as found:
            return [Path(entry.path) for entry in found]
    except (FileNotFoundError, NotADirectoryError):
        return []


def matches(entry: Entry, ref: str) -> bool:
    """True when ref names the entry: its name (or stem), its key's first 6+ characters, or its delivery id."""
    return (
        ref in (entry.name, _stem(entry.name))
        or (len(ref) >= 6 and entry.key.startswith(ref))
        or str(entry.get("id")) == ref
    )


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _write_atomically(path: Path, data: bytes, tmp: Path) -> None:
    tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = tmp / f"{path.name}.{secrets.token_hex(4)}"
    _write_synced(staged, data)
    os.rename(staged, path)


def default_worker_id() -> str:
    """host-pid-random: readable in `claimed/`, unique even when a pid is reused."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


class Claim:
    """One worker's claim folder: deliveries taken from pending move here until done, parked or released."""

    def __init__(self, inbox: Inbox, worker_id: str):
        self.inbox = inbox
        self.worker_id = worker_id
        claimed = inbox.dir(CLAIMED)
        claimed.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.folder = claimed / worker_id
        if self.folder.exists():
            inbox._recover_folder(self.folder)  # a dead worker of the same id: hand its claims back
            if self.folder.exists():
                raise InboxUnavailable(f"worker id {worker_id!r} is in use by a live worker")
        # Lock first, then rename into place: no other worker can see this folder unlocked.
        staging = claimed / f".new-{worker_id}"
        staging.mkdir(mode=0o700)
        self._fd = os.open(staging / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now()}).encode())
        os.rename(staging, self.folder)
        self._queue: deque[str] = deque()  # pending names listed once, oldest first, claimed from the left

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def take(self, limit: int) -> list[Path]:
        """Claim up to limit pending deliveries, oldest first; each is ours alone (atomic rename).

        The pending folder is listed only when the names listed last time are used up.
        """
        taken: list[Path] = []
        pending = self.inbox.dir(PENDING)
        listed = False
        while len(taken) < limit:
            if not self._queue:
                if listed or taken:
                    break  # list again only when nothing is in hand
                self._queue.extend(self.inbox.names(PENDING))
                listed = True
                continue
            name = self._queue.popleft()
            try:
                os.rename(pending / name, self.folder / name)
            except FileNotFoundError:
                continue  # another worker was faster
            taken.append(self.folder / name)
        return taken

    def done(self, paths: Iterable[Path]) -> None:
        """The graph holds these deliveries' effects: move them to done/ (Inbox.empty drops their documents)."""
        self._move(paths, self.inbox.dir(DONE))

    def release(self, paths: Iterable[Path]) -> None:
        """Give deliveries back to pending (the write failed; another attempt will follow), first in line."""
        returned = list(paths)
        self._move(returned, self.inbox.dir(PENDING))
        self._queue.extendleft(reversed([p.name for p in returned]))

    def park(self, path: Path, state: str, reason: str, **details: Any) -> None:
        """Move one delivery to quarantine/ or failed/ with a `.reason.json` next to it."""
        folder = self.inbox.dir(state)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"reason": redact(reason), "at": now(), "worker": self.worker_id, **details}
        _write_atomically(
            folder / f"{_stem(path.name)}.reason.json", json.dumps(record).encode(), self.inbox.dir("tmp")
        )
        os.rename(path, folder / path.name)

    def _move(self, paths: Iterable[Path], folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.rename(path, folder / path.name)

    def close(self) -> None:
        """Release what is still claimed, drop the lock and remove the folder."""
        if self._fd < 0:
            return
        self.release(self.folder / n for n in os.listdir(self.folder) if _is_entry(n))
        with contextlib.suppress(FileNotFoundError):
            (self.folder / LOCK).unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()
        os.close(self._fd)
        self._fd = -1
