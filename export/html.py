"""The printable HTML evidence report: verdict first, then approvals, evidence, provenance, deployments,
incidents, and the change's trail as inline SVG. One self-contained page: no script, no external asset,
and every value from the graph escaped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlparse

from export.manifest import stamp
from export.scope import ExportSet
from graph.models import Change
from graph.verdict import short
from graph.vocabulary import Trust
from ingest.redact import redact

VERIFIED_COLOR = "#1a7f37"
UNVERIFIED_COLOR = "#cf222e"
GOOD, BAD, NEUTRAL = ("#dafbe1", "#1a7f37"), ("#ffebe9", "#cf222e"), ("#f6f8fa", "#8c959f")

CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0 auto; padding: 24px 32px 48px; max-width: 1180px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 20px; margin: 0 0 4px; overflow-wrap: anywhere; }
h3 { font-size: 15px; margin: 22px 0 6px; padding-bottom: 3px; border-bottom: 1px solid var(--line); }
.meta, .facts { color: var(--muted); margin: 0 0 10px; }
.change { margin-top: 28px; padding-top: 8px; border-top: 3px solid var(--fg); }
.verdict { color: #fff; border-radius: 8px; padding: 14px 20px 12px; margin: 10px 0 6px; }
.verdict .status { font-size: 40px; font-weight: 800; letter-spacing: .04em; line-height: 1.1; }
.verdict .why { font-size: 15px; margin: 4px 0 0; }
.verdict ul { margin: 8px 0 0; padding-left: 20px; font-size: 14px; }
.verdict li { margin: 3px 0; overflow-wrap: anywhere; }
.VERIFIED { background: #1a7f37; }
.UNVERIFIED { background: #cf222e; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line);
         overflow-wrap: anywhere; }
th { background: #f6f8fa; font-weight: 600; }
.none { color: var(--muted); font-style: italic; margin: 4px 0; }
.ok { color: #1a7f37; font-weight: 600; }
.bad { color: #cf222e; font-weight: 600; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.trail { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.pill { color: #fff; font-weight: 700; padding: 1px 8px; border-radius: 10px; font-size: 12px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { padding: 0; max-width: none; font-size: 10.5pt; }
  .verdict, .pill, th, svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .change { break-before: page; border-top: none; }
  .change.first { break-before: auto; }
  tr, .verdict, .trail, h3 { break-inside: avoid; }
  h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: object) -> str:
    """Escaped text (secrets redacted once more on the way out)."""
    return escape(redact("" if value is None else str(value)) or "", quote=True)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _minute(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else "time unknown"


def _link(url: str | None, text: str) -> str:
    # Only web links become anchors: a `javascript:` URL from a payload must stay inert text.
    if url and urlparse(url).scheme in ("http", "https"):
        return f'<a href="{_e(url)}">{_e(text)}</a>'
    return _e(text)


def _table(headers: Iterable[str], rows: list[list[str]], empty: str) -> str:
    """A table of already-escaped cells, or a note when there are no rows."""
    if not rows:
        return f'<p class="none">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _flag(good: bool, yes: str, no: str) -> str:
    return f'<span class="ok">{_e(yes)}</span>' if good else f'<span class="bad">{_e(no)}</span>'


# --- the trail picture --------------------------------------------------------------------------

BOX_W, BOX_H, PITCH, GAP, TOP, MAX_BOXES = 170, 44, 196, 14, 34, 8
COLUMNS = ["AI sessions", "Change", "Commits", "Checks", "Deployments", "Incidents"]
EMPTY = ["no agent session", "", "no commit known", "no check on the shipped commit", "not deployed", "no incident"]


@dataclass
class _Box:
    key: str
    title: str
    detail: str
    colors: tuple[str, str]  # fill, stroke
    hint: str = ""
    dashed: bool = False


def _trust(level: Trust, by: str | None, problem: str | None) -> str:
    """How a fact arrived: its level (signed and provider in green), who vouched, a rejected signature in red."""
    style = {Trust.SIGNED: "ok", Trust.PROVIDER: "ok", Trust.UNVERIFIED: "bad"}.get(level)
    text = f'<span class="{style}">{_e(level.value)}</span>' if style else _e(level.value)
    if by:
        text += f"<br><small>{_e(by)}</small>"
    if problem:
        text += f'<br><small class="bad">signature rejected: {_e(problem)}</small>'
    return text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _conclusion_colors(conclusion: str | None) -> tuple[str, str]:
    if conclusion == "success":
        return GOOD
    return BAD if conclusion in ("failure", "error", "timed_out", "cancelled", "action_required") else NEUTRAL


def _trail_columns(change: Change) -> list[list[_Box]]:
    verdict_colors = GOOD if change.verdict.status.value == "VERIFIED" else BAD
    shipped = {change.head_sha: "head", change.merge_commit_sha: "merge"}
    commits = [(k.sha, (k.message or "").splitlines()[0] if k.message else "") for k in change.commits]
    if change.merge_commit_sha and change.merge_commit_sha not in {sha for sha, _ in commits}:
        commits.append((change.merge_commit_sha, ""))
    return [
        [
            _Box(
                f"s:{s.id}", s.id, f"{s.tool or '?'} / {s.model or '?'}", ("#eef1ff", "#5a67d8"), s.prompt_summary or ""
            )
            for s in change.sessions
        ],
        [
            _Box(
                "change",
                f"{change.repo}#{change.number}",
                change.verdict.status.value,
                verdict_colors,
                change.title or "",
            )
        ],
        [
            _Box(
                f"k:{sha}",
                short(sha),
                " · ".join(p for p in (shipped.get(sha, ""), message) if p),
                ("#ffffff", "#1f2328" if sha in shipped else "#8c959f"),
                message,
            )
            for sha, message in commits
        ],
        [
            _Box(f"e:{e.id}", e.name, f"{e.kind} · {e.conclusion}", _conclusion_colors(e.conclusion), e.url or "")
            for e in change.evidence
        ],
        [
            _Box(
                f"d:{d.id}",
                f"{d.environment} → {d.service or '?'}",
                f"{d.status or 'unknown'} · {_minute(d.at)}",
                _conclusion_colors(d.status),
                d.id,
            )
            for d in change.deployments
        ],
        [
            _Box(f"i:{i.id}", i.id, f"{i.severity or ''} {i.title or ''}".strip(), BAD, i.title or "")
            for i in change.incidents
        ],
    ]


def _trail_links(change: Change, caused_by: dict[str, set[str]]) -> list[tuple[str, str]]:
    links = [(f"s:{s.id}", "change") for s in change.sessions]
    links += [("change", f"k:{k.sha}") for k in change.commits]
    if change.merge_commit_sha and change.merge_commit_sha not in {k.sha for k in change.commits}:
        links.append(("change", f"k:{change.merge_commit_sha}"))
    links += [(f"k:{e.commit_sha}", f"e:{e.id}") for e in change.evidence]
    for d in change.deployments:
        # The checks on the shipped commit vouched for the deployment; without any, the commit goes straight to it.
        links += [(f"e:{e.id}", f"d:{d.id}") for e in change.evidence] or [(f"k:{d.sha}", f"d:{d.id}")]
    deployments = {d.id for d in change.deployments}
    for i in change.incidents:
        via = sorted(caused_by.get(i.id, set()) & deployments)
        links += [(f"d:{d}", f"i:{i.id}") for d in via] or [("change", f"i:{i.id}")]
    return links


def trail_svg(change: Change, *, caused_by: dict[str, set[str]], uid: str) -> str:
    """The change's trail (session → change → commits → checks → deployment → incident) as inline SVG."""
    columns = _trail_columns(change)
    placed: dict[str, tuple[float, float]] = {}
    for boxes in columns:
        if len(boxes) > MAX_BOXES:
            rest = len(boxes) - MAX_BOXES + 1
            boxes[MAX_BOXES - 1 :] = [_Box("more", f"+{rest} more", "listed in the tables", NEUTRAL)]
    rows = max(1, *(len(c) for c in columns))
    height = TOP + rows * (BOX_H + GAP) + 6
    width = PITCH * len(COLUMNS) - (PITCH - BOX_W) + 20
    parts = [
        f'<svg class="trail" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e("trail of " + change.repo + "#" + str(change.number))}">',
        f'<defs><marker id="arrow-{uid}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#8c959f"/></marker></defs>',
    ]
    body: list[str] = []
    for col, (name, empty, boxes) in enumerate(zip(COLUMNS, EMPTY, columns, strict=True)):
        x = 10 + col * PITCH
        parts.append(
            f'<text x="{x + BOX_W / 2}" y="18" text-anchor="middle" font-size="12" font-weight="600" '
            f'fill="#59636e">{_e(name)}</text>'
        )
        if not boxes:
            boxes = [_Box("", "none", empty, ("#ffffff", "#d1d9e0"), dashed=True)]
        offset = TOP + (rows - len(boxes)) * (BOX_H + GAP) / 2
        for row, box in enumerate(boxes):
            y = offset + row * (BOX_H + GAP)
            if box.key:
                placed[box.key] = (x, y)
            fill, stroke = box.colors
            dash = ' stroke-dasharray="4 3"' if box.dashed else ""
            hint = f"<title>{_e(box.title)}{': ' + _e(box.hint) if box.hint else ''}</title>"
            body.append(
                f"<g>{hint}<rect x='{x}' y='{y}' width='{BOX_W}' height='{BOX_H}' rx='6' fill='{fill}' "
                f"stroke='{stroke}' stroke-width='1.5'{dash}/>"
                f"<text x='{x + 8}' y='{y + 18}' font-size='12' font-weight='600' fill='#1f2328'>"
                f"{_e(_clip(box.title, 24))}</text>"
                f"<text x='{x + 8}' y='{y + 34}' font-size='10.5' fill='#59636e'>{_e(_clip(box.detail, 30))}</text></g>"
            )
    for start, end in dict.fromkeys(_trail_links(change, caused_by)):
        if start in placed and end in placed:
            (x1, y1), (x2, y2) = placed[start], placed[end]
            ax, ay, bx, by = x1 + BOX_W, y1 + BOX_H / 2, x2 - 2, y2 + BOX_H / 2
            bend = max(24.0, (bx - ax) / 2)
            parts.append(
                f'<path d="M{ax} {ay} C{ax + bend} {ay} {bx - bend} {by} {bx} {by}" fill="none" stroke="#8c959f" '
                f'stroke-width="1.4" marker-end="url(#arrow-{uid})"/>'
            )
    return "".join(parts + body) + "</svg>"


# --- the report ---------------------------------------------------------------------------------


def _verdict(change: Change) -> str:
    status = change.verdict.status.value
    if change.verdict.gaps:
        why = f"{len(change.verdict.gaps)} gap(s) against the {change.risk_area} policy:"
        gaps = "<ul>" + "".join(f"<li>{_e(g)}</li>" for g in change.verdict.gaps) + "</ul>"
    else:
        why, gaps = f"every requirement of the {change.risk_area} policy is met", ""
    return f'<div class="verdict {status}"><div class="status">{status}</div><p class="why">{_e(why)}</p>{gaps}</div>'


def _section(change: Change, *, index: int, caused_by: dict[str, set[str]]) -> str:
    facts = " · ".join(
        [
            f"state {change.state or 'unknown'}",
            f"risk area {change.risk_area}",
            f"author {change.author.login if change.author else 'unknown'}",
            f"head {short(change.head_sha)}",
        ]
        + (
            [f"merged as {short(change.merge_commit_sha)} at {_when(change.merged_at)}"]
            if change.merge_commit_sha
            else []
        )
    )
    approvals = _table(
        ["Reviewer", "At", "On commit", "Independent", "Fresh", "Arrived", "Not counted because"],
        [
            [
                _e(a.reviewer.login),
                _e(_when(a.at)),
                f"<code>{_e(short(a.commit_sha))}</code>",
                _flag(a.independent, "yes", "no"),
                _flag(not a.stale, "fresh", "STALE"),
                _trust(a.trust, a.trust_by, None),
                _e("; ".join(a.reasons)),
            ]
            for a in change.approvals
        ],
        "No approving review.",
    )
    evidence = _table(
        ["Kind", "Check", "Conclusion", "Commit", "Source", "Arrived", "At"],
        [
            [
                _e(e.kind),
                _link(e.url, e.name),
                _flag(e.conclusion == "success", e.conclusion, e.conclusion),
                f"<code>{_e(short(e.commit_sha))}</code>",
                _e(e.source),
                _trust(e.trust, e.trust_by, e.signature_problem),
                _e(_when(e.at)),
            ]
            for e in change.evidence
        ],
        "No evidence on the shipped commit.",
    )
    sessions = _table(
        ["Session", "Tool", "Model", "Operator", "Prompt summary"],
        [
            [
                f"<code>{_e(s.id)}</code>",
                _e(s.tool or "?"),
                _e(s.model or "?"),
                _e(s.operator.login if s.operator else "unknown"),
                _e(s.prompt_summary or ""),
            ]
            for s in change.sessions
        ],
        "No agent session is linked to this change.",
    )
    commits = _table(
        ["Commit", "Author", "Message", "AI tools"],
        [
            [
                f"<code>{_e(short(k.sha))}</code>",
                _e(k.author.login if k.author else k.author_name or "unknown"),
                _e((k.message or "").splitlines()[0] if k.message else ""),
                _e(", ".join(k.ai_tools)),
            ]
            for k in change.commits
        ],
        "No commit is known.",
    )
    deployments = _table(
        ["Deployment", "Environment", "Service", "Status", "Strategy", "Commit", "At"],
        [
            [
                _e(d.id),
                _e(d.environment),
                _e(d.service or ""),
                _flag(d.status == "success", d.status or "unknown", d.status or "unknown"),
                _e(d.strategy or ""),
                f"<code>{_e(short(d.sha))}</code>",
                _e(_when(d.at)),
            ]
            for d in change.deployments
        ],
        "Not deployed (no deployment shipped its head or merge commit).",
    )
    incidents = _table(
        ["Incident", "Severity", "Title", "Status", "Service", "Triggered", "Resolved"],
        [
            [
                _e(i.id),
                _e(i.severity or ""),
                _e(i.title or ""),
                _e(i.status or ""),
                _e(i.service or ""),
                _e(_when(i.triggered_at)),
                _e(_when(i.resolved_at)),
            ]
            for i in change.incidents
        ],
        "No incident is linked to this change.",
    )
    heading = _link(change.url, f"{change.repo}#{change.number}") + (f" — {_e(change.title)}" if change.title else "")
    return (
        f'<section class="change{" first" if index == 0 else ""}" id="change-{index}">'
        f"<h2>{heading}</h2><p class='facts'>{_e(facts)}</p>{_verdict(change)}"
        f"<h3>Approvals</h3>{approvals}<h3>Evidence on the shipped commit</h3>{evidence}"
        f"<h3>Provenance: AI agent sessions</h3>{sessions}<h3>Commits</h3>{commits}"
        f"<h3>Deployments</h3>{deployments}<h3>Incidents</h3>{incidents}"
        f"<h3>Trail</h3>{trail_svg(change, caused_by=caused_by, uid=str(index))}</section>"
    )


def _summary(answers: list[Change]) -> str:
    rows = [
        [
            f'<a href="#change-{n}">{_e(c.repo)}#{_e(c.number)}</a>',
            _e(c.title or ""),
            _e(c.risk_area or ""),
            # The class is our own enum value, never text from the graph.
            f'<span class="pill {c.verdict.status.value}">{c.verdict.status.value}</span>',
            _e(len(c.verdict.gaps)),
        ]
        for n, c in enumerate(answers)
    ]
    table = _table(["Change", "Title", "Risk area", "Verdict", "Gaps"], rows, "No change in this scope.")
    verified = sum(1 for c in answers if c.verdict.status.value == "VERIFIED")
    return f'<div class="summary"><h3>{verified} of {len(answers)} change(s) VERIFIED</h3>{table}</div>'


def render_report(
    answers: list[Change], *, title: str, generated_at: str, caused_by: dict[str, set[str]] | None = None
) -> str:
    """The whole report as one HTML document."""
    links = caused_by or {}
    sections = "".join(_section(c, index=n, caused_by=links) for n, c in enumerate(answers))
    summary = _summary(answers) if len(answers) != 1 else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Evidence report: {_e(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Evidence report: {_e(title)}</h1>"
        f'<p class="meta">Generated {_e(generated_at)} by tracegraph · {len(answers)} change(s) · '
        "verdicts follow the policy in force when the report was made</p></header>"
        f"{summary}{sections}"
        "<footer>Every fact here is in the evidence bundle with the source event that asserted it; "
        "<code>tracegraph verify-export</code> checks the bundle's SHA-256 manifest.</footer></body></html>\n"
    )


def html_text(export: ExportSet, *, generated_at: datetime) -> str:
    """The printable report of an export, with each incident's deployments it was caused by drawn on the trail."""
    caused_by: dict[str, set[str]] = {}
    for edge in export.subgraph.edges:
        if edge.type == "CAUSED_BY" and edge.start.startswith("Incident:") and edge.end.startswith("Deployment:"):
            caused_by.setdefault(edge.start.split(":", 1)[1], set()).add(edge.end.split(":", 1)[1])
    return render_report(
        export.answers, title=export.scope.title(), generated_at=stamp(generated_at), caused_by=caused_by
    )
