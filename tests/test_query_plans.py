"""The hot queries start from indexes: no label or all-nodes scan in their plans (EXPLAIN on the real Neo4j).

A scan is invisible on a demo graph and ruinous on a year of an org's data, so the plan is checked,
not the timing. The graph holds the demo org first, so the planner sees real statistics.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pytest

from graph import queries
from graph.driver import Graph
from graph.settings import Settings
from graph.vocabulary import EDGE_PROPERTIES, EDGES, KEYS, ORIGIN_PROPERTIES, PROPERTIES, Rel
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import load, run_graph

# Operators that read every node of a label (or every node, or every relationship) to find a few.
SCANS = frozenset(
    {
        "AllNodesScan",
        "NodeByLabelScan",
        "UnionNodeByLabelsScan",
        "IntersectionNodeByLabelsScan",
        "SubtractionNodeByLabelsScan",
        "AllRelationshipsScan",
        "DirectedAllRelationshipsScan",
        "UndirectedAllRelationshipsScan",
        "DirectedRelationshipTypeScan",
        "UndirectedRelationshipTypeScan",
    }
)


def operators(plan: dict[str, Any]) -> list[str]:
    """Every operator of a plan tree, without the runtime suffix (`NodeByLabelScan@neo4j`)."""
    found = [str(plan.get("operatorType", "")).split("@")[0]]
    for child in plan.get("children", []):
        found += operators(child)
    return found


def writer_statements() -> dict[str, str]:
    """The writer's MERGE statements: every label with all its properties, every allowed edge."""
    found = {}
    for label in KEYS:
        props = tuple(sorted(PROPERTIES[label] | ORIGIN_PROPERTIES))
        found[f"merge_nodes({label})"] = queries.merge_nodes(label, props)
        found[f"merge_nodes({label}, key only)"] = queries.merge_nodes(label, ())
    for src, rel, dst in sorted(EDGES):
        props = tuple(sorted(EDGE_PROPERTIES if rel == Rel.CAUSED_BY else ORIGIN_PROPERTIES))
        found[f"merge_edges({src}, {rel}, {dst})"] = queries.merge_edges(src, rel, dst, props)
    return found


def read_statements(module: ModuleType) -> dict[str, str]:
    """The module's Cypher reads: its upper-case string constants that MATCH."""
    return {
        f"{module.__name__}.{name}": value
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str) and "MATCH" in value
    }


def optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


def scans(settings: Settings, statements: dict[str, str]) -> dict[str, list[str]]:
    """For each statement whose plan scans, the scanning operators (EXPLAIN plans; nothing runs)."""
    load(settings, demo_envelopes())

    async def explain(graph: Graph) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        async with graph.driver.session(database=graph.database) as session:
            for name, statement in statements.items():
                result = await session.run("EXPLAIN " + statement)
                plan = (await result.consume()).plan
                assert plan, f"no plan for {name}"
                bad = [op for op in operators(plan) if op in SCANS]
                if bad:
                    found[name] = bad
        return found

    return run_graph(settings, explain)


def test_operators_walks_the_whole_plan_tree() -> None:
    plan = {
        "operatorType": "ProduceResults@neo4j",
        "children": [{"operatorType": "Apply@neo4j", "children": [{"operatorType": "NodeByLabelScan@neo4j"}]}],
    }
    assert operators(plan) == ["ProduceResults", "Apply", "NodeByLabelScan"]


def test_the_five_minute_answer_and_entity_reads_use_indexes(settings: Settings) -> None:
    reads = {
        name: getattr(queries, name)
        for name in ("CHANGE_ANSWER", "COMMIT", "DEPLOYMENT", "INCIDENT", "SESSION", "CHANGE_IDS_OF_SESSION")
        if hasattr(queries, name)
    }
    assert "CHANGE_ANSWER" in reads
    assert scans(settings, reads) == {}


def test_the_writer_merges_by_key(settings: Settings) -> None:
    assert scans(settings, writer_statements()) == {}


@pytest.mark.parametrize("module_name", ["graph.queries.trace", "graph.queries.metrics", "graph.queries.governance"])
def test_incident_trace_and_metrics_reads_use_indexes(settings: Settings, module_name: str) -> None:
    module = optional_module(module_name)
    if module is None:
        pytest.skip(f"{module_name} does not exist yet")
    statements = read_statements(module)
    assert statements, f"{module_name} has no reads to check"
    assert scans(settings, statements) == {}


def test_the_incident_trace_walks_ancestry_without_enumerating_paths(settings: Settings) -> None:
    from graph.queries import trace

    hot = {
        f"graph.queries.trace.{n}" for n in ("TRACE_INCIDENT", "TRACE_DEPLOYMENTS", "TRACE_SHIPPED", "CHANGE_ANSWERS")
    }
    assert hot <= set(read_statements(trace)), "the trace's reads must stay under the scan check above"
    load(settings, demo_envelopes())

    async def walks(graph: Graph) -> list[str]:
        async with graph.driver.session(database=graph.database) as session:
            result = await session.run("EXPLAIN " + trace.TRACE_SHIPPED)
            plan = (await result.consume()).plan
        return [op for op in operators(plan or {}) if op.startswith("VarLengthExpand")]

    # A plain VarLengthExpand follows every path, and merges multiply paths; the pruning BFS visits each commit once.
    found = run_graph(settings, walks)
    assert found and all("Pruning" in op for op in found), found
