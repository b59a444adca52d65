"""Rejected events are parked with their reason, never dropped and never crashing the run."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def park(folder: Path, *, location: str, reason: str, raw: str, source: str | None = None) -> Path:
    """Write one quarantine entry (named by the document's digest, so a replay does not duplicate it)."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{location}\n{raw}".encode()).hexdigest()[:24]
    path = folder / f"{digest}.json"
    entry: dict[str, Any] = {
        "reason": reason,
        "location": location,
        "source": source,
        "quarantined_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "document": raw,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(entry, indent=2))
    os.replace(tmp, path)
    return path


def entries(folder: Path) -> list[dict[str, Any]]:
    """Every quarantine entry in a folder, oldest first."""
    if not folder.exists():
        return []
    items = [json.loads(p.read_text()) for p in folder.glob("*.json")]
    return sorted(items, key=lambda e: (e["quarantined_at"], e["location"]))
