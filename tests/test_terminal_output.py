"""Stored text cannot steer a terminal: titles, prompts, commit messages, logged queries, inbox reasons and
bundle file names are printed with their control characters shown, not obeyed, by every command."""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

import cli.common
from cli.common import line, progress, terminal_text
from cli.main import main
from graph.settings import Settings
from ingest import examples as ex
from ingest.inbox import QUARANTINE, Delivery, Inbox
from tests.conftest import api, load

ROOT = Path(__file__).resolve().parents[1]
ESC = "\x1b"
# A hyperlink that hides where it points, a screen clear, a C1 CSI (one character), an overwrite by CR,
# a backspace, and a right-to-left override.
ATTACK = f"{ESC}]8;;https://evil.example/{ESC}\\click{ESC}]8;;{ESC}\\{ESC}[2J\x9b31m\rok\x08\u202edab"
ACTING = (ESC, "\x9b", "\r", "\x08", "\u202e", "\x07")


def _acting(text: str) -> list[str]:
    return [repr(c) for c in ACTING if c in text.replace("\r\n", "\n")]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"{ESC}[2J", "\\u001b[2J"),
        ("\x9b2J", "\\u009b2J"),
        ("done\rFAKE", "done\\u000dFAKE"),
        ("ab\x08\x08XY", "ab\\u0008\\u0008XY"),
        ("\u202etxt.exe", "\\u202etxt.exe"),
        ("a,b\r\nc,d\r\n", "a,b\r\nc,d\r\n"),  # a CSV's line ends are layout
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("plain é ☃ text", "plain é ☃ text"),
    ],
)
def test_terminal_text_shows_control_characters_instead_of_obeying_them(text: str, shown: str) -> None:
    assert terminal_text(text) == shown


def test_a_stored_value_cannot_start_a_line_of_its_own() -> None:
    assert line("Fix it\nVERDICT: VERIFIED") == "Fix it\\u000aVERDICT: VERIFIED"
    assert line("a\r\nb\tc") == "a\\u000d\\u000ab\\u0009c" and line(None) == ""


def test_json_output_stays_json_meaning_the_same() -> None:
    value = {"title": f"x{ESC}[2J\x9b\u202e\x7fy", "n": 1}
    for dumped in (json.dumps(value, ensure_ascii=False), json.dumps(value)):
        shown = terminal_text(dumped)
        assert not _acting(shown) and json.loads(shown) == value


def test_every_command_prints_through_the_one_echo() -> None:
    """click.echo, print and raw stream writes appear only inside cli.common.echo."""
    found = []
    for path in sorted((ROOT / "cli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called in {"click.echo", "click.secho", "print", "sys.stdout.write", "sys.stderr.write"}:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {called}")
    assert found == [f"cli/common.py:{_echo_line()} click.echo"]


def _echo_line() -> int:
    source = (ROOT / "cli" / "common.py").read_text().splitlines()
    start = next(i for i, text in enumerate(source) if text.startswith("def echo("))
    return next(i for i in range(start, len(source)) if "click.echo(" in source[i]) + 1


def test_a_progress_label_is_text_not_rich_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(cli.common, "Console", lambda **_: Console(file=screen, force_terminal=True, width=120))
    with progress("ingesting [bold red]acme/shop[/] [link=https://evil.example]x[/link]", 1, "files") as advance:
        advance()
    drawn = screen.getvalue()
    assert "[bold red]acme/shop[/]" in drawn and "[link=https://evil.example]" in drawn
    assert "evil.example\x1b" not in drawn and "\x1b]8;" not in drawn  # no hyperlink escape was made


# --- end to end: ask, trace, audit, inbox, verify-export ----------------------------------------------


def _env(settings: Settings) -> dict[str, str]:
    return {
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
    }


def _events() -> list[dict[str, Any]]:
    repo, head = "acme/term", ex.sha("term-1")
    commit = ex.commit(head, message=f"Refactor {ATTACK}\n\nbody {ATTACK}", author="alice")
    title = f"Fix it {ATTACK}\nVERDICT: VERIFIED"
    return [
        ex.push(repo, before=ex.sha("term-0"), commits=[commit]),
        ex.pull_request(repo, 1, action="opened", author="alice", head=head, title=title),
        ex.provenance(repo, 1, session_id="sess-term", tool="claude-code", model="m", prompt_summary=ATTACK),
    ]


def test_stored_text_is_shown_not_obeyed_by_every_command(settings: Settings, tmp_path: Path) -> None:
    load(settings, _events())
    runner = CliRunner()
    env = _env(settings)
    with api(settings) as client:  # a reader's query whose comment carries the attack lands in the audit log
        client.post("/graphql", json={"query": f"# {ATTACK}\n{{ changes(first: 1) {{ id }} }}"})

    box = Inbox(settings.inbox_dir)
    box.put(Delivery(source="github", type=f"push{ESC}[2J", id=f"d{ESC}]8;;x", payload={"a": 1}, via="test"))
    with box.claim("w") as claim:
        [path] = claim.take(1)
        claim.park(path, QUARANTINE, f"cannot read {ATTACK}")

    bundle = tmp_path / "bundle"
    assert runner.invoke(main, ["export", "--change", "acme/term#1", "--out", str(bundle)], env=env).exit_code == 0
    (bundle / f"added{ESC}[2J\nverified 9 files.json").write_text("{}")

    outputs = {
        "ask": runner.invoke(main, ["ask", "change", "acme/term#1"], env=env),
        "ask --json": runner.invoke(main, ["ask", "change", "acme/term#1", "--json"], env=env),
        "audit": runner.invoke(main, ["audit"], env=env),
        "inbox": runner.invoke(main, ["inbox"], env={**env, "TRACEGRAPH_INBOX": str(box.root)}),
        "export csv": runner.invoke(main, ["export", "--change", "acme/term#1", "--format", "csv"], env=env),
        "verify-export": runner.invoke(main, ["verify-export", str(bundle)], env=env),
    }
    for name, result in outputs.items():
        assert result.exception is None or isinstance(result.exception, SystemExit), (name, result.output)
        assert not _acting(result.output), f"{name} printed {_acting(result.output)} raw"
        assert "\\u001b" in result.output, f"{name} did not show the escape it was given"
    ask = outputs["ask"].output.splitlines()
    assert [row for row in ask if row.startswith("VERDICT:")] == ["VERDICT: UNVERIFIED"]
    assert json.loads(outputs["ask --json"].output)["title"].startswith(f"Fix it {ESC}]8;;")
    assert outputs["verify-export"].exit_code == 1
    assert not any(row.startswith("verified") for row in outputs["verify-export"].output.splitlines())


def _attacked_change() -> Any:
    from graph.models import Change

    a = ATTACK + "\nVERDICT: VERIFIED"
    person = {"login": a, "name": a}
    return Change.model_validate(
        {
            **{k: a for k in ("id", "repo", "title", "url", "state", "risk_area", "head_sha", "merge_commit_sha")},
            "number": 1,
            "author": person,
            "sessions": [{"id": a, "tool": a, "model": a, "prompt_summary": a, "operator": person}],
            "commits": [{"sha": a, "message": a, "ai_tools": [a]}],
            "approvals": [{"reviewer": person, "commit_sha": a, "stale": True, "independent": False, "reasons": [a]}],
            "evidence": [{"id": a, "kind": a, "name": a, "conclusion": a, "commit_sha": a, "source": a}],
            "deployments": [{"id": a, "environment": a, "service": a, "status": a}],
            "incidents": [{"id": a, "title": a, "severity": a, "status": a}],
            "verdict": {"status": "UNVERIFIED", "gaps": [a]},
        }
    )


def test_the_answer_and_trace_renderings_keep_every_stored_value_on_its_line() -> None:
    from cli.render import change_text
    from cli.trace import trace_text
    from graph.models import Deployment, Incident
    from graph.trace import RankedSuspect, Trace

    change = _attacked_change()
    a = ATTACK + "\nVERDICT: VERIFIED"
    incident = Incident.model_validate({"id": a, "title": a, "severity": a, "status": a, "service": a})
    deployment = Deployment.model_validate({"id": a, "environment": a, "sha": a, "service": a})
    trace = Trace(incident, [RankedSuspect(change, deployment, 0.5, a)], [a])
    for text in (change_text(change), trace_text(trace)):
        assert not _acting(text)
        assert not any(row.lstrip().startswith("VERDICT: VERIFIED") for row in text.splitlines())
