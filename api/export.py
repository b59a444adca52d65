"""Evidence exports: a JSON bundle with a SHA-256 manifest (optionally an in-toto Statement), a CSV for
auditors and an HTML report; and the REST endpoints under /export that serve them.

The builders are pure (an ExportSet in, bytes out); only `collect` reads the graph.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import json
import re
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from neo4j.exceptions import DriverError, Neo4jError
from pydantic import BaseModel

from api.auth import Reader
from api.export_html import render_report
from graph import export_reads, repository
from graph.access import Principal
from graph.driver import Graph
from graph.export_reads import Subgraph
from graph.models import Change
from graph.policy import Policy
from graph.verdict import evidence_gaps
from ingest.redact import redact
from ingest.sources import SOURCES
from ingest.sources.base import iso

FORMAT_URI = "https://tracegraph.dev/evidence-bundle/v1"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
MANIFEST = "manifest.json"
STATEMENT = "statement.intoto.json"
# Files a bundle holds beside the ones its manifest lists: the manifest, and the Statement over it.
UNLISTED = frozenset({MANIFEST, STATEMENT})
WHOLE_DEFINITION = (
    "sha256 over the UTF-8 lines '<hex digest>  <path>\\n' of every file in `files`, sorted by path: "
    "what `sha256sum` prints for those paths in that order, piped into `sha256sum`"
)
Format = Literal["json", "csv", "html"]


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
        # A quarter can hold hundreds of changes: a few answers in flight at once, not hundreds.
        limit = asyncio.Semaphore(8)

        async def one(change_id: str) -> Change | None:
            async with limit:
                return await repository.change_by_id(graph, policy, change_id)

        answers = [a for a in await asyncio.gather(*(one(i) for i in ids)) if a is not None]
    sub = await export_reads.subgraph(graph, ids, sources=SOURCES)
    return ExportSet(scope, answers, sub)


# --- secrets and serialisation -----------------------------------------------------------------


@lru_cache(maxsize=65536)
def _redacted(text: str) -> str:
    # Bundles repeat the same strings (event ids, times, shas) thousands of times: redact each once.
    return redact(text) or ""


def scrub(value: Any) -> Any:
    """Redact every string in a JSON-like value (belt and braces: text was redacted on the way in)."""
    if isinstance(value, str):
        return _redacted(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def json_bytes(value: Any) -> bytes:
    return (json.dumps(scrub(value), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def whole_digest(files: dict[str, str]) -> str:
    """The digest of the whole bundle from {path: 'sha256:<hex>'} (see WHOLE_DEFINITION)."""
    lines = "".join(f"{digest.removeprefix('sha256:')}  {path}\n" for path, digest in sorted(files.items()))
    return "sha256:" + sha256_hex(lines.encode())


def _generator() -> str:
    try:
        return f"tracegraph {version('tracegraph')}"
    except PackageNotFoundError:
        return "tracegraph"


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = [
    "repo",
    "number",
    "title",
    "url",
    "state",
    "risk_area",
    "author",
    "ai_assisted",
    "ai_tools",
    "ai_models",
    "ai_sessions",
    "independent_approvers",
    "stale_approvals",
    "evidence_present",
    "evidence_missing",
    "verdict",
    "gaps",
    "merged_at",
    "deployed_at",
    "deployed_to",
    "incidents",
]


def ai_tools(change: Change) -> list[str]:
    """The AI tools that took part in a change: its sessions' tools and commit trailers' tools."""
    return sorted({s.tool for s in change.sessions if s.tool} | {t for k in change.commits for t in k.ai_tools})


def missing_evidence(change: Change, policy: Policy) -> list[str]:
    """Required evidence kinds not present and successful on the shipped commit (the verdict's rule)."""
    area = policy.areas.get(change.risk_area or "")
    if area is None:
        return []
    shipped = [s for s in (change.merge_commit_sha, change.head_sha) if s]
    return [k for k in area.required_evidence if evidence_gaps([k], shipped=shipped, evidence=change.evidence)]


def first_successful_deployment(change: Change) -> datetime | None:
    times = [d.at for d in change.deployments if d.status == "success" and d.at]
    return min(times) if times else None


def csv_row(change: Change, policy: Policy) -> dict[str, str]:
    """One auditor row: multi-valued cells joined with '; ', gaps one per line (a gap may hold ';' or '|')."""
    tools = ai_tools(change)
    return {
        "repo": change.repo,
        "number": str(change.number),
        "title": change.title or "",
        "url": change.url or "",
        "state": change.state or "",
        "risk_area": change.risk_area or "",
        "author": change.author.login if change.author else "",
        "ai_assisted": "yes" if tools or change.sessions else "no",
        "ai_tools": "; ".join(tools),
        "ai_models": "; ".join(sorted({s.model for s in change.sessions if s.model})),
        "ai_sessions": "; ".join(s.id for s in change.sessions),
        # An approval counts exactly when nothing speaks against it (reasons lists every objection).
        "independent_approvers": "; ".join(sorted({a.reviewer.login for a in change.approvals if not a.reasons})),
        "stale_approvals": "; ".join(
            f"{a.reviewer.login}@{(a.commit_sha or '?')[:7]}" for a in change.approvals if a.stale
        ),
        "evidence_present": "; ".join(sorted({e.kind for e in change.evidence if e.conclusion == "success"})),
        "evidence_missing": "; ".join(missing_evidence(change, policy)),
        "verdict": change.verdict.status.value,
        "gaps": "\n".join(change.verdict.gaps),
        "merged_at": _when(change.merged_at),
        "deployed_at": _when(first_successful_deployment(change)),
        "deployed_to": "; ".join(
            f"{d.environment}/{d.service or '?'} {d.status or 'unknown'} {_when(d.at)}".rstrip()
            for d in change.deployments
        ),
        "incidents": "; ".join(f"{i.id} ({i.severity or 'no severity'})" for i in change.incidents),
    }


def _cell(value: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula (CSV injection): make it text.
    value = redact(value) or ""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_text(answers: list[Change], policy: Policy) -> str:
    """The auditor's CSV: a header and one row per change."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for change in answers:
        writer.writerow({k: _cell(v) for k, v in csv_row(change, policy).items()})
    return out.getvalue()


# --- HTML ---------------------------------------------------------------------------------------


def html_text(export: ExportSet, *, generated_at: datetime) -> str:
    """The printable report of an export (see api.export_html)."""
    caused_by: dict[str, set[str]] = {}
    for edge in export.subgraph.edges:
        if edge.type == "CAUSED_BY" and edge.start.startswith("Incident:") and edge.end.startswith("Deployment:"):
            caused_by.setdefault(edge.start.split(":", 1)[1], set()).add(edge.end.split(":", 1)[1])
    return render_report(
        export.answers, title=export.scope.title(), generated_at=_when(generated_at), caused_by=caused_by
    )


# --- the JSON bundle ----------------------------------------------------------------------------


def _subject(change: Change) -> dict[str, Any] | None:
    sha = change.merge_commit_sha or change.head_sha
    if not sha:
        return None
    parsed = urlparse(change.url or "")
    host = (
        f"{parsed.scheme}://{parsed.netloc}"
        if parsed.netloc
        else "https://" + ("gitlab.com" if change.id.startswith("gitlab:") else "github.com")
    )
    return {"name": f"git+{host}/{change.repo}@{sha}", "digest": {"gitCommit": sha}}


def statement(export: ExportSet, manifest: bytes, whole: str, generated_at: str) -> dict[str, Any]:
    """An in-toto Statement v1 over the changes' merge commits whose predicate pins the manifest."""
    subjects = [s for c in export.answers if (s := _subject(c))]
    if not subjects:
        raise ExportError("nothing to attest: no change in this export has a merge or head commit")
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": FORMAT_URI,
        "predicate": {
            "generatedAt": generated_at,
            "generator": _generator(),
            "scope": export.scope.model_dump(exclude_none=True),
            "manifest": {"path": MANIFEST, "digest": {"sha256": sha256_hex(manifest)}},
            "bundle": {"digest": {"sha256": whole.removeprefix("sha256:")}, "definition": WHOLE_DEFINITION},
            "verdicts": [
                {"change": c.id, "status": c.verdict.status.value, "gaps": c.verdict.gaps} for c in export.answers
            ],
        },
    }


README = """tracegraph evidence bundle
==========================

{title}

manifest.json          the SHA-256 of every other file ("files") and of the whole bundle ("whole")
answers/*.json         the five-minute answer per change: verdict, gaps, approvals, evidence, sessions,
                       deployments, incidents (what `tracegraph ask change --json` prints)
graph/nodes.json       every node the answers rest on, with its properties and, per property, the
graph/edges.json       source event that asserted the current value; every edge between those nodes
source-events.json     the source events named above, and the file holding each raw document
sources/<sha256>.*     the raw documents as received (secrets redacted); the name is the file's SHA-256
report.csv             one row per change, for auditors
report.html            the printable report
statement.intoto.json  (when asked for) an in-toto Statement whose subjects are the merge commits and
                       whose predicate holds the manifest's SHA-256, the bundle digest and the verdicts

Check it:   tracegraph verify-export <this folder or archive>
Or by hand: jq -r '.files | to_entries[] | "\\(.value | ltrimstr("sha256:"))  \\(.key)"' manifest.json | sha256sum -c
The whole:  jq -r '.files | to_entries[] | "\\(.value | ltrimstr("sha256:"))  \\(.key)"' manifest.json | sha256sum
            equals manifest.json "whole" (sha256 over the sorted '<hex>  <path>' lines).
"""


def _source_files(sub: Subgraph) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    files: dict[str, bytes] = {}
    index = []
    for doc in sub.sources:
        body = (redact(doc.body) or "").encode()
        try:
            json.loads(body)
            suffix = "json"
        except ValueError:
            suffix = "txt"  # text sources (postmortems in Markdown) keep their text as it came
        path = f"sources/{sha256_hex(body)}.{suffix}"
        files[path] = body
        meta = doc.model_dump(exclude={"body"}, by_alias=True)
        index.append({**meta, "file": path})
    return files, index


def _answer_paths(answers: list[Change]) -> dict[str, str]:
    paths: dict[str, str] = {}
    used: set[str] = set()
    for change in sorted(answers, key=lambda c: c.id):
        base = safe_name(change.id)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        paths[change.id] = f"answers/{name}.json"
    return paths


def bundle_files(
    export: ExportSet, policy: Policy, *, generated_at: datetime, in_toto: bool = False
) -> dict[str, bytes]:
    """Every file of the evidence bundle by path, manifest.json (and statement.intoto.json) included."""
    when = _when(generated_at)
    answer_paths = _answer_paths(export.answers)
    files: dict[str, bytes] = {
        answer_paths[c.id]: json_bytes(c.model_dump(mode="json", by_alias=True)) for c in export.answers
    }
    sources, index = _source_files(export.subgraph)
    files.update(sources)
    files["graph/nodes.json"] = json_bytes([n.model_dump(mode="json", by_alias=True) for n in export.subgraph.nodes])
    files["graph/edges.json"] = json_bytes([e.model_dump(mode="json", by_alias=True) for e in export.subgraph.edges])
    files["source-events.json"] = json_bytes({"documents": index, "missing": export.subgraph.missing_sources})
    files["report.csv"] = csv_text(export.answers, policy).encode()
    files["report.html"] = html_text(export, generated_at=generated_at).encode()
    files["README.txt"] = README.format(title=export.scope.title()).encode()
    digests = {path: "sha256:" + sha256_hex(data) for path, data in sorted(files.items())}
    whole = whole_digest(digests)
    manifest = json_bytes(
        {
            "format": FORMAT_URI,
            "generatedAt": when,
            "generator": _generator(),
            "scope": export.scope.model_dump(exclude_none=True),
            "changes": [
                {
                    "id": c.id,
                    "verdict": c.verdict.status.value,
                    "gaps": len(c.verdict.gaps),
                    "answer": answer_paths[c.id],
                }
                for c in export.answers
            ],
            "files": digests,
            "whole": whole,
            "wholeDefinition": WHOLE_DEFINITION,
        }
    )
    files[MANIFEST] = manifest
    if in_toto:
        files[STATEMENT] = json_bytes(statement(export, manifest, whole, when))
    return files


# --- writing a bundle ---------------------------------------------------------------------------

ARCHIVES = (".zip", ".tar.gz", ".tgz")


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """The bundle as a zip (fixed timestamps, sorted entries: the same files give the same bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(files.items()):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def tar_gz_bytes(files: dict[str, bytes]) -> bytes:
    """The bundle as a .tar.gz (fixed timestamps, sorted entries)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def write_bundle(files: dict[str, bytes], out: Path) -> Path:
    """Write the bundle as a folder, or as an archive when `out` ends in .zip, .tar.gz or .tgz."""
    name = out.name.lower()
    if name.endswith(ARCHIVES):
        if out.exists():
            raise ExportError(f"{out} already exists; choose another name or remove it")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(zip_bytes(files) if name.endswith(".zip") else tar_gz_bytes(files))
        return out
    # Old files left in the folder would make the bundle fail verification as "unexpected".
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder; choose another --out or remove it")
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return out


# --- REST ---------------------------------------------------------------------------------------


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


def render(export: ExportSet, policy: Policy, fmt: Format, *, in_toto: bool, generated_at: datetime) -> Response:
    """The export as an HTTP response: a zip download, a CSV download, or an HTML page."""
    name = f"evidence-{export.scope.slug()}"
    if fmt == "csv":
        return Response(
            csv_text(export.answers, policy),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "html":
        return Response(html_text(export, generated_at=generated_at), media_type="text/html; charset=utf-8")
    files = bundle_files(export, policy, generated_at=generated_at, in_toto=in_toto)
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
        return render(export, policy, fmt, in_toto=in_toto, generated_at=datetime.now(UTC))
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
