"""`tracegraph trace incident ID`: walk back from an incident to its suspect changes and sessions."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from cli.common import echo, fail, line, user_errors
from graph.driver import run_with_graph
from graph.policy import load_policy
from graph.settings import get_settings
from graph.trace import Trace, trace_incident
from graph.verdict import short


def trace_text(trace: Trace) -> str:
    """The ranked suspects for a terminal."""
    i = trace.incident
    lines = [
        f"Incident {line(i.id)}  {line(i.title)}".rstrip(),
        f"  service {line(i.service or 'none named')} · severity {line(i.severity or '?')}"
        f" · status {line(i.status or '?')} · triggered {i.triggered_at or '?'}",
    ]
    lines += [f"  note: {line(note)}" for note in trace.notes]
    lines += ["", "Suspects (most likely first):"]
    if not trace.suspects:
        lines.append("  none found")
    for rank, s in enumerate(trace.suspects, start=1):
        c = s.change
        lines.append(
            f"  {rank}. {line(c.repo)}#{c.number}  {line(c.title)}  score {s.score:.2f}"
            f"  verdict {c.verdict.status.value}"
        )
        lines.append(f"     why: {line(s.reason)}")
        if s.deployment:
            lines.append(
                f"     shipped by {line(s.deployment.id)} ({line(s.deployment.environment)})"
                f" at sha {line(short(s.deployment.sha))}"
            )
        approvers = line(", ".join(a.reviewer.login for a in c.approvals)) or "nobody"
        lines.append(f"     author {line(c.author.login) if c.author else '?'} · approved by {approvers}")
        for session in c.sessions:
            lines.append(
                f"     agent session {line(session.id)}: {line(session.tool or '?')} / {line(session.model or '?')},"
                f" operator {line(session.operator.login) if session.operator else '?'}"
                + (f" — {line(session.prompt_summary)}" if session.prompt_summary else "")
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
        echo(
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
        echo(trace_text(found))
