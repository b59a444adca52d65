"""What every command shares: everything printed goes through `echo`, which shows stored text and cannot
be steered by it (terminal_text); errors a user can cause become one line and an exit status (never a
traceback); how a change is named.
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
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from collect.http import CollectError
from documents import StoreError
from export.archive import Unreadable
from export.scope import ExportError, ExportNotFound
from governance.audit_period import AuditPeriodError
from governance.controls import ControlsError
from governance.drills import DrillError
from governance.exceptions import ExceptionNotFound, ExceptionRefused
from governance.github import GitHubError
from graph import local_neo4j
from graph.driver import GraphUnavailable, run_with_graph
from graph.metrics import MetricsError
from graph.policy import PolicyError
from graph.settings import Settings
from ingest.git_repo import GitError
from ingest.identity import IdentityError
from ingest.inbox import InboxUnavailable
from ingest.pipeline.events import Rejection
from trust.config import TrustError
from trust.keys import KeyProblem

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
    ExceptionNotFound: 1,
    ExceptionRefused: 2,
    DrillError: 2,
    ControlsError: 2,
    AuditPeriodError: 2,
    GitHubError: 2,
    TrustError: 2,
    KeyProblem: 2,
    InboxUnavailable: 2,
    CollectError: 2,
    StoreError: 2,
}
USER_ERRORS = tuple(EXIT_CODES)

# What a terminal acts on rather than shows: C0 and C1 control characters (ESC starts colour, cursor,
# clear-screen, title and hyperlink sequences; C1 CSI/OSC do the same in one character; a CR of its own
# and BS overwrite what was printed), DEL, and the Unicode marks that reorder or hide text (bidirectional
# overrides and isolates, line and paragraph separators). Newlines, CRLF (a CSV's line ends) and tabs
# are layout.
_CONTROLS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
_UNSAFE = re.compile(rf"{_CONTROLS}|\r(?!\n)")
_UNSAFE_IN_LINE = re.compile(rf"{_CONTROLS}|[\r\n\t]")


def _shown(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def terminal_text(text: object, *, one_line: bool = False) -> str:
    """`text` safe to print: every control character shown as a visible `\\uXXXX` instead of acting on the
    terminal; with `one_line`, newlines and tabs too, so a stored value cannot start a line of its own.

    JSON stays valid JSON meaning the same: such characters only occur inside its strings, where
    `\\uXXXX` is their escape.
    """
    return (_UNSAFE_IN_LINE if one_line else _UNSAFE).sub(_shown, str(text))


def line(value: object) -> str:
    """A stored value (a title, a login, a reason) for one line of a table or answer: terminal_text, one line."""
    return "" if value is None else terminal_text(value, one_line=True)


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Print as click.echo does, through terminal_text: the one way the CLI writes to a terminal."""
    click.echo(terminal_text(message), err=err, nl=nl)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error and exit with `code`."""
    echo(f"error: {message}", err=True)  # some messages are several lines (a tool's output); echo keeps them inert
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
    """A progress bar on stderr (gone when done); yields `advance(n=1, note=...)`, `note` shown after it
    (a collector's rate-limit budget left, or why it waits)."""
    with Progress(
        TextColumn(escape(line(label))),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(unit, total=total, note="")

        def advance(n: int = 1, **fields: Any) -> None:
            if "note" in fields:  # a note may name a repository: text, never rich markup or terminal codes
                fields["note"] = escape(line(fields["note"]))
            bar.update(task, advance=n, **fields)

        yield advance


def report_rejection(rejection: Rejection) -> None:
    """One line on stderr for an event the pipeline refused."""
    echo(f"rejected {line(rejection.location)}: {line(rejection.reason)}", err=True)


def check_external(settings: Settings) -> bool:
    """When NEO4J_URI names a server, check that it answers (raising what the user must fix); else False."""
    if not settings.neo4j_uri:
        return False
    run_with_graph(settings, lambda g: asyncio.sleep(0), ensure=True)
    return True
