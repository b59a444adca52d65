"""`tracegraph gate commit|change|deployment`: may it ship? Exit 0 only when it may; 1 with the gaps per
change; 2 when the gate could not be evaluated (Neo4j down, unknown commit, policy unreadable) — never 0.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import NoReturn

import click

from cli.common import CHANGE_REF, echo, line, user_errors
from governance import github
from governance.gate import describe, failure, gate_change, gate_commit, gate_deployment
from governance.models import GateKind, GateResult
from graph.driver import Graph, run_with_graph
from graph.policy import Policy, load_policy
from graph.settings import Settings, get_settings

Work = Callable[[Graph, Policy], Awaitable[GateResult]]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def gate_text(result: GateResult) -> str:
    """A gate's answer for a terminal or a CI log: the decision first, then each change and what it lacks."""
    if result.error:
        return (
            f"GATE ERROR ({result.gate} {result.target}): {result.error}\n"
            "Nothing passes a gate that cannot be evaluated."
        )
    where = f" to {result.environment}" if result.environment else ""
    head = "GATE PASSED" if result.passed else "GATE FAILED"
    lines = [f"{head}: {result.gate} {result.target}{where} — {len(result.changes)} change(s)"]
    for r in result.running:
        ran = (
            f"{r.deployment.id} ({(r.deployment.sha or '')[:7]}, {_when(r.deployment.at)})"
            if r.deployment
            else "nothing yet"
        )
        when = "before it" if result.gate == "deployment" else "running"
        lines.append(f"  {when} in {result.environment} for {r.service}: {ran}")
    for gap in result.gaps:
        lines.append(f"  gap: {line(gap)}")
    for c in result.changes:
        mark = "ok  " if c.passes else "FAIL"
        cover = ""
        if c.covered_by:
            until = next((v.exception.expires_at for v in c.exceptions if v.exception.id == c.covered_by), None)
            cover = f", covered by exception {c.covered_by} until {_when(until)}"
        lines.append(f"  {mark} {c.repo}#{c.number}  {c.verdict.value}{cover}  {line(c.title)}".rstrip())
        if not c.passes or c.covered_by:
            lines += [f"         gap: {line(g)}" for g in c.gaps]
        lines += [
            f"         exception {v.exception.id}: {v.state}" for v in c.exceptions if v.exception.id != c.covered_by
        ]
        if not c.passes:
            lines += [f"         how ({m.requirement}): {m.how}" for m in c.missing]
    for m in result.missing:
        lines.append(f"  how ({m.requirement}): {m.how}")
    return "\n".join(lines)


def run_gate(kind: GateKind, target: str, environment: str | None, work: Work) -> GateResult:
    """Evaluate a gate; whatever goes wrong (settings, policy, Neo4j, the question) is a failed result, exit 2."""
    try:
        settings = get_settings()
        policy = load_policy(settings.policy_file)
        return run_with_graph(settings, lambda g: work(g, policy))
    except Exception as exc:  # noqa: BLE001 - fail closed: nothing that goes wrong may look like a pass
        return failure(kind, target, describe(exc), environment=environment)


def finish(result: GateResult, as_json: bool) -> NoReturn:
    """Print the result (JSON for machines) and exit with its status."""
    if as_json:
        echo(result.model_dump_json(by_alias=True, indent=2))
    else:
        echo(gate_text(result), err=result.error is not None)
    sys.exit(result.exit_code)


def _post_status(settings: Settings, result: GateResult, target_url: str | None) -> GateResult:
    """Set the `tracegraph/verdict` status of the change's head; a failure to do so is a gate error."""
    if not result.repo or not result.sha:
        return failure("change", result.target, "the change's head commit is unknown: no status to set")

    async def post() -> None:
        async with github.client() as client:
            await github.post_status(
                client, settings, repo=result.repo or "", sha=result.sha or "", result=result, target_url=target_url
            )

    try:
        asyncio.run(post())
    except github.GitHubError as exc:
        return failure("change", result.target, str(exc), environment=result.environment)
    return result


@click.group()
def gate() -> None:
    """Gates that fail closed: exit 0 only when it may ship, 1 with the gaps, 2 when it cannot be evaluated."""


@gate.command("commit")
@click.argument("sha")
@click.option("--environment", required=True, help="Where it would ship (production, staging, …).")
@click.option("--strategy", help="How it would ship (canary, flag, full): areas may require a staged one.")
@click.option("--service", help="The service it deploys as (default: every service its repository deploys as).")
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON (also on errors).")
@user_errors  # the gate catches everything itself; this keeps the CLI's one error path
def gate_commit_command(sha: str, environment: str, strategy: str | None, service: str | None, as_json: bool) -> None:
    """May SHA ship to --environment? Every change it would add since what runs there must be VERIFIED or covered."""
    result = run_gate(
        "commit",
        sha,
        environment,
        lambda g, p: gate_commit(g, p, sha, environment=environment, strategy=strategy, service=service),
    )
    finish(result, as_json)


@gate.command("change")
@click.argument("ref")
@click.option("--environment", help="Where it would ship (with --strategy, for areas that require a staged one).")
@click.option("--strategy", help="How it would ship (canary, flag, full).")
@click.option("--post-status", is_flag=True, help="Set the `tracegraph/verdict` commit status of its head on GitHub.")
@click.option("--target-url", help="The link the commit status shows (with --post-status).")
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON (also on errors).")
@user_errors  # the gate catches everything itself; this keeps the CLI's one error path
def gate_change_command(
    ref: str,
    environment: str | None,
    strategy: str | None,
    post_status: bool,
    target_url: str | None,
    as_json: bool,
) -> None:
    """Is REF (owner/repo#42) VERIFIED, or covered by an active exception?"""
    match = CHANGE_REF.match(ref)
    if not match:
        finish(failure("change", ref, f"{ref!r} is not a change reference; write it as owner/repo#42"), as_json)
    repo, number = match["repo"], int(match["number"])
    result = run_gate(
        "change",
        ref,
        environment,
        lambda g, p: gate_change(g, p, repo, number, environment=environment, strategy=strategy),
    )
    if post_status and result.error is None:
        result = _post_status(get_settings(), result, target_url)
    finish(result, as_json)


@gate.command("deployment")
@click.argument("deployment_id")
@click.option("--json", "as_json", is_flag=True, help="The answer as JSON (also on errors).")
@user_errors  # the gate catches everything itself; this keeps the CLI's one error path
def gate_deployment_command(deployment_id: str, as_json: bool) -> None:
    """Was DEPLOYMENT_ID allowed to ship what it ships over the deployment before it?"""
    result = run_gate("deployment", deployment_id, None, lambda g, p: gate_deployment(g, p, deployment_id))
    finish(result, as_json)
