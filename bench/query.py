"""Query latency: GraphQL over HTTP against the raw reads through the driver, on random keys.

    python -m bench.query DIR [--runs 200]

Runs against the graph bench.ingest left in the bench's Neo4j (started on its store when it is not
running, and stopped at the end, whatever happens; with NEO4J_URI that server is used as it is). The
API runs as `uvicorn` in a child process on 127.0.0.1 (the real app: bearer token, limits, audit
log), stopped at the end too; requests go through httpx over keep-alive connections (a connection
the server closed is reopened, which a hand-written client once failed to do). For each question,
p50/p95/p99 over --runs requests on keys drawn from DIR/keys.json:

- five-minute answer: GraphQL `change(repo, number)` (the README's query) vs graph.queries.CHANGE_ANSWER
  through the driver (one read, records not turned into models);
- incident suspects: GraphQL `incident(id) { suspects { change { id } score reason } }` vs
  graph.trace.trace_incident in-process (its reads through the driver, no HTTP);
- metrics (when graph.metrics exists): GraphQL `metrics(service, from, to)` for one service over a
  quarter vs graph.metrics.metrics in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
from neo4j import RoutingControl

from bench import common
from graph import queries
from graph.access import Role, create_token
from graph.driver import Graph, connected
from graph.policy import load_policy
from graph.settings import Settings

CHANGE_QUERY = """query($repo: String!, $number: Int!) {
  change(repo: $repo, number: $number) {
    id riskArea verdict { status gaps }
    approvals { reviewer { login } stale independent }
    evidence { kind name conclusion commitSha }
    sessions { tool model promptSummary operator { login } }
    deployments { environment status at }
  }
}"""
SUSPECTS_QUERY = "query($id: ID!) { incident(id: $id) { suspects { change { id } score reason } } }"
METRICS_QUERY = """query($service: String, $from: DateTime!, $to: DateTime!) {
  metrics(service: $service, from: $from, to: $to) {
    deployments leadTime { medianHours p90Hours } changeFailureRate { value } timeToRestore { medianHours }
  }
}"""
QUARTER = timedelta(days=91)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_api(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The real app under uvicorn, in its own process (one worker, like `tracegraph serve`), for the block.

    Stopped when the block ends, however it ends (killed when it does not stop within 30 s).
    """
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            _wait_healthy(process, port, errors)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], port: int, errors: IO[bytes]) -> None:
    try:
        started = common.wait_healthy(f"http://127.0.0.1:{port}/healthz", process, 120)
    except TimeoutError as exc:
        raise SystemExit(f"the API did not answer: {exc}") from exc
    if not started:
        errors.seek(0)
        raise SystemExit(f"the API did not start: {errors.read().decode(errors='replace')[-2000:]}")


async def timed(samples: list[float], work: Callable[[], Awaitable[Any]]) -> Any:
    started = time.perf_counter()
    result = await work()
    samples.append(time.perf_counter() - started)
    return result


class Client:
    """POST JSON through httpx with keep-alive: status and decoded body."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60)

    async def post(self, path: str, payload: Any) -> tuple[int, Any]:
        response = await self.client.post(path, json=payload)
        return response.status_code, response.json()

    async def aclose(self) -> None:
        await self.client.aclose()


class Bench:
    """Both paths for one question, measured alternately on the same random keys."""

    def __init__(self, client: Client, graph: Graph, runs: int, warmup: int):
        self.client, self.graph, self.runs, self.warmup = client, graph, runs, warmup

    async def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        status, body = await self.client.post("/graphql", {"query": query, "variables": variables})
        if status != 200 or body.get("errors"):
            raise SystemExit(f"GraphQL failed ({status}): {json.dumps(body)[:500]}")
        return dict(body)

    async def measure(
        self,
        keys: list[Any],
        graphql: Callable[[Any], Awaitable[Any]],
        raw: Callable[[Any], Awaitable[Any]],
    ) -> dict[str, Any]:
        rng = random.Random(42)
        for key in rng.choices(keys, k=self.warmup):
            await graphql(key)
            await raw(key)
        over_http: list[float] = []
        direct: list[float] = []
        for key in rng.choices(keys, k=self.runs):
            await timed(over_http, functools.partial(graphql, key))
            await timed(direct, functools.partial(raw, key))
        http, cypher = common.summary_ms(over_http), common.summary_ms(direct)
        return {
            "graphql": http,
            "raw": cypher,
            "ratio_p50": round(http["p50"] / cypher["p50"], 2),
            "ratio_p99": round(http["p99"] / cypher["p99"], 2),
        }


async def run(settings: Settings, folder: Path, runs: int, warmup: int) -> dict[str, Any]:
    async with connected(settings) as graph:
        secret, _ = await create_token(graph, role=Role.READER, name="bench.query")
        port = int(os.environ.get("TRACEGRAPH_BENCH_API_PORT") or free_port())
        with running_api(common.client_env(settings), port):
            return await _measure(graph, port, secret, folder, runs, warmup)


async def _measure(graph: Graph, port: int, secret: str, folder: Path, runs: int, warmup: int) -> dict[str, Any]:
    keys = json.loads((folder / "keys.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    policy = load_policy()
    results: dict[str, Any] = {}
    client = Client(port, {"Authorization": f"Bearer {secret}"})
    try:
        bench = Bench(client, graph, runs, warmup)

        async def change_http(ref: list[Any]) -> Any:
            body = await bench.graphql(CHANGE_QUERY, {"repo": ref[0], "number": ref[1]})
            if body["data"]["change"] is None:
                raise SystemExit(f"change {ref} is not in the graph: was DIR ingested?")
            return body

        async def change_cypher(ref: list[Any]) -> Any:
            records, _, _ = await graph.driver.execute_query(
                queries.CHANGE_ANSWER,
                parameters_={"id": f"github:{ref[0]}#{ref[1]}"},
                routing_=RoutingControl.READ,
                database_=graph.database,
            )
            return records

        results["five-minute answer (change)"] = await bench.measure(keys["changes"], change_http, change_cypher)
        print(f"five-minute answer: {results['five-minute answer (change)']}", flush=True)

        incidents = [f"pagerduty:{i}" for i in keys["incidents"]]
        trace = _optional("graph.trace")
        if incidents and trace is not None:

            async def suspects_http(incident: str) -> Any:
                body = await bench.graphql(SUSPECTS_QUERY, {"id": incident})
                if body["data"]["incident"] is None:
                    raise SystemExit(f"incident {incident} is not in the graph: was DIR ingested whole?")
                return body

            async def suspects_direct(incident: str) -> Any:
                return await trace.trace_incident(graph, policy, incident)

            results["incident suspects"] = await bench.measure(incidents, suspects_http, suspects_direct)
            print(f"incident suspects: {results['incident suspects']}", flush=True)
        else:
            results["incident suspects"] = "skipped: no incidents in the data or no graph.trace module"

        metrics = _optional("graph.metrics")
        if metrics is not None:
            start = datetime.fromisoformat(manifest["first_at"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(manifest["last_at"].replace("Z", "+00:00"))
            span = max(0, int((end - start - QUARTER).total_seconds() // 86400))
            rng = random.Random(7)
            windows = [
                (service, start + timedelta(days=rng.randint(0, span)))
                for service in keys["services"]
                for _ in range(3)
            ]

            async def metrics_http(window: tuple[str, datetime]) -> Any:
                service, since = window
                variables = {"service": service, "from": since.isoformat(), "to": (since + QUARTER).isoformat()}
                return await bench.graphql(METRICS_QUERY, variables)

            async def metrics_direct(window: tuple[str, datetime]) -> Any:
                service, since = window
                return await metrics.metrics(graph, policy, service=service, start=since, end=since + QUARTER)

            results["metrics (one service, a quarter)"] = await bench.measure(windows, metrics_http, metrics_direct)
            print(f"metrics: {results['metrics (one service, a quarter)']}", flush=True)
        else:
            results["metrics (one service, a quarter)"] = "skipped: graph.metrics does not exist yet"
    finally:
        await client.aclose()
    return results


def _optional(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)
    common.stop_cleanly_on_sigterm()
    manifest = json.loads((args.folder / "manifest.json").read_text())
    print(f"machine: {common.machine()}")
    print(f"neo4j:   {common.neo4j_memory()}")
    print(
        f"graph:   {args.folder} ({manifest['changes']} changes); {args.runs} runs per path after "
        f"{args.warmup} warm-up; httpx"
    )
    with common.bench_graph() as settings:
        results = asyncio.run(run(settings, args.folder, args.runs, args.warmup))
    record = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": common.machine(),
        "changes": manifest["changes"],
        "runs": args.runs,
        "client": "httpx",
        "results": results,
    }
    with (args.folder / "bench-query.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
