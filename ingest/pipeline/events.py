"""The core types every way in shares: a source event, why one was refused, and what could not be read."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from graph.batch import Origin
from ingest.timestamps import iso, now


class Rejected(ValueError):
    """The event cannot be normalised or stored; the message says why, for a person to read."""


@dataclass(frozen=True)
class Event:
    """One source event: an envelope's fields, a webhook delivery, a collected record or a git commit."""

    source: str
    type: str | None
    id: str
    payload: Any
    received_at: str
    subject: Mapping[str, Any] | None = None
    location: str = ""
    # How it arrived, set by the driver that read it, never by the document: `file`, `git`,
    # `webhook:<source>` (its signature checked), `api:events` (an ingester token), `spool:<file>`.
    via: str = ""

    @property
    def origin(self) -> Origin:
        return Origin(self.source, self.id, self.received_at)

    def version(self, at: Any, rank: int = 0) -> str:
        """A version string for facts this event asserts as of time `at` (see graph.batch)."""
        return f"{iso(at) or '0000-00-00T00:00:00Z'}#{rank:02d}#{self.id}"

    def with_type(self, kind: str | None) -> Event:
        """The same event under another type name (a source's canonical name for a webhook's)."""
        return self if kind == self.type else replace(self, type=kind)


@dataclass(frozen=True)
class Rejection:
    """An event (or document) that was refused, where it came from and why."""

    location: str
    reason: str


@dataclass(frozen=True)
class Unreadable:
    """A document that is not an event at all (bad JSON, not an envelope…)."""

    location: str
    reason: str
    raw: str


def content_id(raw: str) -> str:
    """A stable event id for a document that carries none, so replays stay idempotent."""
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def to_event(doc: Any, raw: str, location: str, *, source: str | None, type: str | None) -> Event | Unreadable:
    """An envelope becomes an event as it says; anything else is a bare payload of --source/--type."""
    if isinstance(doc, dict) and "source" in doc and "payload" in doc:
        return _from_envelope(doc, raw, location)
    if source is None:
        return Unreadable(
            location,
            "not an event envelope {source, type, id, payload}; for a bare payload pass --source (and --type)",
            raw,
        )
    return Event(source=source, type=type, id=content_id(raw), payload=doc, received_at=now(), location=location)


def _from_envelope(doc: dict[str, Any], raw: str, location: str) -> Event | Unreadable:
    problems = [
        f"envelope field {name!r} must be {kind}"
        for name, kind, ok in (
            ("source", "a non-empty string", isinstance(doc.get("source"), str) and doc.get("source")),
            ("type", "a string", doc.get("type") is None or isinstance(doc.get("type"), str)),
            ("id", "a string or number", doc.get("id") is None or isinstance(doc.get("id"), str | int)),
            ("subject", "an object", doc.get("subject") is None or isinstance(doc.get("subject"), dict)),
        )
        if not ok
    ]
    if problems:
        return Unreadable(location, "; ".join(problems), raw)
    event_id = str(doc["id"]) if doc.get("id") not in (None, "") else content_id(raw)
    received = doc["received_at"] if isinstance(doc.get("received_at"), str) else now()
    return Event(
        source=doc["source"],
        type=doc.get("type") or None,
        id=event_id,
        payload=doc["payload"],
        received_at=received,
        subject=doc.get("subject"),
        location=location,
    )
