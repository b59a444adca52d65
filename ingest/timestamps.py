"""Timestamps as the graph stores them: ISO-8601 UTC, 'YYYY-MM-DDTHH:MM:SSZ'."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now() -> str:
    """The current time, canonical."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
