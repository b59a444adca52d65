"""The API's health and GraphiQL, and the spool worker, against a real Neo4j."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from graph.settings import Settings
from ingest import examples as ex
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import api, load
from tests.test_ingest_cli import answers


def test_healthz_names_the_neo4j_it_uses(settings: Settings) -> None:
    with api(settings) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "neo4j": settings.neo4j_uri, "process": os.getpid()}


def test_graphiql_is_served_to_browsers_without_a_token(settings: Settings) -> None:
    with api(settings, role=None) as client:
        response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()


def test_graphql_error_for_a_bad_query_is_clear(settings: Settings) -> None:
    with api(settings) as client:
        body = client.post("/graphql", json={"query": "{ change(repo: 1) { id } }"}).json()
    assert body["errors"] and "number" in json.dumps(body["errors"])


def test_session_query_walks_back_to_its_changes(settings: Settings) -> None:
    load(settings, demo_envelopes())
    query = '{ session(id: "sess-claude-7f3a") { tool operator { login } changes { number verdict { status } } } }'
    with api(settings) as client:
        data = client.post("/graphql", json={"query": query}).json()["data"]["session"]
    assert data == {
        "tool": "claude-code",
        "operator": {"login": "carol"},
        "changes": [{"number": 42, "verdict": {"status": "UNVERIFIED"}}],
    }


def test_worker_drains_the_inbox_and_moves_files_once_written(settings: Settings, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "incoming").mkdir(parents=True)
    head = ex.sha("w-1")
    lines = [
        ex.pull_request("acme/w", 1, action="opened", author="alice", head=head),
        ex.check_run("acme/w", name="unit-tests", head=head, conclusion="success", run_id=5),
    ]
    (inbox / "incoming" / "0001.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
    }
    result = CliRunner().invoke(main, ["worker", "--inbox", str(inbox), "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert "0001.jsonl: 2 accepted, 0 rejected" in result.stderr
    assert not list((inbox / "incoming").iterdir()) and (inbox / "done" / "0001.jsonl").exists()
    change = answers(settings, [("acme/w", 1)])[0]
    assert change["head_sha"] == head and [e["name"] for e in change["evidence"]] == ["unit-tests"]
