"""Lists the web app pages through: changes by filters (paged), and a service's deployments — what runs
in each environment now and what each latest deployment shipped since the one before.

Verdict, risk area and AI assistance belong to the five-minute answer (graph.verdict.build_change), so
the changes list reads candidate ids by what is stored, builds their answers through the repository,
and filters those: a verdict is never computed a second way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from graph import repository
from graph.driver import Graph
from graph.metrics.models import SUCCEEDED
from graph.metrics.rules import PRODUCTION
from graph.models import Change, Deployment
from graph.policy import Policy
from graph.queries import trace as trace_q
from graph.queries import web as q
from graph.reads import read_all, read_one
from graph.verdict import EPOCH

PRODUCTION_ENVIRONMENTS = "production"  # the environment filter's value for the metrics rule of production
MAX_OPTIONS = 500  # repositories and services offered in a filter


class ChangeFilter(BaseModel):
    """Which changes a list shows: merged in [start, end) (ISO-8601 UTC), and the rest optional."""

    start: str
    end: str
    repo: str | None = None
    service: str | None = None
    environment: str | None = None  # `production` (the metrics rule) or an exact environment name
    risk_area: str | None = None
    verdict: Literal["VERIFIED", "UNVERIFIED"] | None = None
    ai: bool | None = None

    def on_answers(self) -> bool:
        """Whether some condition is decided on the built answer (verdict, risk area, AI assistance)."""
        return self.verdict is not None or self.risk_area is not None or self.ai is not None

    def environment_pattern(self) -> str | None:
        """The environment condition as the regex the read takes (Neo4j's `=~` matches the whole name)."""
        if not self.environment:
            return None
        if self.environment == PRODUCTION_ENVIRONMENTS:
            return PRODUCTION.pattern
        return "(?i)" + re.escape(self.environment)


def ai_assisted(change: Change) -> bool:
    """An agent session proposed or authored part of the change, or a commit names an AI tool."""
    return bool(change.sessions) or any(k.ai_tools for k in change.commits)


def matches(change: Change, want: ChangeFilter) -> bool:
    """Whether a built answer passes the filter's answer conditions."""
    if want.verdict is not None and change.verdict.status.value != want.verdict:
        return False
    if want.risk_area is not None and change.risk_area != want.risk_area:
        return False
    return want.ai is None or ai_assisted(change) == want.ai


@dataclass
class ChangesPage:
    """A page of answers; `next_after` continues the scan (None when every candidate was read)."""

    changes: list[Change] = field(default_factory=list)
    scanned: int = 0
    next_after: int | None = None
    capped: bool = False  # the scan stopped at its bound before the page was full


async def changes_page(
    graph: Graph, policy: Policy, want: ChangeFilter, *, after: int = 0, size: int = 50, scan: int = 2000
) -> ChangesPage:
    """Up to `size` answers passing the filter, newest merge first, reading at most `scan` candidates
    from the `after`-th one on."""
    page = ChangesPage()
    offset = after
    batch = 100 if want.on_answers() else size
    while len(page.changes) < size and page.scanned < scan:
        limit = min(batch, scan - page.scanned)
        rows = await read_all(
            graph,
            q.CHANGES_MERGED,
            **{"from": want.start, "to": want.end},
            repo=want.repo,
            service=want.service,
            environment=want.environment_pattern(),
            succeeded=list(SUCCEEDED),
            skip=offset,
            limit=limit,
        )
        ids = [row["id"] for row in rows]
        answers = await repository.changes_by_ids(graph, policy, ids)
        end_of_batch = offset + len(ids)
        for change_id in ids:
            offset += 1
            page.scanned += 1
            answer = answers.get(change_id)
            if answer is not None and matches(answer, want):
                page.changes.append(answer)
                if len(page.changes) == size:
                    break
        if len(ids) < limit:  # every candidate was read; more only if the page filled before the last one
            page.next_after = offset if offset < end_of_batch else None
            return page
    page.capped = len(page.changes) < size
    page.next_after = offset
    return page


async def repositories(graph: Graph) -> list[str]:
    """Repository names (for a filter), in order."""
    return [row["name"] for row in await read_all(graph, q.REPOSITORIES, limit=MAX_OPTIONS)]


async def services(graph: Graph) -> list[str]:
    """Service names (for a filter), in order."""
    return [row["name"] for row in await read_all(graph, q.SERVICES, limit=MAX_OPTIONS)]


# --- services -----------------------------------------------------------------------------------


@dataclass
class Running:
    """What runs in one environment: the latest successful deployment, the one before it, and the
    ids of the changes it shipped since that one (through git ancestry, as the incident trace reads it)."""

    deployment: Deployment
    previous_id: str | None
    change_ids: list[str]


async def running(graph: Graph, service: str) -> list[Running]:
    """Per environment, the latest successful deployment to the service and what it shipped (two reads)."""
    rows = await read_all(graph, q.SERVICE_CURRENT, service=service, succeeded=list(SUCCEEDED))
    current = [Deployment.model_validate({**row["deployment"], "service": service}) for row in rows]
    if not current:
        return []
    shipped = await read_one(
        graph,
        trace_q.TRACE_SHIPPED,
        rows=[
            {
                "key": key,
                "id": d.id,
                "service": service,
                "environment": d.environment,
                "before": _iso(d.started_at),
                "sha": d.sha or "",
            }
            for key, d in enumerate(current)
        ],
        named=[],
    )
    by_key = {row["key"]: row for row in (shipped or {}).get("shipped", [])}
    return [
        Running(
            deployment=d,
            previous_id=by_key.get(key, {}).get("previous"),
            change_ids=sorted(c["id"] for c in by_key.get(key, {}).get("changes", [])),
        )
        for key, d in enumerate(current)
    ]


async def history(graph: Graph, service: str, *, skip: int = 0, limit: int = 50) -> list[Deployment]:
    """Deployments to the service, newest first."""
    rows = await read_all(graph, q.SERVICE_HISTORY, service=service, skip=skip, limit=limit)
    return [Deployment.model_validate({**row["deployment"], "service": service}) for row in rows]


def _iso(value: datetime | None) -> str:
    return (value or EPOCH).strftime("%Y-%m-%dT%H:%M:%SZ")


async def latest_deployment(graph: Graph) -> str | None:
    """When the latest deployment started (ISO-8601), or None when the graph holds none."""
    row = await read_one(graph, q.LATEST_DEPLOYMENT)
    return str(row["at"]) if row else None
