"""Issue 3 end to end: a change whose agent session comes from Agent Trace, whose incident comes from
PagerDuty and whose postmortem names it, answered by one GraphQL query from change to postmortem."""

from __future__ import annotations

import random

from graph.settings import Settings
from tests.conftest import api, load
from tests.test_agent_trace_scenario import agent_trace, agent_trace_record
from tests.test_incident_scenarios import HEAD, INCIDENT, envelopes

QUERY = """{ change(repo: "acme/shop", number: 42) {
  sessions { id tool model }
  incidents { id title status postmortems { title rootCause digest } }
  deployments { id environment }
} }"""


def test_one_query_walks_from_change_to_session_incident_and_postmortem(settings: Settings) -> None:
    events = [*envelopes(), agent_trace(agent_trace_record("trace-e2e", revision=HEAD))]
    random.Random(7).shuffle(events)  # the sources arrive in any order
    load(settings, events)
    with api(settings) as client:
        body = client.post("/graphql", json={"query": QUERY}).json()
    assert "errors" not in body, body
    change = body["data"]["change"]
    assert [(s["id"], s["tool"]) for s in change["sessions"]] == [("trace-e2e", "claude-code")]
    [incident] = change["incidents"]
    assert incident["id"] == INCIDENT and incident["status"] == "resolved"
    [postmortem] = incident["postmortems"]
    assert postmortem["title"] == "Refunds double-charged"
    assert "retry wrapper" in postmortem["rootCause"] and postmortem["digest"].startswith("sha256:")
    assert change["deployments"][0]["environment"] == "production"
