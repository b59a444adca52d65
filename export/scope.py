"""What an export covers (one change, the changes a service's deployments shipped over [start, end), or
every change merged in [start, end)), and reading a scope's answers and subgraph through graph/.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from graph import export_reads, repository
from graph.driver import Graph
from graph.export_reads import Subgraph
from graph.models import Change
from graph.policy import Policy
from ingest.sources import SOURCES
from ingest.sources.base import iso

# A period's export is built whole in memory (answers, subgraph, raw documents, reports): this many changes
# at most; a longer period is exported in parts, or for one service.
MAX_EXPORT_CHANGES = 1000


class ExportError(ValueError):
    """The export cannot be made as asked; the message says why and what to do."""


class ExportNotFound(ExportError):
    """The scope names a change or service the graph does not hold."""


class Scope(BaseModel):
    """What to export: one change, one service over [start, end), or every change merged in [start, end)."""

    kind: Literal["change", "service", "period"]
    repo: str | None = None
    number: int | None = None
    service: str | None = None
    start: str | None = None
    end: str | None = None

    def title(self) -> str:
        """A heading for reports."""
        if self.kind == "change":
            return f"{self.repo}#{self.number}"
        span = f"{_day(self.start)} to {_day(self.end)} (end excluded)"
        if self.kind == "service":
            return f"service {self.service}: changes deployed {span}"
        return f"changes merged {span}"

    def slug(self) -> str:
        """A file-name-safe name for the export."""
        parts = {
            "change": [self.repo or "", str(self.number)],
            "service": [self.service or "", self.start or "", self.end or ""],
            "period": [self.start or "", self.end or ""],
        }[self.kind]
        return safe_name("-".join(p[:10] if p in (self.start, self.end) else p for p in parts))


def _day(value: str | None) -> str:
    # Midnight bounds read as days: "2026-01-01", not "2026-01-01T00:00:00Z".
    return (value or "").removesuffix("T00:00:00Z")


def safe_name(text: str) -> str:
    """`text` with every run of characters unsafe in a file name replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "export"


def instant(text: str, what: str) -> str:
    """An ISO-8601 date or date-time (UTC when no zone is given) as the graph stores times."""
    value = iso(text)
    if value is None:
        raise ExportError(f"{what} {text!r} is not a date; write it as 2026-01-31 or 2026-01-31T12:00:00Z")
    return value


def period_scope(*, start: str, end: str, service: str | None = None) -> Scope:
    """A service or period scope over [start, end), validated."""
    first, last = instant(start, "--from"), instant(end, "--to")
    if first >= last:
        raise ExportError(f"--from {start} must be before --to {end} (the period is [from, to))")
    return Scope(kind="service" if service else "period", service=service, start=first, end=last)


@dataclass
class ExportSet:
    """The five-minute answers of a scope and the subgraph they rest on."""

    scope: Scope
    answers: list[Change]
    subgraph: Subgraph


async def collect(graph: Graph, policy: Policy, scope: Scope) -> ExportSet:
    """Read the answers and the subgraph of a scope; ExportNotFound for an unknown change or service."""
    if scope.kind == "change":
        assert scope.repo is not None and scope.number is not None
        answer = await repository.change(graph, policy, repo=scope.repo, number=scope.number)
        if answer is None:
            raise ExportNotFound(f"no change {scope.repo}#{scope.number} in the graph; ingest its pull request first")
        ids = [answer.id]
        answers = [answer]
    else:
        assert scope.start is not None and scope.end is not None
        if scope.kind == "service":
            assert scope.service is not None
            if not await export_reads.service_known(graph, scope.service):
                raise ExportNotFound(f"no service {scope.service!r} in the graph (no deployment names it)")
            ids = await export_reads.change_ids_deployed_to(
                graph, service=scope.service, start=scope.start, end=scope.end
            )
        else:
            ids = await export_reads.change_ids_merged_between(graph, start=scope.start, end=scope.end)
        if len(ids) > MAX_EXPORT_CHANGES:
            raise ExportError(
                f"{scope.title()} holds {len(ids):,} changes; one export holds at most {MAX_EXPORT_CHANGES:,}: "
                "export a shorter period (or one service) at a time"
            )
        # A quarter can hold hundreds of changes: a few answers in flight at once, not hundreds.
        limit = asyncio.Semaphore(8)

        async def one(change_id: str) -> Change | None:
            async with limit:
                return await repository.change_by_id(graph, policy, change_id)

        answers = [a for a in await asyncio.gather(*(one(i) for i in ids)) if a is not None]
    sub = await export_reads.subgraph(graph, ids, sources=SOURCES)
    return ExportSet(scope, answers, sub)
