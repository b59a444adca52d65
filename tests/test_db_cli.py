"""`tracegraph db start|status|stop` boots the real Neo4j from its Maven jars, idempotently."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from neo4j import GraphDatabase

from cli.main import main
from tests.conftest import _free_port

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("NEO4J_URI")) or not shutil.which("java"),
    reason="uses the local Neo4j route (no NEO4J_URI, Java present)",
)


def test_start_is_idempotent_status_reports_and_stop_stops(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        "TRACEGRAPH_HOME": str(tmp_path),
        "TRACEGRAPH_BOLT_PORT": str(port),
        "TRACEGRAPH_NEO4J_HEAP": "512m",
        "TRACEGRAPH_NEO4J_PAGECACHE_MB": "64",
        "NEO4J_URI": "",
    }
    runner = CliRunner()
    try:
        first = runner.invoke(main, ["db", "start"], env=env)
        assert first.exit_code == 0, first.output
        assert f"bolt://127.0.0.1:{port}" in first.stdout
        again = runner.invoke(main, ["db", "start"], env=env)
        assert again.exit_code == 0 and again.stdout == first.stdout  # same pid: nothing new was booted

        status = runner.invoke(main, ["db", "status"], env=env)
        assert status.exit_code == 0 and f"bolt://127.0.0.1:{port}" in status.stdout

        password = (tmp_path / "neo4j" / "password").read_text()
        assert (tmp_path / "neo4j" / "password").stat().st_mode & 0o077 == 0
        with GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", password)) as driver:
            [record] = driver.execute_query("CALL dbms.components() YIELD versions RETURN versions[0] AS v").records
            assert record["v"].startswith("5.26")
            [watcher] = driver.execute_query("CALL dbms.listConfig('db.filewatcher.enabled') YIELD value").records
            assert watcher["value"] == "false"  # its threads cost CPU during ingest and guard nothing here
    finally:
        stop = runner.invoke(main, ["db", "stop"], env=env)
    assert stop.exit_code == 0 and "stopped" in stop.stdout
    after = runner.invoke(main, ["db", "status"], env=env)
    assert after.exit_code == 1 and "not running" in after.stdout
    # A restart on the existing store (its password already set) comes up cleanly.
    try:
        restarted = runner.invoke(main, ["db", "start"], env=env)
        assert restarted.exit_code == 0, restarted.output
        assert "Exception" not in (tmp_path / "neo4j" / "neo4j.log").read_text()
        assert runner.invoke(main, ["db", "status"], env=env).exit_code == 0
    finally:
        runner.invoke(main, ["db", "stop"], env=env)


def test_a_port_taken_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = {"TRACEGRAPH_HOME": str(tmp_path), "TRACEGRAPH_BOLT_PORT": str(port), "NEO4J_URI": ""}
        result = CliRunner().invoke(main, ["db", "start"], env=env)
    assert result.exit_code == 2
    assert f"port {port}" in result.stderr and "TRACEGRAPH_BOLT_PORT" in result.stderr
