"""What every command shares: errors a user can cause become one line and an exit status (never a
traceback), and how a change is named.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from documents import StoreError
from export.archive import Unreadable
from export.scope import ExportError, ExportNotFound
from graph import local_neo4j
from graph.driver import GraphUnavailable, run_with_graph
from graph.metrics import MetricsError
from graph.policy import PolicyError
from graph.settings import Settings
from ingest.git_repo import GitError
from ingest.identity import IdentityError
from ingest.pipeline.events import Rejection

T = TypeVar("T")
# owner/repo#42, or group/project!17 on GitLab.
CHANGE_REF = re.compile(r"^(?P<repo>[^/\s]+/[^#!\s]+)[#!](?P<number>\d+)$")
# Errors a user can cause, and the exit status of each: 1 when what was asked for is not in the graph,
# 2 when the command could not run (bad input, Neo4j not there, an unreadable policy, file or repository).
EXIT_CODES: dict[type[Exception], int] = {
    ExportNotFound: 1,
    ExportError: 2,
    GraphUnavailable: 2,
    local_neo4j.LocalNeo4jError: 2,
    PolicyError: 2,
    IdentityError: 2,
    GitError: 2,
    MetricsError: 2,
    Unreadable: 2,
    StoreError: 2,
}
USER_ERRORS = tuple(EXIT_CODES)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def user_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Errors a user can cause print what happened and what to do, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            # The most specific class listed decides (ExportNotFound is an ExportError).
            fail(str(exc), code=next(EXIT_CODES[k] for k in type(exc).__mro__ if k in EXIT_CODES))

    wrapper.user_errors = True  # type: ignore[attr-defined]  # copied onto click's own wrappers: tests look for it
    return wrapper


@contextlib.contextmanager
def progress(label: str, total: int | None, unit: str) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr (gone when done); yields `advance(n=1, **fields)`."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(unit, total=total)
        yield lambda n=1, **fields: bar.advance(task, n)


def report_rejection(rejection: Rejection) -> None:
    """One line on stderr for an event the pipeline refused."""
    click.echo(f"rejected {rejection.location}: {rejection.reason}", err=True)


def check_external(settings: Settings) -> bool:
    """When NEO4J_URI names a server, check that it answers (raising what the user must fix); else False."""
    if not settings.neo4j_uri:
        return False
    run_with_graph(settings, lambda g: asyncio.sleep(0), ensure=True)
    return True
