"""One real Neo4j 5.26 per test session; every graph test starts from an empty database.

Where it comes from, in DESIGN.md's order: NEO4J_URI; a Docker engine (testcontainers); else the
project boots Neo4j's own jars (graph.local_neo4j) on a free port with its data in a temp folder.
Tests of the JetStream inbox get a real nats-server, booted the same way (bench.local_nats) when the
first of them runs, each starting from empty streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench.local_nats import LocalNats
from graph import access, local_neo4j, repository
from graph import schema as graph_schema
from graph.driver import Graph
from graph.driver import run_with_graph as run_graph  # the name the tests import it by
from graph.settings import Settings
from ingest.pipeline.events import to_event
from ingest.pipeline.feed import Summary
from ingest.runner import ingest_events

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no engine"
        return False


@pytest.fixture(scope="session")
def neo4j_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings that point at the session's Neo4j."""
    home = tmp_path_factory.mktemp("tracegraph-home")
    if os.environ.get("NEO4J_URI"):
        yield Settings(TRACEGRAPH_HOME=home)  # type: ignore[call-arg]
        return
    if _docker_answers():
        from testcontainers.neo4j import Neo4jContainer  # type: ignore[import-untyped]

        with Neo4jContainer("neo4j:5.26", password="tracegraph-test") as container:
            yield Settings(  # type: ignore[call-arg]
                NEO4J_URI=container.get_connection_url(),
                NEO4J_PASSWORD="tracegraph-test",
                TRACEGRAPH_HOME=home,
            )
        return
    local = Settings(  # type: ignore[call-arg]
        TRACEGRAPH_HOME=home,
        TRACEGRAPH_BOLT_PORT=_free_port(),
        TRACEGRAPH_NEO4J_HEAP="768m",
        TRACEGRAPH_NEO4J_PAGECACHE_MB=128,
    )
    server = local_neo4j.start(local, timeout=600)  # a shared, loaded machine boots it slowly
    try:
        yield Settings(  # type: ignore[call-arg]
            NEO4J_URI=server.uri, NEO4J_PASSWORD=server.password, TRACEGRAPH_HOME=home
        )
    finally:
        local_neo4j.stop(local)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    """The session's nats-server with JetStream (127.0.0.1, a free port, file storage in a temp folder)."""
    server = LocalNats(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _empty_streams(url: str) -> None:
    import nats
    import nats.js.errors

    from ingest.jetstream import DEAD, STREAM

    nc = await nats.connect(url, connect_timeout=5)
    try:
        for name in (STREAM, DEAD):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await nc.jsm().delete_stream(name)
    finally:
        await nc.close()


@pytest.fixture
def nats_settings(settings: Settings, nats_server: LocalNats) -> Settings:
    """The test's settings with the inbox on the session's NATS JetStream, its streams deleted first."""
    if nats_server.proc is None or nats_server.proc.poll() is not None:
        nats_server.start()  # a test stopped it and did not get to start it again
    asyncio.run(_empty_streams(nats_server.url))
    return settings.model_copy(update={"nats_url": nats_server.url})


@pytest.fixture
def settings(neo4j_settings: Settings, tmp_path: Path) -> Settings:
    """The session's Neo4j, emptied, with schema; quarantine in this test's temp folder."""

    async def reset(graph: Graph) -> None:
        await repository.delete_all(graph)
        await graph_schema.ensure_schema(graph)

    run_graph(neo4j_settings, reset)
    return neo4j_settings.model_copy(update={"home": tmp_path / "home"})


def token(settings: Settings, role: str = "reader") -> str:
    """A fresh API token of `role`."""
    secret, _ = run_graph(settings, lambda g: access.create_token(g, role=access.Role(role), name=f"test {role}"))
    return secret


@contextmanager
def api(settings: Settings, role: str | None = "reader") -> Iterator[TestClient]:
    """A TestClient on the real app, sending a token of `role` (none when role is None)."""
    from api.app import create_app

    headers = {"Authorization": f"Bearer {token(settings, role)}"} if role else {}
    with TestClient(create_app(settings), headers=headers) as client:
        yield client


def load(settings: Settings, envelopes: list[dict[str, Any]], *, via: str = "") -> Summary:
    """Ingest envelopes the way `tracegraph ingest` reads them; `via` says how they arrived (e.g.
    `webhook:github`, as the webhook route and worker would say), which sets their trust."""
    events = [
        dataclasses.replace(to_event(e, json.dumps(e), f"test:{i}", source=None, type=None), via=via)
        for i, e in enumerate(envelopes)
    ]
    return run_graph(
        settings,
        lambda g: ingest_events(g, events, quarantine_dir=settings.quarantine_dir),  # type: ignore[arg-type]
    )
