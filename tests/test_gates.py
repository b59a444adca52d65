"""Gates that fail closed: `tracegraph gate commit|change|deployment` and GET /gate/…, against a real Neo4j.

Exit 0 only when every change the shipment adds is VERIFIED (or covered); 1 with the gaps per change;
2 whenever the gate cannot be evaluated — never 0. The history is tests/governance_scenario.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from neo4j.exceptions import ServiceUnavailable

from cli.main import main
from graph.settings import Settings
from tests import governance_scenario as gs
from tests.conftest import api, load


def env(settings: Settings, **extra: str | None) -> dict[str, str | None]:
    return {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
        "TRACEGRAPH_POLICY": None,
        "TRACEGRAPH_TOKEN": None,
        **extra,
    }


def gate(settings: Settings, *args: str, **extra: str | None) -> Result:
    return CliRunner().invoke(main, ["gate", *args], env=env(settings, **extra))


def gate_json(settings: Settings, *args: str, **extra: str | None) -> tuple[int, dict[str, Any]]:
    result = gate(settings, *args, "--json", **extra)
    answer = json.loads(result.stdout)
    assert answer["exitCode"] == result.exit_code, result.output
    return result.exit_code, answer


@pytest.fixture
def shop(settings: Settings) -> Settings:
    summary = load(settings, gs.history())
    assert not summary.rejected, summary
    return settings


def test_a_commit_whose_added_changes_are_verified_passes(shop: Settings) -> None:
    code, answer = gate_json(shop, "commit", gs.M2, "--environment", "production")
    assert code == 0 and answer["passed"] is True
    assert [c["id"] for c in answer["changes"]] == ["github:acme/shop#2"]
    assert answer["running"][0]["service"] == "shop"
    assert answer["running"][0]["deployment"]["id"] == "github:deployment:101"
    text = gate(shop, "commit", gs.M2[:10], "--environment", "production")
    assert text.exit_code == 0 and text.stdout.startswith("GATE PASSED: commit")


def test_a_commit_that_adds_an_unverified_change_fails_with_its_gaps(shop: Settings) -> None:
    code, answer = gate_json(shop, "commit", gs.M3, "--environment", "production")
    assert code == 1 and answer["passed"] is False
    by_id = {c["id"]: c for c in answer["changes"]}
    assert set(by_id) == {"github:acme/shop#2", "github:acme/shop#3"}
    assert by_id["github:acme/shop#2"]["passes"] is True
    failing = by_id["github:acme/shop#3"]
    assert failing["passes"] is False and failing["verdict"] == "UNVERIFIED"
    assert any("independent, non-stale approval" in g for g in failing["gaps"])
    assert {m["requirement"] for m in failing["missing"]} >= {"approvals", "exception"}
    text = gate(shop, "commit", gs.M3, "--environment", "production")
    assert text.exit_code == 1 and "FAIL acme/shop#3" in text.stdout and "how (approvals)" in text.stdout


def test_what_runs_already_adds_nothing(shop: Settings) -> None:
    code, answer = gate_json(shop, "commit", gs.M1, "--environment", "production")
    assert (code, answer["changes"], answer["gaps"]) == (0, [], [])


@pytest.mark.parametrize(("commit", "why"), [(gs.X, "a direct push"), (gs.H4, "an open pull request's head")])
def test_a_commit_outside_the_reviewed_flow_never_passes(shop: Settings, commit: str, why: str) -> None:
    code, answer = gate_json(shop, "commit", commit, "--environment", "production")
    assert code == 1, why
    assert any(commit[:7] in g and "belongs to no merged change" in g for g in answer["gaps"]), answer["gaps"]
    assert answer["missing"][0]["requirement"] == "reviewed_flow"


def test_a_commit_whose_ancestry_is_unknown_never_passes(shop: Settings) -> None:
    # PR #5 merged, but git never told us its merge commit's parents: what it adds cannot be known.
    merged = gs.sha("M5")
    load(shop, gs.pull_request(5, gs.sha("h5"), merged, day=6))
    code, answer = gate_json(shop, "commit", merged, "--environment", "production")
    assert code == 1
    assert any("git ancestry stops at" in g for g in answer["gaps"])
    assert any(m["requirement"] == "ancestry" for m in answer["missing"])


def test_an_environment_where_nothing_runs_gets_the_whole_history(shop: Settings) -> None:
    code, answer = gate_json(shop, "commit", gs.M2, "--environment", "staging")
    assert code == 1  # the initial commit R belongs to no change: shipping there adds it too
    assert [c["id"] for c in answer["changes"]] == ["github:acme/shop#1", "github:acme/shop#2"]
    assert any(gs.R[:7] in g for g in answer["gaps"])


def test_gate_deployment_measures_from_the_deployment_before_it(shop: Settings) -> None:
    load(shop, gs.deploy(102, gs.M3, at="2026-03-05T12:00:00Z"))
    code, answer = gate_json(shop, "deployment", "github:deployment:102")
    assert code == 1
    assert answer["running"][0]["deployment"]["id"] == "github:deployment:101"
    assert {c["id"] for c in answer["changes"]} == {"github:acme/shop#2", "github:acme/shop#3"}
    load(shop, gs.deploy(103, gs.M2, at="2026-03-04T12:00:00Z"))
    assert gate_json(shop, "deployment", "github:deployment:103")[0] == 0


def test_gate_change(shop: Settings) -> None:
    assert gate_json(shop, "change", "acme/shop#2")[0] == 0
    code, answer = gate_json(shop, "change", "acme/shop#3")
    assert code == 1 and answer["changes"][0]["missing"][0]["requirement"] == "approvals"


# --- fail closed --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["commit", "0" * 40, "--environment", "production"], "is not in the graph"),
        (["commit", "zzzzzzz", "--environment", "production"], "is not a commit sha"),
        (["commit", "abc", "--environment", "production"], "at least 7 hex digits"),
        (["deployment", "github:deployment:999"], "is not in the graph"),
        (["change", "acme/shop#999"], "no change acme/shop#999"),
        (["change", "not-a-ref"], "not a change reference"),
    ],
)
def test_what_the_graph_does_not_know_is_an_error_never_a_pass(shop: Settings, args: list[str], message: str) -> None:
    code, answer = gate_json(shop, *args)
    assert code == 2 and answer["passed"] is False and message in answer["error"]
    text = gate(shop, *args)
    assert text.exit_code == 2 and message in text.stderr and "Traceback" not in text.output


GATES = [
    ["commit", gs.M2, "--environment", "production"],
    ["change", "acme/shop#2"],
    ["deployment", "github:deployment:103"],
]


@pytest.mark.parametrize("args", GATES, ids=lambda a: a[0])
def test_an_unreadable_policy_is_an_error_never_a_pass(shop: Settings, tmp_path: Path, args: list[str]) -> None:
    load(shop, gs.deploy(103, gs.M2, at="2026-03-04T12:00:00Z"))
    assert gate(shop, *args).exit_code == 0  # the same question passes with a readable policy
    missing = gate(shop, *args, TRACEGRAPH_POLICY=str(tmp_path / "nowhere.yaml"))
    assert missing.exit_code == 2 and "cannot read policy file" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("areas: [not, a, map\n")
    assert gate(shop, *args, TRACEGRAPH_POLICY=str(broken)).exit_code == 2


@pytest.mark.parametrize("args", GATES, ids=lambda a: a[0])
def test_neo4j_down_is_an_error_never_a_pass(tmp_path: Path, args: list[str]) -> None:
    down = {"NEO4J_URI": "bolt://127.0.0.1:9", "NEO4J_PASSWORD": "x", "TRACEGRAPH_HOME": str(tmp_path)}
    result = CliRunner().invoke(main, ["gate", *args, "--json"], env=down)
    assert result.exit_code == 2
    answer = json.loads(result.stdout)
    assert answer["passed"] is False and "does not answer" in answer["error"]


def test_neo4j_failing_halfway_is_an_error_never_a_pass(shop: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async def lost(*_: Any, **__: Any) -> Any:
        raise ServiceUnavailable("connection lost")

    monkeypatch.setattr("graph.governance.ancestry", lost)
    code, answer = gate_json(shop, "commit", gs.M2, "--environment", "production")
    assert code == 2 and "Neo4j did not answer" in answer["error"]


# --- over HTTP ----------------------------------------------------------------------------------


def test_the_gate_over_http_answers_the_same_json_and_is_audited(shop: Settings) -> None:
    with api(shop) as client:
        passed = client.get(f"/gate/commit/{gs.M2}", params={"environment": "production"})
        failed = client.get(f"/gate/commit/{gs.M3}", params={"environment": "production"})
        unknown = client.get(f"/gate/commit/{'0' * 40}", params={"environment": "production"})
        change = client.get("/gate/change/acme/shop/3")
        deployment = client.get("/gate/deployment/github:deployment:101")
        no_environment = client.get(f"/gate/commit/{gs.M2}")
        anonymous = client.get(
            f"/gate/commit/{gs.M2}", params={"environment": "production"}, headers={"Authorization": ""}
        )
    assert passed.status_code == 200 and passed.json()["passed"] is True
    cli_code, cli_answer = gate_json(shop, "commit", gs.M2, "--environment", "production")
    drop = {"evaluatedAt"}
    assert {k: v for k, v in passed.json().items() if k not in drop} == {
        k: v for k, v in cli_answer.items() if k not in drop
    }
    assert failed.status_code == 412 and failed.json()["exitCode"] == 1
    assert unknown.status_code == 404 and unknown.json()["exitCode"] == 2 and unknown.json()["passed"] is False
    assert change.status_code == 412 and deployment.status_code == 412  # #1 ships over nothing: R is outside review
    assert no_environment.status_code == 422 and anonymous.status_code == 401
    with api(shop, role="admin") as admin:
        entries = admin.get("/admin/audit").json()
    gates = [e for e in entries if e["action"] == "gate"]
    assert {(e["status"], e["what"].split()[0]) for e in gates} >= {(200, "commit"), (412, "commit"), (404, "commit")}
