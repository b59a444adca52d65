"""The REST face of evidence export: /export/change/…, /export/service/… and /export?from=&to= serve the
export package's bundle (as a .zip), CSV or HTML, after an access check, and record each in the audit log.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from neo4j.exceptions import DriverError, Neo4jError

from api.auth import Reader
from export.archive import zip_bytes
from export.bundle import bundle_files
from export.html import CSS, html_text
from export.scope import ExportError, ExportNotFound, ExportSet, Scope, collect, period_scope
from export.table import csv_text
from graph.access import Principal
from graph.policy import Policy
from trust.keys import SigningKey
from web.security import style_policy

Format = Literal["json", "csv", "html"]
REPORT_POLICY = style_policy(CSS)


class ExportAccess:
    """Who may export what, and the audit record of each export. Readers may export everything;
    `app.dependency_overrides[export_access] = ...` narrows that."""

    def __init__(self, who: Principal | None = None):
        self.who = who

    async def check(self, request: Request, scope: Scope) -> None:
        """Raise HTTPException(403) when the caller may not export the scope."""

    async def record(self, request: Request, scope: Scope, fmt: str, *, records: int, status: int) -> None:
        """Append the export to the audit log: who, when, what, how many changes (written just after)."""
        if self.who is not None:
            request.app.state.audit.add(
                self.who, action="export", what=f"{scope.title()} format={fmt}", records=records, status=status
            )


async def export_access(who: Reader) -> ExportAccess:
    """The access-control seam: a reader token, then `ExportAccess.check` per scope."""
    return ExportAccess(who)


AccessDep = Annotated[ExportAccess, Depends(export_access)]
FormatQuery = Annotated[Format, Query(description="json = the evidence bundle as a .zip; csv; html")]
InTotoQuery = Annotated[bool, Query(alias="in_toto", description="add statement.intoto.json to the bundle")]

router = APIRouter(prefix="/export", tags=["export"])


def render(
    export: ExportSet,
    policy: Policy,
    fmt: Format,
    *,
    in_toto: bool,
    generated_at: datetime,
    signer: SigningKey | None = None,
) -> Response:
    """The export as an HTTP response: a zip download, a CSV download, or an HTML page."""
    name = f"evidence-{export.scope.slug()}"
    if fmt == "csv":
        return Response(
            csv_text(export.answers, policy),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "html":
        # The report's one <style> block is its only non-text content: a CSP that allows exactly it.
        return Response(
            html_text(export, generated_at=generated_at),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": REPORT_POLICY},
        )
    files = bundle_files(export, policy, generated_at=generated_at, in_toto=in_toto, signer=signer)
    return Response(
        zip_bytes(files),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
    )


async def _serve(request: Request, access: ExportAccess, scope: Scope, fmt: Format, in_toto: bool) -> Response:
    await access.check(request, scope)
    policy: Policy = request.app.state.policy
    try:
        export = await collect(request.app.state.graph, policy, scope)
        await access.record(request, scope, fmt, records=len(export.answers), status=200)
        # The organisation's export key, read when the app started (api.app); None leaves bundles unsigned.
        signer = getattr(request.app.state, "export_signer", None)
        # Building a period's bundle is seconds of pure Python: off the event loop, so other requests go on.
        return await asyncio.to_thread(
            render, export, policy, fmt, in_toto=in_toto, generated_at=datetime.now(UTC), signer=signer
        )
    except ExportNotFound as exc:
        await access.record(request, scope, fmt, records=0, status=404)
        raise HTTPException(404, str(exc)) from exc
    except ExportError as exc:
        raise HTTPException(400, str(exc)) from exc
    except (Neo4jError, DriverError, OSError) as exc:
        raise HTTPException(503, f"Neo4j did not answer ({exc.__class__.__name__}); try again") from exc


def _period(start: str, end: str, service: str | None = None) -> Scope:
    try:
        return period_scope(start=start, end=end, service=service)
    except ExportError as exc:
        raise HTTPException(400, str(exc).replace("--from", "from").replace("--to", "to")) from exc


@router.get("/change/{owner}/{repo}/{number}")
async def export_change(
    request: Request,
    access: AccessDep,
    owner: str,
    repo: str,
    number: int,
    format: FormatQuery = "json",
    in_toto: InTotoQuery = False,
) -> Response:
    """One change's evidence."""
    scope = Scope(kind="change", repo=f"{owner}/{repo}", number=number)
    return await _serve(request, access, scope, format, in_toto)


@router.get("/service/{name}")
async def export_service(
    request: Request,
    access: AccessDep,
    name: str,
    start: Annotated[str, Query(alias="from", description="first day, included (2026-01-01)")],
    end: Annotated[str, Query(alias="to", description="last day, excluded (2026-04-01)")],
    format: FormatQuery = "json",
    in_toto: InTotoQuery = False,
) -> Response:
    """The evidence of every change shipped by a deployment to the service in [from, to)."""
    return await _serve(request, access, _period(start, end, name), format, in_toto)


@router.get("")
async def export_period(
    request: Request,
    access: AccessDep,
    start: Annotated[str, Query(alias="from", description="first day, included (2026-01-01)")],
    end: Annotated[str, Query(alias="to", description="last day, excluded (2026-04-01)")],
    format: FormatQuery = "json",
    in_toto: InTotoQuery = False,
) -> Response:
    """The evidence of every change merged in [from, to)."""
    return await _serve(request, access, _period(start, end), format, in_toto)
