"""Top-level GraphQL queries serve their nested fields from the one read they made, and agree with the
same fields reached through a change (where each node is read on its own), against a real Neo4j."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from graph import repository
from graph.settings import Settings
from ingest.demo import envelopes as demo_envelopes
from tests import test_incident_scenarios as incidents
from tests.conftest import api, load

READS = ("commit", "session", "deployment", "incident")
HEAD = "18cc93021080ec9aca489d07372e2ad591b97fee"  # acme/shop#42's final head in the demo org
SESSION = "sess-claude-7f3a"
DEPLOYMENT = "github:deployment:9001"


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each top-level repository read runs while the test queries the API."""
    calls: Counter[str] = Counter()

    def counting(name: str, read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return await read(*args, **kwargs)

        return counted

    for name in READS:
        monkeypatch.setattr(repository, name, counting(name, getattr(repository, name)))
    return calls


def query(settings: Settings, text: str) -> dict[str, Any]:
    with api(settings) as client:
        response = client.post("/graphql", json={"query": text})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def test_commit_session_and_deployment_answer_nested_fields_from_their_one_read(
    settings: Settings, reads: Counter[str]
) -> None:
    assert not load(settings, demo_envelopes()).rejected
    through_change = query(
        settings,
        '{ change(repo: "acme/shop", number: 42) { commits { sha sessions { id } changes { number } }'
        " sessions { id commits { sha } } deployments { id changes { number } incidents { id } } } }",
    )["change"]
    reads.clear()

    commit = query(settings, f'{{ commit(sha: "{HEAD}") {{ sha sessions {{ id }} changes {{ number }} }} }}')
    assert commit["commit"] == next(k for k in through_change["commits"] if k["sha"] == HEAD)
    # The commit once; its one session once, as sessions { id } asks for it.
    assert reads == Counter(commit=1, session=1)

    reads.clear()
    session = query(settings, f'{{ session(id: "{SESSION}") {{ id commits {{ sha }} }} }}')
    assert session["session"] == next(s for s in through_change["sessions"] if s["id"] == SESSION)
    assert session["session"]["commits"] and reads == Counter(session=1)

    reads.clear()
    deployment = query(
        settings, f'{{ deployment(id: "{DEPLOYMENT}") {{ id changes {{ number }} incidents {{ id }} }} }}'
    )
    assert deployment["deployment"] == next(d for d in through_change["deployments"] if d["id"] == DEPLOYMENT)
    assert deployment["deployment"]["changes"] == [{"number": 42}] and reads == Counter(deployment=1)


def test_incident_answers_its_postmortems_from_its_one_read(settings: Settings, reads: Counter[str]) -> None:
    assert not load(settings, incidents.envelopes()).rejected
    through_change = query(
        settings, '{ change(repo: "acme/shop", number: 42) { incidents { id postmortems { title } } } }'
    )
    reads.clear()
    found = query(settings, f'{{ incident(id: "{incidents.INCIDENT}") {{ id postmortems {{ title }} }} }}')
    assert found["incident"] == {"id": incidents.INCIDENT, "postmortems": [{"title": "Refunds double-charged"}]}
    assert found["incident"] in through_change["change"]["incidents"]
    assert reads == Counter(incident=1)
