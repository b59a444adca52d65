"""A worker draining a durable spool folder: files land in inbox/incoming, are ingested, then moved.

A file is moved to inbox/done only after its events were written (at-least-once); replaying a
file is harmless because every write is an idempotent, versioned MERGE.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from neo4j.exceptions import Neo4jError, ServiceUnavailable, SessionExpired

from graph.driver import Graph
from ingest.reader import JSON_SUFFIXES
from ingest.runner import Summary, ingest_paths


def incoming(inbox: Path) -> Path:
    return inbox / "incoming"


def pending(inbox: Path) -> list[Path]:
    """Spooled files waiting to be ingested, oldest first (names sort by arrival)."""
    folder = incoming(inbox)
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in JSON_SUFFIXES)


async def drain(graph: Graph, inbox: Path, *, quarantine_dir: Path) -> list[tuple[Path, Summary]]:
    """Ingest every pending file once; returns each file with its summary."""
    done = inbox / "done"
    done.mkdir(parents=True, exist_ok=True)
    results = []
    for path in pending(inbox):
        summary = await ingest_paths(graph, [path], source=None, type=None, quarantine_dir=quarantine_dir)
        os.replace(path, done / path.name)
        results.append((path, summary))
    return results


async def run(
    graph: Graph,
    inbox: Path,
    *,
    quarantine_dir: Path,
    interval: float = 1.0,
    once: bool = False,
    log: Callable[[str], None] = print,
) -> None:
    """Drain the inbox forever (or once), retrying with backoff while Neo4j is unavailable."""
    incoming(inbox).mkdir(parents=True, exist_ok=True)
    backoff = interval
    while True:
        try:
            for path, summary in await drain(graph, inbox, quarantine_dir=quarantine_dir):
                log(f"{path.name}: {summary.accepted} accepted, {len(summary.rejected)} rejected")
            backoff = interval
        except (ServiceUnavailable, SessionExpired, Neo4jError, OSError) as exc:
            backoff = min(backoff * 2, 30.0)
            log(f"Neo4j write failed ({exc.__class__.__name__}: {exc}); retrying in {backoff:.0f} s")
        if once:
            return
        await asyncio.sleep(backoff)
