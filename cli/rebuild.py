"""`tracegraph rebuild`: the graph again from the document store (see ingest/rebuild.py)."""

from __future__ import annotations

import asyncio
import sys

import click

from cli.common import echo, fail, progress, report_rejection, user_errors
from graph.driver import Graph, run_with_graph
from graph.settings import get_settings
from ingest.pipeline.feed import Summary
from ingest.rebuild import RebuildError
from ingest.rebuild import rebuild as replay


@click.command()
@click.option("--into-existing", is_flag=True, help="Replay even though Neo4j already holds a graph (idempotent).")
@user_errors
def rebuild(into_existing: bool) -> None:
    """Replay every raw document of the document store into an empty Neo4j: the same graph again."""
    settings = get_settings()

    async def work(graph: Graph) -> Summary:
        assert graph.documents is not None
        stats = await asyncio.to_thread(graph.documents.stats)
        echo(f"replaying {stats.records:,} source events ({stats.documents:,} documents) from {graph.documents.where}")
        with progress("rebuilding", stats.records, "events") as advance:
            return await replay(
                graph,
                quarantine_dir=settings.quarantine_dir,
                on_reject=report_rejection,
                on_event=advance,
                into_existing=into_existing,
            )

    try:
        summary = run_with_graph(settings, work, ensure=True)
    except RebuildError as exc:
        fail(str(exc))
    echo(summary.line())
    if summary.rejected:
        echo(f"rejected events were written to {settings.quarantine_dir} with their reasons", err=True)
        sys.exit(1)
