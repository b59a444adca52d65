"""The durable inbox and its workers: storing, claiming across processes, dead claims, dead letters, retry.

Inbox tests need no database; worker tests write to the real Neo4j through the conftest fixtures.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from neo4j import AsyncGraphDatabase

from cli.inbox import inbox as inbox_cli
from documents.local import LocalStore
from graph import repository
from graph.driver import Graph
from graph.settings import Settings
from ingest import examples as ex
from ingest import worker
from ingest.inbox import CLAIMED, DONE, FAILED, PENDING, QUARANTINE, Delivery, Inbox, InboxUnavailable, delivery_key
from ingest.pipeline import prepare
from tests.conftest import _free_port, run_graph

ROOT = Path(__file__).resolve().parents[1]


def delivery(n: int, **overrides: Any) -> Delivery:
    """A distinct GitHub pull_request delivery (a Change acme/inbox#n)."""
    envelope = ex.pull_request("acme/inbox", n, action="opened", author="alice", head=ex.sha(f"inbox-{n}"))
    values: dict[str, Any] = {
        "source": "github",
        "type": "pull_request",
        "id": f"d-{n}",
        "payload": envelope["payload"],
        "via": "test",
    }
    values.update(overrides)
    return Delivery(**values)


@pytest.fixture
def box(tmp_path: Path) -> Inbox:
    return Inbox(tmp_path / "inbox")


# --- storing -------------------------------------------------------------------------------------


def test_put_writes_a_private_envelope_into_pending(box: Inbox) -> None:
    result = box.put(delivery(1))
    assert not result.duplicate and result.key == delivery_key("github", "d-1")
    path = box.dir(PENDING) / str(result.name)
    doc = json.loads(path.read_text())
    assert {k: doc[k] for k in ("source", "type", "id", "via")} == {
        "source": "github",
        "type": "pull_request",
        "id": "d-1",
        "via": "test",
    }
    assert doc["payload"]["number"] == 1 and doc["received_at"].endswith("Z")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(box.dir(PENDING).stat().st_mode) == 0o700
    assert not list(box.dir("tmp").iterdir())


def test_names_sort_by_arrival(box: Inbox) -> None:
    ids = [box.put(delivery(n)).name for n in (5, 3, 9)]
    assert box.names(PENDING) == ids


def test_duplicates_are_recognised_in_every_state_and_within_one_request(box: Inbox) -> None:
    first = box.put_many([delivery(1), delivery(1), delivery(2)])
    assert [r.duplicate for r in first] == [False, True, False]
    with box.claim("w") as claim:
        claim.done(claim.take(1))
    assert box.put(delivery(1)).duplicate and box.put(delivery(2)).duplicate
    assert box.counts() == {PENDING: 1, CLAIMED: 0, DONE: 1, QUARANTINE: 0, FAILED: 0}


def test_the_same_delivery_raced_by_many_threads_is_stored_once(box: Inbox) -> None:
    results = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        results.append(box.put(delivery(7)))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(box.names(PENDING)) == 1
    assert sum(not r.duplicate for r in results) >= 1 and len(results) == 8


def test_done_entries_lose_their_raw_delivery_and_prune_forgets_them_after_the_retention(box: Inbox) -> None:
    secret = "ghp_" + "A" * 36
    box.put_many([delivery(1, payload={"token": secret}), delivery(2), delivery(3)])
    with box.claim("w") as claim:
        claim.done(claim.take(2))
    done = sorted(box.dir(DONE).iterdir())
    assert box.empty([done[0].name]) == 1 and done[0].stat().st_size == 0
    # A worker stopped before it emptied the other one: the next prune does, and keeps the entry.
    assert secret in done[1].read_text() or done[1].stat().st_size
    assert box.prune(3600).emptied == 1 and done[1].stat().st_size == 0 and done[1].exists()
    assert box.put(delivery(1)).duplicate  # remembered within the retention
    pruned = box.prune(3600, now=time.time() + 7200)
    assert (pruned.done, pruned.seen) == (2, 3) and box.counts()[DONE] == 0
    again = box.put(delivery(1))  # forgotten: stored again (the worker's MERGE changes nothing)
    assert not again.duplicate and box.counts()[PENDING] == 2


def test_a_worker_lists_pending_once_for_a_run_of_claims_not_once_per_claim(
    box: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    box.put_many(delivery(n) for n in range(25))
    listed: list[int] = []
    names = Inbox.names

    def counted(self: Inbox, state: str) -> list[str]:
        found = names(self, state)
        listed.append(len(found))
        return found

    monkeypatch.setattr(Inbox, "names", counted)
    taken: list[str] = []
    with box.claim("w") as claim:
        while batch := claim.take(4):
            claim.done(batch)
            taken += [p.name for p in batch]
        box.put(delivery(99))  # arrives after the list ran out: the next take lists again
        late = claim.take(4)
        claim.done(late)
    assert len(taken) == 25 and taken == sorted(taken) and [p.name.split("-")[1] for p in late]
    assert listed == [25, 0, 1], listed  # 25 claims of 4, and two empty looks, instead of one listing per claim


def test_released_deliveries_are_taken_again_first(box: Inbox) -> None:
    box.put_many(delivery(n) for n in range(6))
    with box.claim("w") as claim:
        first = claim.take(2)
        claim.release(first)
        assert [p.name for p in claim.take(2)] == [p.name for p in first]


def test_a_non_ascii_or_surrogate_payload_is_stored_losslessly(box: Inbox) -> None:
    payload = {"title": "café ☕ \ud800", "n": 12345678901234567890}
    box.put(delivery(1, payload=payload))
    assert json.loads((box.dir(PENDING) / box.names(PENDING)[0]).read_text())["payload"] == payload


# --- claiming ------------------------------------------------------------------------------------

CLAIMER = textwrap.dedent(
    """
    import sys, time
    from ingest.inbox import Inbox
    box = Inbox(sys.argv[1])
    with box.claim() as claim:
        print("ready", flush=True)
        while not __import__("os").path.exists(sys.argv[2]):
            time.sleep(0.01)
        while taken := claim.take(7):
            for path in taken:
                print(path.name, flush=True)
            claim.done(taken)
    """
)


def test_workers_in_separate_processes_never_claim_the_same_delivery(box: Inbox, tmp_path: Path) -> None:
    box.put_many(delivery(n) for n in range(600))
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(box.root), str(go)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdout and proc.stdout.readline().strip() == "ready"
    go.touch()  # all four start claiming at once
    outputs = [proc.communicate(timeout=120)[0].split() for proc in procs]
    claimed = [name for out in outputs for name in out]
    assert len(claimed) == 600 and len(set(claimed)) == 600, "a delivery was claimed twice or lost"
    assert sum(1 for out in outputs if out) >= 2, "the claims did not interleave at all"
    assert box.counts()[DONE] == 600 and box.counts()[PENDING] == 0


HOLDER = textwrap.dedent(
    """
    import sys, time
    from ingest.inbox import Inbox
    claim = Inbox(sys.argv[1]).claim()
    print(len(claim.take(int(sys.argv[2]))), flush=True)
    time.sleep(600)
    """
)


def test_the_claims_of_a_killed_worker_return_to_pending_and_a_live_ones_stay(box: Inbox) -> None:
    box.put_many(delivery(n) for n in range(10))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(box.root), "4"], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert holder.stdout and holder.stdout.readline().strip() == b"4"
        with box.claim("alive") as alive:
            mine = alive.take(3)
            assert box.recover_stale() == 0  # both holders live: nothing is taken from them
            holder.send_signal(signal.SIGKILL)
            holder.wait(timeout=10)
            assert box.recover_stale(keep="alive") == 4
            assert box.counts()[PENDING] == 7 and box.counts()[CLAIMED] == 3
            assert all(p.exists() for p in mine)
        assert box.counts()[PENDING] == 10 and not list(box.dir(CLAIMED).iterdir())
    finally:
        holder.kill()


def test_a_worker_id_is_taken_over_only_from_a_dead_worker(box: Inbox) -> None:
    box.put(delivery(1))
    alive = box.claim("fixed-id")
    with pytest.raises(InboxUnavailable, match="in use by a live worker"):
        box.claim("fixed-id")
    alive.take(1)
    os.close(alive._fd)  # as if its process died: the kernel drops the lock
    alive._fd = -1
    with box.claim("fixed-id") as again:
        assert box.counts()[PENDING] == 1 and again.take(1)


def test_a_claim_folder_left_without_a_lock_is_recovered_after_a_grace(box: Inbox) -> None:
    box.put(delivery(1))
    orphan = box.dir(CLAIMED) / "old-worker"
    orphan.mkdir(parents=True)
    name = box.names(PENDING)[0]
    os.rename(box.dir(PENDING) / name, orphan / name)
    assert box.recover_stale() == 0  # could be a worker between mkdir and flock
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    assert box.recover_stale() == 1 and box.names(PENDING) == [name]


def test_partial_writes_of_a_killed_receiver_are_cleaned_after_an_hour(box: Inbox) -> None:
    box.put(delivery(1))
    partial, fresh = box.dir("tmp") / "partial", box.dir("tmp") / "fresh"
    partial.write_text("{")
    fresh.write_text("{")
    old = time.time() - 7200
    os.utime(partial, (old, old))
    box.recover_stale()
    assert not partial.exists() and fresh.exists() and box.counts()[PENDING] == 1


# --- dead letters and retry ----------------------------------------------------------------------


def test_parked_entries_carry_their_reason_and_can_be_retried(box: Inbox) -> None:
    box.put_many([delivery(1), delivery(2)])
    with box.claim("w") as claim:
        first, second = claim.take(2)
        claim.park(first, QUARANTINE, "github pull_request payload has no pull_request.number", source="github")
        claim.park(second, FAILED, "Neo4j refused the write: token ghp_" + "a" * 36)
    [quarantined] = box.entries(QUARANTINE)
    assert quarantined.reason and quarantined.reason["reason"].endswith("no pull_request.number")
    assert quarantined.get("id") == "d-1" and quarantined.reason["worker"] == "w"
    [failed] = box.entries(FAILED)
    assert failed.reason and "ghp_" not in failed.reason["reason"]  # reasons are redacted
    assert box.find(quarantined.key[:8]) == [quarantined] and box.find("d-2") == [failed]
    assert box.find("abc") == [] and box.find(quarantined.name) == [quarantined]
    assert box.retry([quarantined]) == 1
    assert box.counts() == {PENDING: 1, CLAIMED: 0, DONE: 0, QUARANTINE: 0, FAILED: 1}
    assert not list(box.dir(QUARANTINE).iterdir())


def test_spooled_files_are_imported_once_with_bad_lines_quarantined(box: Inbox) -> None:
    incoming = box.dir("incoming")
    incoming.mkdir(parents=True)
    lines = [json.dumps(delivery(1).envelope()), "{not json", json.dumps(delivery(2).envelope())]
    (incoming / "0001.jsonl").write_text("\n".join(lines))
    assert list(box.import_spool()) == [("0001.jsonl", 2, 1)]
    assert (box.dir(DONE) / "0001.jsonl").exists() and not list(incoming.iterdir())
    (incoming / "0002.jsonl").write_text(lines[0])  # the same envelope dropped again
    assert list(box.import_spool()) == [("0002.jsonl", 1, 0)]
    assert box.counts()[PENDING] == 2
    [bad] = box.entries(QUARANTINE)
    assert bad.reason and "malformed JSON" in bad.reason["reason"] and bad.get("raw").strip() == "{not json"


# --- the CLI -------------------------------------------------------------------------------------


def test_inbox_command_lists_counts_and_reasons_and_retries(box: Inbox) -> None:
    box.put_many(delivery(n) for n in range(3))
    with box.claim("w") as claim:
        paths = claim.take(2)
        claim.park(paths[0], QUARANTINE, "unknown source 'x'")
        claim.park(paths[1], FAILED, "Neo4j refused the write")
    runner = CliRunner()
    listing = runner.invoke(inbox_cli, ["--inbox", str(box.root)])
    assert listing.exit_code == 0, listing.output
    assert "pending            1" in listing.output and "quarantined        1" in listing.output
    assert "reason: unknown source 'x'" in listing.output and "failed             1" in listing.output
    as_json = json.loads(runner.invoke(inbox_cli, ["--inbox", str(box.root), "--json"]).output)
    assert as_json["counts"] == {PENDING: 1, CLAIMED: 0, DONE: 0, QUARANTINE: 1, FAILED: 1}
    key = as_json["quarantine"][0]["id"]

    assert runner.invoke(inbox_cli, ["retry", "--inbox", str(box.root)]).exit_code == 2
    missing = runner.invoke(inbox_cli, ["retry", "nothing-like-it", "--inbox", str(box.root)])
    assert missing.exit_code == 1 and "no failed or quarantined delivery" in missing.output
    one = runner.invoke(inbox_cli, ["--inbox", str(box.root), "retry", key])
    assert one.exit_code == 0 and "1 deliveries moved back to pending" in one.output
    rest = runner.invoke(inbox_cli, ["retry", "--all", "--inbox", str(box.root)])
    assert rest.exit_code == 0 and box.counts()[PENDING] == 3


# --- workers against Neo4j -----------------------------------------------------------------------


def drain(settings: Settings, box: Inbox, **options: Any) -> list[str]:
    lines: list[str] = []
    run_graph(settings, lambda graph: worker.run(graph, box, once=True, log=lines.append, **options))
    return lines


def test_the_worker_writes_good_deliveries_and_quarantines_the_rest_with_reasons(
    settings: Settings, box: Inbox
) -> None:
    box.put_many(
        [
            delivery(1),
            delivery(2, payload={"action": "opened"}),  # no pull_request in it
            delivery(3, source="nosuch"),
            delivery(4, type="Merge Request Hook", source="github"),
            delivery(5),
        ]
    )
    lines = drain(settings, box, batch_size=2)
    assert box.counts() == {PENDING: 0, CLAIMED: 0, DONE: 2, QUARANTINE: 3, FAILED: 0}, lines
    assert all(p.stat().st_size == 0 for p in box.dir(DONE).iterdir()), "a raw delivery stayed in done/"
    reasons = {e.get("id"): e.reason["reason"] for e in box.entries(QUARANTINE) if e.reason}
    assert "pull_request" in reasons["d-2"] and "unknown source 'nosuch'" in reasons["d-3"]
    assert "unknown github event type 'Merge Request Hook'" in reasons["d-4"]
    counts = run_graph(settings, repository.counts)
    assert counts["Change"] == 2 and counts["SourceEvent"] == 2
    assert [line.split(":")[0] for line in lines] == ["batch of 2", "batch of 2", "batch of 1"]


@pytest.mark.parametrize(
    ("prop", "value", "reason"),
    [
        ("title", "broken \ud800 text", "lone surrogate"),
        ("additions", 2**70, "64-bit range"),
    ],
)
def test_values_neo4j_cannot_store_are_quarantined_before_the_write(
    settings: Settings, box: Inbox, prop: str, value: Any, reason: str
) -> None:
    poisoned = delivery(2)
    poisoned.payload["pull_request"][prop] = value
    box.put_many([delivery(1), poisoned])
    drain(settings, box)
    [entry] = box.entries(QUARANTINE)
    assert entry.get("id") == "d-2" and entry.reason and reason in entry.reason["reason"]
    assert box.counts()[DONE] == 1 and run_graph(settings, repository.counts)["Change"] == 1


def test_a_delivery_neo4j_refuses_goes_to_failed_and_the_rest_of_its_batch_lands(
    settings: Settings, box: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "storable_problem", lambda batch: None)  # let Neo4j itself refuse it
    poisoned = delivery(2)
    poisoned.payload["pull_request"]["title"] = "broken \ud800 text"
    box.put_many([delivery(1), poisoned, delivery(3)])
    drain(settings, box)
    assert box.counts()[DONE] == 2 and box.counts()[FAILED] == 1
    [failed] = box.entries(FAILED)
    assert failed.get("id") == "d-2" and failed.reason and "Neo4j refused the write" in failed.reason["reason"]
    assert run_graph(settings, repository.counts)["Change"] == 2


def test_a_write_refused_for_unclear_reasons_is_retried_then_set_aside(
    settings: Settings, box: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "storable_problem", lambda batch: None)
    huge = delivery(2)
    huge.payload["repository"]["full_name"] = "acme/" + "x" * 9000  # too large for the key's index
    box.put_many([delivery(1), huge, delivery(3)])
    lines: list[str] = []

    async def work(graph: Graph) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(graph, box, interval=0.02, stop=stop, log=lines.append))
        deadline = time.monotonic() + 90
        while box.counts()[FAILED] < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await task

    run_graph(settings, work)
    assert box.counts()[DONE] == 2 and box.counts()[FAILED] == 1, lines
    [failed] = box.entries(FAILED)
    assert failed.reason and f"refused the write {worker.MAX_STRIKES} times" in failed.reason["reason"]
    assert sum("Neo4j refused a write (1 deliveries wait)" in line for line in lines) == worker.MAX_STRIKES - 1


def test_retrying_a_quarantined_delivery_after_a_fix_lands_it(settings: Settings, box: Inbox) -> None:
    box.put(delivery(1, type="pull-request"))
    drain(settings, box)
    [entry] = box.entries(QUARANTINE)
    # The operator fixes the cause (here: the envelope's type), then retries.
    entry.path.write_text(json.dumps({**(entry.document or {}), "type": "pull_request"}))
    assert box.retry(box.find("d-1")) == 1
    drain(settings, box)
    assert box.counts()[DONE] == 1 and run_graph(settings, repository.counts)["Change"] == 1


def test_while_neo4j_is_unreachable_nothing_is_lost_and_the_worker_backs_off(box: Inbox, tmp_path: Path) -> None:
    box.put_many(delivery(n) for n in range(3))
    uri = f"bolt://127.0.0.1:{_free_port()}"
    lines: list[str] = []

    async def work() -> None:
        driver = AsyncGraphDatabase.driver(uri, auth=("neo4j", "x"), max_transaction_retry_time=0.5)
        stop = asyncio.Event()
        task = asyncio.create_task(
            worker.run(
                Graph(driver, "neo4j", uri, LocalStore(tmp_path / "documents")),
                box,
                interval=0.05,
                log=lines.append,
                stop=stop,
            )
        )
        while len(lines) < 3:
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await driver.close()

    asyncio.run(asyncio.wait_for(work(), timeout=60))
    assert all("Neo4j write failed (ServiceUnavailable" in line and "3 deliveries wait" in line for line in lines)
    waits = [float(line.rsplit("retrying in ", 1)[1].split()[0]) for line in lines]
    assert waits == sorted(waits) and waits[-1] > waits[0], "the backoff does not grow"
    assert box.counts() == {PENDING: 3, CLAIMED: 0, DONE: 0, QUARANTINE: 0, FAILED: 0}


def test_two_workers_on_one_inbox_share_it_and_write_each_delivery_once(settings: Settings, box: Inbox) -> None:
    box.put_many(delivery(n) for n in range(120))
    logs: dict[str, list[str]] = {"a": [], "b": []}

    async def work(graph: Graph) -> None:
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                worker.run(graph, box, interval=0.05, batch_size=10, stop=stop, log=logs[w].append, worker_id=w)
            )
            for w in logs
        ]
        deadline = time.monotonic() + 120
        while box.counts()[DONE] < 120 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*tasks)

    run_graph(settings, work)
    written = {
        w: sum(int(line.split(": ")[1].split()[0]) for line in lines if line.startswith("batch of"))
        for w, lines in logs.items()
    }
    assert sum(written.values()) == 120 and all(written.values()), written
    counts = run_graph(settings, repository.counts)
    assert counts["Change"] == 120 and counts["SourceEvent"] == 120
    assert box.counts()[DONE] == 120 and not list(box.dir(CLAIMED).iterdir())


def test_run_worker_is_a_background_task_that_stops_when_asked(settings: Settings, box: Inbox) -> None:
    async def work(graph: Graph) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run_worker(graph, box, stop, log=lambda _: None))
        box.put(delivery(1))  # arrives while the worker runs
        deadline = time.monotonic() + 60
        while box.counts()[DONE] < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, timeout=10)

    run_graph(settings, work)
    assert box.counts()[DONE] == 1 and run_graph(settings, repository.counts)["Change"] == 1
