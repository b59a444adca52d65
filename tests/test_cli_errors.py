"""Every command reports the errors a user can cause through cli.common.user_errors: one line, the right
exit status, no traceback. No database needed."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from cli.common import user_errors
from cli.main import main
from export.archive import Unreadable
from export.scope import ExportError, ExportNotFound
from graph.driver import GraphUnavailable
from graph.metrics import MetricsError
from graph.policy import PolicyError


def _commands(group: click.Group, prefix: str = "tracegraph") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield f"{prefix} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix} {name}")


# Groups that only hold subcommands run no code of their own.
BARE_GROUPS = {
    "tracegraph ask",
    "tracegraph db",
    "tracegraph token",
    "tracegraph trace",
    "tracegraph gate",
    "tracegraph exception",
    "tracegraph drill",
}


@pytest.mark.parametrize(("name", "command"), list(_commands(main)), ids=lambda v: v if isinstance(v, str) else None)
def test_every_command_goes_through_user_errors(name: str, command: click.Command) -> None:
    if name in BARE_GROUPS:
        return
    assert getattr(command.callback, "user_errors", False), f"{name} is not wrapped in cli.common.user_errors"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ExportNotFound("no change acme/shop#9 in the graph"), 1),
        (ExportError("--from x is not a date"), 2),
        (GraphUnavailable("no Neo4j is running"), 2),
        (PolicyError("policy.yaml: areas.auth is not a map"), 2),
        (MetricsError("the window is empty"), 2),
        (Unreadable("evidence/ does not exist"), 2),
    ],
)
def test_a_user_error_is_one_line_and_an_exit_status(
    error: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    @user_errors
    def command() -> None:
        raise error

    with pytest.raises(SystemExit) as exited:
        command()
    assert exited.value.code == code
    assert capsys.readouterr().err == f"error: {error}\n"


def test_any_other_error_is_not_hidden() -> None:
    @user_errors
    def command() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        command()
