"""What the API keeps off the request path stays correct: cached tokens, the audit log written behind
the response, and the parse/validation of known query texts, against a real Neo4j."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from api import audit as audit_module
from api.audit import AuditQueue
from api.auth import Principals
from graph import access
from graph.access import Principal, Role
from graph.driver import Graph
from graph.settings import Settings
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import api, load, run_graph, token

READER = Principal(token_id="tok_test", name="test reader", role=Role.READER)


def _graphql(client: Any, query: str, **headers: str) -> Any:
    return client.post("/graphql", json={"query": query}, headers=headers)


def _hold_audit_writes(client: Any) -> AuditQueue:
    """The app's audit queue, told to wait an hour before writing on its own (so only a flush writes)."""
    queue: AuditQueue = client.app.state.audit
    queue.flush_after = 3600
    return queue


# --- tokens ---------------------------------------------------------------------------------------


def test_a_token_revoked_through_the_app_is_refused_on_the_next_request(settings: Settings) -> None:
    admin = {"Authorization": f"Bearer {token(settings, 'admin')}"}
    with api(settings, role=None) as client:
        created = client.post("/admin/tokens", json={"role": "reader", "name": "auditor"}, headers=admin).json()
        reader = {"Authorization": f"Bearer {created['token']}"}
        for _ in range(3):  # the token is cached after the first request
            assert _graphql(client, "{ changes(first: 1) { id } }", **reader).status_code == 200
        assert client.delete(f"/admin/tokens/{created['info']['id']}", headers=admin).status_code == 200
        refused = _graphql(client, "{ changes(first: 1) { id } }", **reader)
        assert refused.status_code == 401 and refused.json()["detail"] == "unknown or revoked token"
        assert client.post("/events", content=b"{}", headers=reader).status_code == 401


def test_a_token_revoked_elsewhere_is_refused_once_its_cache_entry_expires(settings: Settings) -> None:
    now = [1000.0]

    async def work(graph: Graph) -> list[Principal | None]:
        principals = Principals(graph, ttl=5, clock=lambda: now[0])
        secret, info = await access.create_token(graph, role=Role.READER, name="cli")
        seen = [await principals.authenticate(secret)]
        await access.revoke_token(graph, info.id)  # what `tracegraph token revoke` does, from another process
        seen.append(await principals.authenticate(secret))  # still cached: the documented staleness
        now[0] += 5.01
        seen.append(await principals.authenticate(secret))
        return seen

    first, cached, expired = run_graph(settings, work)
    assert first is not None and first.name == "cli" and first.role == Role.READER
    assert cached == first
    assert expired is None


# --- the audit log --------------------------------------------------------------------------------


def test_the_admin_audit_read_sees_every_request_already_answered_in_order(settings: Settings) -> None:
    admin = {"Authorization": f"Bearer {token(settings, 'admin')}"}
    queries = [f"query Q{i} {{ changes(first: {i + 1}) {{ id }} }}" for i in range(6)]
    with api(settings) as client:
        queue = _hold_audit_writes(client)
        for query in queries:
            assert _graphql(client, query).status_code == 200
        assert queue.pending == len(queries)  # answered before their audit entries were written
        log = client.get("/admin/audit", headers=admin).json()
        assert queue.pending == 0
    graphql = [e for e in log if e["action"] == "graphql"]
    assert [e["what"] for e in graphql] == list(reversed(queries))  # newest first
    assert {(e["token_name"], e["role"], e["status"]) for e in graphql} == {("test reader", "reader", 200)}
    assert [e["at"] for e in graphql] == sorted((e["at"] for e in graphql), reverse=True)


def test_shutdown_writes_every_queued_entry(settings: Settings) -> None:
    load(settings, demo_envelopes())
    with api(settings) as client:
        queue = _hold_audit_writes(client)
        assert _graphql(client, '{ change(repo: "acme/shop", number: 42) { id } }').status_code == 200
        assert _graphql(client, "{ change(repo: 1) { id } }").status_code == 200  # a bad query is audited too
        assert client.get("/export/change/acme/shop/42", params={"format": "csv"}).status_code == 200
        assert client.get("/export/change/acme/shop/999", params={"format": "csv"}).status_code == 404
        assert queue.pending == 4
    entries = run_graph(settings, lambda g: access.audit_log(g))  # what `tracegraph audit` reads
    found = sorted((e.action, e.status, e.records, e.what[:40]) for e in entries)
    assert found == [
        ("export", 200, 1, "acme/shop#42 format=csv"),
        ("export", 404, 0, "acme/shop#999 format=csv"),
        ("graphql", 200, 1, '{ change(repo: "acme/shop", number: 42) '),
        ("graphql", 400, 0, "{ change(repo: 1) { id } }"),
    ]


def test_the_writer_writes_in_the_background(settings: Settings) -> None:
    async def work(graph: Graph) -> tuple[int, list[str]]:
        queue = AuditQueue(graph, flush_after=0.01)
        queue.start()
        for i in range(3):
            queue.add(READER, action="graphql", what=f"q{i}", records=0, status=200)
        for _ in range(500):  # no read and no shutdown: the writer task alone must get them out
            if queue.pending == 0:
                break
            await asyncio.sleep(0.02)
        left = queue.pending
        entries = await access.audit_log(graph)
        await queue.close()
        return left, [e.what for e in entries]

    left, whats = run_graph(settings, work)
    assert left == 0 and whats == ["q2", "q1", "q0"]


def test_a_failed_audit_write_keeps_the_entries_for_the_next_try(settings: Settings) -> None:
    async def work(graph: Graph) -> tuple[int, list[str]]:
        refusing = Graph(driver=graph.driver, database="nosuchdatabase", uri=graph.uri)  # Neo4j says no
        queue = AuditQueue(refusing, flush_after=3600)
        for i in range(3):
            queue.add(READER, action="graphql", what=f"q{i}", records=0, status=200)
        with pytest.raises(audit_module.WRITE_ERRORS):
            await queue.flush()
        kept = queue.pending
        queue.graph = graph  # Neo4j answers again
        queue.add(READER, action="graphql", what="q3", records=0, status=200)
        await queue.flush()
        await queue.flush()  # nothing left: writes nothing twice
        return kept, [e.what for e in await access.audit_log(graph)]

    kept, whats = run_graph(settings, work)
    assert kept == 3
    assert whats == ["q3", "q2", "q1", "q0"]


def test_entries_neo4j_never_takes_are_logged_at_shutdown_not_dropped(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(audit_module, "RETRY_AFTER", 0)

    async def work(graph: Graph) -> int:
        queue = AuditQueue(Graph(driver=graph.driver, database="nosuchdatabase", uri=graph.uri))
        queue.start()
        queue.add(READER, action="export", what="acme/shop#42 format=csv", records=1, status=200)
        await queue.close()
        return queue.pending

    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        assert run_graph(settings, work) == 0
    [lost] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    entry = json.loads(lost.split(": ", 1)[1])
    assert (entry["token_id"], entry["action"], entry["what"]) == ("tok_test", "export", "acme/shop#42 format=csv")


# --- known query texts ----------------------------------------------------------------------------


def test_a_query_text_seen_before_meets_the_same_limits_and_errors(settings: Settings) -> None:
    load(settings, demo_envelopes())
    deep = '{ session(id: "s") { changes { sessions { changes { sessions { changes { sessions { changes '
    deep += "{ sessions { changes { sessions { id } } } } } } } } } } } }"
    aliases = "{ " + " ".join(f"a{i}: changes(first: 1) {{ id }}" for i in range(30)) + " }"
    tokens = "{ " + " ".join(f"changes(first: 1) {{ id }} # {i}\n" for i in range(400)) + " }"
    wrong = "{ change(repo: 1) { id } }"
    fine = '{ change(repo: "acme/shop", number: 42) { number verdict { status } } }'
    with api(settings) as client:
        for _ in range(3):
            assert "exceeds maximum operation depth" in json.dumps(_graphql(client, deep).json()["errors"])
            assert "aliases" in json.dumps(_graphql(client, aliases).json()["errors"]).lower()
            assert "more than 3000 tokens" in json.dumps(_graphql(client, tokens).json()["errors"])
            errors = json.dumps(_graphql(client, wrong).json()["errors"])
            assert "String cannot represent a non string value: 1" in errors and "number" in errors
            body = _graphql(client, fine).json()
            assert body == {"data": {"change": {"number": 42, "verdict": {"status": "UNVERIFIED"}}}}
