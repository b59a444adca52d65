"""From incident back to change, and from change to incident, against a real Neo4j.

A PagerDuty incident triggers and resolves, a GitHub change was merged and deployed, and a
postmortem names both: one GraphQL query walks from the incident to its postmortem and its suspect.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from graph import repository
from graph.settings import Settings
from graph.trace import MAX_SCORE, NAMED
from graph.vocabulary import Label, Rel
from ingest import examples as ex
from ingest.runner import ingest_paths
from tests.conftest import api, load, run_graph

FIXTURES = Path(__file__).parent / "fixtures"
REPO = "acme/shop"
HEAD = ex.sha("incident-scenario-head")
MERGE = ex.sha("incident-scenario-merge")
INCIDENT = "pagerduty:Q1ABCD2EFGHIJK"
POSTMORTEM = f"""---
title: Refunds double-charged
date: 2026-01-06
---
# Refunds double-charged

## Summary
Refunds were charged twice for 35 minutes ({INCIDENT}).

## Root cause
The retry wrapper from {REPO}#42 re-sent refunds whose idempotency key had expired.

## Action items
- Fixed by {REPO}#43: expire keys after the last retry, not the first
"""
INCIDENT_QUERY = """
query($id: ID!) {
  incident(id: $id) {
    id title status severity service triggeredAt resolvedAt
    postmortems { title digest }
    suspects { change { number } reason score }
  }
}
"""
CHANGE_QUERY = '{ change(repo: "acme/shop", number: 42) { incidents { id status } } }'


def pagerduty(name: str) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "pagerduty" / name).read_text())
    # No type: the source reads it from event.event_type.
    return {"source": "pagerduty", "id": payload["event"]["id"], "payload": payload}


def envelopes() -> list[dict[str, Any]]:
    return [
        ex.pull_request(
            REPO, 42, action="opened", author="carol", head=HEAD, title="Retry refunds", at="2026-01-05T10:00:00Z"
        ),
        ex.pull_request(
            REPO,
            42,
            action="closed",
            merged=True,
            merge_sha=MERGE,
            author="carol",
            head=HEAD,
            at="2026-01-05T15:00:00Z",
        ),
        ex.deployment(REPO, deployment_id=9001, sha_=MERGE, service="shop-api", at="2026-01-06T09:00:00Z"),
        ex.deployment_status(
            REPO,
            deployment_id=9001,
            sha_=MERGE,
            state="success",
            status_id=1,
            service="shop-api",
            at="2026-01-06T09:05:00Z",
        ),
        pagerduty("v3.incident.triggered.json"),
        pagerduty("v3.incident.resolved.json"),
        {"source": "postmortem", "id": "pm-refunds", "payload": POSTMORTEM},
    ]


def graphql(client: TestClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def answers(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    return graphql(client, INCIDENT_QUERY, {"id": INCIDENT}), graphql(client, CHANGE_QUERY)


def delivery_counts(settings: Settings) -> dict[str, int]:
    """Node and edge counts of the delivery trail (API tokens and audit entries come and go per query)."""
    found = run_graph(settings, repository.counts)
    return {k: v for k, v in found.items() if k in {*Label, *Rel}}


def test_incident_walks_to_its_postmortem_and_the_change_it_blames(settings: Settings) -> None:
    summary = load(settings, envelopes())
    assert summary.rejected == [] and summary.accepted == 7

    with api(settings) as client:
        incident = answers(client)[0]["incident"]
    assert incident["id"] == INCIDENT
    assert incident["title"] == "Refund API 5xx above 5% (api_key=[REDACTED:secret-assignment])"
    assert (incident["status"], incident["severity"], incident["service"]) == ("resolved", "P1", "shop-api")
    assert incident["triggeredAt"].startswith("2026-01-06T09:30:00")
    assert incident["resolvedAt"].startswith("2026-01-06T10:05:00")
    digest = "sha256:" + hashlib.sha256(POSTMORTEM.encode()).hexdigest()
    assert incident["postmortems"] == [{"title": "Refunds double-charged", "digest": digest}]
    # #43 is named as the fix, so only #42 is a suspect; the postmortem's explicit link ranks it above
    # anything inferred from deployments alone.
    [suspect] = incident["suspects"]
    assert suspect["change"] == {"number": 42}
    assert suspect["score"] >= NAMED / MAX_SCORE
    assert "explicit link from postmortem" in suspect["reason"], suspect["reason"]


def test_the_change_lists_the_incident_it_caused(settings: Settings) -> None:
    load(settings, envelopes())
    with api(settings) as client:
        change = answers(client)[1]["change"]
    assert change["incidents"] == [{"id": INCIDENT, "status": "resolved"}]


def test_any_order_and_replays_give_the_same_answers(settings: Settings) -> None:
    load(settings, envelopes())
    with api(settings) as client:
        expected, expected_counts = answers(client), delivery_counts(settings)
        for seed in (1, 2):
            shuffled = envelopes()
            random.Random(seed).shuffle(shuffled)
            load(settings, shuffled)
            assert answers(client) == expected
            assert delivery_counts(settings) == expected_counts


def test_postmortem_arriving_before_the_incident_still_meets_it(settings: Settings) -> None:
    events = envelopes()
    load(settings, [events[-1]])  # the postmortem alone: the incident is only a stub
    with api(settings) as client:
        stub = graphql(client, INCIDENT_QUERY, {"id": INCIDENT})["incident"]
        assert stub["status"] is None and stub["postmortems"][0]["title"] == "Refunds double-charged"
        load(settings, events[:-1])
        incident = answers(client)[0]["incident"]
    assert incident["status"] == "resolved" and len(incident["postmortems"]) == 1


def test_a_folder_of_markdown_postmortems_is_ingested_with_source_postmortem(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "docs" / "postmortems"
    (folder / "2026").mkdir(parents=True)
    (folder / "2026" / "refunds.md").write_text(POSTMORTEM)
    (folder / "notes.markdown").write_text("just a line of notes\n")
    load(settings, envelopes()[:-1])
    summary = run_graph(
        settings,
        lambda graph: ingest_paths(
            graph, [folder], source="postmortem", type=None, quarantine_dir=settings.quarantine_dir
        ),
    )
    assert (summary.read, summary.accepted) == (2, 1)
    assert "does not look like a postmortem" in summary.rejected[0].reason
    with api(settings) as client:
        incident = answers(client)[0]["incident"]
    assert [p["title"] for p in incident["postmortems"]] == ["Refunds double-charged"]
    assert [s["change"]["number"] for s in incident["suspects"]] == [42]
