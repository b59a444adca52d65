"""The auditor's CSV: one row per change, multi-valued cells joined with '; ', safe to open in a spreadsheet.

(Named table.py, not csv.py, so that `import csv` inside the package still means the standard library.)
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from datetime import datetime

from export.manifest import stamp
from graph.models import Change
from graph.policy import Policy
from graph.verdict import evidence_gaps
from ingest.redact import redact

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
    # How each piece of evidence and each approval arrived (graph.vocabulary.Trust).
    "evidence_trust",
    "approval_trust",
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
    return [
        k
        for k in area.required_evidence
        if evidence_gaps([k], shipped=shipped, evidence=change.evidence, area=area, area_name=change.risk_area or "")
    ]


def first_successful_deployment(change: Change) -> datetime | None:
    """When the earliest successful deployment of the change finished (or started)."""
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
        "merged_at": stamp(change.merged_at),
        "deployed_at": stamp(first_successful_deployment(change)),
        "deployed_to": "; ".join(
            f"{d.environment}/{d.service or '?'} {d.status or 'unknown'} {stamp(d.at)}".rstrip()
            for d in change.deployments
        ),
        "incidents": "; ".join(f"{i.id} ({i.severity or 'no severity'})" for i in change.incidents),
        "evidence_trust": "; ".join(
            f"{e.kind}/{e.name}: {e.trust.value}" + (" (signature rejected)" if e.signature_problem else "")
            for e in change.evidence
        ),
        "approval_trust": "; ".join(f"{a.reviewer.login}: {a.trust.value}" for a in change.approvals),
    }


FORMULA_STARTS = frozenset("=+-@")


def _first_visible(value: str) -> str:
    """The first character a spreadsheet may read past: leading whitespace (spaces, newlines, tabs), control
    characters and invisible format characters (zero-width spaces and joiners, BOM, direction marks) are
    skipped, and compatibility forms are folded (a full-width ＝ reads as =)."""
    for char in value:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
            continue
        return unicodedata.normalize("NFKC", char)[:1]
    return ""


def _cell(value: str) -> str:
    # A spreadsheet runs a cell that starts (after what it trims or cannot show) with = + - @ as a formula
    # (CSV injection): make it text.
    value = redact(value) or ""
    formula = _first_visible(value) in FORMULA_STARTS or value[:1] in ("\t", "\r")
    return "'" + value if formula else value


def csv_table(columns: list[str], rows: Iterable[dict[str, str]]) -> str:
    """CSV text (a header, CRLF lines) whose every cell is redacted and cannot run as a spreadsheet formula."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def csv_text(answers: list[Change], policy: Policy) -> str:
    """The auditor's CSV: a header and one row per change."""
    return csv_table(CSV_COLUMNS, (csv_row(change, policy) for change in answers))
