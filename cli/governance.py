"""`tracegraph exception …`, `status`, `drill …` and `audit-period`: the governance records and reports."""

from __future__ import annotations

import getpass
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from cli.common import CHANGE_REF, echo, fail, line, user_errors
from export.archive import write_bundle
from export.sign import export_signer
from governance import audit_period as ap
from governance import exceptions as xs
from governance import status as service_status
from governance.controls import load_controls
from governance.drills import restore_seconds as restore_time
from governance.models import ServiceStatus
from graph import access, repository
from graph import governance as records
from graph.access import Principal
from graph.driver import Graph, run_with_graph
from graph.models import ExceptionGrant
from graph.policy import DEFAULT_POLICY, Policy, load_policy
from graph.settings import Settings, get_settings
from ingest.timestamps import iso

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def instant(text: str, what: str, *, end_of_day: bool = False) -> datetime:
    """An ISO-8601 date or time (UTC when no zone is given); a bare date is its start, or with
    `end_of_day` its end (the next midnight)."""
    value = iso(text)
    if value is None:
        fail(f"{what} {text!r} is not a date; write it as 2026-12-31 or 2026-12-31T18:00:00Z")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment + timedelta(days=1) if end_of_day and DAY.match(text.strip()) else moment


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


async def _caller(graph: Graph, settings: Settings) -> Principal:
    secret = settings.token.get_secret_value() if settings.token else ""
    if not secret:
        fail(
            "set TRACEGRAPH_TOKEN to your own approver token (an admin creates one with "
            "`tracegraph token create --role approver --name <your login>`)"
        )
    who = await access.authenticate(graph, secret)
    if who is None:
        fail("TRACEGRAPH_TOKEN is unknown or revoked")
    return who


async def _change_id(graph: Graph, policy: Policy, ref: str) -> str:
    match = CHANGE_REF.match(ref)
    if not match:
        fail(f"{ref!r} is not a change reference; write it as owner/repo#42")
    found = await repository.change(graph, policy, repo=match["repo"], number=int(match["number"]))
    if found is None:
        fail(f"no change {ref} in the graph; ingest its pull request events first", code=1)
    return found.id


def exception_text(x: ExceptionGrant, now: datetime) -> str:
    """One exception: its record, its state and the gaps it is of its own."""
    lines = [
        f"{x.id}  {x.change_id}  {xs.state(x, now).upper()}",
        f"  granted by {line(x.granted_by)} at {_when(x.granted_at)}, until {_when(x.expires_at)}"
        + (" (emergency)" if x.emergency else ""),
        f"  reason: {line(x.reason)}",
    ]
    if x.emergency:
        lines.append(
            f"  reviewed by {line(x.reviewed_by)} at {_when(x.reviewed_at)}: {line(x.review_notes)}"
            if x.reviewed_at
            else f"  review due by {_when(x.review_due_at)}"
        )
    if x.revoked_at:
        lines.append(f"  revoked by {line(x.revoked_by)} at {_when(x.revoked_at)}: {line(x.revoke_reason)}")
    lines += [f"  gap: {line(gap)}" for gap in xs.gaps(x, now, verdict=None)]
    return "\n".join(lines)


# --- exceptions ---------------------------------------------------------------------------------


@click.group("exception")
def exception() -> None:
    """Break-glass exceptions, granted by an approver (TRACEGRAPH_TOKEN), never the author or the agent's operator."""


@exception.command("grant")
@click.argument("ref")
@click.option("--reason", required=True, help="Why it must ship without its evidence (stored, audited).")
@click.option("--expires", required=True, help="Until when (a date means to its end, UTC), within the policy's limit.")
@click.option("--emergency", is_flag=True, help="An emergency change: it needs a review after the fact.")
@user_errors
def grant(ref: str, reason: str, expires: str, emergency: bool) -> None:
    """Let REF (owner/repo#42) through the gates until --expires; its verdict stays UNVERIFIED."""
    settings = get_settings()
    policy = load_policy(settings.policy_file)
    until = instant(expires, "--expires", end_of_day=True)

    async def work(graph: Graph) -> ExceptionGrant:
        who = await _caller(graph, settings)
        change_id = await _change_id(graph, policy, ref)
        return await xs.grant(
            graph,
            policy,
            who,
            change_id=change_id,
            reason=reason,
            expires_at=until,
            emergency=emergency,
            now=datetime.now(UTC),
        )

    granted = run_with_graph(settings, work, ensure=True)
    echo(exception_text(granted, datetime.now(UTC)))
    echo(f"{ref} stays UNVERIFIED; gates let it through while {granted.id} is active.", err=True)


Act = Callable[[Graph, Principal, datetime], Awaitable[ExceptionGrant]]


def _as_caller(act: Act) -> None:
    """Run an act on an exception as the caller (TRACEGRAPH_TOKEN) and print the exception after it."""
    settings = get_settings()

    async def work(graph: Graph) -> ExceptionGrant:
        return await act(graph, await _caller(graph, settings), datetime.now(UTC))

    echo(exception_text(run_with_graph(settings, work, ensure=True), datetime.now(UTC)))


@exception.command("revoke")
@click.argument("exception_id")
@click.option("--reason", required=True, help="Why it is withdrawn.")
@user_errors
def revoke(exception_id: str, reason: str) -> None:
    """Withdraw an exception: gates stop letting its change through at once."""
    _as_caller(lambda g, who, now: xs.revoke(g, who, id=exception_id, reason=reason, now=now))


@exception.command("review")
@click.argument("exception_id")
@click.option("--notes", required=True, help="What the review after the fact found.")
@user_errors
def review(exception_id: str, notes: str) -> None:
    """Review an (emergency) exception after the fact, as an approver who did not grant it."""
    _as_caller(lambda g, who, now: xs.review(g, who, id=exception_id, notes=notes, now=now))


@exception.command("list")
@click.option("--change", "ref", metavar="OWNER/REPO#N", help="Only this change's exceptions.")
@click.option("--from", "start", metavar="DATE", help="In force at some time from this date on (default: all).")
@click.option("--to", "end", metavar="DATE", help="… and before this one.")
@user_errors
def list_exceptions(ref: str | None, start: str | None, end: str | None) -> None:
    """Exceptions with their state and the gaps they are of their own (unreviewed emergencies, expired ones)."""
    settings = get_settings()
    policy = load_policy(settings.policy_file)
    first = instant(start, "--from") if start else datetime(1970, 1, 1, tzinfo=UTC)
    last = instant(end, "--to") if end else datetime(9999, 1, 1, tzinfo=UTC)

    async def work(graph: Graph) -> list[ExceptionGrant]:
        found = await records.exceptions_between(graph, start=first, end=last)
        if ref:
            change_id = await _change_id(graph, policy, ref)
            found = [x for x in found if x.change_id == change_id]
        return found

    now = datetime.now(UTC)
    found = run_with_graph(settings, work, ensure=True)
    for x in found:
        echo(exception_text(x, now))
    if not found:
        echo("no exceptions")


# --- status -------------------------------------------------------------------------------------


def status_text(items: list[ServiceStatus]) -> str:
    """Per service: what runs, how much of it is not VERIFIED, since when it is compliant, its drill."""
    lines = []
    for s in items:
        d = s.running
        running = f"{d.id} ({(d.sha or '')[:7]}, {d.strategy or 'no strategy'}, {_when(d.at)})" if d else "nothing"
        if s.compliant:
            since = f"compliant since {_when(s.compliant_since)}" + (" or earlier" if s.compliant_since_bounded else "")
        else:
            since = "DRIFT: not compliant" if s.drift else "NOT compliant"
        lines.append(f"{s.service}  [{since}]")
        lines.append(f"  running in {s.environment}: {running}")
        covered = f" ({s.covered} covered by an active exception)" if s.covered else ""
        lines.append(f"  changes it carries: {s.changes}, not VERIFIED: {s.not_verified}{covered}")
        lines += [f"    {cid}" for cid in s.not_verified_ids]
        drill = s.drill
        last = (
            f"last drill {_when(drill.last.at)}"
            + (
                f", restored in {drill.last.restore_seconds / 60:.1f} min"
                if drill.last.restore_seconds is not None
                else ""
            )
            if drill.last
            else "no drill recorded"
        )
        rule = f"tier {drill.tier}: within {drill.due_within_days} days" if drill.due_within_days else "no drill rule"
        lines.append(f"  rollback drill: {last} ({rule}){' — OVERDUE' if drill.overdue else ''}")
        lines += [f"  gap: {gap}" for gap in s.gaps]
    return "\n".join(lines) or "no service has a successful deployment to that environment"


@click.command("status")
@click.option("--environment", required=True, help="Which environment (production, staging, …).")
@click.option("--service", help="Only this service.")
@click.option("--json", "as_json", is_flag=True)
@user_errors
def status(environment: str, service: str | None, as_json: bool) -> None:
    """What runs in --environment per service, how much of it is not VERIFIED, and since when it is compliant."""
    settings = get_settings()
    policy = load_policy(settings.policy_file)
    found = run_with_graph(
        settings, lambda g: service_status.status(g, policy, environment=environment, service=service), ensure=True
    )
    if as_json:
        echo("[" + ",\n".join(s.model_dump_json(by_alias=True, indent=2) for s in found) + "]")
    else:
        echo(status_text(found))


# --- drills -------------------------------------------------------------------------------------


@click.group("drill")
def drill() -> None:
    """Rollback drills: rollbacks done on purpose, with their time to restore."""


@drill.command("record")
@click.option("--service", required=True)
@click.option("--environment", required=True)
@click.option("--restore-minutes", type=float, help="How long restoring took, in minutes.")
@click.option("--restore-seconds", type=float, help="… or in seconds.")
@click.option("--at", "when", metavar="TIME", help="When the drill started (default: now).")
@click.option("--deployment", "deployment_id", help="The rollback deployment, when there was one.")
@click.option("--notes", help="What was rolled back, and what was learnt.")
@click.option("--by", "by", help="Who ran it [your login].")
@user_errors
def drill_record(
    service: str,
    environment: str,
    restore_minutes: float | None,
    restore_seconds: float | None,
    when: str | None,
    deployment_id: str | None,
    notes: str | None,
    by: str | None,
) -> None:
    """Record a rollback drill of a service in an environment."""
    settings = get_settings()
    seconds = restore_time(restore_minutes, restore_seconds)
    at = instant(when, "--at") if when else datetime.now(UTC)
    found = run_with_graph(
        settings,
        lambda g: records.record_drill(
            g,
            service=service,
            environment=environment,
            at=at,
            restore_seconds=seconds,
            recorded_by=by or getpass.getuser(),
            notes=notes,
            deployment_id=deployment_id,
        ),
        ensure=True,
    )
    echo(f"{found.id}: {service} in {environment} at {_when(found.at)}, restored in {seconds / 60:.1f} min")


@drill.command("list")
@click.option("--service", required=True)
@user_errors
def drill_list(service: str) -> None:
    """A service's drills, newest first (recorded ones and deployments marked as drills)."""
    found = run_with_graph(get_settings(), lambda g: records.drills(g, [service]), ensure=True).get(service, [])
    for d in found:
        took = f"{d.restore_seconds / 60:.1f} min" if d.restore_seconds is not None else "unknown"
        echo(f"{_when(d.at)}  {d.environment or '?'}  restored in {took}  {d.origin}  {d.id}  {d.notes or ''}")
    if not found:
        echo(f"no drill of {service}")


# --- audit periods ------------------------------------------------------------------------------


@click.command("audit-period")
@click.option("--from", "start", required=True, metavar="DATE", help="First day, included.")
@click.option("--to", "end", required=True, metavar="DATE", help="Last day, excluded.")
@click.option("--service", help="Only changes deployed to this service.")
@click.option("--sample", "sample_size", type=int, default=25, show_default=True, help="How many changes to sample.")
@click.option(
    "--seed", type=int, required=True, help="The sample's seed: the same seed and population, the same sample."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="A new (or empty) folder.")
@click.option(
    "--controls", "controls_file", type=click.Path(path_type=Path), help="Controls file [the shipped example]."
)
@user_errors
def audit_period(
    start: str, end: str, service: str | None, sample_size: int, seed: int, out: Path, controls_file: Path | None
) -> None:
    """Population, reproducible sample, evidence bundles, exceptions and controls of a period, for auditors."""
    settings = get_settings()
    policy = load_policy(settings.policy_file)
    policy_path = settings.policy_file or DEFAULT_POLICY
    policy_text = policy_path.read_text(encoding="utf-8")
    controls, controls_text = load_controls(controls_file)
    first, last = instant(start, "--from"), instant(end, "--to")
    signer = export_signer(settings)

    async def work(graph: Graph) -> dict[str, bytes]:
        period = await ap.gather(
            graph, policy, start=first, end=last, service=service, sample_size=sample_size, seed=seed
        )
        evidence, paths = await ap.evidence(graph, policy, period, signer=signer)
        return ap.files_of(
            period,
            controls,
            controls_text=controls_text,
            policy_text=policy_text,
            policy_source=str(policy_path),
            evidence_files=evidence,
            evidence_paths=paths,
            signer=signer,
        )

    files = run_with_graph(settings, work, ensure=True)
    write_bundle(files, out)
    echo((out / "report.md").read_text(encoding="utf-8"))
    check = f"tracegraph verify-export {out}" + (" --key <the public key .pem>" if signer else "")
    echo(f"wrote {len(files)} files to {out}; check them with: {check}", err=True)
