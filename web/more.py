"""Metrics (DORA and the AI-era signals, weekly charts) and exports (evidence bundles as .zip)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from export.archive import zip_bytes
from export.bundle import bundle_files
from export.scope import ExportError, ExportNotFound, Scope, collect, period_scope
from graph import listing
from graph.metrics import MetricsError, metrics
from graph.search import CHANGE_REF
from web.pages import graph_of, policy_of
from web.render import PageError, PageRoute, page
from web.sessions import Viewer

router = APIRouter(route_class=PageRoute, include_in_schema=False)

MAX_METRICS_DAYS = 366  # the period picker's longest window
MAX_EXPORT_DAYS = 92  # a service or period bundle in the browser: a quarter at most (the CLI has no such bound)
DEFAULT_WEEKS = 13
Day = Annotated[str, Query(max_length=10, pattern=r"^(\d{4}-\d{2}-\d{2})?$")]


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise PageError(400, f"{what} {text!r} is not a day", "Write days as 2026-01-31.") from exc


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _window(request: Request, start: str, end: str) -> tuple[date, date]:
    """[from, to) as days: the query's, else the 13 weeks up to the latest deployment."""
    if end:
        last = _day(end, "to")
    else:
        latest = await listing.latest_deployment(graph_of(request))
        last = (date.fromisoformat(latest[:10]) if latest else datetime.now(UTC).date()) + timedelta(days=1)
    first = _day(start, "from") if start else last - timedelta(weeks=DEFAULT_WEEKS)
    if first >= last:
        raise PageError(400, "The period is empty", f"from {first} must be before to {last}.")
    if (last - first).days > MAX_METRICS_DAYS:
        raise PageError(400, "The period is too long", f"Choose at most {MAX_METRICS_DAYS} days.")
    return first, last


def _charts(weekly: list[Any]) -> dict[str, Any]:
    """What static/charts.js draws: one spec per chart (labels and series); the page's tables hold the same."""
    labels = [w.week for w in weekly]
    return {
        "deployments": {
            "type": "bar",
            "labels": labels,
            "series": [
                {"label": "deployments", "data": [w.deployments for w in weekly], "color": "#0969da"},
                {"label": "failed", "data": [w.failures for w in weekly], "color": "#cf222e"},
            ],
        },
        "ai": {
            "type": "line",
            "labels": labels,
            "percent": True,
            "series": [
                {
                    "label": "AI-assisted share of changes",
                    "data": [
                        None if w.ai_assisted_share is None else round(100 * w.ai_assisted_share, 1) for w in weekly
                    ],
                    "color": "#8250df",
                }
            ],
        },
        "lead": {
            "type": "line",
            "labels": labels,
            "series": [
                {
                    "label": "median lead time (hours)",
                    "data": [w.median_lead_time_hours for w in weekly],
                    "color": "#1a7f37",
                }
            ],
        },
    }


@router.get("/metrics")
async def metrics_page(
    request: Request,
    who: Viewer,
    service: Annotated[str, Query(max_length=200)] = "",
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    graph = graph_of(request)
    first, last = await _window(request, start, end)
    try:
        found = await metrics(graph, policy_of(request), service=service or None, start=_at(first), end=_at(last))
    except MetricsError as exc:
        raise PageError(400, "These metrics cannot be computed", str(exc)) from exc
    context = {
        "m": found,
        "service": service,
        "first": first.isoformat(),
        "last": last.isoformat(),
        "services": await listing.services(graph),
        "charts": {k: json.dumps(v) for k, v in _charts(found.weekly).items()},
    }
    return page(request, "metrics.html", context, records=1 + len(found.weekly))


@router.get("/exports")
async def exports_page(request: Request, who: Viewer) -> Response:
    services = await listing.services(graph_of(request))
    return page(request, "exports.html", {"services": services, "max_days": MAX_EXPORT_DAYS})


@router.get("/exports/bundle")
async def export_bundle(
    request: Request,
    who: Viewer,
    kind: Literal["change", "service", "period"],
    change: Annotated[str, Query(max_length=300)] = "",
    service: Annotated[str, Query(max_length=200)] = "",
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
) -> Response:
    """The evidence bundle (.zip, what `tracegraph export` writes) of a change, a service or a period."""
    policy = policy_of(request)
    scope = _scope(kind, change, service, start, end)
    try:
        exported = await collect(graph_of(request), policy, scope)
    except ExportNotFound as exc:
        raise PageError(404, "Nothing to export", str(exc)) from exc
    except ExportError as exc:
        raise PageError(400, "This export cannot be made", str(exc)) from exc
    request.app.state.audit.add(
        who, action="export", what=f"{scope.title()} format=json", records=len(exported.answers), status=200
    )
    request.state.records = len(exported.answers)
    # Signed with the organisation's export key when the server has one (api.app reads it at start).
    signer = getattr(request.app.state, "export_signer", None)
    files = bundle_files(exported, policy, generated_at=datetime.now(UTC), in_toto=True, signer=signer)
    return Response(
        zip_bytes(files),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="evidence-{scope.slug()}.zip"'},
    )


def _scope(kind: str, change: str, service: str, start: str, end: str) -> Scope:
    if kind == "change":
        found = CHANGE_REF.match(change.strip())
        if not found:
            raise PageError(
                400,
                f"{change!r} is not a change",
                "Write it as owner/repo#42 (a GitLab merge request as group/project!7).",
            )
        return Scope(kind="change", repo=found["repo"].lower(), number=int(found["number"]))
    if kind == "service" and not service:
        raise PageError(400, "Which service?", "Choose a service to export.")
    first, last = _day(start, "from"), _day(end, "to")
    if not 0 < (last - first).days <= MAX_EXPORT_DAYS:
        raise PageError(
            400,
            "Choose a shorter period",
            f"A bundle in the browser covers 1 to {MAX_EXPORT_DAYS} days ([from, to)); "
            "for longer ones use `tracegraph export`.",
        )
    try:
        return period_scope(
            start=first.isoformat(), end=last.isoformat(), service=service if kind == "service" else None
        )
    except ExportError as exc:
        raise PageError(400, "This export cannot be made", str(exc)) from exc
