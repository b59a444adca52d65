"""The audit log behind the response: entries are accepted in-process and written in batches shortly after.

Every GraphQL operation and export is still recorded; the request just does not wait for its own write
transaction. Entries are written in acceptance order, one UNWIND transaction per batch, at most
FLUSH_AFTER seconds after they were accepted (sooner when BATCH are waiting). A failed write keeps the
entries queued and is retried; reads of the audit log in this process flush first, and the app's
shutdown flushes everything (a separate process such as `tracegraph audit` sees entries once written).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from neo4j.exceptions import DriverError, Neo4jError

from graph import access
from graph.access import AuditEntry, Principal
from graph.driver import Graph

log = logging.getLogger("uvicorn.error")  # shows among the serve process's own lines

FLUSH_AFTER = 0.15  # seconds an accepted entry may wait for others to share its write transaction
BATCH = 500  # entries waiting that trigger a write at once; also the most one transaction carries
RETRY_AFTER = 1.0  # seconds between attempts while Neo4j refuses the write
SHUTDOWN_ATTEMPTS = 5
WRITE_ERRORS = (Neo4jError, DriverError, OSError)


class AuditQueue:
    """Audit entries waiting to be written, and the task that writes them."""

    def __init__(self, graph: Graph, *, flush_after: float = FLUSH_AFTER, batch: int = BATCH):
        self.graph = graph
        self.flush_after = flush_after
        self.batch = batch
        self._pending: list[AuditEntry] = []
        self._writing = asyncio.Lock()  # one write at a time keeps the log in acceptance order
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._closing = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Entries accepted but not yet written."""
        return len(self._pending)

    def start(self) -> None:
        """Start the background writer (in the app's event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    def add(self, who: Principal, *, action: str, what: str, records: int, status: int) -> None:
        """Accept one entry (stamped now); it is written within FLUSH_AFTER seconds."""
        entry = access.audit_entry(who, action=action, what=what, records=records, status=status)
        if self._closed:
            log.error("audit log entry accepted after shutdown, not written to Neo4j: %s", _json(entry))
            return
        self._pending.append(entry)
        self._wake.set()
        if len(self._pending) >= self.batch:
            self._hurry.set()

    async def flush(self) -> None:
        """Write every entry accepted so far; on a Neo4j error they stay queued and the error is raised."""
        async with self._writing:
            while self._pending:
                rows = self._pending[: self.batch]
                await access.write_audit(self.graph, rows)
                # Entries accepted while the write was in flight were appended after these rows.
                del self._pending[: len(rows)]

    async def close(self) -> None:
        """Stop the writer and write what is left, retrying; entries that still fail are logged, not dropped."""
        self._closing = True
        self._wake.set()
        self._hurry.set()
        if self._task is not None:
            await self._task
        try:
            for attempt in range(1, SHUTDOWN_ATTEMPTS + 1):
                try:
                    await self.flush()
                    return
                except WRITE_ERRORS as exc:
                    log.warning(
                        "audit log: %d entries not written at shutdown (try %d): %r", self.pending, attempt, exc
                    )
                    if attempt < SHUTDOWN_ATTEMPTS:
                        await asyncio.sleep(RETRY_AFTER)
            # Last resort: the entries in the server log, so an operator can still account for every read.
            for entry in self._pending:
                log.error("audit log entry not written to Neo4j: %s", _json(entry))
            self._pending.clear()
        finally:
            self._closed = True

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            if not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self.flush_after)
            if self._closing:
                return  # close() writes the rest
            self._wake.clear()
            self._hurry.clear()
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - the writer must outlive any one failed write
                log.warning("audit log: %d entries not written yet, retrying: %r", self.pending, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), RETRY_AFTER)
                self._wake.set()


def _json(entry: AuditEntry) -> str:
    return json.dumps(entry.model_dump())
