"""Terminal renderings of answers: plain text a person reads in a terminal or a ticket."""

from __future__ import annotations

from datetime import datetime

from graph.models import Change
from graph.verdict import short


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _trust(level: str, by: str | None) -> str:
    """How a fact arrived, as `ask` prints it: `signed by …`, `provider (github webhook…)`."""
    if level == "signed" and by:
        return f"signed by {by}"
    return f"{level} ({by})" if by else level


def change_text(change: Change) -> str:
    """The five-minute answer for one change, verdict first."""
    lines = [
        f"{change.repo}#{change.number}  {change.title or ''}".rstrip(),
        f"  {change.url or ''}".rstrip(),
        f"  state {change.state or 'unknown'} · risk area {change.risk_area} · author "
        f"{change.author.login if change.author else 'unknown'} · head {short(change.head_sha)}"
        + (
            f" · merged as {short(change.merge_commit_sha)} at {_when(change.merged_at)}"
            if change.merge_commit_sha
            else ""
        ),
        "",
        f"VERDICT: {change.verdict.status.value}",
    ]
    lines += [f"  gap: {gap}" for gap in change.verdict.gaps]
    lines += ["", "Approvals:"]
    lines += [
        f"  {a.reviewer.login:<16} {_when(a.at)}  on {short(a.commit_sha)}  "
        f"{'independent' if a.independent else 'NOT independent'}, {'STALE' if a.stale else 'fresh'}"
        + f"  {_trust(a.trust.value, a.trust_by)}"
        + (f"  ({'; '.join(a.reasons)})" if a.reasons else "")
        for a in change.approvals
    ] or ["  none"]
    lines += ["", "Evidence on the shipped commit:"]
    lines += [
        f"  {e.kind:<14} {e.name:<24} {e.conclusion:<10} {short(e.commit_sha)}  {e.source:<12} "
        f"{_trust(e.trust.value, e.trust_by)}"
        + (f"\n    signature rejected: {e.signature_problem}" if e.signature_problem else "")
        for e in change.evidence
    ] or ["  none"]
    lines += ["", "AI agent sessions:"]
    lines += [
        f"  {s.id}  {s.tool or '?'} / {s.model or '?'}  operator {s.operator.login if s.operator else 'unknown'}"
        + (f"\n    prompt: {s.prompt_summary}" if s.prompt_summary else "")
        for s in change.sessions
    ] or ["  none (no agent session is linked to this change)"]
    lines += ["", "Commits:"]
    lines += [
        f"  {short(k.sha)}  {(k.message or '').splitlines()[0] if k.message else ''}"
        + (f"  [AI: {', '.join(k.ai_tools)}]" if k.ai_tools else "")
        for k in change.commits
    ] or ["  none"]
    lines += ["", "Deployments:"]
    lines += [
        f"  {d.id}  {d.environment}  {d.service or ''}  {d.status or 'unknown'}  {_when(d.at)}"
        for d in change.deployments
    ] or ["  none"]
    lines += ["", "Incidents:"]
    lines += [f"  {i.id}  {i.severity or ''}  {i.title or ''}  {i.status or ''}" for i in change.incidents] or [
        "  none"
    ]
    return "\n".join(lines)
