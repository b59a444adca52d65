"""`tracegraph ingest-git PATH`: a local repository's commits, merges, trailers and git-ai notes."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import click

from cli.common import echo, fail, line, progress, report_rejection, user_errors
from graph.driver import Graph, run_with_graph
from graph.settings import Settings, get_settings
from ingest.git_repo import (
    WARN_EACH,
    GitCommit,
    GitIngestor,
    GitRepo,
    GitSummary,
    count_commits,
    git_since,
    open_repository,
)
from ingest.identity import Identities

# owner/name, or group/subgroup/name on GitLab.
REPO_NAME = re.compile(r"[^\s/]+(?:/[^\s/]+)+")


def _warn_incomplete(repo: GitRepo) -> Callable[[GitCommit], None]:
    """Name the first WARN_EACH commits recorded without line counts; the summary counts the rest."""
    told = 0

    def warn(commit: GitCommit) -> None:
        nonlocal told
        told += 1
        if told <= WARN_EACH:
            echo(f"warning: commit {commit.sha} of {repo.name}: {commit.problem}", err=True)

    return warn


async def _run(graph: Graph, settings: Settings, repo: GitRepo, since: str | None, ids: Identities) -> GitSummary:
    total = await count_commits(repo, since)
    with progress(f"ingesting {repo.name}", total, "commits") as advance:
        ingestor = GitIngestor(
            graph,
            repo,
            ids,
            settings.quarantine_dir,
            on_commit=lambda _: advance(),
            on_reject=report_rejection,
            on_incomplete=_warn_incomplete(repo),
        )
        return await ingestor.run(since)


def _print_summary(summary: GitSummary) -> None:
    w = summary.written
    rate = summary.commits / summary.seconds if summary.seconds else 0.0
    notes = f", {summary.notes} git-ai notes" if summary.notes else ""
    echo(
        f"read {summary.commits} commits of {line(summary.repo)} ({summary.merges} merges{notes}), "
        f"{len(summary.rejected)} rejected; {w.nodes_created} nodes and {w.edges_created} edges created, "
        f"{w.properties_set} properties set; {summary.seconds:.1f} s ({rate:.0f} commits/s)"
    )
    if summary.redactions:
        echo(f"secrets redacted: git {summary.redactions}")
    if summary.incomplete:
        more = (
            f" ({summary.incomplete - WARN_EACH} more than the ones named above)"
            if summary.incomplete > WARN_EACH
            else ""
        )
        echo(
            f"warning: {summary.incomplete} commits recorded without line counts{more}: objects their diffs need "
            "are not in this clone (a partial, blobless or shallow one?). Ingest a full clone to add them.",
            err=True,
        )


@click.command("ingest-git")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--since", help="Only commits committed since this ISO-8601 date or time, e.g. 2024-01-31.")
@click.option("--repo", "repo_name", help="Repository name in the graph, owner/name [from the origin remote].")
@click.option(
    "--aliases",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file mapping people to their e-mails and handles [$TRACEGRAPH_ALIASES].",
)
@user_errors
def ingest_git(path: Path, since: str | None, repo_name: str | None, aliases: Path | None) -> None:
    """Ingest the commits of the git repository at PATH (all branches, tags and its refs/notes/ai)."""
    try:
        since_iso = git_since(since)
    except ValueError as exc:  # git_since's way of saying the date is not one
        fail(str(exc))
    if repo_name is not None and not REPO_NAME.fullmatch(repo_name):
        fail(f"--repo {repo_name!r} is not a repository name; write it as owner/name")
    repo = open_repository(path, name=repo_name)
    identities = Identities.load(aliases)
    settings = get_settings()
    summary = run_with_graph(settings, lambda g: _run(g, settings, repo, since_iso, identities), ensure=True)
    _print_summary(summary)
    if summary.rejected:
        echo(f"rejected commits and notes were written to {get_settings().quarantine_dir}", err=True)
        sys.exit(1)
