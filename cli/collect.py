"""`tracegraph collect github|gitlab|pagerduty|opsgenie`: load an existing organisation from its providers' APIs.

Credentials come from the environment only (GITHUB_TOKEN, GITLAB_TOKEN, PAGERDUTY_TOKEN,
OPSGENIE_API_KEY); they are sent in request headers and nowhere else. Each run goes back to --since
the first time, then fetches only what changed; a run that was stopped resumes where it stopped.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from pydantic import SecretStr

from cli.common import echo, fail, progress, report_rejection, user_errors
from collect import github, gitlab, opsgenie, pagerduty
from collect.http import Api, Provider
from collect.run import Collector, Options, drive
from graph import collect_state
from graph.driver import Graph, run_with_graph
from graph.models import RepositoryPosture
from graph.settings import get_settings
from ingest.pipeline.feed import Summary
from ingest.timestamps import iso

F = TypeVar("F", bound=Callable[..., Any])
REPO = re.compile(r"[\w.-]+/[\w.-]+")
PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)*")


def _secret(value: SecretStr | None, variable: str, how: str) -> str:
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


def _window(api: Provider, since_help: str, url_help: str = "") -> Callable[[F], F]:
    """The options every collector takes: --since, --api-url and --full."""

    def wrap(command: F) -> F:
        command = click.option(
            "--full", is_flag=True, help="Ignore the saved cursors and read everything again (back to --since)."
        )(command)
        command = click.option("--api-url", default=api.default_url, show_default=True, help=url_help or None)(command)
        return click.option("--since", help=since_help)(command)  # type: ignore[return-value]

    return wrap


SINCE = "The first run goes back to this date (2026-01-31); later runs fetch what changed."


def _run(
    name: str,
    api: Provider,
    token: str,
    options: Options,
    make: Callable[[Graph, Api, Callable[[str], None]], Collector],
    primary: str,
    describe: Callable[[Graph, Any], Awaitable[list[str]]] | None = None,
) -> None:
    """Run one collector to its end through the pipeline (a progress bar shows the budget left), then report."""
    settings = get_settings()

    async def work(graph: Graph) -> tuple[Summary, Any, Api, Collector, list[str]]:
        with progress(f"collecting {name}", None, primary) as advance:
            client = api.client(
                token,
                api_url=options.api_url,
                on_budget=lambda budget: advance(0, note=f"budget: {budget.line()}"),
                on_wait=lambda reason, seconds: advance(0, note=f"waiting {seconds:.0f} s ({reason})"),
            )
            async with client:
                collector = make(graph, client, lambda message: echo(f"warning: {message}", err=True))
                summary, records = await drive(
                    graph,
                    collector.pages(),
                    quarantine_dir=settings.quarantine_dir,
                    on_reject=report_rejection,
                    on_page=lambda page: advance(page.records[primary]),
                )
                notes = await describe(graph, collector) if describe else []
        return summary, records, client, collector, notes

    summary, records, client, collector, notes = run_with_graph(settings, work, ensure=True)
    echo(f"{name}: " + (", ".join(f"{n} {kind}" for kind, n in records.items() if n) or "nothing new"))
    echo(summary.line())
    if redacted := sum(summary.redactions.values()):
        echo(f"secrets redacted: {redacted}")
    stats = client.stats
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(stats.requests.items()))
    if points := getattr(collector, "points", 0):
        kinds += f"; GraphQL cost {points} points"
    line = f"requests: {stats.total} ({kinds}; {stats.not_modified} not modified)"
    if records[primary]:
        line += f"; {stats.total / records[primary]:.3f} per {primary.rstrip('s')}"
    if stats.waits:
        line += f"; waited {stats.waited:.0f} s ({len(stats.waits)} waits for rate limits or retries)"
    echo(line)
    if budgets := [b.line() for b in client.budgets.values() if b.remaining is not None]:
        echo("budget left: " + ", ".join(budgets))
    for note in notes:
        echo(note)
    if summary.rejected:
        echo(f"rejected records were written to {settings.quarantine_dir} with their reasons", err=True)
        sys.exit(1)


@click.group()
@user_errors
def collect() -> None:
    """Load an existing organisation's history from a provider's API (credentials from the environment)."""


# --- GitHub ---------------------------------------------------------------------------------------


def _posture_line(found: RepositoryPosture) -> str:
    where = f"posture of {found.full_name} ({found.default_branch})"
    if not found.protected:
        return f"{where}: not protected"
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
    return f"{where}: " + "; ".join(parts)


async def _postures(graph: Graph, collector: Any) -> list[str]:
    found = [await collect_state.posture(graph, repo) for repo in collector.repositories]
    return [_posture_line(p) for p in found if p is not None and p.posture_at is not None]


@collect.command("github")
@click.option("--org", help="Every repository of this organisation (the token must see them).")
@click.option("--repo", "repos", multiple=True, help="A repository owner/name (repeatable).")
@_window(github.API, SINCE, "GitHub Enterprise Server: https://HOST/api/v3")
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
    how = "create a token with the `repo` scope (and `read:org` for --org)"
    token = _secret(get_settings().github_token, "GITHUB_TOKEN", how)
    if not org and not repos:
        fail("name an organisation (--org acme) or repositories (--repo acme/shop)")
    if bad := [r for r in repos if not REPO.fullmatch(r)]:
        fail(f"--repo {bad[0]!r} is not a repository name; write it as owner/name")
    options = github.Options(
        org=org, repos=list(repos), since=_since(since), api_url=api_url, full=full, page_size=page_size
    )
    _run(
        "github",
        github.API,
        token,
        options,
        lambda graph, api, warn: github.GitHubCollector(graph, api, options, warn=warn),
        "pull requests",
        _postures,
    )


# --- GitLab ---------------------------------------------------------------------------------------


@collect.command("gitlab")
@click.option("--group", "groups", multiple=True, help="Every project of this group and its subgroups (repeatable).")
@click.option("--project", "projects", multiple=True, help="A project group/sub/name (repeatable).")
@_window(gitlab.API, SINCE, "Self-managed GitLab: https://HOST/api/v4")
@user_errors
def collect_gitlab(
    groups: tuple[str, ...], projects: tuple[str, ...], since: str | None, api_url: str, full: bool
) -> None:
    """Merge requests (approvals, commits, changed paths), pipelines with their jobs, and deployments."""
    token = _secret(get_settings().gitlab_token, "GITLAB_TOKEN", "create an access token with `read_api`")
    if not groups and not projects:
        fail("name a group (--group acme) or projects (--project acme/shop)")
    if bad := [p for p in (*groups, *projects) if not PATH.fullmatch(p)]:
        fail(f"{bad[0]!r} is not a GitLab path; write it as group/subgroup/project")
    options = gitlab.Options(
        groups=list(groups), projects=list(projects), since=_since(since), api_url=api_url, full=full
    )
    _run(
        "gitlab",
        gitlab.API,
        token,
        options,
        lambda graph, api, warn: gitlab.GitLabCollector(graph, api, options, warn=warn),
        "merge requests",
    )


# --- PagerDuty and Opsgenie -----------------------------------------------------------------------


@collect.command("pagerduty")
@_window(pagerduty.API, "The first run goes back to this date [a year back]; later runs fetch what changed.")
@user_errors
def collect_pagerduty(since: str | None, api_url: str, full: bool) -> None:
    """Services, and incidents with their log entries (triggered, acknowledged, resolved, ...)."""
    token = _secret(get_settings().pagerduty_token, "PAGERDUTY_TOKEN", "create a read-only REST API key")
    options = Options(since=_since(since), api_url=api_url, full=full)
    _run(
        "pagerduty",
        pagerduty.API,
        token,
        options,
        lambda graph, api, warn: pagerduty.PagerDutyCollector(graph, api, options, warn=warn),
        "incident events",
    )


@collect.command("opsgenie")
@_window(
    opsgenie.API,
    "Only alerts updated since this date; later runs fetch what changed.",
    "EU: https://api.eu.opsgenie.com",
)
@user_errors
def collect_opsgenie(since: str | None, api_url: str, full: bool) -> None:
    """Alerts with their logs (created, acknowledged, closed)."""
    key = _secret(get_settings().opsgenie_api_key, "OPSGENIE_API_KEY", "create an API key with the Read access right")
    options = Options(since=_since(since), api_url=api_url, full=full)
    _run(
        "opsgenie",
        opsgenie.API,
        key,
        options,
        lambda graph, api, warn: opsgenie.OpsgenieCollector(graph, api, options, warn=warn),
        "alerts",
    )
