"""Running a collector in-process against a fake provider, with a clock that never really sleeps."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collect.http import Api, Clock
from collect.run import drive
from graph.driver import Graph
from graph.settings import Settings
from ingest.pipeline.feed import Summary
from tests.conftest import run_graph


class FakeClock(Clock):
    """Time starts now and moves only when the collector sleeps; every sleep is recorded."""

    def __init__(self, probe: Callable[[], int] | None = None) -> None:
        self.t = time.time()
        self.slept: list[float] = []
        # (seconds, what `probe` said then): e.g. how many requests the server had seen when it slept.
        self.marks: list[tuple[float, int]] = []
        self.probe = probe
        super().__init__(now=lambda: self.t, sleep=self._sleep)

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.probe:
            self.marks.append((seconds, self.probe()))
        self.t += seconds


@dataclass
class Run:
    summary: Summary
    records: Counter[str]
    api: Api
    collector: Any
    warnings: list[str] = field(default_factory=list)


def collect(
    settings: Settings,
    open_api: Callable[[], Api],
    make: Callable[[Graph, Api, Callable[[str], None]], Any],
) -> Run:
    """Run a collector to its end against the test graph, as `tracegraph collect` does."""
    warnings: list[str] = []

    async def work(graph: Graph) -> Run:
        async with open_api() as api:
            collector = make(graph, api, warnings.append)
            summary, records = await drive(graph, collector.pages(), quarantine_dir=settings.quarantine_dir)
            return Run(summary, records, api, collector, warnings)

    return run_graph(settings, work)
