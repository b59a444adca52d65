"""`tracegraph rebuild`: the document store replayed into an empty Neo4j gives the same graph (the
disaster-recovery story), compared node by node, edge by edge and document by document."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from graph import repository
from graph import schema as graph_schema
from graph.driver import Graph
from graph.settings import Settings
from graph.snapshot import snapshot
from tests.conftest import run_graph
from tests.test_cross_path import aliases, corpus, observe, shuffled, via_webhooks  # noqa: F401 - a fixture
from tests.test_export import env as _env

__all__ = ["aliases"]


def _wipe_the_graph(settings: Settings) -> None:
    async def wipe(graph: Graph) -> None:
        await repository.delete_all(graph)
        await graph_schema.ensure_schema(graph)

    run_graph(settings, wipe)


def test_rebuild_replays_the_store_into_an_empty_neo4j_and_gives_the_same_graph(
    settings: Settings, aliases: Path
) -> None:
    # Every source, through signed webhooks, POST /events and the inbox worker (subjects, text
    # payloads, duplicates, planted secrets, an aliases file).
    via_webhooks(settings, shuffled(corpus(), 8))
    before, answers = observe(settings)
    travelled = run_graph(settings, lambda g: snapshot(g, with_travel=True))
    assert len(before.documents) > 30 and not any(line.endswith('"missing"') for line in before.documents)

    _wipe_the_graph(settings)
    assert run_graph(settings, repository.counts).get("Change", 0) == 0
    done = CliRunner().invoke(main, ["rebuild"], env=_env(settings), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert f"source events ({len(set(line.split()[1] for line in before.documents))} documents)" in done.output

    after, after_answers = observe(settings)
    assert sorted(set(after.nodes) ^ set(before.nodes)) == []
    assert sorted(set(after.edges) ^ set(before.edges)) == []
    assert after == before and after_answers == answers
    # Even how each fact travelled (when it arrived, through which way in) is the same.
    assert run_graph(settings, lambda g: snapshot(g, with_travel=True)) == travelled


def test_rebuild_refuses_a_graph_that_is_not_empty(settings: Settings, aliases: Path) -> None:
    via_webhooks(settings, corpus()[:3])
    done = CliRunner().invoke(main, ["rebuild"], env=_env(settings), catch_exceptions=False)
    assert done.exit_code == 2
    assert "already holds" in done.output and "--into-existing" in done.output
    before = observe(settings)[0]
    again = CliRunner().invoke(main, ["rebuild", "--into-existing"], env=_env(settings), catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert observe(settings)[0] == before
