"""`tracegraph rebuild`: replay the document store into an empty Neo4j, the disaster-recovery story.

Every raw document the pipeline accepted is in the store with the record of each arrival (source,
type, id, received_at, subject, via, location). Replaying them through the same pipeline, in the
order they were stored, gives the graph they gave (tests/test_rebuild.py compares the two with
graph.snapshot). What the store does not hold is not rebuilt: API tokens and the audit log (the API's
own records), and events ingested with raw documents switched off (`keep_raw=False`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

from documents import DocumentStore
from graph import repository
from graph.driver import Graph
from graph.vocabulary import Label
from ingest.pipeline.events import Event, Rejection
from ingest.pipeline.feed import Summary
from ingest.runner import feed_and_write


class RebuildError(RuntimeError):
    """The rebuild cannot start; the message says why and what to do."""


def replayed(store: DocumentStore, on_event: Callable[[], None] | None = None) -> Iterator[Event]:
    """The store's records as the events that brought them, in the order they were stored."""
    for record, text in store.replay():
        yield Event(
            source=record.source,
            type=record.type,
            id=record.id,
            payload=text if record.text else json.loads(text),
            received_at=record.received_at,
            subject=record.subject,
            location=record.location,
            via=record.via,
        )
        if on_event:
            on_event()


async def nodes_held(graph: Graph) -> int:
    """How many nodes of the traceability graph Neo4j holds (tokens and audit entries aside)."""
    counts = await repository.counts(graph)
    return sum(n for name, n in counts.items() if name in Label._value2member_map_)


async def rebuild(
    graph: Graph,
    *,
    quarantine_dir: Path | None,
    on_reject: Callable[[Rejection], None] | None = None,
    on_event: Callable[[], None] | None = None,
    into_existing: bool = False,
) -> Summary:
    """Replay every stored document into the graph (empty unless `into_existing`); the ingest summary."""
    if graph.documents is None:
        raise RebuildError("this graph was opened without a document store")
    held = await nodes_held(graph)
    if held and not into_existing:
        raise RebuildError(
            f"Neo4j at {graph.uri} already holds {held:,} nodes: rebuild replays into an empty database "
            "(point NEO4J_URI at one, or delete the local one's data folder); --into-existing replays anyway, "
            "which is safe (every write is an idempotent MERGE) but is not a rebuild"
        )
    return await feed_and_write(
        graph, replayed(graph.documents, on_event), quarantine_dir=quarantine_dir, on_reject=on_reject
    )
