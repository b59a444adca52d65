"""What every command shares: clear errors instead of tracebacks."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from graph import local_neo4j
from graph.driver import GraphUnavailable
from graph.policy import PolicyError
from ingest.identity import IdentityError

T = TypeVar("T")
USER_ERRORS: tuple[type[Exception], ...] = (
    GraphUnavailable,
    local_neo4j.LocalNeo4jError,
    PolicyError,
    IdentityError,
)


def fail(message: str, code: int = 2) -> None:
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
            fail(str(exc))
            raise  # unreachable: fail() exits

    return wrapper
