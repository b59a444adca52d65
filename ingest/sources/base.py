"""The small interface every source implements, and helpers normalisers share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph.batch import Batch, Origin


class Rejected(ValueError):
    """The event cannot be normalised; the message says why, for a person to read."""


@dataclass(frozen=True)
class Event:
    """One source event: an envelope's fields, or a bare payload with --source/--type."""

    source: str
    type: str | None
    id: str
    payload: Any
    received_at: str
    subject: Mapping[str, Any] | None = None
    location: str = ""

    @property
    def origin(self) -> Origin:
        return Origin(self.source, self.id, self.received_at)

    def version(self, at: Any, rank: int = 0) -> str:
        """A version string for facts this event asserts as of time `at` (see graph.batch)."""
        return f"{iso(at) or '0000-00-00T00:00:00Z'}#{rank:02d}#{self.id}"


Normaliser = Callable[[Event], Batch]


@dataclass(frozen=True)
class Source:
    """A source: its name, its normalisers by event type, and how to tell a bare payload's type."""

    name: str
    handlers: Mapping[str, Normaliser]
    infer_type: Callable[[Any], str | None] = field(default=lambda payload: None)
    # Files with these suffixes (e.g. ".md") are handed to the normaliser as text, not parsed as JSON,
    # when ingested with --source NAME; folders are searched for them too.
    text_suffixes: frozenset[str] = frozenset()

    def normalise(self, event: Event) -> Batch:
        """Run the normaliser for the event's type, or reject the event with a reason."""
        kind = event.type or self.infer_type(event.payload)
        if kind is None:
            raise Rejected(f"cannot tell the {self.name} event type of this payload; pass --type")
        handler = self.handlers.get(kind)
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            raise Rejected(f"unknown {self.name} event type {kind!r} (known: {known})")
        if not isinstance(event.payload, dict) and not (self.text_suffixes and isinstance(event.payload, str)):
            raise Rejected(f"{self.name} {kind} payload must be a JSON object")
        return handler(event if event.type else _with_type(event, kind))


def _with_type(event: Event, kind: str) -> Event:
    return Event(event.source, kind, event.id, event.payload, event.received_at, event.subject, event.location)


def iso(value: Any) -> str | None:
    """Normalise a timestamp (ISO-8601 string, epoch seconds) to 'YYYY-MM-DDTHH:MM:SSZ' UTC, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) == 20 and text.isascii() and text[4] + text[7] + text[10] + text[13] + text[16] + text[19] == "--T::Z":
        # Already the canonical form (nearly every webhook timestamp): check it is a real time and keep it.
        try:
            datetime.fromisoformat(text[:-1])
        except ValueError:
            return None
        return text
    return _iso_text(text)


def _iso_text(text: str) -> str | None:
    """iso() of any ISO-8601 text: parsed, taken to UTC, formatted."""
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get(data: Any, *path: str | int) -> Any:
    """Walk nested dicts/lists; None as soon as a step is missing or of the wrong kind."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(data, list) or step >= len(data):
                return None
            data = data[step]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(step)
    return data


def require(data: Any, *path: str, what: str) -> Any:
    """Like get(), but rejects the event naming the missing field."""
    value = get(data, *path)
    if value is None or value == "":
        raise Rejected(f"{what} payload has no {'.'.join(path)}")
    return value
