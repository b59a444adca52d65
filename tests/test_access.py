"""Access control: every endpoint and GraphQL field without a token, with the wrong role, revoked;
the audit log; request limits; and injection attempts through every argument."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from graph import repository
from graph.settings import Settings
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import api, load, run_graph, token

FIELD_QUERIES = {
    "change": '{ change(repo: "acme/shop", number: 42) { id } }',
    "commit": '{ commit(sha: "abc") { sha } }',
    "deployment": '{ deployment(id: "github:deployment:9001") { id } }',
    "incident": '{ incident(id: "x") { id } }',
    "session": '{ session(id: "sess-claude-7f3a") { id } }',
    "changes": "{ changes(first: 5) { id } }",
}


def _graphql(client: Any, query: str, **headers: str) -> Any:
    return client.post("/graphql", json={"query": query}, headers=headers)


@pytest.mark.parametrize("field", sorted(FIELD_QUERIES))
def test_every_graphql_field_needs_a_reader_token(settings: Settings, field: str) -> None:
    with api(settings, role=None) as client:
        missing = _graphql(client, FIELD_QUERIES[field])
        assert missing.status_code == 401 and "tracegraph token create" in missing.json()["detail"]
        wrong = _graphql(client, FIELD_QUERIES[field], Authorization=f"Bearer {token(settings, 'ingester')}")
        assert wrong.status_code == 403 and "needs reader" in wrong.json()["detail"]
        bogus = _graphql(client, FIELD_QUERIES[field], Authorization="Bearer tg_not-a-token")
        assert bogus.status_code == 401
        for role in ("reader", "admin"):
            ok = _graphql(client, FIELD_QUERIES[field], Authorization=f"Bearer {token(settings, role)}")
            assert ok.status_code == 200 and "errors" not in ok.json(), ok.text


def test_a_revoked_token_is_refused(settings: Settings) -> None:
    admin = token(settings, "admin")
    with api(settings, role=None) as client:
        created = client.post(
            "/admin/tokens", json={"role": "reader", "name": "auditor"}, headers={"Authorization": f"Bearer {admin}"}
        )
        assert created.status_code == 201
        secret, token_id = created.json()["token"], created.json()["info"]["id"]
        assert _graphql(client, FIELD_QUERIES["changes"], Authorization=f"Bearer {secret}").status_code == 200
        revoked = client.delete(f"/admin/tokens/{token_id}", headers={"Authorization": f"Bearer {admin}"})
        assert revoked.status_code == 200
        assert _graphql(client, FIELD_QUERIES["changes"], Authorization=f"Bearer {secret}").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/admin/tokens", None),
        ("post", "/admin/tokens", {"role": "reader", "name": "x"}),
        ("delete", "/admin/tokens/tok_x", None),
        ("get", "/admin/audit", None),
    ],
)
def test_admin_endpoints_need_an_admin(settings: Settings, method: str, path: str, body: Any) -> None:
    with api(settings, role=None) as client:
        call = getattr(client, method)
        kwargs = {"json": body} if body else {}
        assert call(path, **kwargs).status_code == 401
        for role in ("reader", "ingester"):
            response = call(path, headers={"Authorization": f"Bearer {token(settings, role)}"}, **kwargs)
            assert response.status_code == 403, (role, response.text)


def test_healthz_needs_no_token(settings: Settings) -> None:
    with api(settings, role=None) as client:
        assert client.get("/healthz").status_code == 200


def test_tokens_are_stored_hashed_and_queries_are_audited(settings: Settings) -> None:
    load(settings, demo_envelopes())
    secret = token(settings, "reader")
    stored = run_graph(settings, lambda g: g.driver.execute_query("MATCH (t:ApiToken) RETURN t {.*} AS t"))
    assert secret not in json.dumps([r["t"] for r in stored.records])
    with api(settings, role=None) as client:
        response = _graphql(client, FIELD_QUERIES["change"], Authorization=f"Bearer {secret}")
        assert response.status_code == 200
        admin = token(settings, "admin")
        log = client.get("/admin/audit", headers={"Authorization": f"Bearer {admin}"}).json()
    [entry] = [e for e in log if e["action"] == "graphql"]
    assert entry["token_name"] == "test reader" and entry["records"] == 1 and "change(" in entry["what"]
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
    }
    printed = CliRunner().invoke(main, ["audit"], env=env)
    assert printed.exit_code == 0 and "test reader (reader)  graphql  1 records" in printed.stdout


def test_token_cli_prints_the_secret_once_and_lists_without_it(settings: Settings) -> None:
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
    }
    created = CliRunner().invoke(main, ["token", "create", "--role", "reader", "--name", "ci"], env=env)
    assert created.exit_code == 0 and created.stdout.startswith("tg_")
    secret = created.stdout.strip()
    listed = CliRunner().invoke(main, ["token", "list"], env=env)
    assert "reader" in listed.stdout and "ci" in listed.stdout and secret not in listed.stdout
    with api(settings, role=None) as client:
        assert _graphql(client, FIELD_QUERIES["changes"], Authorization=f"Bearer {secret}").status_code == 200


def test_graphql_limits_give_clear_errors(settings: Settings) -> None:
    deep = '{ session(id: "s") { changes { sessions { changes { sessions { changes { sessions { changes '
    deep += "{ sessions { changes { sessions { id } } } } } } } } } } } }"
    aliases = "{ " + " ".join(f"a{i}: changes(first: 1) {{ id }}" for i in range(30)) + " }"
    with api(settings) as client:
        too_deep = _graphql(client, deep).json()
        assert "exceeds maximum operation depth" in json.dumps(too_deep["errors"])
        too_many = _graphql(client, aliases).json()
        assert "aliases" in json.dumps(too_many["errors"]).lower()
        page = _graphql(client, "{ changes(first: 100000) { id } }").json()
        assert "first must be between 1 and 500" in json.dumps(page["errors"])
        huge = client.post(
            "/graphql",
            content=b'{"query": "' + b" " * 70000 + b'{ changes { id } }"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413


INJECTIONS = [
    "' OR 1=1 //",
    'x"}) MATCH (n) DETACH DELETE n //',
    "`) DETACH DELETE n WITH 1 AS x MATCH (y",
    "$id} RETURN 1 UNION MATCH (n) RETURN n //",
    "\\u0027; CALL dbms.security.createUser('x','y',false) //",
]


@pytest.mark.parametrize("attempt", INJECTIONS)
def test_injection_attempts_through_every_argument_change_nothing(settings: Settings, attempt: str) -> None:
    load(settings, demo_envelopes())
    before = run_graph(settings, repository.counts)
    value = json.dumps(attempt)
    queries = [
        f"{{ change(repo: {value}, number: 42) {{ id }} }}",
        f"{{ commit(sha: {value}) {{ sha }} }}",
        f"{{ deployment(id: {value}) {{ id }} }}",
        f"{{ incident(id: {value}) {{ id suspects {{ reason }} }} }}",
        f"{{ session(id: {value}) {{ id changes {{ id }} }} }}",
        f"{{ changes(repo: {value}, first: 5) {{ id }} }}",
    ]
    with api(settings) as client:
        for query in queries:
            response = _graphql(client, query)
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            assert all(v in (None, []) for v in data.values()), (query, data)
    after = run_graph(settings, repository.counts)
    assert {k: v for k, v in after.items() if k not in {"AuditEntry", "ApiToken"}} == before


def test_events_take_an_ingester_token_and_refuse_readers(settings: Settings) -> None:
    envelope = json.dumps({"source": "github", "type": "ping", "id": "p-1", "payload": {"zen": "hi"}})
    with api(settings, role=None) as client:
        assert client.post("/events", content=envelope).status_code == 401
        reader = {"Authorization": f"Bearer {token(settings, 'reader')}"}
        refused = client.post("/events", content=envelope, headers=reader)
        assert refused.status_code == 403 and "needs ingester" in refused.json()["detail"]
        ingester = {"Authorization": f"Bearer {token(settings, 'ingester')}"}
        assert client.post("/events", content=envelope, headers=ingester).status_code == 202
