"""The fault run, small: deliveries over HTTP while the worker is SIGKILLed and Neo4j restarted.

Same machinery as bench/faults.py (receiver and worker as real subprocesses on 127.0.0.1). Neo4j is
stopped and started only when the session's Neo4j is the one the project booted (graph.local_neo4j);
with NEO4J_URI or Docker that part is skipped.
"""

from __future__ import annotations

from pathlib import Path

from bench.faults import FaultRun, Neo4jControl
from graph import local_neo4j
from graph.settings import Settings


def _local(neo4j_settings: Settings) -> Settings | None:
    """Settings local_neo4j can stop and start, when the session's Neo4j was booted by conftest."""
    uri = neo4j_settings.neo4j_uri or ""
    if not uri.startswith("bolt://127.0.0.1:"):
        return None
    local = Settings(  # type: ignore[call-arg]
        TRACEGRAPH_HOME=neo4j_settings.home,
        TRACEGRAPH_BOLT_PORT=int(uri.rsplit(":", 1)[1]),
        TRACEGRAPH_NEO4J_HEAP="768m",  # as conftest boots it
        TRACEGRAPH_NEO4J_PAGECACHE_MB=128,
    )
    return local if local_neo4j.status(local) is not None else None


def test_nothing_is_lost_or_doubled_through_kills_and_a_neo4j_restart(
    settings: Settings, neo4j_settings: Settings, tmp_path: Path
) -> None:
    local = _local(neo4j_settings)
    run = FaultRun(Neo4jControl(settings, local), tmp_path, batch_size=10, interval=0.1)
    try:
        figures = run.run(120, kills=2, restarts=1 if local else 0, timeout=240, send_seconds=6, log=lambda _: None)
    finally:
        if local is not None and local_neo4j.status(local) is None:
            local_neo4j.start(local, log=lambda _: None)  # leave the session's Neo4j as we found it
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log")))
    report = f"{figures.report()}\n{logs}"
    print(report)
    assert figures.drained, report
    assert figures.kills == 2 and figures.kills_mid_batch >= 1 and figures.restarts == (1 if local else 0), report
    assert figures.acknowledged == 120 and figures.duplicates == figures.replays == 12, report
    assert (figures.lost, figures.doubled, figures.missing) == (0, 0, []), report
    assert figures.inbox == {"pending": 0, "claimed": 0, "done": 120, "quarantine": 0, "failed": 0}, report
