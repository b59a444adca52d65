"""Normalising in a child process (ingest.parallel) gives the same summary, rejections and graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graph import repository
from graph.driver import Graph
from graph.settings import Settings
from ingest import examples as ex
from ingest.demo import envelopes as demo_envelopes
from ingest.pipeline.events import Rejection
from ingest.runner import ingest_paths
from tests.conftest import run_graph


def _input(folder: Path) -> None:
    folder.mkdir()
    events = [json.dumps(e) for e in demo_envelopes()]
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a planted secret: counted, never stored
    secret = ex.pull_request("acme/par", 7, action="opened", author="alice", head=ex.sha("p-7"))
    secret["payload"]["pull_request"]["title"] = f"rotate {token}"
    (folder / "demo.jsonl").write_text("\n".join(events[:10]) + "\n{not json\n" + "\n".join(events[10:]) + "\n")
    (folder / "secret.json").write_text(json.dumps(secret))
    (folder / "unknown.json").write_text(json.dumps({"source": "nowhere", "type": "x", "payload": {}}))


def _ingest(settings: Settings, folder: Path, processes: bool) -> tuple[Any, list[Rejection], list[Path], Any]:
    seen: list[Rejection] = []
    files: list[Path] = []

    async def work(graph: Graph) -> Any:
        await repository.delete_all(graph)
        summary = await ingest_paths(
            graph,
            [folder],
            source=None,
            type=None,
            quarantine_dir=settings.home / f"quarantine-{processes}",
            on_reject=seen.append,
            on_file=files.append,
            processes=processes,
        )
        return summary, await repository.counts(graph)

    summary, counts = run_graph(settings, work)
    return summary, seen, files, counts


def test_child_process_normalising_matches_in_process(settings: Settings, tmp_path: Path) -> None:
    _input(tmp_path / "in")
    alone, rejected_alone, files_alone, counts_alone = _ingest(settings, tmp_path / "in", processes=False)
    child, rejected_child, files_child, counts_child = _ingest(settings, tmp_path / "in", processes=True)

    assert (child.read, child.accepted) == (alone.read, alone.accepted)
    assert alone.read == len(demo_envelopes()) + 3 and len(alone.rejected) == 2
    assert child.rejected == alone.rejected == rejected_child == rejected_alone
    assert child.redactions == alone.redactions and sum(alone.redactions.values()) >= 1
    assert files_child == files_alone and len(files_alone) == 3
    assert counts_child == counts_alone and counts_alone["Change"] >= 3
    assert child.written.nodes_created == alone.written.nodes_created > 0
    parked = list((settings.home / "quarantine-True").glob("*.json"))
    assert len(parked) == 2
