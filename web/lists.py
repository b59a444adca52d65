"""The changes list (filters, pages, CSV) and the services: what runs where now, and the history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from export.scope import ExportError, instant, safe_name
from export.table import csv_text
from graph import listing, repository
from graph.export_reads import service_known
from graph.listing import PRODUCTION_ENVIRONMENTS, ChangeFilter
from web.pages import graph_of, policy_of
from web.render import PageError, PageRoute, page
from web.sessions import Viewer

router = APIRouter(route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
PAGE_SCAN = 2000  # candidates one page reads at most when filtering on verdict, risk area or AI
CSV_ROWS = 5000
CSV_SCAN = 20000
Text = Annotated[str, Query(max_length=200)]


@dataclass
class Filters:
    """The list's query string, as the form shows it back."""

    repo: str = ""
    service: str = ""
    env: str = ""
    risk: str = ""
    verdict: str = ""
    ai: str = ""
    start: str = ""
    end: str = ""

    def query(self, **changes: str | int) -> dict[str, str | int]:
        values: dict[str, str | int] = {
            "repo": self.repo,
            "service": self.service,
            "env": self.env,
            "risk": self.risk,
            "verdict": self.verdict,
            "ai": self.ai,
            "from": self.start,
            "to": self.end,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}

    def to_filter(self) -> ChangeFilter:
        try:
            start = instant(self.start, "from") if self.start else "1970-01-01T00:00:00Z"
            end = (
                instant(self.end, "to")
                if self.end
                else (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
            )
        except ExportError as exc:
            raise PageError(400, "The period cannot be read", str(exc)) from exc
        if start >= end:
            raise PageError(400, "The period is empty", f"from {self.start} must be before to {self.end}.")
        verdict: Literal["VERIFIED", "UNVERIFIED"] | None = None
        if self.verdict in ("VERIFIED", "UNVERIFIED"):
            verdict = "VERIFIED" if self.verdict == "VERIFIED" else "UNVERIFIED"
        elif self.verdict:
            raise PageError(400, f"Unknown verdict {self.verdict!r}", "Choose VERIFIED or UNVERIFIED.")
        if self.ai not in ("", "yes", "no"):
            raise PageError(400, f"Unknown AI filter {self.ai!r}", "Choose yes or no.")
        return ChangeFilter(
            start=start,
            end=end,
            repo=self.repo.lower() or None,
            service=self.service or None,
            environment=self.env or None,
            risk_area=self.risk or None,
            verdict=verdict,
            ai=None if not self.ai else self.ai == "yes",
        )


def _filters(
    repo: Text = "",
    service: Text = "",
    env: Text = "",
    risk: Text = "",
    verdict: Text = "",
    ai: Text = "",
    start: Annotated[str, Query(alias="from", max_length=40)] = "",
    end: Annotated[str, Query(alias="to", max_length=40)] = "",
) -> Filters:
    return Filters(repo, service, env, risk, verdict, ai, start, end)


FiltersDep = Annotated[Filters, Depends(_filters)]


@router.get("/changes")
async def changes_list(
    request: Request, who: Viewer, filters: FiltersDep, after: Annotated[int, Query(ge=0, le=10_000_000)] = 0
) -> Response:
    graph, policy = graph_of(request), policy_of(request)
    found = await listing.changes_page(graph, policy, filters.to_filter(), after=after, size=PAGE_SIZE, scan=PAGE_SCAN)
    context = {
        "f": filters,
        "result": found,
        "after": after,
        "repositories": await listing.repositories(graph),
        "services": await listing.services(graph),
        "areas": sorted(policy.areas),
        "production": PRODUCTION_ENVIRONMENTS,
    }
    return page(request, "changes.html", context, records=len(found.changes))


@router.get("/changes.csv")
async def changes_csv(request: Request, who: Viewer, filters: FiltersDep) -> Response:
    policy = policy_of(request)
    found = await listing.changes_page(graph_of(request), policy, filters.to_filter(), size=CSV_ROWS, scan=CSV_SCAN)
    request.state.records = len(found.changes)
    name = safe_name("changes-" + "-".join(str(v) for v in filters.query().values())) or "changes"
    return Response(
        csv_text(found.changes, policy),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/services")
async def services_list(request: Request, who: Viewer) -> Response:
    names = await listing.services(graph_of(request))
    return page(request, "services.html", {"names": names}, records=len(names))


@router.get("/services/{name}")
async def service_page(
    request: Request, who: Viewer, name: str, skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0
) -> Response:
    graph, policy = graph_of(request), policy_of(request)
    if not await service_known(graph, name):
        raise PageError(404, f"No service {name}", "No deployment names this service.")
    now = await listing.running(graph, name)
    answers = await repository.changes_by_ids(graph, policy, sorted({i for r in now for i in r.change_ids}))
    history = await listing.history(graph, name, skip=skip, limit=PAGE_SIZE)
    context = {"name": name, "running": now, "answers": answers, "history": history, "skip": skip, "size": PAGE_SIZE}
    return page(request, "service.html", context, records=len(now) + len(answers) + len(history))
