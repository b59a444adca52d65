"""Holes a security review found in the API, each closed: unbounded metrics windows and exports, a GraphQL
cost limit, heavy work off the event loop, what answers without a token, and what clients see of errors."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.routing import APIRoute

from cli.main import main
from export import scope as export_scope
from graph import repository
from graph.metrics import reads as metrics_reads
from graph.metrics.rules import MetricsError, window_of
from graph.settings import Settings
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import api, load, token


def _graphql(client: Any, query: str) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _errors(body: dict[str, Any]) -> str:
    return " | ".join(e["message"] for e in body.get("errors") or [])


def _env(settings: Settings) -> dict[str, str]:
    return {
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
    }


# --- metrics windows, the cost limit, heavy work off the loop ------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("0001-01-01T00:00:00Z", "9999-12-01T00:00:00Z", "must fall between 1970-01-01 and 9999-01-01"),
        ("9999-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "must fall between 1970-01-01 and 9999-01-01"),
        ("2020-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "metrics cover at most 731 days"),
    ],
)
def test_a_metrics_window_is_bounded_with_a_clear_error(settings: Settings, start: str, end: str, says: str) -> None:
    with api(settings) as client:
        body = _graphql(client, f'{{ metrics(from: "{start}", to: "{end}") {{ deployments weekly {{ week }} }} }}')
    assert body["data"] is None and says in _errors(body), body
    assert "out of range" not in _errors(body)
    printed = CliRunner().invoke(main, ["metrics", "--from", start[:10], "--to", end[:10]], env=_env(settings))
    assert printed.exit_code == 2 and says in printed.output


def test_two_years_are_the_longest_window() -> None:
    two_years = window_of(datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert (two_years[1] - two_years[0]).days == 730
    with pytest.raises(MetricsError, match="the window is 732 days; metrics cover at most 731 days"):
        window_of(datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 1, 3, tzinfo=UTC))


ALIAS = "changes(first: 500) { commits { changes { id title } } }"
NESTED = "{ " + " ".join(f"a{i}: {ALIAS}" for i in range(20)) + " }"
WIDE_PAGE = (
    "{ changes(first: 500) { id title url state riskArea headSha verdict { status gaps } "
    "approvals { reviewer { login } stale independent } evidence { kind name conclusion } "
    "sessions { tool model operator { login } } commits { sha message } deployments { environment status } "
    "incidents { id } } }"
)


def test_graphql_refuses_operations_over_the_cost_limit_before_running_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(settings, demo_envelopes())
    ran: list[str] = []
    change_ids = repository.change_ids

    async def counted(*args: Any, **kwargs: Any) -> Any:
        ran.append("change_ids")
        return await change_ids(*args, **kwargs)

    monkeypatch.setattr(repository, "change_ids", counted)
    metrics = " ".join(
        f'm{i}: metrics(from: "2026-01-01T00:00:00Z", to: "2026-04-01T00:00:00Z") {{ deployments }}' for i in range(20)
    )
    with api(settings) as client:
        for query in (NESTED, f"{{ {metrics} }}", "{ changes(first: 500) { commits { changes { id } } } }"):
            body = _graphql(client, query)
            assert body.get("data") is None
            assert re.search(r"query cost [\d,]+ is over the limit of 50,000", _errors(body)), body
        assert ran == [], "a refused operation must not read the graph"
        # A whole page of 500 changes with every field they carry is within the limit.
        wide = _graphql(client, WIDE_PAGE)
        assert "errors" not in wide and len(wide["data"]["changes"]) >= 2


def test_healthz_answers_while_a_heavy_metrics_query_computes(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metrics computation is stood in for by one that holds until /healthz has answered: on the event
    loop it would hold /healthz too, until its own timeout gave up (and `released` stayed False)."""
    load(settings, demo_envelopes())
    entered, release = threading.Event(), threading.Event()
    released: list[bool] = []
    compute = metrics_reads.compute

    def heavy(**kwargs: Any) -> Any:
        entered.set()
        released.append(release.wait(timeout=10))
        return compute(**kwargs)

    monkeypatch.setattr(metrics_reads, "compute", heavy)
    answers: dict[str, Any] = {}
    with api(settings) as client:
        query = '{ metrics(from: "2026-01-01T00:00:00Z", to: "2026-04-01T00:00:00Z") { deployments } }'
        asking = threading.Thread(target=lambda: answers.update(metrics=_graphql(client, query)))
        asking.start()
        assert entered.wait(timeout=30)
        health = client.get("/healthz")
        release.set()
        asking.join(timeout=30)
    assert health.status_code == 200
    assert released == [True], "/healthz waited for the metrics computation to finish"
    assert "errors" not in answers["metrics"] and answers["metrics"]["data"]["metrics"]["deployments"] >= 1


def test_a_period_export_over_the_bound_is_refused_naming_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    load(settings, demo_envelopes())
    monkeypatch.setattr(export_scope, "MAX_EXPORT_CHANGES", 1)
    with api(settings) as client:
        refused = client.get("/export", params={"from": "2000-01-01", "to": "2100-01-01", "format": "csv"})
    assert refused.status_code == 400 and "at most 1:" in refused.json()["detail"], refused.text
    printed = CliRunner().invoke(
        main, ["export", "--from", "2000-01-01", "--to", "2100-01-01", "--out", str(tmp_path / "b")], env=_env(settings)
    )
    assert printed.exit_code == 2 and "one export holds at most 1" in printed.output
    assert not (tmp_path / "b").exists()


# --- what answers without a token ---------------------------------------------------------------

OPEN = {"/healthz", "/graphql"}  # /graphql: only the GraphiQL page itself; every operation needs a reader


def test_only_healthz_and_the_graphiql_page_answer_without_a_token(settings: Settings) -> None:
    with api(settings, role=None) as client:
        for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            assert client.get(page).status_code == 404, page
        assert client.get("/openapi.json").status_code == 401
        reader = {"Authorization": f"Bearer {token(settings)}"}
        schema = client.get("/openapi.json", headers=reader)
        assert schema.status_code == 200 and "/export" in json.dumps(schema.json()["paths"])
        for route in client.app.routes:  # type: ignore[attr-defined]
            if not isinstance(route, APIRoute) or route.path in OPEN or route.path.startswith("/webhooks"):
                continue
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            for method in route.methods - {"HEAD"}:
                answer = client.request(method, path, params={"from": "2026-01-01", "to": "2026-02-01"})
                assert answer.status_code == 401, (method, route.path, answer.status_code)


def test_healthz_does_not_say_where_neo4j_is(settings: Settings) -> None:
    with api(settings, role=None) as client:
        health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "neo4j": "ok", "process": os.getpid()}
    assert settings.neo4j_uri and settings.neo4j_uri not in health.text and "bolt" not in health.text


# --- what clients see of errors --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["body", "variables", "query string"])
def test_deeply_nested_json_is_a_400_not_a_500(settings: Settings, where: str) -> None:
    nested = "[" * 20_000 + "]" * 20_000  # within the 64 KB body limit, far beyond what json.loads recurses
    with api(settings) as client:
        if where == "query string":
            shallower = nested[18_000:-18_000]  # 2,000 levels: still too deep, and a URL httpx sends
            variables = '{"a": ' + shallower + "}"
            answer = client.get("/graphql", params={"query": "{ changes { id } }", "variables": variables})
        else:
            body = nested if where == "body" else '{"query": "{ changes { id } }", "variables": {"a": ' + nested + "}}"
            answer = client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "nested too deeply" in answer.text


def test_internal_errors_reach_the_log_not_the_client(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("date value out of range in build_change at graph/verdict.py:120")

    monkeypatch.setattr(repository, "change", broken)
    with caplog.at_level(logging.ERROR), api(settings) as client:
        body = _graphql(client, '{ change(repo: "acme/shop", number: 42) { id } }')
        page = _graphql(client, "{ changes(first: 100000) { id } }")
    message = _errors(body)
    assert "out of range" not in json.dumps(body) and "verdict.py" not in json.dumps(body)
    ref = re.fullmatch(r"internal error \(ref ([0-9a-f]{8})\): the server log has the details", message)
    assert ref, message
    logged = [r for r in caplog.records if ref[1] in r.getMessage()]
    assert logged and logged[0].exc_info and "date value out of range" in str(logged[0].exc_info[1])
    # Errors the client caused still say what to fix.
    assert "first must be between 1 and 500" in _errors(page)
