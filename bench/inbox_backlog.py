"""The spool inbox with a backlog: claiming N waiting deliveries, the previous claim code against today's.

    python -m bench.inbox_backlog [--n 100000] [--batch 100] [--dir /tmp/tracegraph-backlog]

No Neo4j: this measures what the inbox itself costs a worker. N deliveries are stored with
Inbox.put_many (each written, fsynced and renamed, as a webhook's are); then the same backlog (hard
links of those files) is claimed in batches and marked done, once by the claim code before issue 19
(it listed and sorted the whole pending folder for every claim) and once by today's (it lists it
when the names it listed last are used up); then dropping the N done deliveries' documents
(Inbox.empty, which workers run beside their next batch) and prune() on the N done entries and N seen
markers (once with nothing old enough, once with everything). Figures are printed; the folder is
removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

from bench import common
from ingest import examples as ex
from ingest.inbox import DONE, PENDING, Claim, Delivery, Inbox


class ClaimBefore(Claim):
    """The claim as it was before issue 19: every take listed pending/ whole."""

    def take(self, limit: int) -> list[Path]:
        taken: list[Path] = []
        for name in self.inbox.names(PENDING):
            if len(taken) >= limit:
                break
            try:
                os.rename(self.inbox.dir(PENDING) / name, self.folder / name)
            except FileNotFoundError:
                continue
            taken.append(self.folder / name)
        return taken


def fill(inbox: Inbox, n: int, chunk: int = 1000) -> float:
    """Store n distinct deliveries the way the webhook route does; returns seconds."""
    payload = ex.pull_request("acme/backlog", 1, action="opened", author="alice", head=ex.sha("b"))["payload"]
    started = time.perf_counter()
    for first in range(0, n, chunk):
        inbox.put_many(
            Delivery("github", "pull_request", f"backlog-{i}", payload, via="bench")
            for i in range(first, min(n, first + chunk))
        )
    return time.perf_counter() - started


def drain(inbox: Inbox, claim_class: type[Claim], batch: int) -> tuple[float, int]:
    """Claim everything in batches and mark it done; returns seconds and deliveries."""
    claim = claim_class(inbox, "bench")
    count = 0
    started = time.perf_counter()
    try:
        while taken := claim.take(batch):
            claim.done(taken)
            count += len(taken)
    finally:
        claim.close()
    return time.perf_counter() - started, count


def copy(template: Path, target: Path) -> Inbox:
    """The same backlog again, as hard links (cheap; renames move the links, not the template)."""
    subprocess.run(["cp", "-al", str(template), str(target)], check=True)
    return Inbox(target)


def main(argv: list[str] | None = None) -> None:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100, help="deliveries per claim (the worker's batch size)")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tracegraph-backlog"))
    args = parser.parse_args(argv)
    common.stop_cleanly_on_sigterm()
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    try:
        print(f"machine: {common.machine()}")
        template = Inbox(args.dir / "template")
        seconds = fill(template, args.n)
        print(f"stored {args.n:,} deliveries (fsynced each) in {seconds:.1f} s = {args.n / seconds:,.0f}/s")
        before_s, before_n = drain(copy(template.root, args.dir / "before"), ClaimBefore, args.batch)
        print(f"claim before: {before_n:,} claimed and done in batches of {args.batch} in {before_s:.1f} s")
        today = copy(template.root, args.dir / "today")
        today_s, today_n = drain(today, Claim, args.batch)
        print(f"claim today:  {today_n:,} claimed and done in batches of {args.batch} in {today_s:.1f} s")
        print(f"ratio: today takes {today_s / before_s:.3f} of the time before ({before_s / today_s:.1f}x faster)")
        names = sorted(os.listdir(today.dir(DONE)))
        started = time.perf_counter()
        emptied = today.empty(names)
        empty_s = time.perf_counter() - started
        print(
            f"documents of done/ entries dropped: {emptied:,} in {empty_s:.1f} s "
            f"({empty_s / max(emptied, 1) * 1000:.2f} ms each; the worker does it beside its next batch)"
        )
        started = time.perf_counter()
        kept = today.prune(3600)
        scan_s = time.perf_counter() - started
        started = time.perf_counter()
        pruned = today.prune(3600, now=time.time() + 7200)
        prune_s = time.perf_counter() - started
        print(
            f"prune with nothing old: {scan_s:.2f} s ({kept.done + kept.seen} removed); "
            f"prune of everything: {pruned.done:,} done and {pruned.seen:,} seen markers in {prune_s:.2f} s"
        )
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
