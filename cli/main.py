"""`tracegraph`: start the database, ingest, ask, serve, and run the demo."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.access import audit, token
from cli.collect import collect
from cli.common import CHANGE_REF, check_external, echo, fail, progress, report_rejection, user_errors
from cli.export import export, verify_export
from cli.gate import gate
from cli.git import ingest_git
from cli.governance import audit_period, drill, exception, status
from cli.inbox import inbox as inbox_command
from cli.metrics import metrics as metrics_command
from cli.rebuild import rebuild
from cli.render import change_text
from cli.trace import trace
from graph import access, local_neo4j, repository
from graph.driver import Graph, run_with_graph
from graph.policy import load_policy
from graph.settings import get_settings
from ingest.demo import DEMO_CHANGE
from ingest.demo import envelopes as demo_envelopes
from ingest.pipeline.events import Event, to_event
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
        echo(f"NEO4J_URI is set: using {settings.neo4j_uri}; nothing was booted.")
        return
    server = local_neo4j.start(settings, log=lambda text: echo(text, err=True))
    echo(
        f"Neo4j {local_neo4j.NEO4J_VERSION} is running at {server.uri} (pid {server.pid}, "
        f"data in {(settings.home / 'neo4j' / 'data').resolve()})"
    )


@db.command("status")
@user_errors
def db_status() -> None:
    """Say whether Neo4j is running and where; exit 1 when it is not."""
    settings = get_settings()
    if check_external(settings):
        echo(f"using NEO4J_URI {settings.neo4j_uri}: it answers")
        return
    server = local_neo4j.status(settings)
    if server is None:
        echo("Neo4j is not running (start it with `tracegraph db start`)")
        sys.exit(1)
    echo(f"Neo4j is running at {server.uri} (pid {server.pid})")


@db.command("stop")
@user_errors
def db_stop() -> None:
    """Stop the local Neo4j cleanly."""
    settings = get_settings()
    if settings.neo4j_uri:
        fail("NEO4J_URI is set: tracegraph did not start that server and will not stop it")
    stopped = local_neo4j.stop(settings)
    echo("Neo4j stopped" if stopped else "Neo4j was not running")


def _print_summary(summary: Summary) -> None:
    echo(summary.line())
    redacted = {k: v for k, v in summary.redactions.items() if v}
    if redacted:
        echo("secrets redacted: " + ", ".join(f"{k} {v}" for k, v in sorted(redacted.items())))


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
        echo(f"rejected events were written to {settings.quarantine_dir} with their reasons", err=True)
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
    echo(answer.model_dump_json(by_alias=True, indent=2) if as_json else change_text(answer))


STARTUP_SECONDS = 120


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--worker", "with_worker", is_flag=True, help="Also drain the inbox in this process (a background task).")
@click.option(
    "--workers",
    "processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="API processes sharing the port; token revocation, the audit log and the limits hold across them.",
)
@user_errors
def serve(host: str, port: int, with_worker: bool, processes: int) -> None:
    """Run the API and the web app: pages at /, GraphQL at /graphql (GraphiQL in a browser), webhooks, /healthz."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    run_with_graph(settings, lambda g: asyncio.sleep(0), ensure=True)  # fail fast, with a clear message
    where = f"http://{host}:{port}"
    echo(
        f"tracegraph API listening on {where} (web app at {where}/, GraphQL at {where}/graphql), "
        f"{processes} process(es)"
    )
    if processes == 1:
        uvicorn.run(create_app(settings, worker=with_worker), host=host, port=port, log_level="info")
        return
    # Each process builds its own app (settings from the same environment) and shares the listening socket.
    factory = "api.app:create_app_draining" if with_worker else "api.app:create_app"
    uvicorn.run(
        factory,
        factory=True,
        workers=processes,
        host=host,
        port=port,
        log_level="info",
        # uvicorn restarts a process that has not finished starting (Neo4j, schema, inbox) within this;
        # its default of 5 s made a busy machine restart them for ever.
        timeout_worker_healthcheck=STARTUP_SECONDS,
    )


@main.command("mcp")
@user_errors
def mcp_command() -> None:
    """Serve tracegraph's read-only MCP tools over stdio, for coding agents (TRACEGRAPH_TOKEN: a reader token)."""
    from mcp_server.server import TokenRefused, authorize, build_server

    settings = get_settings()
    try:
        run_with_graph(settings, lambda g: authorize(g, settings), ensure=True)  # a clear error before serving
    except TokenRefused as exc:
        fail(str(exc))
    asyncio.run(build_server(settings).run_stdio_async())


@main.command()
@click.option(
    "--inbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="A spool inbox folder [NATS JetStream when TRACEGRAPH_NATS_URL is set, else TRACEGRAPH_INBOX or "
    "TRACEGRAPH_HOME/inbox].",
)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between scans of an empty inbox.")
@click.option("--batch-size", default=100, show_default=True, help="Deliveries written per transaction.")
@click.option("--once", is_flag=True, help="Drain what is there and exit.")
@user_errors
def worker(inbox: Path | None, interval: float, batch_size: int, once: bool) -> None:
    """Drain the durable inbox into Neo4j: webhook deliveries, and envelope files dropped into INBOX/incoming."""
    from ingest import worker as inbox_worker
    from ingest.inboxes import opened

    settings = get_settings()

    async def work(graph: Graph) -> None:
        async with opened(settings, folder=inbox, name="tracegraph-worker") as box:
            echo(f"tracegraph worker draining {box.where} (`tracegraph inbox` shows what waits)", err=True)
            await inbox_worker.run(
                graph,
                box,
                interval=interval,
                batch_size=batch_size,
                once=once,
                log=lambda text: echo(text, err=True),
            )

    run_with_graph(settings, work, ensure=True)


@main.command()
@click.option("--reset", is_flag=True, help="Empty the database first.")
@user_errors
def demo(reset: bool) -> None:
    """Start Neo4j if needed, load the built-in demo org and print the answer for acme/shop#42."""
    settings = get_settings()
    if not settings.neo4j_uri:
        server = local_neo4j.start(settings, log=lambda text: echo(text, err=True))
        echo(f"Neo4j is running at {server.uri}", err=True)
    policy = load_policy(settings.policy_file)
    repo, number = DEMO_CHANGE

    async def work(graph: Graph) -> Any:
        if reset:
            await repository.delete_all(graph)
        events = []
        for envelope in demo_envelopes():
            raw = json.dumps(envelope)
            event = to_event(envelope, raw, f"demo:{envelope['id']}", source=None, type=None)
            # Made-up data: nothing vouches for it (unverified, named as the demo).
            events.append(dataclasses.replace(event, via="demo") if isinstance(event, Event) else event)
        summary = await ingest_events(graph, events, quarantine_dir=settings.quarantine_dir)  # type: ignore[arg-type]
        _print_summary(summary)
        return await repository.change(graph, policy, repo=repo, number=number)

    answer = run_with_graph(settings, work, ensure=True)
    echo("")
    echo(change_text(answer))
    secret = run_with_graph(settings, demo_token)
    echo("")
    echo(f"Web app: run `tracegraph serve`, then open http://127.0.0.1:8000/changes/{repo}/{number}")
    echo(f"Sign in with this reader token (shown once; a new run revokes it): {secret}")


DEMO_TOKEN = "demo reader (tracegraph demo)"


async def demo_token(graph: Graph) -> str:
    """A reader token for the demo's web app; the previous demo's token is revoked, so runs do not pile up."""
    for info in await access.list_tokens(graph):
        if info.name == DEMO_TOKEN and info.revoked_at is None:
            await access.revoke_token(graph, info.id)
    secret, _ = await access.create_token(graph, role=access.Role.READER, name=DEMO_TOKEN)
    return secret


main.add_command(trace)
main.add_command(token)
main.add_command(export)
main.add_command(ingest_git)
main.add_command(metrics_command)
main.add_command(verify_export)
main.add_command(audit)
main.add_command(inbox_command)
main.add_command(gate)
main.add_command(exception)
main.add_command(status)
main.add_command(drill)
main.add_command(audit_period)
main.add_command(collect)
main.add_command(rebuild)

if __name__ == "__main__":
    main()
