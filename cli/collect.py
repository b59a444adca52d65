"""`tracegraph collect github|gitlab|pagerduty|opsgenie`: load an existing organisation from its providers' APIs.

Credentials come from the environment only (GITHUB_TOKEN, GITLAB_TOKEN, PAGERDUTY_TOKEN,
OPSGENIE_API_KEY); they are sent in request headers and nowhere else. Each run goes back to --since
the first time, then fetches only what changed; a run that was stopped resumes where it stopped.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import click
from pydantic import SecretStr

from cli.common import fail, progress, report_rejection, user_errors
from collect import github, gitlab, opsgenie, pagerduty
from collect.http import Api, Budget, Stats
from collect.run import Page, drive
from graph import collect_state
from graph.driver import Graph, run_with_graph
from graph.models import RepositoryPosture
from graph.settings import Settings, get_settings
from ingest.pipeline.feed import Summary
from ingest.timestamps import iso

REPO = re.compile(r"[\w.-]+/[\w.-]+")
PROJECT = re.compile(r"[\w.-]+(?:/[\w.-]+)+")


class Collector(Protocol):
    def pages(self) -> AsyncIterator[Page]: ...


@dataclass
class Outcome:
    summary: Summary
    records: Counter[str]
    stats: Stats
    budgets: list[Budget]
    notes: list[str] = field(default_factory=list)
    points: int = 0


def _token(value: SecretStr | None, variable: str, how: str) -> str:
    secret = value.get_secret_value().strip() if value is not None else ""
    if not secret:
        fail(f"{variable} is not set: {how}, then export {variable}=… (it is read from the environment only)")
    return secret


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    found = iso(value) or iso(f"{value}T00:00:00Z")
    if found is None:
        fail(f"--since {value!r} is not a date or time; write it as 2026-01-31 or 2026-01-31T12:00:00Z")
    return found


def _collect(
    settings: Settings,
    provider: str,
    primary: str,
    open_api: Callable[[Callable[[Budget], None], Callable[[str, float], None]], Api],
    make: Callable[[Graph, Api, Callable[[str], None]], Collector],
    describe: Callable[[Graph, Any], Awaitable[list[str]]] | None = None,
) -> Outcome:
    """Run one collector to its end through the pipeline, with a progress bar that shows the budget left."""

    async def work(graph: Graph) -> Outcome:
        with progress(f"collecting {provider}", None, primary) as advance:

            def warn(message: str) -> None:
                click.echo(f"warning: {message}", err=True)

            api = open_api(
                lambda budget: advance(0, note=f"budget: {budget.line()}"),
                lambda reason, seconds: advance(0, note=f"waiting {seconds:.0f} s ({reason})"),
            )
            async with api:
                collector = make(graph, api, warn)
                summary, records = await drive(
                    graph,
                    collector.pages(),
                    quarantine_dir=settings.quarantine_dir,
                    on_reject=report_rejection,
                    on_page=lambda page: advance(page.records[primary]),
                )
                notes = await describe(graph, collector) if describe else []
        return Outcome(summary, records, api.stats, list(api.budgets.values()), notes, getattr(collector, "points", 0))

    return run_with_graph(settings, work, ensure=True)


def _report(provider: str, outcome: Outcome, per: str) -> None:
    records = ", ".join(f"{n} {kind}" for kind, n in outcome.records.items() if n) or "nothing new"
    click.echo(f"{provider}: {records}")
    click.echo(outcome.summary.line())
    redacted = sum(outcome.summary.redactions.values())
    if redacted:
        click.echo(f"secrets redacted: {redacted}")
    stats = outcome.stats
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(stats.requests.items()))
    if outcome.points:
        kinds += f"; GraphQL cost {outcome.points} points"
    line = f"requests: {stats.total} ({kinds}; {stats.not_modified} not modified)"
    if outcome.records[per]:
        line += f"; {stats.total / outcome.records[per]:.3f} per {per.rstrip('s')}"
    if stats.waits:
        line += f"; waited {stats.waited:.0f} s ({len(stats.waits)} waits for rate limits or retries)"
    click.echo(line)
    budgets = [b.line() for b in outcome.budgets if b.remaining is not None]
    if budgets:
        click.echo("budget left: " + ", ".join(budgets))
    for note in outcome.notes:
        click.echo(note)
    if outcome.summary.rejected:
        click.echo("rejected records were written to the quarantine folder with their reasons", err=True)
        sys.exit(1)


@click.group()
def collect() -> None:
    """Load an existing organisation's history from a provider's API (credentials from the environment)."""


# --- GitHub ---------------------------------------------------------------------------------------


def _posture_line(found: RepositoryPosture) -> str:
    if not found.protected:
        return f"posture of {found.full_name} ({found.default_branch}): not protected"
    parts = [f"{found.required_approvals or 0} approval(s) required"]
    parts += [
        label
        for label, on in (
            ("stale approvals dismissed", found.dismiss_stale_reviews),
            ("code owners required", found.require_code_owner_reviews),
            ("last push must be approved", found.require_last_push_approval),
            ("enforced for admins", found.enforce_admins),
        )
        if on
    ]
    if found.bypass_actors:
        parts.append("may bypass: " + ", ".join(found.bypass_actors))
    if found.required_checks:
        parts.append("required checks: " + ", ".join(found.required_checks))
    return f"posture of {found.full_name} ({found.default_branch}): " + "; ".join(parts)


async def _github_postures(graph: Graph, collector: Any) -> list[str]:
    lines = []
    for repo in collector.repositories:
        found = await collect_state.posture(graph, repo)
        if found is not None and found.posture_at is not None:
            lines.append(_posture_line(found))
    return lines


@collect.command("github")
@click.option("--org", help="Every repository of this organisation (the token must see them).")
@click.option("--repo", "repos", multiple=True, help="A repository owner/name (repeatable).")
@click.option("--since", help="The first run goes back to this date (2026-01-31); later runs fetch what changed.")
@click.option(
    "--api-url", default=github.DEFAULT_API, show_default=True, help="GitHub Enterprise Server: https://HOST/api/v3"
)
@click.option("--full", is_flag=True, help="Ignore the saved cursors and read everything again (back to --since).")
@click.option(
    "--page-size",
    default=50,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Pull requests per GraphQL request (smaller pages when GitHub times out).",
)
@user_errors
def collect_github(
    org: str | None, repos: tuple[str, ...], since: str | None, api_url: str, full: bool, page_size: int
) -> None:
    """Pull requests (reviews, commits, checks, statuses), deployments, workflow runs and branch protection."""
    settings = get_settings()
    token = _token(
        settings.github_token, "GITHUB_TOKEN", "create a token with the `repo` scope (and `read:org` for --org)"
    )
    if not org and not repos:
        fail("name an organisation (--org acme) or repositories (--repo acme/shop)")
    for repo in repos:
        if not REPO.fullmatch(repo):
            fail(f"--repo {repo!r} is not a repository name; write it as owner/name")
    options = github.Options(
        org=org, repos=list(repos), since=_since(since), api_url=api_url, full=full, page_size=page_size
    )
    outcome = _collect(
        settings,
        "github",
        "pull requests",
        lambda on_budget, on_wait: github.client(token, api_url=api_url, on_budget=on_budget, on_wait=on_wait),
        lambda graph, api, warn: github.GitHubCollector(graph, api, options, warn=warn),
        _github_postures,
    )
    _report("github", outcome, "pull requests")


# --- GitLab ---------------------------------------------------------------------------------------


@collect.command("gitlab")
@click.option("--group", "groups", multiple=True, help="Every project of this group and its subgroups (repeatable).")
@click.option("--project", "projects", multiple=True, help="A project group/sub/name (repeatable).")
@click.option("--since", help="The first run goes back to this date (2026-01-31); later runs fetch what changed.")
@click.option("--api-url", default=gitlab.DEFAULT_API, show_default=True, help="Self-managed: https://HOST/api/v4")
@click.option("--full", is_flag=True, help="Ignore the saved cursors and read everything again (back to --since).")
@user_errors
def collect_gitlab(
    groups: tuple[str, ...], projects: tuple[str, ...], since: str | None, api_url: str, full: bool
) -> None:
    """Merge requests (approvals, commits, changed paths), pipelines with their jobs, and deployments."""
    settings = get_settings()
    token = _token(settings.gitlab_token, "GITLAB_TOKEN", "create a personal or group access token with `read_api`")
    if not groups and not projects:
        fail("name a group (--group acme) or projects (--project acme/shop)")
    for path in (*groups, *projects):
        if not (PROJECT.fullmatch(path) or re.fullmatch(r"[\w.-]+", path)):
            fail(f"{path!r} is not a GitLab path; write it as group/subgroup/project")
    options = gitlab.Options(
        groups=list(groups), projects=list(projects), since=_since(since), api_url=api_url, full=full
    )
    outcome = _collect(
        settings,
        "gitlab",
        "merge requests",
        lambda on_budget, on_wait: gitlab.client(token, api_url=api_url, on_budget=on_budget, on_wait=on_wait),
        lambda graph, api, warn: gitlab.GitLabCollector(graph, api, options, warn=warn),
    )
    _report("gitlab", outcome, "merge requests")


# --- PagerDuty and Opsgenie -----------------------------------------------------------------------


@collect.command("pagerduty")
@click.option("--since", help="The first run goes back to this date [a year back]; later runs fetch what changed.")
@click.option("--api-url", default=pagerduty.DEFAULT_API, show_default=True)
@click.option("--full", is_flag=True, help="Ignore the saved cursors and read everything again (back to --since).")
@user_errors
def collect_pagerduty(since: str | None, api_url: str, full: bool) -> None:
    """Services, and incidents with their log entries (triggered, acknowledged, resolved, ...)."""
    settings = get_settings()
    token = _token(settings.pagerduty_token, "PAGERDUTY_TOKEN", "create a read-only REST API key")
    options = pagerduty.Options(since=_since(since), api_url=api_url, full=full)
    outcome = _collect(
        settings,
        "pagerduty",
        "incident events",
        lambda on_budget, on_wait: pagerduty.client(token, api_url=api_url, on_budget=on_budget, on_wait=on_wait),
        lambda graph, api, warn: pagerduty.PagerDutyCollector(graph, api, options, warn=warn),
    )
    _report("pagerduty", outcome, "incident events")


@collect.command("opsgenie")
@click.option("--since", help="Only alerts updated since this date; later runs fetch what changed.")
@click.option("--api-url", default=opsgenie.DEFAULT_API, show_default=True, help="EU: https://api.eu.opsgenie.com")
@click.option("--full", is_flag=True, help="Ignore the saved cursors and read everything again (back to --since).")
@user_errors
def collect_opsgenie(since: str | None, api_url: str, full: bool) -> None:
    """Alerts with their logs (created, acknowledged, closed)."""
    settings = get_settings()
    key = _token(settings.opsgenie_api_key, "OPSGENIE_API_KEY", "create an API key with the Read access right")
    options = opsgenie.Options(since=_since(since), api_url=api_url, full=full)
    outcome = _collect(
        settings,
        "opsgenie",
        "alerts",
        lambda on_budget, on_wait: opsgenie.client(key, api_url=api_url, on_budget=on_budget, on_wait=on_wait),
        lambda graph, api, warn: opsgenie.OpsgenieCollector(graph, api, options, warn=warn),
    )
    _report("opsgenie", outcome, "alerts")
