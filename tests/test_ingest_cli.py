"""`tracegraph ingest` and `ask` against a real Neo4j: bad input, quarantine, exit status, replay."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from graph import repository
from graph.policy import load_policy
from graph.settings import Settings
from ingest import examples as ex
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import CORPUS, load, run_graph

REPO = "acme/cli"


def cli(settings: Settings, *args: str) -> Any:
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def counts(settings: Settings) -> dict[str, int]:
    return run_graph(settings, repository.counts)


def answers(settings: Settings, refs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    policy = load_policy()

    async def work(graph: Any) -> list[dict[str, Any]]:
        found = [await repository.change(graph, policy, repo=r, number=n) for r, n in refs]
        return [a.model_dump(mode="json") if a else {} for a in found]

    return run_graph(settings, work)


DEMO_REFS = [("acme/shop", 41), ("acme/shop", 42)]


def test_replaying_events_twice_and_shuffled_gives_the_same_graph_and_answers(settings: Settings) -> None:
    events = demo_envelopes()
    load(settings, events)
    first_counts, first_answers = counts(settings), answers(settings, DEMO_REFS)
    assert first_counts["Change"] == 2 and first_answers[1]["verdict"]["status"] == "UNVERIFIED"

    load(settings, events)
    assert counts(settings) == first_counts
    assert answers(settings, DEMO_REFS) == first_answers

    for seed in (1, 2, 3):
        run_graph(settings, repository.delete_all)
        shuffled = events[:]
        random.Random(seed).shuffle(shuffled)
        load(settings, shuffled)
        assert counts(settings) == first_counts, f"shuffle seed {seed}"
        assert answers(settings, DEMO_REFS) == first_answers, f"shuffle seed {seed}"


BAD_CASES = {
    "malformed.json": ('{"source": "github", "type": "push", ', "malformed JSON"),
    "unknown-source.json": (
        json.dumps({"source": "jira", "type": "x", "id": "1", "payload": {}}),
        "unknown source 'jira'",
    ),
    "unknown-type.json": (
        json.dumps({"source": "github", "type": "fork", "id": "2", "payload": {"forkee": {}}}),
        "unknown github event type 'fork'",
    ),
    "missing-field.json": (
        json.dumps(
            {
                "source": "github",
                "type": "pull_request",
                "id": "3",
                "payload": {
                    "action": "opened",
                    "pull_request": {"title": "no number"},
                    "repository": {"full_name": "acme/cli"},
                },
            }
        ),
        "pull_request.number",
    ),
    "bare-payload.json": (json.dumps({"action": "opened", "number": 1}), "not an event envelope"),
    "not-utf8.json": (b"\xff\xfe{}", "not UTF-8"),
}


def test_bad_input_is_reported_quarantined_and_the_rest_still_lands(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    for name, (content, _) in BAD_CASES.items():
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    head = ex.sha("cli-1")
    good = ex.pull_request(REPO, 1, action="opened", author="alice", head=head)
    (folder / "good.json").write_text(json.dumps(good))
    lines = [
        json.dumps(ex.check_run(REPO, name="unit-tests", head=head, conclusion="success", run_id=1)),
        "{not json",
        json.dumps(ex.review(REPO, 1, reviewer="bob", state="approved", commit=head, review_id=9, pr_author="alice")),
    ]
    (folder / "stream.jsonl").write_text("\n".join(lines) + "\n")

    result = cli(settings, "ingest", str(folder))

    assert result.exit_code == 1
    for name, (_, reason) in BAD_CASES.items():
        line = next((line for line in result.stderr.splitlines() if name in line), "")
        assert reason in line, f"{name}: {result.stderr}"
    assert f"{folder / 'stream.jsonl'}:2: malformed JSON" in result.stderr
    assert "read 10 events: 3 accepted, 7 rejected" in result.stdout
    parked = [json.loads(p.read_text()) for p in (settings.home / "quarantine").glob("*.json")]
    assert len(parked) == 7 and all(entry["reason"] for entry in parked)
    change = answers(settings, [(REPO, 1)])[0]
    assert change["head_sha"] == head and [a["reviewer"]["login"] for a in change["approvals"]] == ["bob"]


def test_clean_input_exits_zero_and_bare_payloads_take_source_and_type(settings: Settings, tmp_path: Path) -> None:
    payload = ex.pull_request(REPO, 2, action="opened", author="alice", head=ex.sha("cli-2"))["payload"]
    path = tmp_path / "pr.json"
    path.write_text(json.dumps(payload))
    result = cli(settings, "ingest", "--source", "github", "--type", "pull_request", str(path))
    assert result.exit_code == 0, result.output
    assert "1 accepted, 0 rejected" in result.stdout
    assert answers(settings, [(REPO, 2)])[0]["title"] == "A change"


def test_ask_prints_the_answer_and_json(settings: Settings) -> None:
    load(settings, demo_envelopes())
    text = cli(settings, "ask", "change", "acme/shop#42")
    assert text.exit_code == 0
    assert "VERDICT: UNVERIFIED" in text.stdout and "security-scan" in text.stdout and "STALE" in text.stdout
    as_json = json.loads(cli(settings, "ask", "change", "acme/shop#42", "--json").stdout)
    assert as_json["verdict"]["status"] == "UNVERIFIED" and as_json["riskArea"] == "payments"
    missing = cli(settings, "ask", "change", "acme/shop#404")
    assert missing.exit_code == 1 and "no change acme/shop#404" in missing.stderr


def test_unreachable_neo4j_is_a_clear_error(tmp_path: Path) -> None:
    env = {"NEO4J_URI": "bolt://127.0.0.1:9", "NEO4J_PASSWORD": "x", "TRACEGRAPH_HOME": str(tmp_path)}
    result = CliRunner().invoke(main, ["ask", "change", "o/r#1"], env=env)
    assert result.exit_code == 2
    assert "does not answer" in result.stderr and "tracegraph db start" in result.stderr


@pytest.mark.skipif(not (CORPUS / "github-webhooks").is_dir(), reason="../shared/corpus is not present")
def test_every_corpus_github_webhook_ingests_or_is_rejected_with_a_reason(settings: Settings) -> None:
    result = cli(settings, "ingest", "--source", "github", str(CORPUS / "github-webhooks"))
    assert result.exit_code in (0, 1), result.output
    summary = next(line for line in result.stdout.splitlines() if line.startswith("read "))
    read = int(summary.split()[1])
    rejected = [line for line in result.stderr.splitlines() if line.startswith(f"rejected {CORPUS}")]
    assert read > 100 and len(rejected) < read
    assert all(": " in line and "could not be read" not in line for line in rejected), rejected
    print(summary)
