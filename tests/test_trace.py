"""Incident trace against a real Neo4j: deployments in the window, ancestry, ranking, edge cases."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from cli.main import main
from graph.batch import Batch, Origin
from graph.settings import Settings
from graph.vocabulary import Label, Rel
from graph.writer import write_batch
from ingest import examples as ex
from tests.conftest import api, load, run_graph

REPO = "acme/shop"
SERVICE = "shop-api"
ORIGIN = Origin("test", "trace-fixture", "2026-03-01T00:00:00Z")
V = "2026-03-01T00:00:00Z#00#fixture"


def merge(n: int) -> str:
    return ex.sha(f"trace-merge-{n}")


def history(batch: Batch, shas: list[str]) -> None:
    """A linear main branch: each sha's git parent is the one before it."""
    for child, parent in zip(shas[1:], shas[:-1], strict=True):
        batch.edge((Label.COMMIT, child), Rel.PARENT, (Label.COMMIT, parent), version=V, origin=ORIGIN)


def incident(batch: Batch, id: str, *, at: str, service: str | None) -> None:
    batch.node(
        Label.INCIDENT,
        id,
        version=V,
        origin=ORIGIN,
        title="Checkout errors",
        severity="P1",
        status="triggered",
        triggeredAt=at,
        service=service,
    )
    if service:
        batch.edge((Label.INCIDENT, id), Rel.AFFECTS, (Label.SERVICE, service), version=V, origin=ORIGIN)


def changes_and_deployments() -> list[dict[str, Any]]:
    """Changes #1..#4 merged in order; d1 ships #1 (first deployment), d2 ships #2 and #3, d3 ships #4."""
    events: list[dict[str, Any]] = []
    for n, (author, labels, additions) in enumerate(
        [("alice", None, 10), ("bob", ["payments"], 400), ("carol", None, 30), ("dave", None, 5)], start=1
    ):
        head = ex.sha(f"trace-head-{n}")
        events += [
            ex.pull_request(
                REPO,
                n,
                action="closed",
                merged=True,
                merge_sha=merge(n),
                author=author,
                head=head,
                labels=labels,
                additions=additions,
                at=f"2026-03-0{n}T08:00:00Z",
            ),
        ]
    events.append(
        ex.provenance(
            REPO,
            3,
            session_id="sess-trace",
            tool="claude-code",
            model="claude-sonnet-4.5",
            prompt_summary="Speed up checkout",
            operator="carol",
        )
    )
    events.append(ex.check_run(REPO, name="unit-tests", head=ex.sha("trace-head-3"), conclusion="failure", run_id=3))
    for dep, n, at in ((1, 1, "2026-03-01T09:00:00Z"), (2, 3, "2026-03-03T09:00:00Z"), (3, 4, "2026-03-04T09:00:00Z")):
        events += [
            ex.deployment(REPO, deployment_id=dep, sha_=merge(n), service=SERVICE, at=at),
            ex.deployment_status(
                REPO, deployment_id=dep, sha_=merge(n), state="success", status_id=dep * 10, service=SERVICE, at=at
            ),
        ]
    return events


def build(settings: Settings, *, incidents: list[tuple[str, str, str | None]], named: list[int] = ()) -> None:
    load(settings, changes_and_deployments())
    batch = Batch()
    history(batch, [ex.sha("trace-root")] + [merge(n) for n in range(1, 5)])
    for id, at, service in incidents:
        incident(batch, id, at=at, service=service)
        for n in named:
            batch.edge(
                (Label.INCIDENT, id),
                Rel.CAUSED_BY,
                (Label.CHANGE, f"github:{REPO}#{n}"),
                version=V,
                origin=ORIGIN,
                inferred=False,
                confidence=1.0,
            )
    run_graph(settings, lambda g: write_batch(g, batch))


SUSPECTS = """query($id: ID!, $w: Int!) { incident(id: $id) { traceNotes(windowHours: $w)
  suspects(windowHours: $w) {
    change { number } deployment { id } sessions { id operator { login } } score reason } } }"""


def suspects(settings: Settings, id: str, window: int = 72) -> dict[str, Any]:
    with api(settings) as client:
        body = client.post("/graphql", json={"query": SUSPECTS, "variables": {"id": id, "w": window}}).json()
    assert "errors" not in body, body
    return body["data"]["incident"]


def test_a_deployment_that_shipped_several_changes_puts_each_in_the_suspects(settings: Settings) -> None:
    build(settings, incidents=[("inc-1", "2026-03-03T11:00:00Z", SERVICE)])
    found = suspects(settings, "inc-1", window=24)
    assert sorted(s["change"]["number"] for s in found["suspects"]) == [2, 3]
    assert {s["deployment"]["id"] for s in found["suspects"]} == {"github:deployment:2"}
    by_number = {s["change"]["number"]: s for s in found["suspects"]}
    assert by_number[3]["sessions"] == [{"id": "sess-trace", "operator": {"login": "carol"}}]
    assert "check unit-tests failure" in by_number[3]["reason"]
    assert (
        "risk area payments" in by_number[2]["reason"] and "402 lines changed" in by_number[2]["reason"]
    )  # 400 added + 2 deleted
    assert "deployed 2.0 h before the incident" in by_number[2]["reason"]


def test_a_change_named_by_a_postmortem_ranks_first(settings: Settings) -> None:
    build(settings, incidents=[("inc-2", "2026-03-04T10:00:00Z", SERVICE)], named=[3])
    found = suspects(settings, "inc-2", window=48)
    ranked = [s["change"]["number"] for s in found["suspects"]]
    assert ranked[0] == 3 and set(ranked) == {2, 3, 4}
    assert "named by an explicit link" in found["suspects"][0]["reason"]
    assert found["suspects"][0]["score"] > found["suspects"][1]["score"]


def test_the_first_deployment_of_a_service_has_no_predecessor(settings: Settings) -> None:
    build(settings, incidents=[("inc-3", "2026-03-01T12:00:00Z", SERVICE)])
    found = suspects(settings, "inc-3", window=24)
    assert [s["change"]["number"] for s in found["suspects"]] == [1]
    assert any("no earlier successful deployment" in note for note in found["traceNotes"])


def test_an_incident_with_no_service_says_so_and_keeps_explicit_links(settings: Settings) -> None:
    build(settings, incidents=[("inc-4", "2026-03-04T10:00:00Z", None)], named=[2])
    found = suspects(settings, "inc-4")
    assert [s["change"]["number"] for s in found["suspects"]] == [2]
    assert any("names no service" in note for note in found["traceNotes"])


def test_trace_command_prints_ranked_suspects(settings: Settings) -> None:
    build(settings, incidents=[("inc-5", "2026-03-04T10:00:00Z", SERVICE)], named=[3])
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
    }
    text = CliRunner().invoke(main, ["trace", "incident", "inc-5", "--window", "48"], env=env)
    assert text.exit_code == 0, text.output
    assert "1. acme/shop#3" in text.stdout and "agent session sess-trace: claude-code" in text.stdout
    as_json = json.loads(CliRunner().invoke(main, ["trace", "incident", "inc-5", "--json"], env=env).stdout)
    assert as_json["suspects"][0]["change"]["number"] == 3
    missing = CliRunner().invoke(main, ["trace", "incident", "nope"], env=env)
    assert missing.exit_code == 1 and "no incident" in missing.stderr
