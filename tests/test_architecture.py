"""The layering of STYLE.md and the public GraphQL contract, checked rather than hoped for."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from api.schema import schema

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).with_name("snapshots") / "schema.graphql"
# Which top-level packages each layer may import.
ALLOWED = {
    "graph": set(),
    "ingest": {"graph"},
    "export": {"graph", "ingest"},
    "api": {"graph", "ingest", "export"},
    "cli": {"graph", "ingest", "export", "api"},
}
CYPHER = re.compile(r"\b(MATCH|MERGE)\s*\(|\bCREATE\s*\(")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _imported_packages(path: Path) -> set[str]:
    return {module.split(".")[0] for module in _imported_modules(path)} & set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_layers_import_only_downwards(package: str) -> None:
    for path in _modules(package):
        wrong = _imported_packages(path) - ALLOWED[package] - {package}
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_the_cli_reaches_the_api_only_to_serve_it() -> None:
    """The CLI and the API both wrap the packages; the CLI imports api/ only where `tracegraph serve` starts it."""
    found = {
        (path.relative_to(ROOT).as_posix(), module)
        for path in _modules("cli")
        for module in _imported_modules(path)
        if module.split(".")[0] == "api"
    }
    assert found == {("cli/main.py", "api.app")}


@pytest.mark.parametrize("package", ["api", "ingest", "export", "cli"])
def test_cypher_lives_only_in_graph(package: str) -> None:
    for path in _modules(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not CYPHER.search(node.value), f"Cypher in {path.relative_to(ROOT)}: {node.value[:60]!r}"


def test_graphql_schema_matches_the_snapshot() -> None:
    """A rename in the public contract must show up as a diff of tests/snapshots/schema.graphql."""
    current = schema.as_str() + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(current)
    assert current == SNAPSHOT.read_text(), "GraphQL schema changed: review it, then run with UPDATE_SNAPSHOTS=1"


CONTRACT = {
    "Query": {"change", "commit", "deployment", "incident", "session"},
    "Change": {
        "id",
        "repo",
        "number",
        "title",
        "url",
        "state",
        "riskArea",
        "headSha",
        "mergeCommitSha",
        "createdAt",
        "mergedAt",
        "author",
        "sessions",
        "commits",
        "approvals",
        "evidence",
        "deployments",
        "incidents",
        "verdict",
    },
    "Approval": {"reviewer", "at", "commitSha", "stale", "independent"},
    "Evidence": {"kind", "name", "conclusion", "commitSha", "url", "at", "source"},
    "AgentSession": {"id", "tool", "model", "promptSummary", "operator", "startedAt", "changes", "commits"},
    "Deployment": {"id", "environment", "status", "sha", "service", "strategy", "at", "changes", "incidents"},
    "Incident": {
        "id",
        "title",
        "severity",
        "status",
        "service",
        "triggeredAt",
        "resolvedAt",
        "suspects",
        "postmortems",
    },
    "Suspect": {"change", "deployment", "sessions", "score", "reason"},
    "Verdict": {"status", "gaps"},
    "Person": {"login", "name", "isBot"},
}


@pytest.mark.parametrize("type_name", sorted(CONTRACT))
def test_design_contract_fields_exist(type_name: str) -> None:
    graphql_type = schema._schema.get_type(type_name)  # noqa: SLF001 - graphql-core's view of the schema
    assert graphql_type is not None
    assert CONTRACT[type_name] <= set(graphql_type.fields)  # type: ignore[attr-defined]
