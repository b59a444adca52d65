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
PACKAGES = (
    "documents",
    "graph",
    "ingest",
    "export",
    "api",
    "cli",
    "web",
    "bench",
    "governance",
    "mcp_server",
    "trust",
    "collect",
)
# The modules of other packages each package may import (a prefix allows what is below it). DESIGN's
# direction: documents/ (the raw document store) is the bottom, opened by graph/; ingest/ and export/
# build on graph/; the API uses only the pipeline (its core types and plugin registry) and the inbox of
# ingest/; the CLI and the benches take nothing from api/ but the apps they start.
INGEST_FACADE = (
    "ingest.pipeline",
    "ingest.inbox",
    "ingest.inboxes",
    "ingest.worker",
    "ingest.sources",
    "ingest.signatures",
)
ALLOWED: dict[str, tuple[str, ...]] = {
    "documents": (),
    "graph": ("documents",),
    # Signatures (verifying evidence, signing exports) stand on their own: crypto libraries, no graph.
    "trust": (),
    "ingest": ("graph", "trust", "documents"),
    "export": ("graph", "ingest.redact", "ingest.timestamps", "ingest.sources", "trust"),
    "api": ("graph", "export", "governance", "trust", *INGEST_FACADE, "web"),
    # The web app reads through graph/ and export/ like the API; it is mounted by api/app.py.
    "web": ("graph", "export", "ingest.redact"),
    "cli": ("graph", "ingest", "export", "governance", "mcp_server", "trust", "api.app", "collect", "documents"),
    "bench": ("graph", "ingest", "export", "api.app", "cli", "collect", "documents"),
    # The collectors read provider APIs and drive the one pipeline; nothing imports them but the CLI.
    "collect": ("graph", "ingest.pipeline", "ingest.timestamps"),
    # Gates, exceptions, status, drills and audit periods build on graph/ and export/ (evidence bundles),
    # reading GitHub's payloads with the sources' readers.
    "governance": ("graph", "export", "trust", "ingest.redact", "ingest.timestamps", "ingest.sources"),
    # The MCP face wraps graph/ and governance/, as api/ and cli/ do.
    "mcp_server": ("graph", "governance"),
}
CYPHER = re.compile(r"\b(MATCH|MERGE)\s*\(|\bCREATE\s*\(")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


MODULES = {_name(path) for package in PACKAGES for path in _modules(package)}


def _imported_modules(path: Path, *, top_level_only: bool = False) -> set[str]:
    """The project modules a file imports (`from a import b` is the module a.b when there is one)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names
            }
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _allowed(module: str, rules: tuple[str, ...]) -> bool:
    return any(module == rule or module.startswith(rule + ".") for rule in rules)


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_import_only_what_design_allows(package: str) -> None:
    for path in _modules(package):
        wrong = sorted(
            m for m in _imported_modules(path) if m.split(".")[0] != package and not _allowed(m, ALLOWED[package])
        )
        assert not wrong, f"{path.relative_to(ROOT)} imports {wrong}"


def test_the_cli_reaches_the_api_only_to_serve_it() -> None:
    """The CLI and the API both wrap the packages; the CLI imports api/ only where `tracegraph serve` starts it."""
    found = {
        (path.relative_to(ROOT).as_posix(), module)
        for path in _modules("cli")
        for module in _imported_modules(path)
        if module.split(".")[0] == "api"
    }
    assert found == {("cli/main.py", "api.app")}


def test_no_import_cycles_between_modules() -> None:
    """Module-level imports form no cycle (file ingest and its child process once imported each other)."""
    edges = {
        _name(path): {m for m in _imported_modules(path, top_level_only=True) if m in MODULES} - {_name(path)}
        for package in PACKAGES
        for path in _modules(package)
    }
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges[module]):
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*trail, module, target])
            if target not in state:
                visit(target, [*trail, module])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_a_source_imports_no_other_source() -> None:
    """Adding a source touches one file: sources share only `base` and `shared`, never each other's modules."""
    folder = ROOT / "ingest" / "sources"
    for path in sorted(folder.glob("*.py")):
        own = path.stem.split("_")[0]  # github.py and its github_payloads.py are one source
        for module in _imported_modules(path):
            if module.startswith("ingest.sources."):
                other = module.split(".")[2]
                assert other in ("base", "shared") or other.split("_")[0] == own, f"{path.name} imports {module}"


@pytest.mark.parametrize(
    "package", ["api", "ingest", "export", "cli", "governance", "mcp_server", "web", "trust", "collect"]
)
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
