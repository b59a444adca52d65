"""The default store: one SQLite file under TRACEGRAPH_HOME/documents.

One file rather than a file per document: the 100,000-change bench org has 1.6 million documents of
about 1 KB, compressed to about 170 bytes each; as files they would take 4 KB blocks each (6.5 GB on
disk) and an fsync each to be crash-safe, while SQLite packs them in pages and makes a whole batch
durable with one commit (WAL, synchronous=FULL). Documents are keyed by their SHA-256 (a document
stored twice is one row); records by a hash of (event, digest), in the order they were stored.
Several processes on one machine (API, workers, a CLI ingest) share the file through SQLite's locks;
a store several machines share is a bucket (documents.s3).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from documents import codec
from documents.store import PREFIX, Document, DocumentStore, Record, Stats, StoreError, raw_digest

FILE = "documents.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (digest BLOB PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, digest BLOB NOT NULL, source TEXT NOT NULL,
  id TEXT NOT NULL, type TEXT, received_at TEXT NOT NULL, subject TEXT, via TEXT NOT NULL,
  location TEXT NOT NULL, text INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dictionaries (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""
# SQLite's limit on parameters of one statement is 32,766; lookups go in chunks well below it.
CHUNK = 900
# How long a writer waits for another process's transaction before giving up.
BUSY_MS = 60_000


def record_key(record: Record) -> bytes:
    """What makes a record one: the event and the document it carried (16 bytes of their SHA-256)."""
    return hashlib.sha256(f"{record.event}\n{record.digest}".encode("utf-8", "surrogatepass")).digest()[:16]


class LocalStore(DocumentStore):
    """Documents in one SQLite file; opened on first use, so commands that only read never create it."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / FILE
        self.where = str(folder)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._codec = codec.Codec()

    def _connect(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        if not create and not self.path.exists():
            return None
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before put() returns, before Neo4j commits what points at it.
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open the document store {self.path}: {exc}; check the folder's permissions "
                "and free space, or set TRACEGRAPH_DOCUMENTS"
            ) from exc
        for dictionary_id, data in db.execute("SELECT id, data FROM dictionaries ORDER BY id"):
            self._codec.use(dictionary_id, data)
        self._db = db
        return db

    def put(self, documents: Sequence[Document]) -> None:
        """Store documents and records in one transaction, durable when it returns."""
        if not documents:
            return
        with self._lock:
            db = self._connect(create=True)
            assert db is not None
            try:
                self._put(db, documents)
                if self._codec.dictionary_id is None:
                    self._train(db)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to the document store {self.path}: {exc}") from exc

    def _put(self, db: sqlite3.Connection, documents: Sequence[Document]) -> None:
        unique = {raw_digest(d.digest): d.body for d in documents}
        have = self._present(db, list(unique))
        new = [(digest, body) for digest, body in unique.items() if digest not in have]
        stored = zip([digest for digest, _ in new], self._codec.compress([body for _, body in new]), strict=True)
        records = [
            (
                record_key(r),
                raw_digest(r.digest),
                r.source,
                r.id,
                r.type,
                r.received_at,
                r.subject_json(),
                r.via,
                r.location,
                int(r.text),
            )
            for r in (d.record for d in documents)
        ]
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR IGNORE INTO documents (digest, body) VALUES (?, ?)", stored)
            db.executemany(
                "INSERT OR IGNORE INTO records (key, digest, source, id, type, received_at, subject, via, location,"
                " text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                records,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @staticmethod
    def _present(db: sqlite3.Connection, digests: list[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for i in range(0, len(digests), CHUNK):
            chunk = digests[i : i + CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in db.execute(f"SELECT digest FROM documents WHERE digest IN ({marks})", chunk))
        return found

    def _train(self, db: sqlite3.Connection) -> None:
        """Train the store's dictionary once it holds enough documents (another process may have already)."""
        row = db.execute("SELECT id, data FROM dictionaries ORDER BY id LIMIT 1").fetchone()
        if row is None:
            (held,) = db.execute("SELECT count(*) FROM (SELECT 1 FROM documents LIMIT ?)", (codec.SAMPLES,)).fetchone()
            if held < codec.SAMPLES:
                return
            # Ordered by digest, the first documents are a random sample of all of them.
            frames = [f for (f,) in db.execute("SELECT body FROM documents LIMIT ?", (codec.SAMPLES,))]
            samples = [self._codec.decompress(f, self._dictionary) for f in frames]
            dictionary_id, data = codec.train(samples)
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT id, data FROM dictionaries ORDER BY id LIMIT 1").fetchone()
                if row is None:
                    db.execute("INSERT INTO dictionaries (id, data) VALUES (?, ?)", (dictionary_id, data))
                    row = (dictionary_id, data)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        self._codec.use(row[0], row[1])

    def _dictionary(self, dictionary_id: int) -> bytes | None:
        assert self._db is not None
        row = self._db.execute("SELECT data FROM dictionaries WHERE id = ?", (dictionary_id,)).fetchone()
        return row[0] if row else None

    def get(self, digests: Iterable[str]) -> dict[str, str]:
        """The texts of the documents named, by digest."""
        wanted = {raw_digest(d): d for d in digests}
        found: dict[str, str] = {}
        with self._lock:
            db = self._connect(create=False)
            if db is None or not wanted:
                return found
            keys = list(wanted)
            for i in range(0, len(keys), CHUNK):
                chunk = keys[i : i + CHUNK]
                marks = ",".join("?" * len(chunk))
                for digest, frame in db.execute(f"SELECT digest, body FROM documents WHERE digest IN ({marks})", chunk):
                    found[wanted[digest]] = self._text(frame)
        return found

    def _text(self, frame: bytes) -> str:
        return self._codec.decompress(frame, self._dictionary).decode("utf-8", "surrogatepass")

    def replay(self) -> Iterator[tuple[Record, str]]:
        """Every record and its text in the order stored, read through a connection of its own."""
        if not self.path.exists():
            return
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=BUSY_MS / 1000, check_same_thread=False)
        try:
            rows = reader.execute(
                "SELECT r.source, r.id, r.type, r.received_at, r.digest, r.subject, r.via, r.location, r.text, d.body"
                " FROM records r JOIN documents d ON d.digest = r.digest ORDER BY r.seq"
            )
            while chunk := rows.fetchmany(500):
                for source, id_, type_, received_at, digest, subject, via, location, text, frame in chunk:
                    record = Record(
                        source,
                        id_,
                        type_,
                        received_at,
                        PREFIX + digest.hex(),
                        json.loads(subject) if subject else None,
                        via,
                        location,
                        bool(text),
                    )
                    with self._lock:
                        self._connect(create=False)
                        body = self._text(frame)
                    yield record, body
        finally:
            reader.close()

    def stats(self) -> Stats:
        """Counts and the size of the file (with its write-ahead log)."""
        with self._lock:
            db = self._connect(create=False)
            if db is None:
                return Stats(0, 0, 0)
            (documents,) = db.execute("SELECT count(*) FROM documents").fetchone()
            (records,) = db.execute("SELECT count(*) FROM records").fetchone()
        size = sum(p.stat().st_size for p in self.folder.glob(FILE + "*") if p.is_file())
        return Stats(documents, records, size)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
