"""`tracegraph inbox`: what waits, what failed and what is quarantined in the durable inbox; retry them.

The same on either backend (ingest.inboxes): the spool folder, or NATS JetStream when TRACEGRAPH_NATS_URL is set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cli.common import echo, fail, line, user_errors
from graph.settings import get_settings
from ingest.inbox import CLAIMED, DONE, FAILED, PENDING, QUARANTINE, Entry
from ingest.inboxes import InboxBackend, opened

T = TypeVar("T")

LABELS = {PENDING: "pending", CLAIMED: "claimed", FAILED: "failed", QUARANTINE: "quarantined", DONE: "done"}
INBOX_OPTION = click.option(
    "--inbox",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="A spool inbox folder [NATS JetStream when TRACEGRAPH_NATS_URL is set, else TRACEGRAPH_INBOX or "
    "TRACEGRAPH_HOME/inbox].",
)


def _with_inbox(folder: Path | None, work: Callable[[InboxBackend], Awaitable[T]]) -> T:
    """Open the inbox (the folder, or the one the settings select), run work on it, close it."""

    async def main() -> T:
        async with opened(get_settings(), folder=folder, name="tracegraph-cli") as box:
            return await work(box)

    return asyncio.run(main())


def _row(entry: Entry) -> dict[str, Any]:
    reason = entry.reason or {}
    return {
        "id": entry.key[:12] or entry.name,
        "state": LABELS[entry.state],
        "source": entry.get("source"),
        "type": entry.get("type"),
        "delivery": entry.get("id"),
        "received_at": entry.get("received_at"),
        "reason": reason.get("reason") or (None if entry.document is not None else "entry is unreadable"),
        "file": str(entry.path) if entry.path is not None else entry.name,
    }


def _short(value: Any, width: int) -> str:
    text = line(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_rows(title: str, rows: list[dict[str, Any]], total: int, *, reasons: bool) -> None:
    if not total:
        return
    echo(f"\n{title} ({total}{', oldest first' if total > 1 else ''}):")
    echo(f"  {'ID':<12}  {'SOURCE':<10}  {'TYPE':<22}  {'DELIVERY':<36}  RECEIVED")
    for row in rows:
        text = (
            f"  {line(row['id']):<12}  {_short(row['source'], 10):<10}  {_short(row['type'], 22):<22}  "
            f"{_short(row['delivery'], 36):<36}  {_short(row['received_at'], 27)}"
        )
        echo(text.rstrip())
        if reasons and row["reason"]:
            echo(f"      reason: {_short(row['reason'], 200)}")
    if total > len(rows):
        echo(f"  … and {total - len(rows)} more (--limit)")


@click.group(invoke_without_command=True)
@INBOX_OPTION
@click.option("--limit", default=20, show_default=True, help="Entries shown per state.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON.")
@click.pass_context
@user_errors
def inbox(ctx: click.Context, folder: Path | None, limit: int, as_json: bool) -> None:
    """List pending, failed and quarantined deliveries of the durable inbox, with counts."""
    ctx.obj = folder
    if ctx.invoked_subcommand is not None:
        return

    async def look(box: InboxBackend) -> tuple[str, dict[str, int], dict[str, list[dict[str, Any]]]]:
        shown = {
            state: [_row(e) for e in await box.entries(state, limit=limit)] for state in (FAILED, QUARANTINE, PENDING)
        }
        return box.where, await box.counts(), shown

    where, counts, shown = _with_inbox(folder, look)
    if as_json:
        echo(json.dumps({"inbox": where, "counts": counts, **shown}, indent=2, default=str))
        return
    echo(f"inbox {where}")
    for state in (PENDING, CLAIMED, FAILED, QUARANTINE, DONE):
        echo(f"  {LABELS[state]:<12} {counts[state]:>7}")
    _print_rows("failed: Neo4j refused the write", shown[FAILED], counts[FAILED], reasons=True)
    _print_rows("quarantined: cannot be normalised", shown[QUARANTINE], counts[QUARANTINE], reasons=True)
    _print_rows("pending", shown[PENDING], counts[PENDING], reasons=False)
    if counts[FAILED] or counts[QUARANTINE]:
        echo("\nretry with `tracegraph inbox retry ID` or `tracegraph inbox retry --all`")


@inbox.command("retry")
@click.argument("ref", required=False)
@click.option("--all", "everything", is_flag=True, help="Retry every failed and quarantined delivery.")
@click.option(
    "--only",
    type=click.Choice(["failed", "quarantined"]),
    help="With --all: only this state.",
)
@INBOX_OPTION
@click.pass_obj
@user_errors
def retry(parent: Path | None, ref: str | None, everything: bool, only: str | None, folder: Path | None) -> None:
    """Move a failed or quarantined delivery (ID, its delivery id, or --all) back to pending."""
    states = {"failed": (FAILED,), "quarantined": (QUARANTINE,), None: (FAILED, QUARANTINE)}[only]
    if everything == (ref is not None):
        fail("give one ID (see `tracegraph inbox`) or --all")

    async def find(box: InboxBackend) -> list[Entry]:
        if everything:
            return [e for state in states for e in await box.entries(state)]
        return await box.find(str(ref), states)

    async def again(box: InboxBackend) -> int:
        entries = await find(box)
        if not entries and not everything:
            fail(f"no failed or quarantined delivery matches {ref!r}; see `tracegraph inbox`", code=1)
        if not everything and len({e.key for e in entries}) > 1:
            fail(f"{ref!r} matches {len(entries)} deliveries; give a longer ID", code=1)
        return await box.retry(entries)

    moved = _with_inbox(folder or parent, again)
    echo(f"{moved} deliveries moved back to pending; a running `tracegraph worker` picks them up")
