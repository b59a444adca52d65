"""What every command shares: errors a user can cause become one line and an exit status (never a
traceback), and how a change is named.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from export.archive import Unreadable
from export.scope import ExportError, ExportNotFound
from graph import local_neo4j
from graph.driver import GraphUnavailable
from graph.metrics import MetricsError
from graph.policy import PolicyError
from ingest.git_repo import GitError
from ingest.identity import IdentityError

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
