"""The driver every collector shares: pages of events through the one pipeline, then the cursor.

A collector is an async generator of `Page`s: the events one page of the provider's API became, and
the cursor state that is true once they are written. This driver feeds the events to the pipeline
(`ingest.pipeline.feed.Feeder` behind a `WriteBehind`), waits until they are committed, and only then
saves the cursor, so a run killed at any moment reads again at most the page it was busy with. Pages
are read one after the other: reading the next one while this one is written would be faster, but a
kill could then cost two pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from collect.http import Api
from graph import collect_state
from graph.driver import Graph
from ingest.pipeline.events import Event, Rejection
from ingest.pipeline.feed import Summary, behind_a_writer
from ingest.pipeline.prepare import Pipeline
from ingest.timestamps import now


@dataclass
class Options:
    """What every collection is told: from when, which API, and whether to ignore the saved cursors."""

    since: str | None = None
    api_url: str | None = None
    full: bool = False


class Collector:
    """What every collector has: the graph its cursors live in, its API client, options, a warning line."""

    def __init__(self, graph: Graph, api: Api, options: Options, *, warn: Callable[[str], None] = lambda _: None):
        self.graph = graph
        self.api = api
        self.options = options
        self.warn = warn

    async def load(self, key: str) -> dict[str, Any]:
        """A cursor's saved state (nothing with --full: everything is read again)."""
        return {} if self.options.full else await collect_state.load_cursor(self.graph, key)

    def pages(self) -> AsyncIterator[Page]:
        raise NotImplementedError


@dataclass
class Page:
    """Events read from one page of an API, and the cursor state to save once they are written."""

    events: list[Event] = field(default_factory=list)
    cursor: tuple[str, dict[str, Any]] | None = None
    # What the page held, by kind ("pull requests", "reviews"...), for the summary and the progress bar.
    records: Counter[str] = field(default_factory=Counter)


def digest(payload: Any) -> str:
    """A short digest of a payload's canonical JSON: the content part of a collected event's id."""
    try:
        raw = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # text that is not valid Unicode (a lone surrogate): the pipeline will refuse it
        raw = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def event(source: str, kind: str, key: str, payload: dict[str, Any]) -> Event:
    """A collected record as the source event its webhook would be.

    The id is derived from the record's content, so collecting an unchanged record again is a replay
    (same id, same document: nothing is written), and a changed record is a new event.
    """
    return Event(
        source=source,
        type=kind,
        id=f"collect:{kind}:{key}:{digest(payload)}",
        payload=payload,
        received_at=now(),
        location=f"{source}:{key}",
        via=f"collect:{source}",
    )


async def drive(
    graph: Graph,
    pages: AsyncIterator[Page],
    *,
    quarantine_dir: Path | None,
    on_reject: Callable[[Rejection], None] | None = None,
    on_page: Callable[[Page], None] | None = None,
    pipeline: Pipeline | None = None,
) -> tuple[Summary, Counter[str]]:
    """Feed every page through the pipeline, write it, then save its cursor; the summary and record counts."""
    feeder, writer = behind_a_writer(graph, pipeline, quarantine_dir=quarantine_dir, on_reject=on_reject)
    records: Counter[str] = Counter()
    started = asyncio.get_running_loop().time()
    try:
        async for page in pages:
            for item in page.events:
                await feeder.feed(item)
            await feeder.flush()
            feeder.summary.written = await writer.drain()
            if page.cursor is not None:
                await collect_state.save_cursor(graph, *page.cursor)
            records.update(page.records)
            if on_page:
                on_page(page)
    except BaseException:
        writer.cancel()
        raise
    feeder.summary.seconds = asyncio.get_running_loop().time() - started
    return feeder.summary, records
