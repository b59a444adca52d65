"""`tracegraph`: start the database, ingest, ask, serve, and run the demo."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.access import audit, token
from cli.common import CHANGE_REF, check_external, fail, progress, report_rejection, user_errors
from cli.export import export, verify_export
from cli.git import ingest_git
from cli.inbox import inbox as inbox_command
from cli.metrics import metrics as metrics_command
from cli.rebuild import rebuild
from cli.render import change_text
from cli.trace import trace
from graph import local_neo4j, repository
from graph.driver import Graph, run_with_graph
from graph.policy import load_policy
from graph.settings import get_settings
from ingest.demo import DEMO_CHANGE
from ingest.demo import envelopes as demo_envelopes
from ingest.pipeline.events import to_event
from ingest.pipeline.feed import Summary
from ingest.pipeline.prepare import text_suffixes
from ingest.reader import list_files
from ingest.runner import ingest_events, ingest_paths
from ingest.sources import SOURCES


@click.group()
@click.version_option(package_name="tracegraph")
def main() -> None:
    """tracegraph: who approved this change, and what evidence proved it was safe?"""


@main.group()
def db() -> None:
    """The local Neo4j (booted from Neo4j's jars on Maven Central) or the server NEO4J_URI names."""


@db.command("start")
@user_errors
def db_start() -> None:
    """Start the local Neo4j (idempotent); returns once Bolt answers and prints its URI."""
    settings = get_settings()
    if check_external(settings):
        click.echo(f"NEO4J_URI is set: using {settings.neo4j_uri}; nothing was booted.")
        return
    server = local_neo4j.start(settings, log=lambda line: click.echo(line, err=True))
    click.echo(
        f"Neo4j {local_neo4j.NEO4J_VERSION} is running at {server.uri} (pid {server.pid}, "
        f"data in {(settings.home / 'neo4j' / 'data').resolve()})"
    )


@db.command("status")
@user_errors
def db_status() -> None:
    """Say whether Neo4j is running and where; exit 1 when it is not."""
    settings = get_settings()
    if check_external(settings):
        click.echo(f"using NEO4J_URI {settings.neo4j_uri}: it answers")
        return
    server = local_neo4j.status(settings)
    if server is None:
        click.echo("Neo4j is not running (start it with `tracegraph db start`)")
        sys.exit(1)
    click.echo(f"Neo4j is running at {server.uri} (pid {server.pid})")


@db.command("stop")
@user_errors
def db_stop() -> None:
    """Stop the local Neo4j cleanly."""
    settings = get_settings()
    if settings.neo4j_uri:
        fail("NEO4J_URI is set: tracegraph did not start that server and will not stop it")
    stopped = local_neo4j.stop(settings)
    click.echo("Neo4j stopped" if stopped else "Neo4j was not running")


def _print_summary(summary: Summary) -> None:
    click.echo(summary.line())
    redacted = {k: v for k, v in summary.redactions.items() if v}
    if redacted:
        click.echo("secrets redacted: " + ", ".join(f"{k} {v}" for k, v in sorted(redacted.items())))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--source", help="Source of bare payloads (files that are not envelopes), e.g. github.")
@click.option("--type", "type_", help="Event type of bare payloads, e.g. pull_request (inferred when left out).")
@user_errors
def ingest(paths: tuple[Path, ...], source: str | None, type_: str | None) -> None:
    """Ingest event files (.json, .jsonl) and folders (recursively)."""
    settings = get_settings()
    if source is not None and source not in SOURCES:
        fail(f"unknown source {source!r} (known: {', '.join(sorted(SOURCES))})")
    files = list_files(list(paths), text_suffixes(source))

    async def work(graph: Graph) -> Summary:
        with progress("ingesting", len(files), "files") as advance:
            return await ingest_paths(
                graph,
                list(paths),
                source=source,
                type=type_,
                quarantine_dir=settings.quarantine_dir,
                on_reject=report_rejection,
                on_file=lambda _: advance(),
                files=files,
            )

    summary = run_with_graph(settings, work, ensure=True)
    _print_summary(summary)
    if summary.rejected:
        click.echo(f"rejected events were written to {settings.quarantine_dir} with their reasons", err=True)
        sys.exit(1)


@main.group()
def ask() -> None:
    """Ask the graph a question."""


@ask.command("change")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON (the GraphQL field names).")
@user_errors
def ask_change(ref: str, as_json: bool) -> None:
    """Who approved REF (owner/repo#42), and what evidence proved it was safe?"""
    match = CHANGE_REF.match(ref)
    if not match:
        fail(f"{ref!r} is not a change reference; write it as owner/repo#42")
    settings = get_settings()
    policy = load_policy(settings.policy_file)
    repo, number = match["repo"], int(match["number"])
    answer = run_with_graph(settings, lambda g: repository.change(g, policy, repo=repo, number=number), ensure=True)
    if answer is None:
        fail(f"no change {repo}#{number} in the graph; ingest its pull request events first", code=1)
    click.echo(answer.model_dump_json(by_alias=True, indent=2) if as_json else change_text(answer))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--worker", "with_worker", is_flag=True, help="Also drain the inbox in this process (a background task).")
@user_errors
def serve(host: str, port: int, with_worker: bool) -> None:
    """Run the API: GraphQL at /graphql (GraphiQL in a browser), webhooks, health at /healthz."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    run_with_graph(settings, lambda g: asyncio.sleep(0), ensure=True)  # fail fast, with a clear message
    click.echo(f"tracegraph API listening on http://{host}:{port} (GraphQL at http://{host}:{port}/graphql)")
    uvicorn.run(create_app(settings, worker=with_worker), host=host, port=port, log_level="info")


@main.command()
@click.option(
    "--inbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="Inbox folder [TRACEGRAPH_INBOX or TRACEGRAPH_HOME/inbox].",
)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between scans of an empty inbox.")
@click.option("--batch-size", default=100, show_default=True, help="Deliveries written per transaction.")
@click.option("--once", is_flag=True, help="Drain what is there and exit.")
@user_errors
def worker(inbox: Path | None, interval: float, batch_size: int, once: bool) -> None:
    """Drain the durable inbox into Neo4j: webhook deliveries, and envelope files dropped into INBOX/incoming."""
    from ingest import worker as inbox_worker

    settings = get_settings()
    folder = inbox or settings.inbox_dir
    click.echo(f"tracegraph worker draining {folder.resolve()} (`tracegraph inbox` shows what waits)", err=True)
    run_with_graph(
        settings,
        lambda g: inbox_worker.run(
            g,
            folder,
            interval=interval,
            batch_size=batch_size,
            once=once,
            log=lambda line: click.echo(line, err=True),
        ),
        ensure=True,
    )


@main.command()
@click.option("--reset", is_flag=True, help="Empty the database first.")
@user_errors
def demo(reset: bool) -> None:
    """Start Neo4j if needed, load the built-in demo org and print the answer for acme/shop#42."""
    settings = get_settings()
    if not settings.neo4j_uri:
        server = local_neo4j.start(settings, log=lambda line: click.echo(line, err=True))
        click.echo(f"Neo4j is running at {server.uri}", err=True)
    policy = load_policy(settings.policy_file)
    repo, number = DEMO_CHANGE

    async def work(graph: Graph) -> Any:
        if reset:
            await repository.delete_all(graph)
        events = []
        for envelope in demo_envelopes():
            raw = json.dumps(envelope)
            event = to_event(envelope, raw, f"demo:{envelope['id']}", source=None, type=None)
            events.append(event)
        summary = await ingest_events(graph, events, quarantine_dir=settings.quarantine_dir)  # type: ignore[arg-type]
        _print_summary(summary)
        return await repository.change(graph, policy, repo=repo, number=number)

    answer = run_with_graph(settings, work, ensure=True)
    click.echo("")
    click.echo(change_text(answer))


main.add_command(trace)
main.add_command(token)
main.add_command(export)
main.add_command(ingest_git)
main.add_command(metrics_command)
main.add_command(verify_export)
main.add_command(audit)
main.add_command(inbox_command)
main.add_command(rebuild)

if __name__ == "__main__":
    main()
