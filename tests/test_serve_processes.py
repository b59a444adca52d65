"""`tracegraph serve --workers 2`: two API processes behind one port, as a load balancer would see them.

A token revoked through one process is refused by the other within TRACEGRAPH_TOKEN_CACHE_SECONDS; every
GraphQL operation either process answered is in the audit log once (none lost at shutdown, none doubled);
the GraphQL limits hold in both. Each httpx client keeps one connection, so it talks to one process
(`/healthz` says which).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.common import wait_healthy
from graph import access
from graph.settings import Settings
from tests.conftest import _free_port, run_graph

ROOT = Path(__file__).resolve().parents[1]
PROCESSES = 2


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "TRACEGRAPH_"))}
    return env | {
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = _free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "cli.main", "serve", "--workers", str(PROCESSES), "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=_environment(settings), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_healthy(f"{base}/healthz", proc, 180), log.read_text()[-3000:]
        yield proc, base, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def one_per_process(base: str, headers: dict[str, str]) -> dict[int, httpx.Client]:
    """A one-connection client pinned to each API process (new connections until both answered)."""
    clients: dict[int, httpx.Client] = {}
    for _ in range(80):
        client = httpx.Client(base_url=base, headers=headers, timeout=30, limits=httpx.Limits(max_connections=1))
        pid = client.get("/healthz").json()["process"]
        if pid in clients:
            client.close()
        else:
            clients[pid] = client
        if len(clients) == PROCESSES:
            return clients
    raise AssertionError(f"connections reached only processes {sorted(clients)}")


def graphql(client: httpx.Client, query: str, token: str) -> httpx.Response:
    return client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})


def test_two_api_processes_share_revocation_the_audit_log_and_the_limits(
    settings: Settings, served: tuple[subprocess.Popen[bytes], str, Path]
) -> None:
    proc, base, log = served
    admin, _ = run_graph(settings, lambda g: access.create_token(g, role=access.Role.ADMIN, name="admin"))
    reader, info = run_graph(settings, lambda g: access.create_token(g, role=access.Role.READER, name="reader"))
    clients = one_per_process(base, {})
    (pid_a, a), (pid_b, b) = sorted(clients.items())
    try:
        # Every operation either process answers is audited once.
        for n in range(20):
            client = a if n % 2 else b
            answer = graphql(client, f'query Q{n} {{ change(repo: "acme/audit", number: {n}) {{ id }} }}', reader)
            assert answer.status_code == 200 and answer.json()["data"] == {"change": None}, answer.text

        # The limits hold in both processes.
        deep = '{ change(repo: "a/b", number: 1) { ' + "sessions { changes { " * 6 + "id" + " } }" * 6 + " } }"
        for client in (a, b):
            too_deep = graphql(client, deep, reader).json()
            assert too_deep["errors"] and "exceeds maximum operation depth" in str(too_deep["errors"]), too_deep
            bearer = {"Authorization": f"Bearer {reader}"}
            too_large = client.post("/graphql", content=b"{" + b" " * 70_000 + b"}", headers=bearer)
            assert too_large.status_code == 413

        # Revoked through process A: refused there at once, and by B within the documented bound.
        assert a.get("/healthz").json()["process"] == pid_a and b.get("/healthz").json()["process"] == pid_b
        revoked = a.delete(f"/admin/tokens/{info.id}", headers={"Authorization": f"Bearer {admin}"})
        assert revoked.status_code == 200, revoked.text
        at = time.monotonic()
        assert graphql(a, "{ __typename }", reader).status_code == 401
        while graphql(b, "{ __typename }", reader).status_code != 401:
            assert time.monotonic() - at <= settings.token_cache_seconds + 1.0, "process B still accepts the token"
            time.sleep(0.05)
        assert b.get("/healthz").json()["process"] == pid_b  # it was B that refused it

        time.sleep(0.5)  # past each process's audit batching (api.audit.FLUSH_AFTER)
        listed = a.get("/admin/audit", params={"limit": 1000}, headers={"Authorization": f"Bearer {admin}"}).json()
        seen = sorted(int(e["what"].split("number: ")[1].split(")")[0]) for e in listed if "acme/audit" in e["what"])
        assert seen == list(range(20)), seen
    finally:
        for client in clients.values():
            client.close()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    entries = run_graph(settings, lambda g: access.audit_log(g, limit=10_000))
    audited = sorted(int(e.what.split("number: ")[1].split(")")[0]) for e in entries if "acme/audit" in e.what)
    assert audited == list(range(20)), audited  # nothing lost or doubled at shutdown
    assert sum(e.action == "token.revoke" for e in entries) == 1
