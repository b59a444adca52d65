"""Terminal renderings of answers: plain text a person reads in a terminal or a ticket.

Every stored value goes through `line` (cli.common): a title or a prompt cannot move the cursor, clear
the screen, hide a link or start a line of its own that reads like part of the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cli.common import line
from governance.exceptions import state
from graph.models import Change
from graph.verdict import short


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _trust(level: str, by: str | None) -> str:
    """How a fact arrived, as `ask` prints it: `signed by …`, `provider (github webhook…)`."""
    if level == "signed" and by:
        return f"signed by {line(by)}"
    return f"{level} ({line(by)})" if by else level


def change_text(change: Change) -> str:
    """The five-minute answer for one change, verdict first."""
    lines = [
        f"{line(change.repo)}#{change.number}  {line(change.title)}".rstrip(),
        f"  {line(change.url)}".rstrip(),
        f"  state {line(change.state or 'unknown')} · risk area {line(change.risk_area)} · author "
        f"{line(change.author.login) if change.author else 'unknown'} · head {line(short(change.head_sha))}"
        + (
            f" · merged as {line(short(change.merge_commit_sha))} at {_when(change.merged_at)}"
            if change.merge_commit_sha
            else ""
        ),
        "",
        f"VERDICT: {change.verdict.status.value}",
    ]
    lines += [f"  gap: {line(gap)}" for gap in change.verdict.gaps]
    now = datetime.now(UTC)
    lines += [
        f"  exception {x.id} ({state(x, now)}, until {_when(x.expires_at)}): "
        f"granted by {line(x.granted_by)}: {line(x.reason)}"
        for x in change.exceptions
    ]
    lines += ["", "Approvals:"]
    lines += [
        f"  {line(a.reviewer.login):<16} {_when(a.at)}  on {line(short(a.commit_sha))}  "
        f"{'independent' if a.independent else 'NOT independent'}, {'STALE' if a.stale else 'fresh'}"
        + f"  {_trust(a.trust.value, a.trust_by)}"
        + (f"  ({line('; '.join(a.reasons))})" if a.reasons else "")
        for a in change.approvals
    ] or ["  none"]
    lines += ["", "Evidence on the shipped commit:"]
    lines += [
        f"  {line(e.kind):<14} {line(e.name):<24} {line(e.conclusion):<10} {line(short(e.commit_sha))}"
        f"  {line(e.source):<12} {_trust(e.trust.value, e.trust_by)}"
        + (f"\n    signature rejected: {line(e.signature_problem)}" if e.signature_problem else "")
        for e in change.evidence
    ] or ["  none"]
    lines += ["", "AI agent sessions:"]
    lines += [
        f"  {line(s.id)}  {line(s.tool or '?')} / {line(s.model or '?')}  operator "
        f"{line(s.operator.login) if s.operator else 'unknown'}"
        + (f"\n    prompt: {line(s.prompt_summary)}" if s.prompt_summary else "")
        for s in change.sessions
    ] or ["  none (no agent session is linked to this change)"]
    lines += ["", "Commits:"]
    lines += [
        f"  {line(short(k.sha))}  {line((k.message or '').splitlines()[0]) if k.message else ''}"
        + (f"  [AI: {line(', '.join(k.ai_tools))}]" if k.ai_tools else "")
        for k in change.commits
    ] or ["  none"]
    lines += ["", "Deployments:"]
    lines += [
        f"  {line(d.id)}  {line(d.environment)}  {line(d.service)}  {line(d.status or 'unknown')}  {_when(d.at)}"
        for d in change.deployments
    ] or ["  none"]
    lines += ["", "Incidents:"]
    lines += [f"  {line(i.id)}  {line(i.severity)}  {line(i.title)}  {line(i.status)}" for i in change.incidents] or [
        "  none"
    ]
    return "\n".join(lines)
