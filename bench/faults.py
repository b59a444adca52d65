"""Fault run: N signed GitHub deliveries while the worker is SIGKILLed, Neo4j (and nats-server) restarted.

    python -m bench.faults [--backend spool|nats] [--n 300] [--kills 3] [--restarts 2] [--nats-restarts 2]
                           [--timeout 600]

Loopback only and bounded in time. It boots its own Neo4j (graph.local_neo4j, temp TRACEGRAPH_HOME,
free port), with `--backend nats` its own nats-server with JetStream (bench.local_nats, file storage
in the temp folder), the webhook receiver (uvicorn in a subprocess) and a worker subprocess; sends N
distinct deliveries (plus replays) while the chaos runs — worker SIGKILLs while it holds a batch,
Neo4j stopped and started, nats-server SIGKILLed and started on its store; then proves the graph holds
exactly the N deliveries' effects: every node and edge count equals what normalising the N
deliveries once gives. Prints N, kills, restarts, lost and doubled. Exit status 1 when anything was
lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import common
from bench.local_nats import LocalNats
from graph import local_neo4j, repository
from graph.driver import GraphUnavailable, connected, run_with_graph
from graph.schema import ensure_schema
from graph.settings import Settings
from ingest import examples as ex
from ingest import signatures
from ingest.inbox import CLAIMED, PENDING, Inbox, InboxUnavailable
from ingest.inboxes import opened
from ingest.pipeline.events import to_event
from ingest.pipeline.prepare import Pipeline

ROOT = Path(__file__).resolve().parents[1]
SECRET = "fault-run-secret"
REPOS, AUTHORS = 10, 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {timeout:.0f} s")


# --- the deliveries ------------------------------------------------------------------------------


def envelope(i: int) -> dict[str, Any]:
    """Delivery i: a pull request opened (its Change, head Commit, Repository, author)."""
    return ex.pull_request(
        f"acme/fault-{i % REPOS}", i, action="opened", author=f"dev{i % AUTHORS}", head=ex.sha(f"fault-{i}")
    ) | {"id": f"fault-delivery-{i}"}


def expected_counts(n: int) -> Counter[str]:
    """Node counts by label and edge counts by type that N deliveries give when each lands once."""
    nodes: set[tuple[str, str]] = set()
    edges: set[tuple[str, str, str, str, str]] = set()
    pipeline = Pipeline()
    for i in range(n):
        doc = envelope(i)
        event = to_event(doc, json.dumps(doc), f"fault:{i}", source=None, type=None)
        batch = pipeline.prepare(event).batch  # type: ignore[arg-type]
        nodes |= {(row.label, row.key) for row in batch.nodes}
        edges |= {(e.src_label, e.rel, e.dst_label, e.src_key, e.dst_key) for e in batch.edges}
    return Counter(label for label, _ in nodes) + Counter(rel for _, rel, _, _, _ in edges)


# --- the processes -------------------------------------------------------------------------------


def receiver_app() -> Any:
    """The webhook receiver alone (it needs no Neo4j), for uvicorn --factory."""
    from api.app import create_receiver

    return create_receiver()


class Process:
    """A child process with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def _environment(settings: Settings, inbox: Path, nats: LocalNats | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "TRACEGRAPH_"))}
    env |= {
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
        "TRACEGRAPH_INBOX": str(inbox),
        "TRACEGRAPH_GITHUB_SECRET": SECRET,
        "PYTHONPATH": str(ROOT),
    }
    if nats is not None:
        # A short ack wait, so a killed worker's batch comes back within the run (a living worker extends it).
        env |= {"TRACEGRAPH_NATS_URL": nats.url, "TRACEGRAPH_NATS_ACK_WAIT": "3"}
    return env


async def _worker_main(batch_size: int, interval: float) -> None:
    """A worker that, like a supervised service, waits for Neo4j and the inbox at start instead of exiting."""
    from ingest import worker

    settings = Settings()  # the spool folder TRACEGRAPH_INBOX, or NATS when TRACEGRAPH_NATS_URL is set
    while True:
        try:
            # Only opening raises: once running, the worker rides out Neo4j and NATS restarts itself.
            async with connected(settings) as graph, opened(settings, name="fault-worker") as box:
                await worker.run(
                    graph, box, batch_size=batch_size, interval=interval, log=lambda s: print(s, flush=True)
                )
            return
        except (GraphUnavailable, InboxUnavailable):
            await asyncio.sleep(0.5)


# --- Neo4j control -------------------------------------------------------------------------------


@dataclass
class Neo4jControl:
    """The Neo4j the run writes to: client settings, and how to stop and start it (local route only)."""

    clients: Settings
    local: Settings | None  # settings local_neo4j.stop/start understand; None when it cannot be restarted

    def stop(self) -> None:
        assert self.local is not None
        local_neo4j.stop(self.local)

    def start(self) -> None:
        assert self.local is not None
        local_neo4j.start(self.local, log=lambda _: None, timeout=600)


# --- the inbox, seen from the bench ---------------------------------------------------------------


class SpoolProbe:
    """The spool folder's state, read from its files."""

    def __init__(self, inbox: Inbox):
        self.inbox = inbox

    def counts(self) -> dict[str, int]:
        return self.inbox.counts()

    def holding(self, pid: int) -> bool:
        """True when the worker with this pid holds a claimed batch."""
        folders = [d for d in self.inbox.dir(CLAIMED).glob(f"*-{pid}-*") if d.is_dir()]
        return any(any(p.suffix == ".json" for p in d.iterdir()) for d in folders)

    def drained(self) -> bool:
        counts = self.counts()
        return counts[PENDING] == 0 and counts[CLAIMED] == 0 and not list(self.inbox.dir("tmp").glob("*"))

    def close(self) -> None:
        return None


class NatsProbe:
    """JetStream's state, read through the inbox interface on an event loop of its own (the bench is threaded)."""

    def __init__(self, settings: Settings):
        from ingest.jetstream import JetStreamInbox

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.box = self._call(JetStreamInbox.connect(settings, name="fault-probe"))

    def _call(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def counts(self) -> dict[str, int]:
        return dict(self._call(self.box.counts()))

    def holding(self, pid: int) -> bool:
        """True when a worker holds unacknowledged messages (the run has one worker at a time)."""
        try:
            return self.counts()[CLAIMED] > 0
        except Exception:  # noqa: BLE001 - NATS restarting: nothing known is held
            return False

    def drained(self) -> bool:
        try:
            counts = self.counts()
        except Exception:  # noqa: BLE001 - NATS restarting: not drained yet
            return False
        return counts[PENDING] == 0 and counts[CLAIMED] == 0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self.box.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# --- the run -------------------------------------------------------------------------------------


def _percentile(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * pct // 100)] if ordered else 0.0


@dataclass
class Figures:
    n: int
    replays: int = 0
    kills: int = 0
    kills_mid_batch: int = 0
    restarts: int = 0
    nats_restarts: int = 0
    backend: str = "spool"
    acknowledged: int = 0
    accepted: int = 0
    duplicates: int = 0
    accepted_while_neo4j_down: int = 0
    retried_sends: int = 0
    lost: int = 0
    doubled: int = 0
    missing: list[str] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    drained: bool = False
    inbox: dict[str, int] = field(default_factory=dict)
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def report(self) -> str:
        return "\n".join(
            [
                f"N = {self.n} deliveries (+ {self.replays} replays answered 'duplicate': {self.duplicates})",
                f"acknowledged {self.acknowledged}, {self.accepted} with 202 "
                f"(while Neo4j was down: {self.accepted_while_neo4j_down}; "
                f"sends retried: {self.retried_sends}); time to acknowledge "
                f"({'acknowledged by JetStream' if self.backend == 'nats' else 'written, fsynced, renamed'}): "
                f"p50 {_percentile(self.ack_ms, 50):.1f} ms, p99 {_percentile(self.ack_ms, 99):.1f} ms",
                f"inbox backend: {self.backend}; worker SIGKILLs = {self.kills} ({self.kills_mid_batch} mid-batch), "
                f"Neo4j restarts = {self.restarts}, nats-server SIGKILLed and restarted = {self.nats_restarts}",
                f"inbox after the run: {self.inbox}",
                f"lost = {self.lost}, doubled = {self.doubled} (node and edge counts vs N deliveries landing once; "
                f"deliveries without their Change: {len(self.missing)})"
                + (f"  mismatches (expected, found): {self.mismatches}" if self.mismatches else ""),
                f"{self.seconds:.1f} s, drained: {self.drained}",
            ]
        )


def chaos_plan(kills: int, restarts: int, nats_restarts: int = 0) -> list[str]:
    """Kills and restarts interleaved: kill, restart, nats, kill, restart, nats, kill..."""
    plan = []
    for i in range(max(kills, restarts, nats_restarts)):
        plan += ["kill"] * (i < kills) + ["restart"] * (i < restarts) + ["nats"] * (i < nats_restarts)
    return plan


class FaultRun:
    """Receiver, worker and sender processes around one inbox (a spool folder, or JetStream) and one Neo4j."""

    def __init__(
        self,
        neo4j: Neo4jControl,
        work: Path,
        *,
        batch_size: int = 20,
        interval: float = 0.2,
        nats: LocalNats | None = None,
    ):
        self.neo4j, self.work, self.nats = neo4j, work, nats
        self.inbox = Inbox(work / "inbox")
        self.port = free_port()
        env = _environment(neo4j.clients, self.inbox.root, nats)
        self.backend = "nats" if nats else "spool"
        self.probe: SpoolProbe | NatsProbe | None = None
        python = sys.executable
        self.api = Process(
            [python, "-m", "uvicorn", "bench.faults:receiver_app", "--factory", "--host", "127.0.0.1"]
            + ["--port", str(self.port), "--log-level", "warning"],
            env,
            work / "api.log",
        )
        self.worker = Process(
            [python, "-m", "bench.faults", "--worker", "--batch-size", str(batch_size), "--interval", str(interval)],
            env,
            work / "worker.log",
        )
        self.neo4j_down = threading.Event()

    def send_all(self, n: int, figures: Figures, *, replay_every: int, pace: float, stop: threading.Event) -> None:
        """Send N deliveries (and replays), retrying each until it is acknowledged, as GitHub does."""
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            for i in range(n):
                if stop.is_set():
                    return
                for attempt in range(1 + (1 if replay_every and i % replay_every == 0 else 0)):
                    status = self._send(client, envelope(i), figures)
                    if attempt:
                        figures.replays += 1
                        figures.duplicates += status == 200
                        continue
                    # A retried send may find its first attempt stored: "duplicate" acknowledges it too.
                    figures.acknowledged += 1
                    figures.accepted += status == 202
                    figures.accepted_while_neo4j_down += self.neo4j_down.is_set()
                time.sleep(pace)

    def _send(self, client: httpx.Client, doc: dict[str, Any], figures: Figures) -> int:
        body = json.dumps(doc["payload"]).encode()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": doc["type"],
            "X-GitHub-Delivery": doc["id"],
            "X-Hub-Signature-256": signatures.github_signature(SECRET, body),
        }
        deadline = time.monotonic() + 60
        while True:
            try:
                sent = time.perf_counter()
                response = client.post("/webhooks/github", content=body, headers=headers)
                if response.status_code in (200, 202):
                    figures.ack_ms.append((time.perf_counter() - sent) * 1000)
                    return response.status_code
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"delivery {doc['id']} was never acknowledged")
            figures.retried_sends += 1
            time.sleep(0.2)

    def kill_worker(self, figures: Figures, *, wait_for_claim: float = 10.0) -> None:
        """SIGKILL the worker, preferably while it holds a claimed batch, and start a new one."""
        assert self.probe is not None
        deadline = time.monotonic() + wait_for_claim
        mid_batch = False
        while time.monotonic() < deadline and not mid_batch:
            mid_batch = self.probe.holding(self.worker.pid)
            if not mid_batch:
                time.sleep(0.01)
        self.worker.kill()
        figures.kills += 1
        figures.kills_mid_batch += mid_batch
        self.worker.start()

    def restart_neo4j(self, figures: Figures, *, down_for: float = 2.0) -> None:
        """Stop Neo4j cleanly, leave it down a while (deliveries keep arriving), start it again."""
        self.neo4j.stop()
        self.neo4j_down.set()
        time.sleep(down_for)
        self.neo4j_down.clear()
        self.neo4j.start()
        figures.restarts += 1

    def restart_nats(self, figures: Figures, *, down_for: float = 2.0) -> None:
        """SIGKILL nats-server (a crash), leave it down a while (webhooks get 503 and are sent again), restart it."""
        assert self.nats is not None
        self.nats.kill()
        time.sleep(down_for)
        self.nats.start()
        figures.nats_restarts += 1

    def drained(self) -> bool:
        return self.probe is not None and self.probe.drained()

    def run(
        self,
        n: int,
        *,
        kills: int,
        restarts: int,
        timeout: float,
        nats_restarts: int = 0,
        replay_every: int = 10,
        send_seconds: float = 10.0,
        log: Callable[[str], None] = print,
    ) -> Figures:
        """The whole run: start, send under chaos, drain, count."""
        started = time.monotonic()
        deadline = started + timeout
        figures = Figures(n, backend=self.backend)
        self.probe = NatsProbe(self.neo4j.clients.model_copy(update={"nats_url": self.nats.url})) if self.nats else None
        self.probe = self.probe or SpoolProbe(self.inbox)
        self.api.start()
        self.worker.start()
        try:
            wait_port(self.port, 60)
            stop = threading.Event()
            sender = threading.Thread(
                target=self.send_all,
                args=(n, figures),
                kwargs={"replay_every": replay_every, "pace": send_seconds / max(n, 1), "stop": stop},
                daemon=True,
            )
            sender.start()
            plan = chaos_plan(kills, restarts, nats_restarts)
            for step, action in enumerate(plan, start=1):
                threshold = n * step // (len(plan) + 1)
                while figures.acknowledged < threshold and sender.is_alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
                log(f"  {action} at {figures.acknowledged} acknowledged")
                if action == "kill":
                    self.kill_worker(figures)
                elif action == "nats":
                    self.restart_nats(figures)
                else:
                    self.restart_neo4j(figures)
            sender.join(max(0.0, deadline - time.monotonic()))
            stop.set()
            while not self.drained() and time.monotonic() < deadline:
                time.sleep(0.2)
            figures.drained = self.drained()
            figures.inbox = self.probe.counts()
        finally:
            self.worker.stop()
            self.api.stop()
            self.probe.close()
        expected = expected_counts(n)
        found = Counter(run_with_graph(self.neo4j.clients, repository.counts))
        for name in sorted(set(expected) | set(found)):
            if expected[name] != found[name]:
                figures.mismatches[name] = (expected[name], found[name])
        # Every label and relationship type counted: a lost delivery leaves a deficit (at least its
        # SourceEvent and Change), a doubled one an excess (keys are unique, so extra edges or events).
        figures.lost = sum(max(0, expected[k] - found[k]) for k in expected)
        figures.doubled = sum(max(0, found[k] - expected[k]) for k in found)
        ids = set(
            run_with_graph(self.neo4j.clients, lambda g: repository.change_ids(g, repo=None, skip=0, limit=n + 100))
        )
        figures.missing = sorted({f"github:acme/fault-{i % REPOS}#{i}" for i in range(n)} - ids)
        figures.seconds = time.monotonic() - started
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["spool", "nats"], default="spool", help="the inbox under test")
    parser.add_argument("--n", type=int, default=300, help="distinct deliveries")
    parser.add_argument("--kills", type=int, default=3, help="worker SIGKILLs")
    parser.add_argument("--restarts", type=int, default=2, help="Neo4j stop/start cycles")
    parser.add_argument(
        "--nats-restarts", type=int, default=2, help="nats-server SIGKILL/start cycles (--backend nats)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="bound on the whole run, seconds")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # internal: run one worker
    args = parser.parse_args()
    common.stop_cleanly_on_sigterm()
    if args.worker:
        asyncio.run(_worker_main(args.batch_size, args.interval))
        return 0
    with tempfile.TemporaryDirectory(prefix="tracegraph-faults-") as tmp:
        work = Path(tmp)
        local = Settings(  # type: ignore[call-arg]
            TRACEGRAPH_HOME=work / "home", TRACEGRAPH_BOLT_PORT=free_port(), TRACEGRAPH_NEO4J_PAGECACHE_MB=128
        )
        nats = LocalNats(work / "nats") if args.backend == "nats" else None
        print(f"booting Neo4j {local_neo4j.NEO4J_VERSION} on 127.0.0.1:{local.bolt_port} ...", flush=True)
        server = local_neo4j.start(local, log=lambda _: None, timeout=600)
        try:
            if nats is not None:
                print(f"booting nats-server with JetStream on {nats.url} ...", flush=True)
                nats.start()
            clients = Settings(  # type: ignore[call-arg]
                NEO4J_URI=server.uri, NEO4J_PASSWORD=server.password, TRACEGRAPH_HOME=work / "home"
            )
            run_with_graph(clients, ensure_schema)
            fault_run = FaultRun(
                Neo4jControl(clients, local), work, batch_size=args.batch_size, interval=args.interval, nats=nats
            )
            nats_restarts = args.nats_restarts if nats else 0
            print(
                f"sending {args.n} deliveries through the {args.backend} inbox; {args.kills} worker kills, "
                f"{args.restarts} Neo4j restarts, {nats_restarts} nats-server restarts",
                flush=True,
            )
            figures = fault_run.run(
                args.n, kills=args.kills, restarts=args.restarts, nats_restarts=nats_restarts, timeout=args.timeout
            )
        finally:
            # Whatever happened, nothing the run started outlives it.
            if nats is not None:
                nats.stop()
            local_neo4j.stop(local)
        print(figures.report())
        if figures.lost or figures.doubled or figures.missing or not figures.drained:
            print(f"logs were in {work} (now removed); rerun to inspect", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
