"""The MCP server answers its tools through the official SDK's client: in memory, and over stdio as
`tracegraph mcp` (the way a coding agent starts it); read-only, with a reader token, every call audited."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from pydantic import SecretStr

from graph import access
from graph.batch import Batch
from graph.settings import Settings
from graph.vocabulary import Label, Rel
from graph.writer import write_batch
from mcp_server.server import build_server
from tests import governance_scenario as gs
from tests.conftest import load, run_graph, token

V = "2026-03-05T13:00:00Z#00#incident-fixture"


def incident() -> Batch:
    """A P1 on the shop an hour after M3 went out."""
    batch = Batch()
    node = (Label.INCIDENT, "pagerduty:PINC1")
    batch.node(
        *node,
        version=V,
        title="Coupon checkout errors",
        severity="P1",
        status="triggered",
        triggeredAt="2026-03-05T13:00:00Z",
        service=gs.SERVICE,
    )
    batch.edge(node, Rel.AFFECTS, (Label.SERVICE, gs.SERVICE), version=V)
    return batch


@pytest.fixture
def shop(settings: Settings) -> Settings:
    load(settings, [*gs.history(), *gs.deploy(104, gs.M3, at="2026-03-05T12:00:00Z")])
    run_graph(settings, lambda g: write_batch(g, incident()))
    return settings.model_copy(update={"token": SecretStr(token(settings, "reader"))})


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result
    found: dict[str, Any] = result.structured_content or json.loads(result.content[0].text)
    return found


def test_the_tools_answer_through_the_sdk_client(shop: Settings) -> None:
    async def session() -> dict[str, Any]:
        async with Client(build_server(shop)) as client:
            tools = (await client.list_tools()).tools
            return {
                "tools": {t.name: t.annotations.read_only_hint if t.annotations else None for t in tools},
                "answer": structured(await client.call_tool("change_answer", {"repo": "acme/shop", "number": 3})),
                "missing": structured(await client.call_tool("change_answer", {"repo": "acme/shop", "number": 99})),
                "change": structured(await client.call_tool("gate_change", {"repo": "acme/shop", "number": 3})),
                "commit": structured(
                    await client.call_tool("gate_commit", {"sha": gs.M2, "environment": "production"})
                ),
                "unknown": structured(
                    await client.call_tool("gate_commit", {"sha": "0" * 40, "environment": "production"})
                ),
                "suspects": structured(await client.call_tool("incident_suspects", {"incident_id": "pagerduty:PINC1"})),
            }

    found = asyncio.run(session())
    assert found["tools"] == {
        "change_answer": True,
        "gate_change": True,
        "gate_commit": True,
        "incident_suspects": True,
    }
    change = found["answer"]["change"]
    assert found["answer"]["found"] is True and change["verdict"]["status"] == "UNVERIFIED"
    assert found["missing"]["found"] is False and "no change acme/shop#99" in found["missing"]["error"]
    gate = found["change"]
    assert gate["passed"] is False and gate["exitCode"] == 1
    [approvals] = [m for m in gate["changes"][0]["missing"] if m["requirement"] == "approvals"]
    assert "approve the final head" in approvals["how"] and approvals["gaps"]
    assert found["commit"]["passed"] is True  # M2 over what runs (M3): nothing new
    assert found["unknown"]["exitCode"] == 2 and "is not in the graph" in found["unknown"]["error"]
    suspects = found["suspects"]["suspects"]
    assert {s["change"] for s in suspects} >= {"github:acme/shop#3"}
    assert all(s["deployment"] == "github:deployment:104" for s in suspects if s["change"] == "github:acme/shop#3")

    entries = run_graph(shop, lambda g: access.audit_log(g))
    assert {e.action for e in entries} >= {
        "mcp.change_answer",
        "mcp.gate_change",
        "mcp.gate_commit",
        "mcp.incident_suspects",
    }
    assert {e.role for e in entries if e.action.startswith("mcp.")} == {"reader"}


def test_the_server_refuses_to_start_without_a_reader_token(shop: Settings) -> None:
    async def start(settings: Settings) -> None:
        async with Client(build_server(settings)) as client:
            await client.list_tools()

    for wrong in (None, SecretStr("tg_unknown"), SecretStr(token(shop, "ingester"))):
        with pytest.raises(BaseException, match="TRACEGRAPH_TOKEN") as raised:
            asyncio.run(start(shop.model_copy(update={"token": wrong})))
        assert raised.type is not AssertionError


def test_tracegraph_mcp_serves_the_tools_over_stdio(shop: Settings, tmp_path: Path) -> None:
    assert shop.token is not None
    server = StdioServerParameters(
        command=str(Path(sys.executable).with_name("tracegraph")),
        args=["mcp"],
        env={
            "NEO4J_URI": shop.neo4j_uri or "",
            "NEO4J_PASSWORD": shop.neo4j_password or "",
            "TRACEGRAPH_HOME": str(tmp_path),
            "TRACEGRAPH_TOKEN": shop.token.get_secret_value(),
            "PATH": "/usr/bin:/bin",
        },
    )

    async def ask() -> dict[str, Any]:
        async with Client(server) as client:
            return structured(await client.call_tool("gate_change", {"repo": "acme/shop", "number": 2}))

    answer = asyncio.run(ask())
    assert answer["passed"] is True and answer["changes"][0]["id"] == "github:acme/shop#2"
