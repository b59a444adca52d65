"""What the benchmarks share: a bench-owned Neo4j, the machine's description, percentiles.

The bench boots its own local Neo4j (graph.local_neo4j, the engine `tracegraph db start` runs) in
TRACEGRAPH_BENCH_HOME (default /tmp/tracegraph-bench) on TRACEGRAPH_BENCH_PORT (default 7797), so a
run never touches a developer's database. With NEO4J_URI set, that server is used instead and emptied
between runs.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from graph import local_neo4j
from graph.driver import Graph, run_with_graph
from graph.schema import ensure_schema
from graph.settings import Settings

BENCH_HOME = Path(os.environ.get("TRACEGRAPH_BENCH_HOME", "/tmp/tracegraph-bench"))
BENCH_PORT = int(os.environ.get("TRACEGRAPH_BENCH_PORT", "7797"))
# Bench-only housekeeping: emptying a server the bench did not boot (a local one is wiped instead).
EMPTY_IN_BATCHES = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS"


def local_settings() -> Settings:
    """Settings of the bench's own local Neo4j (heap and page cache from the usual variables)."""
    return Settings(  # type: ignore[call-arg]
        TRACEGRAPH_HOME=BENCH_HOME,
        TRACEGRAPH_BOLT_PORT=BENCH_PORT,
        TRACEGRAPH_NEO4J_HEAP=os.environ.get("TRACEGRAPH_NEO4J_HEAP", "1g"),
        TRACEGRAPH_NEO4J_PAGECACHE_MB=int(os.environ.get("TRACEGRAPH_NEO4J_PAGECACHE_MB", "512")),
    )


def external() -> bool:
    return bool(os.environ.get("NEO4J_URI"))


@contextmanager
def bench_graph() -> Iterator[Settings]:
    """Settings that reach the graph bench.ingest left, for the block; the bench's own server is stopped after it.

    NEO4J_URI's server is used as it is. Otherwise the bench-local Neo4j is started on the store
    bench.ingest left (when it is not running) and stopped when the block ends, however it ends, so no
    bench leaves a server behind.
    """
    if external():
        yield Settings()
        return
    local = local_settings()
    try:
        server = local_neo4j.status(local)
        if server is None:
            if not (BENCH_HOME / "neo4j" / "data").is_dir():
                raise SystemExit(f"no bench graph in {BENCH_HOME}: run `python -m bench.ingest DIR` first")
            server = local_neo4j.start(local, log=lambda line: None)
        yield Settings(NEO4J_URI=server.uri, NEO4J_PASSWORD=server.password, TRACEGRAPH_HOME=BENCH_HOME)  # type: ignore[call-arg]
    finally:
        local_neo4j.stop(local)


def stop_local() -> None:
    """Stop the bench-local Neo4j (its store stays for the next bench); nothing when NEO4J_URI is set."""
    if not external():
        local_neo4j.stop(local_settings())


def client_env(settings: Settings) -> dict[str, str]:
    """Environment for a child process (ingest, uvicorn) that must reach the same Neo4j."""
    env = dict(os.environ, NEO4J_URI=settings.neo4j_uri or "", NEO4J_USER=settings.neo4j_user)
    env["NEO4J_PASSWORD"] = settings.neo4j_password or ""
    env["TRACEGRAPH_HOME"] = str(BENCH_HOME / "client")
    return env


def fresh_database() -> Settings:
    """An empty database with tracegraph's constraints and indexes; a local one is rebooted on a wiped store."""
    if external():
        settings = Settings()

        async def empty(graph: Graph) -> None:
            async with graph.driver.session(database=graph.database) as session:
                await (await session.run(EMPTY_IN_BATCHES)).consume()

        run_with_graph(settings, empty)
    else:
        local = local_settings()
        local_neo4j.stop(local)
        shutil.rmtree(BENCH_HOME / "neo4j" / "data", ignore_errors=True)
        # local_neo4j.start looks for its ready line in an appended log: a stale one would let it
        # return before the new server has set its password.
        (BENCH_HOME / "neo4j" / "neo4j.log").unlink(missing_ok=True)
        server = local_neo4j.start(local, log=lambda line: None)
        settings = Settings(NEO4J_URI=server.uri, NEO4J_PASSWORD=server.password, TRACEGRAPH_HOME=BENCH_HOME)  # type: ignore[call-arg]
    run_with_graph(settings, ensure_schema)
    return settings


def machine() -> str:
    """One line about the machine: cores, memory, CPU, load average now."""
    cpu = "unknown CPU"
    memory = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = int(line.split()[1]) // 1024
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {memory / 1024:.0f} GiB RAM, {system}; load average {load}"


def neo4j_memory() -> str:
    if external():
        return f"external Neo4j at {os.environ['NEO4J_URI']}"
    local = local_settings()
    memory = f"heap {local.neo4j_heap}, page cache {local.neo4j_pagecache_mb} MB"
    return f"bench-local Neo4j {local_neo4j.NEO4J_VERSION}, {memory}"


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean of latencies given in seconds, in milliseconds."""
    return {
        "p50": round(percentile(samples, 50) * 1000, 2),
        "p95": round(percentile(samples, 95) * 1000, 2),
        "p99": round(percentile(samples, 99) * 1000, 2),
        "mean": round(sum(samples) / len(samples) * 1000, 2),
        "n": len(samples),
    }


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll url until it answers 200 (True) or the process exits first (False); TimeoutError after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop_cleanly_on_sigterm() -> None:
    """SIGTERM exits through the `finally` blocks (Python's default ends at once), so a bench stopped
    that way still stops the servers and processes it started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
