"""What a document store holds and the small interface every backend offers.

A document is the raw text a source sent, secrets already redacted (the pipeline redacts before it
builds one), named by the SHA-256 of that text: the same text is stored once, however often and by
whichever event it arrives. A record is one arrival: the event that carried the document and what a
replay needs to send it through the pipeline again (source, type, id, received_at, subject, via,
location, and whether the payload was text or JSON). Neo4j's SourceEvent nodes keep the digest.

Every backend's `put` is idempotent and durable when it returns (the writer calls it before the Neo4j
transaction that points at the documents, so a crash in between leaves documents without a graph,
never a graph without its documents).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

PREFIX = "sha256:"


class StoreError(RuntimeError):
    """The document store cannot be used; the message says what to fix."""


def digest_of(body: bytes) -> str:
    """The name of a document: 'sha256:' and the hex SHA-256 of its text."""
    return PREFIX + hashlib.sha256(body).hexdigest()


def raw_digest(digest: str) -> bytes:
    """The 32 bytes of a 'sha256:<hex>' digest; StoreError for anything else."""
    if not digest.startswith(PREFIX) or len(digest) != len(PREFIX) + 64:
        raise StoreError(f"not a document digest: {digest[:80]!r}")
    return bytes.fromhex(digest[len(PREFIX) :])


class Record(NamedTuple):
    """One arrival of a document: the event that carried it and what a replay needs.

    Named tuples, not dataclasses: every flush's documents cross from the normalising process to the
    writing one, and the writer (the busier process) unpickles 5,000 of them in 5.8 ms instead of 10.6
    (pickling them in the normaliser costs ~5 ms more; bench/RESULTS.md, issue 19).
    """

    source: str
    id: str
    type: str | None
    received_at: str
    digest: str
    subject: Mapping[str, Any] | None = None
    via: str = ""
    location: str = ""
    # The payload was text (a Markdown postmortem), not JSON: replay hands the text over as it is.
    text: bool = False

    @property
    def event(self) -> str:
        """The key of the SourceEvent this arrival wrote: '<source>:<event id>'."""
        return f"{self.source}:{self.id}"

    def to_json(self) -> dict[str, Any]:
        return self._asdict() | {"subject": dict(self.subject) if self.subject is not None else None}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Record:
        fields: dict[str, Any] = {k: value[k] for k in cls._fields if k in value}
        return cls(**fields)

    def subject_json(self) -> str | None:
        return json.dumps(self.subject, sort_keys=True, separators=(",", ":")) if self.subject is not None else None


class Document(NamedTuple):
    """A document to store (its UTF-8 text) and the record of the arrival that brought it."""

    record: Record
    body: bytes

    @classmethod
    def of(
        cls,
        text: str,
        *,
        source: str,
        id: str,
        type: str | None,
        received_at: str,
        subject: Mapping[str, Any] | None = None,
        via: str = "",
        location: str = "",
        is_text: bool = False,
    ) -> Document:
        """A document named by the SHA-256 of `text` (already redacted: a store never redacts)."""
        body = text.encode("utf-8", "surrogatepass")
        record = Record(source, id, type, received_at, digest_of(body), subject, via, location, is_text)
        return cls(record, body)

    @property
    def digest(self) -> str:
        return self.record.digest


@dataclass(frozen=True)
class Stats:
    """How much a store holds: documents, records (arrivals), bytes on disk or in the bucket."""

    documents: int
    records: int
    bytes: int


class DocumentStore(ABC):
    """Raw documents by digest and the records of their arrivals (local SQLite file or an S3 bucket)."""

    #: Where the documents live, for messages ("/home/me/.tracegraph/documents", "s3://bucket/prefix").
    where: str

    @abstractmethod
    def put(self, documents: Sequence[Document]) -> None:
        """Store documents and records; durable when it returns; the same document twice is stored once."""

    @abstractmethod
    def get(self, digests: Iterable[str]) -> dict[str, str]:
        """The texts of the documents named, by digest; digests the store lacks are left out."""

    @abstractmethod
    def replay(self) -> Iterator[tuple[Record, str]]:
        """Every record with its document's text, in the order they were stored."""

    @abstractmethod
    def stats(self) -> Stats:
        """Counts and size."""

    def close(self) -> None:  # noqa: B027 - backends without resources need not override it
        """Release connections."""
