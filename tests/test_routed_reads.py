"""Routed reads: with a `neo4j://` URI the driver routes, and every read runs in a read transaction.

On the single test server the routing table names that one server for every role; on a cluster or
Aura the same reads go to followers. Tested end to end: ingest (writes, routed to the leader), the
five-minute answer in-process and through GraphQL (reads), and the read helper refusing to write.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from neo4j import AsyncNeo4jDriver
from neo4j.exceptions import ClientError

from graph import repository
from graph.driver import Graph, run_with_graph
from graph.policy import load_policy
from graph.reads import read_all
from graph.settings import Settings
from ingest.demo import DEMO_CHANGE
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import api, load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def routed(settings: Settings) -> Settings:
    """The test's settings with the Neo4j URI's scheme set to routing (`neo4j://`)."""
    uri = settings.neo4j_uri or ""
    scheme, _, rest = uri.partition("://")
    if scheme not in ("bolt", "neo4j"):
        pytest.skip(f"the session's Neo4j is at {scheme}://, which cannot be switched to plain neo4j://")
    return settings.model_copy(update={"neo4j_uri": f"neo4j://{rest}"})


def test_a_neo4j_uri_routes_and_every_answer_is_the_same(routed: Settings, settings: Settings) -> None:
    load(routed, demo_envelopes())
    policy = load_policy()
    repo, number = DEMO_CHANGE

    async def answer(graph: Graph) -> tuple[object, object]:
        assert isinstance(graph.driver, AsyncNeo4jDriver)  # the routing driver, not a direct connection
        found = await repository.change(graph, policy, repo=repo, number=number)
        table = graph.driver._pool.routing_tables[graph.database]  # type: ignore[attr-defined]
        return found, table

    found, table = run_with_graph(routed, answer)
    assert found is not None and table.readers and table.writers, table
    direct = run_with_graph(settings, lambda g: repository.change(g, policy, repo=repo, number=number))
    assert found == direct

    query = f'{{ change(repo: "{repo}", number: {number}) {{ verdict {{ status gaps }} approvals {{ stale }} }} }}'
    with api(routed) as client:
        over_routing = client.post("/graphql", json={"query": query}).json()
    with api(settings) as client:
        over_bolt = client.post("/graphql", json={"query": query}).json()
    assert over_routing == over_bolt and over_routing["data"]["change"]["verdict"]["status"] == "UNVERIFIED"


def test_the_read_helper_runs_read_transactions_that_refuse_to_write(routed: Settings) -> None:
    with pytest.raises(ClientError) as refused:
        run_with_graph(routed, lambda g: read_all(g, "CREATE (n:RoutedReadProbe) RETURN 1 AS one"))
    assert refused.value.code == "Neo.ClientError.Statement.AccessMode"
    probes = run_with_graph(routed, lambda g: read_all(g, "MATCH (n:RoutedReadProbe) RETURN count(n) AS n"))
    assert probes == [{"n": 0}]


def test_only_the_read_helper_asks_for_read_routing() -> None:
    """graph/reads.py is the one read helper: no other module of graph/ routes reads itself."""
    for path in sorted((ROOT / "graph").rglob("*.py")):
        if path.name == "reads.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                names = {k.arg for k in node.keywords}
                called = node.func.attr if isinstance(node.func, ast.Attribute) else ""
                assert "routing_" not in names and called != "execute_read", f"{path.name} reads outside graph/reads.py"
