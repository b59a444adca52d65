"""`tracegraph trace incident ID`: walk back from an incident to its suspect changes and sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from cli.common import fail, user_errors
from graph.driver import run_with_graph
from graph.policy import load_policy
from graph.settings import get_settings
from graph.trace import Trace, trace_incident
from graph.verdict import short


def trace_text(trace: Trace) -> str:
    """The ranked suspects for a terminal."""
    i = trace.incident
    lines = [
        f"Incident {i.id}  {i.title or ''}".rstrip(),
        f"  service {i.service or 'none named'} · severity {i.severity or '?'} · status {i.status or '?'}"
        f" · triggered {i.triggered_at or '?'}",
    ]
    lines += [f"  note: {note}" for note in trace.notes]
    lines += ["", "Suspects (most likely first):"]
    if not trace.suspects:
        lines.append("  none found")
    for rank, s in enumerate(trace.suspects, start=1):
        c = s.change
        lines.append(
            f"  {rank}. {c.repo}#{c.number}  {c.title or ''}  score {s.score:.2f}  verdict {c.verdict.status.value}"
        )
        lines.append(f"     why: {s.reason}")
        if s.deployment:
            lines.append(
                f"     shipped by {s.deployment.id} ({s.deployment.environment}) at sha {short(s.deployment.sha)}"
            )
        approvers = ", ".join(a.reviewer.login for a in c.approvals) or "nobody"
        lines.append(f"     author {c.author.login if c.author else '?'} · approved by {approvers}")
        for session in c.sessions:
            lines.append(
                f"     agent session {session.id}: {session.tool or '?'} / {session.model or '?'}, operator "
                f"{session.operator.login if session.operator else '?'}"
                + (f" — {session.prompt_summary}" if session.prompt_summary else "")
            )
    return "\n".join(lines)


@click.group()
def trace() -> None:
    """Trace a regression back to its deployments, changes, approvers and agent sessions."""


@trace.command("incident")
@click.argument("incident_id")
@click.option("--window", "window_hours", default=72, show_default=True, help="Hours before the trigger to search.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
@user_errors
def trace_incident_command(incident_id: str, window_hours: int, as_json: bool) -> None:
    """Rank the changes that may have caused INCIDENT_ID."""
    settings = get_settings()
    policy = load_policy(settings.policy_file)
    found = run_with_graph(
        settings, lambda g: trace_incident(g, policy, incident_id, window=timedelta(hours=window_hours)), ensure=True
    )
    if found is None:
        fail(f"no incident {incident_id!r} in the graph; ingest it first (PagerDuty, Opsgenie)", code=1)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "incident": found.incident.model_dump(mode="json", by_alias=True),
                    "notes": found.notes,
                    "suspects": [
                        {
                            "change": s.change.model_dump(mode="json", by_alias=True),
                            "deployment": s.deployment.model_dump(mode="json", by_alias=True) if s.deployment else None,
                            "score": s.score,
                            "reason": s.reason,
                        }
                        for s in found.suspects
                    ],
                },
                indent=2,
            )
        )
    else:
        click.echo(trace_text(found))
