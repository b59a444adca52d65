"""Delivery metrics: a hand-built scenario where every number is worked out by hand, checked through
graph.metrics, GraphQL and the CLI, against a real Neo4j; and the pure rules, table-driven.

The scenario (service `shop`, window [2026-01-19, 2026-02-09) = 21 days = ISO weeks W04, W05, W06):

    main:  m0 ── M1 ── S2 ── M3 ── M4 ── M5 ── M6          (PARENT edges, as git ingest writes them)
           #10   │#1   │#2   │#3   │#4   │#5   │#6         (merge commit of each change)
                 h1    (squash: h2 is not on main)

    D0  01-12 12:00  m0  success                 before the window: D1's predecessor
    D1  01-21 12:00  S2  success (then inactive)  ships #1 and #2; incidents INC-1 (updated twice), INC-4
    D2  01-22 11:00  M3  success                 ships #3; rolled back by D3 (S2 is an ancestor of M3)
    D3  01-23 09:00  S2  success                 ships nothing new
    D4  01-28 12:00  M4  success ("Production")  ships #3 again and #4 (D3 had un-shipped #3)
    D5  02-03 09:00  M5  failure
    D6  02-03 10:00  M5  success                 ships #5; INC-2 is CAUSED_BY change #5
    D7  02-10 09:00  M5  success                 after the window: same commit as D6, not a rollback
    D8  02-07 09:00  M5  no status               not final: ignored
    staging 02-06, and service `search` (D-S1, change search#1, INC-9, session sess-s): not `shop`'s
"""

from __future__ import annotations

import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import strawberry
from click.testing import CliRunner
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from strawberry.fastapi import GraphQLRouter
from strawberry.tools import merge_types

from api.metrics import MetricsQuery
from api.schema import Context, Query
from cli.metrics import metrics as metrics_command
from graph import metrics as m
from graph.batch import Batch, Origin
from graph.driver import connected
from graph.metrics import rules
from graph.metrics.models import Deploy
from graph.policy import load_policy
from graph.queries import schema as ddl
from graph.queries.core import AWAIT_INDEXES
from graph.settings import Settings
from graph.vocabulary import Label, Rel
from graph.writer import write_batch
from ingest import examples as ex
from tests.conftest import load, run_graph

REPO, SERVICE = "acme/shop", "shop"
START, END = datetime(2026, 1, 19, tzinfo=UTC), datetime(2026, 2, 9, tzinfo=UTC)
GIT = Origin("git", "git-log-acme-shop", "2026-02-10T00:00:00Z")
PD = "pagerduty"


def sha(name: str) -> str:
    return ex.sha(f"metrics-{name}")


def change(number: int, repo: str = REPO) -> str:
    return f"github:{repo}#{number}"


def dep(number: int) -> str:
    return f"github:deployment:{number}"


# --- the scenario -----------------------------------------------------------------------------

PARENTS = {
    "c1a": ["m0"],
    "h1": ["c1a"],
    "M1": ["m0", "h1"],
    "c2a": ["M1"],
    "h2": ["c2a"],
    "S2": ["M1"],  # squash merge: one parent, the branch commits are not on main
    "h3": ["S2"],
    "M3": ["S2", "h3"],
    "h4": ["M3"],
    "M4": ["M3", "h4"],
    "h5": ["M4"],
    "M5": ["M4", "h5"],
    "h6": ["M5"],
    "M6": ["M5", "h6"],
}


def git_history() -> Batch:
    batch = Batch()
    for child, parents in PARENTS.items():
        for parent in parents:
            batch.edge(
                (Label.COMMIT, sha(child)),
                Rel.PARENT,
                (Label.COMMIT, sha(parent)),
                version="2026-02-10T00:00:00Z#00#git",
                origin=GIT,
            )
    return batch


def branch(number: int, author: str, commits: list[tuple[str, str, list[str]]], message: str = "Work") -> Any:
    """A push of a change's branch: (name, authoredAt, files) per commit."""
    return ex.push(
        REPO,
        commits=[
            ex.commit(sha(name), message=message, author=author, at=at, files=files) for name, at, files in commits
        ],
        before=sha("m0"),
        ref=f"refs/heads/feature-{number}",
        pusher=author,
    )


def merged(number: int, author: str, head: str, merge: str, at: str, additions: int, deletions: int) -> Any:
    return ex.pull_request(
        REPO,
        number,
        action="closed",
        merged=True,
        author=author,
        head=sha(head),
        merge_sha=sha(merge),
        at=at,
        created_at="2026-01-01T00:00:00Z",
        additions=additions,
        deletions=deletions,
    )


def session(
    session_id: str,
    operator: str,
    started: str,
    cost: float,
    subject: tuple[str, int] | None,
) -> dict[str, Any]:
    payload = {
        "tool": "claude-code",
        "model": "claude-sonnet",
        "session_id": session_id,
        "prompt_summary": f"work for {session_id}",
        "operator": operator,
        "started_at": started,
        "cost_usd": cost,
    }
    envelope: dict[str, Any] = {
        "source": "provenance",
        "type": "session",
        "id": f"prov-{session_id}",
        "payload": payload,
    }
    if subject:
        envelope["subject"] = {"repo": subject[0], "number": subject[1]}
    return envelope


def deployment(
    number: int,
    commit: str,
    start: str,
    states: list[tuple[str, str]],
    *,
    environment: str = "production",
    service: str = SERVICE,
    repo: str = REPO,
) -> list[dict[str, Any]]:
    """A deployment and its statuses (state, at); each status carries the deployment's real start."""
    envelopes = [
        ex.deployment(repo, deployment_id=number, sha_=sha(commit), environment=environment, service=service, at=start)
    ]
    for i, (state, at) in enumerate(states):
        status = ex.deployment_status(
            repo,
            deployment_id=number,
            sha_=sha(commit),
            state=state,
            status_id=number * 10 + i,
            environment=environment,
            service=service,
            at=at,
        )
        status["payload"]["deployment"]["created_at"] = start
        envelopes.append(status)
    return envelopes


def envelopes() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        # #10: merged before the window, shipped by D0.
        merged(10, "bob", "h0", "m0", "2026-01-12T10:00:00Z", 1, 1),
        # #1: human, merge commit; first commit 01-19 09:00; erin approves the final head; tests pass on it.
        branch(
            1,
            "bob",
            [
                ("c1a", "2026-01-19T09:00:00Z", ["src/api.py"]),
                ("h1", "2026-01-19T11:00:00Z", ["src/api.py", "tests/test_api.py"]),
            ],
        ),
        merged(1, "bob", "h1", "M1", "2026-01-20T10:00:00Z", 50, 5),
        ex.review(
            REPO,
            1,
            reviewer="erin",
            state="approved",
            commit=sha("h1"),
            review_id=9001,
            at="2026-01-20T09:00:00Z",
            pr_author="bob",
        ),
        ex.check_run(REPO, name="pytest", head=sha("h1"), conclusion="success", run_id=1),
        # #2: AI (sess-a PROPOSED it), squash-merged as S2; dave approved an older commit; tests passed only there.
        branch(
            2,
            "carol",
            [("c2a", "2026-01-20T08:00:00Z", ["src/cart.py"]), ("h2", "2026-01-20T12:00:00Z", ["src/cart.py"])],
        ),
        merged(2, "carol", "h2", "S2", "2026-01-21T09:00:00Z", 30, 10),
        ex.review(
            REPO,
            2,
            reviewer="dave",
            state="approved",
            commit=sha("c2a"),
            review_id=9002,
            at="2026-01-20T09:00:00Z",
            pr_author="carol",
            head=sha("h2"),
        ),
        ex.check_run(REPO, name="pytest", head=sha("c2a"), conclusion="success", run_id=2),
        session("sess-a", "carol", "2026-01-20T07:00:00Z", 4.0, (REPO, 2)),
        # #3: human; its test file is a *_test.py next to the code.
        branch(3, "bob", [("h3", "2026-01-22T09:00:00Z", ["src/api.py", "src/api_test.py"])]),
        merged(3, "bob", "h3", "M3", "2026-01-22T10:00:00Z", 8, 2),
        ex.review(
            REPO,
            3,
            reviewer="erin",
            state="approved",
            commit=sha("h3"),
            review_id=9003,
            at="2026-01-22T09:30:00Z",
            pr_author="bob",
        ),
        ex.check_run(REPO, name="pytest", head=sha("h3"), conclusion="success", run_id=3),
        # #4: AI through its commit (AI-Session trailer, session sess-b has no subject); dave operated
        # sess-b, so his approval is not independent; tests passed on the merge commit.
        branch(
            4,
            "alice",
            [("h4", "2026-01-27T10:00:00Z", ["src/search.py"])],
            message="Rank search results\n\nAI-Session: sess-b",
        ),
        merged(4, "alice", "h4", "M4", "2026-01-28T08:00:00Z", 100, 20),
        ex.review(
            REPO,
            4,
            reviewer="dave",
            state="approved",
            commit=sha("h4"),
            review_id=9004,
            at="2026-01-27T12:00:00Z",
            pr_author="alice",
        ),
        ex.check_run(REPO, name="pytest", head=sha("M4"), conclusion="success", run_id=4),
        session("sess-b", "dave", "2026-01-27T09:00:00Z", 6.0, None),
        # #5: human, with a test; an incident is caused by it.
        branch(5, "bob", [("h5", "2026-02-02T09:00:00Z", ["src/cart.py", "tests/test_cart.py"])]),
        merged(5, "bob", "h5", "M5", "2026-02-02T15:00:00Z", 12, 3),
        ex.review(
            REPO,
            5,
            reviewer="frank",
            state="approved",
            commit=sha("h5"),
            review_id=9005,
            at="2026-02-02T12:00:00Z",
            pr_author="bob",
        ),
        ex.check_run(REPO, name="pytest", head=sha("h5"), conclusion="success", run_id=5),
        # #6: AI (two sessions), merged in the window, not deployed in it; no files known, no review, no checks.
        merged(6, "carol", "h6", "M6", "2026-02-06T12:00:00Z", 5, 1),
        session("sess-c", "carol", "2026-02-05T10:00:00Z", 2.5, (REPO, 6)),
        session("sess-d", "carol", "2026-02-06T10:00:00Z", 1.5, (REPO, 6)),
        # Sessions outside the window or of another service.
        session("sess-old", "carol", "2026-01-10T10:00:00Z", 100.0, (REPO, 10)),
        session("sess-s", "erin", "2026-01-25T08:00:00Z", 50.0, ("acme/search", 1)),
        # Another service, merged and deployed in the window.
        ex.pull_request(
            "acme/search",
            1,
            action="closed",
            merged=True,
            author="erin",
            head=sha("sh1"),
            merge_sha=sha("sX"),
            at="2026-01-25T10:00:00Z",
        ),
    ]
    events += deployment(100, "m0", "2026-01-12T12:00:00Z", [("success", "2026-01-12T12:10:00Z")])
    events += deployment(
        101, "S2", "2026-01-21T12:00:00Z", [("success", "2026-01-21T12:10:00Z"), ("inactive", "2026-01-22T11:05:00Z")]
    )
    events += deployment(102, "M3", "2026-01-22T11:00:00Z", [("success", "2026-01-22T11:05:00Z")])
    events += deployment(103, "S2", "2026-01-23T09:00:00Z", [("success", "2026-01-23T09:10:00Z")])
    events += deployment(
        104, "M4", "2026-01-28T12:00:00Z", [("success", "2026-01-28T12:10:00Z")], environment="Production"
    )
    events += deployment(105, "M5", "2026-02-03T09:00:00Z", [("failure", "2026-02-03T09:05:00Z")])
    events += deployment(106, "M5", "2026-02-03T10:00:00Z", [("success", "2026-02-03T10:20:00Z")])
    events += deployment(107, "M5", "2026-02-10T09:00:00Z", [("success", "2026-02-10T09:10:00Z")])
    events += deployment(108, "M5", "2026-02-07T09:00:00Z", [])
    events += deployment(
        109, "M6", "2026-02-06T16:00:00Z", [("success", "2026-02-06T16:10:00Z")], environment="staging"
    )
    events += deployment(
        201, "sX", "2026-01-26T10:00:00Z", [("success", "2026-01-26T10:10:00Z")], service="search", repo="acme/search"
    )
    return events


def incident(
    number: int,
    at: str,
    *,
    triggered: str,
    resolved: str | None = None,
    service: str | None = SERVICE,
    caused_by: tuple[Label, str] | None = None,
) -> Batch:
    """One PagerDuty-like incident update (the PagerDuty source is not written yet)."""
    origin = Origin(PD, f"pd-INC-{number}-{at}", at)
    key = (Label.INCIDENT, f"pagerduty:INC-{number}")
    version = f"{at}#00#pd-INC-{number}-{at}"
    batch = Batch()
    batch.node(
        *key,
        version=version,
        origin=origin,
        title=f"INC-{number}",
        status="resolved" if resolved else "triggered",
        service=service,
        triggeredAt=triggered,
        resolvedAt=resolved,
    )
    batch.edge(key, Rel.AFFECTS, (Label.SERVICE, service or SERVICE), version=version, origin=origin)
    if caused_by:
        batch.edge(key, Rel.CAUSED_BY, caused_by, version=version, origin=origin)
    return batch


def incidents() -> list[Batch]:
    return [
        # INC-1 on D1, triggered, then updated with its resolution: one incident, counted once.
        incident(1, "2026-01-21T13:00:00Z", triggered="2026-01-21T13:00:00Z", caused_by=(Label.DEPLOYMENT, dep(101))),
        incident(
            1,
            "2026-01-21T16:00:00Z",
            triggered="2026-01-21T13:00:00Z",
            resolved="2026-01-21T16:00:00Z",
            caused_by=(Label.DEPLOYMENT, dep(101)),
        ),
        # INC-4: a second incident on D1; D1 still fails once.
        incident(
            4,
            "2026-01-21T15:00:00Z",
            triggered="2026-01-21T14:00:00Z",
            resolved="2026-01-21T15:00:00Z",
            caused_by=(Label.DEPLOYMENT, dep(101)),
        ),
        # INC-2 names change #5, not a deployment.
        incident(
            2,
            "2026-02-04T09:30:00Z",
            triggered="2026-02-04T08:00:00Z",
            resolved="2026-02-04T09:30:00Z",
            caused_by=(Label.CHANGE, change(5)),
        ),
        # INC-3 affects shop only through the AFFECTS edge, and is not resolved.
        incident(3, "2026-02-07T10:00:00Z", triggered="2026-02-07T10:00:00Z", service=None),
        # INC-9: the search service's.
        incident(
            9,
            "2026-01-26T13:00:00Z",
            triggered="2026-01-26T12:00:00Z",
            resolved="2026-01-26T13:00:00Z",
            service="search",
            caused_by=(Label.DEPLOYMENT, dep(201)),
        ),
    ]


@pytest.fixture
def scenario(settings: Settings) -> Settings:
    summary = load(settings, envelopes())
    assert not summary.rejected, summary.rejected

    async def write(graph: Any) -> None:
        await write_batch(graph, git_history())
        for batch in incidents():
            await write_batch(graph, batch)

    run_graph(settings, write)
    return settings


# --- every number, by hand --------------------------------------------------------------------

H = 1.0  # an hour
# Lead time = first commit authoredAt → the shipping deployment finishing:
LEAD = {
    1: 2 * 24 + 3 + 10 / 60,  # c1a 01-19 09:00 → D1 finished 01-21 12:10: 51 h 10 min
    2: 24 + 4 + 10 / 60,  # c2a 01-20 08:00 → D1 finished 01-21 12:10: 28 h 10 min
    3: 2 + 5 / 60,  # h3 01-22 09:00 → D2 finished 01-22 11:05 (D2 shipped it first, D4 again)
    4: 24 + 2 + 10 / 60,  # h4 01-27 10:00 → D4 finished 01-28 12:10: 26 h 10 min
    5: 24 + 1 + 20 / 60,  # h5 02-02 09:00 → D6 finished 02-03 10:20: 25 h 20 min
}
EXPECTED: dict[str, Any] = {
    "service": "shop",
    "days": 21.0,
    # D1, D2, D3, D4 ("Production"), D6 succeeded (D1's latest status is "inactive": it succeeded,
    # then was replaced); D5 failed; D8 has no status; D0/D7 are outside; staging and search are not shop.
    "deployments": 5,
    "deploymentsPerWeek": 5 / 21 * 7,  # 1.667
    "deploymentsPerDay": 5 / 21,  # 0.238
    # sorted: 2.08, 25.33, 26.17, 28.17, 51.17 → median the 3rd = 26.17; p90 rank ⌈0.9·5⌉ = 5 → 51.17
    "leadTime": {"count": 5, "medianHours": LEAD[4], "p90Hours": LEAD[1]},
    # denominator D1..D6 (final status) = 6; failed: D1 (INC-1, INC-4: once), D2 (rolled back by D3),
    # D5 (status failure), D6 (INC-2 is caused by #5, which D6 shipped) → 4 / 6
    "changeFailureRate": {"numerator": 4, "denominator": 6, "value": 4 / 6},
    # INC-1 3 h, INC-4 1 h, INC-2 1.5 h (INC-3 unresolved, INC-9 is search's) → sorted 1, 1.5, 3:
    # median 1.5, p90 rank ⌈2.7⌉ = 3 → 3
    "timeToRestore": {"count": 3, "medianHours": 1.5 * H, "p90Hours": 3 * H},
    "unresolvedIncidents": 1,
    # merged in the window: #1..#6 (#10 merged 01-12; search#1 is search's)
    "mergedChanges": 6,
    # shipped in the window: #1, #2 (D1), #3 (D2), #4 (D4), #5 (D6)
    "shippedChanges": 5,
    # AI: #2 (PROPOSED), #4 (AUTHORED its commit), #6 (PROPOSED twice) → 3 / 6
    "aiAssistedShare": {"numerator": 3, "denominator": 6, "value": 0.5},
    # shipped AI changes #2 (D1 failed) and #4 (D4 did not) → 1 / 2
    "changeFailureRateAi": {"numerator": 1, "denominator": 2, "value": 0.5},
    # shipped human changes #1 (D1), #3 (D2), #5 (D6, and INC-2) → 3 / 3
    "changeFailureRateHuman": {"numerator": 3, "denominator": 3, "value": 1.0},
    # AI diffs: #2 30+10 = 40, #4 100+20 = 120, #6 5+1 = 6 → median 40
    "medianAgentDiffSize": 40.0,
    # behaviour changes (a known non-test file): #1..#5 (#6's files are unknown);
    # with a test file: #1 tests/test_api.py, #3 src/api_test.py, #5 tests/test_cart.py → 3 / 5
    "testDeltaShare": {"numerator": 3, "denominator": 5, "value": 0.6},
    # counted approvals: #1 erin, #3 erin, #5 frank; #2 dave's is stale, #4 dave operated sess-b, #6 none → 3 / 6
    "independentApprovalShare": {"numerator": 3, "denominator": 6, "value": 0.5},
    # `tests` on the shipped commit: #1 h1, #3 h3, #4 M4, #5 h5; #2 only on c2a (older), #6 none → 4 / 6
    "evidenceCoverage": {"numerator": 4, "denominator": 6, "value": 4 / 6},
    # in the window: carol 4.00 (Jan), dave 6.00 (Jan), carol 2.50 + 1.50 (Feb); sess-old before, sess-s search's
    "aiSpendUsd": 14.0,
    # 14.00 over three (engineer, month) pairs
    "aiSpendPerEngineerMonthUsd": 14 / 3,
    "aiSpendMonths": [
        {"month": "2026-01", "costUsd": 10.0, "engineers": 2, "perEngineerUsd": 5.0},
        {"month": "2026-02", "costUsd": 4.0, "engineers": 1, "perEngineerUsd": 4.0},
    ],
    "aiSpendByEngineer": [
        {"operator": "carol", "month": "2026-01", "costUsd": 4.0, "sessions": 1},
        {"operator": "dave", "month": "2026-01", "costUsd": 6.0, "sessions": 1},
        {"operator": "carol", "month": "2026-02", "costUsd": 4.0, "sessions": 2},
    ],
    "weekly": [
        # W04: D1, D2, D3; failed D1, D2; merged #1, #2 (AI), #3 → 1/3; leads #1, #2, #3 → median 28.17
        {
            "week": "2026-W04",
            "start": "2026-01-19",
            "deployments": 3,
            "failures": 2,
            "aiAssistedShare": 1 / 3,
            "medianLeadTimeHours": LEAD[2],
        },
        # W05: D4; merged #4 (AI) → 1; lead #4
        {
            "week": "2026-W05",
            "start": "2026-01-26",
            "deployments": 1,
            "failures": 0,
            "aiAssistedShare": 1.0,
            "medianLeadTimeHours": LEAD[4],
        },
        # W06: D6 (D5 failed to deploy); failed D5, D6; merged #5, #6 (AI) → 1/2; lead #5
        {
            "week": "2026-W06",
            "start": "2026-02-02",
            "deployments": 1,
            "failures": 2,
            "aiAssistedShare": 0.5,
            "medianLeadTimeHours": LEAD[5],
        },
    ],
}
FAILED = {
    dep(101): ["incident pagerduty:INC-1 was caused by it", "incident pagerduty:INC-4 was caused by it"],
    dep(102): [f"rolled back: the next deployment {dep(103)} shipped older commit {sha('S2')[:7]}"],
    dep(105): ["deployment status is failure"],
    dep(106): [f"incident pagerduty:INC-2 was caused by change {change(5)} it shipped"],
}


def assert_matches(actual: Any, expected: Any, path: str = "") -> None:
    """Equal, with floats compared to 1e-9."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing"
            assert_matches(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_matches(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-9), f"{path}: {actual} != {expected}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def compute(settings: Settings, service: str | None = SERVICE) -> m.Metrics:
    policy = load_policy()
    return run_graph(settings, lambda g: m.metrics(g, policy, service=service, start=START, end=END))


def test_every_metric_matches_the_hand_computation(scenario: Settings) -> None:
    found = compute(scenario)
    assert_matches(found.model_dump(mode="json", by_alias=True), EXPECTED)
    assert {f.id: f.reasons for f in found.failed_deployments} == FAILED


def test_the_indexes_metrics_want_are_valid_and_change_no_number(scenario: Settings) -> None:
    async def create(graph: Any) -> None:
        for statement in ddl.METRICS:
            await graph.driver.execute_query(statement, database_=graph.database)
        await graph.driver.execute_query(AWAIT_INDEXES, database_=graph.database)

    run_graph(scenario, create)
    assert_matches(compute(scenario).model_dump(mode="json", by_alias=True), EXPECTED)


def test_all_services_adds_the_other_service(scenario: Settings) -> None:
    found = compute(scenario, service=None)
    # shop's 5 + search's D-S1; its incident INC-9 (1 h) joins time to restore; erin's 50.00 session joins spend
    assert found.deployments == 6
    assert (found.change_failure_rate.numerator, found.change_failure_rate.denominator) == (5, 7)
    assert found.time_to_restore.count == 4 and found.unresolved_incidents == 1
    assert found.merged_changes == 7 and found.ai_assisted_share.numerator == 4
    assert found.ai_spend_usd == pytest.approx(64.0)


def test_a_window_without_data_has_zeros_not_errors(scenario: Settings) -> None:
    policy = load_policy()
    start, end = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 8, tzinfo=UTC)
    found = run_graph(scenario, lambda g: m.metrics(g, policy, service=SERVICE, start=start, end=end))
    assert found.deployments == 0 and found.change_failure_rate.value is None and found.lead_time.median_hours is None
    assert [w.week for w in found.weekly] == ["2025-W22", "2025-W23"]


def test_an_empty_window_is_a_clear_error(settings: Settings) -> None:
    policy = load_policy()
    with pytest.raises(m.MetricsError, match="must be after"):
        run_graph(settings, lambda g: m.metrics(g, policy, service=None, start=END, end=START))


# --- GraphQL ----------------------------------------------------------------------------------

GRAPHQL = """
query($service: String, $from: DateTime!, $to: DateTime!) {
  metrics(service: $service, from: $from, to: $to) {
    service days deployments deploymentsPerWeek deploymentsPerDay
    leadTime { count medianHours p90Hours }
    changeFailureRate { numerator denominator value }
    failedDeployments { id reasons }
    timeToRestore { count medianHours p90Hours }
    unresolvedIncidents mergedChanges shippedChanges
    aiAssistedShare { numerator denominator value }
    changeFailureRateAi { numerator denominator value }
    changeFailureRateHuman { numerator denominator value }
    medianAgentDiffSize
    testDeltaShare { numerator denominator value }
    independentApprovalShare { numerator denominator value }
    evidenceCoverage { numerator denominator value }
    aiSpendUsd aiSpendPerEngineerMonthUsd
    aiSpendMonths { month costUsd engineers perEngineerUsd }
    aiSpendByEngineer { operator month costUsd sessions }
    weekly { week start deployments failures aiAssistedShare medianLeadTimeHours }
  }
}
"""


def graphql_app(settings: Settings) -> FastAPI:
    """The API's Query with MetricsQuery merged in, as api/app.py will serve it."""
    schema = strawberry.Schema(query=merge_types("Query", (Query, MetricsQuery)))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with connected(settings) as app.state.graph:
            app.state.policy = load_policy()
            yield

    async def context(request: Request) -> dict[str, Any]:
        return {"tracegraph": Context(request.app.state.graph, request.app.state.policy)}

    app = FastAPI(lifespan=lifespan)
    app.include_router(GraphQLRouter(schema, context_getter=context), prefix="/graphql")
    return app


def test_graphql_metrics_match_the_hand_computation(scenario: Settings) -> None:
    variables = {"service": SERVICE, "from": "2026-01-19T00:00:00Z", "to": "2026-02-09T00:00:00Z"}
    with TestClient(graphql_app(scenario)) as client:
        body = client.post("/graphql", json={"query": GRAPHQL, "variables": variables}).json()
        assert "errors" not in body, body
        assert_matches(body["data"]["metrics"], EXPECTED)
        assert {f["id"]: f["reasons"] for f in body["data"]["metrics"]["failedDeployments"]} == FAILED

        backwards = {**variables, "from": variables["to"], "to": variables["from"]}
        body = client.post("/graphql", json={"query": GRAPHQL, "variables": backwards}).json()
    assert body["data"] is None and "must be after" in body["errors"][0]["message"]


# --- the CLI ----------------------------------------------------------------------------------


def cli(settings: Settings, *args: str) -> Any:
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
    }
    return CliRunner().invoke(metrics_command, list(args), env=env, catch_exceptions=False)


WINDOW_ARGS = ("--service", SERVICE, "--from", "2026-01-19", "--to", "2026-02-09")


def test_cli_table_json_and_svg_chart(scenario: Settings, tmp_path: Path) -> None:
    table = cli(scenario, *WINDOW_ARGS)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].startswith("metrics for shop  2026-01-19 00:00 → 2026-02-09 00:00 UTC (21 days)")
    expected_rows = [
        r"deployment frequency\s+5 production deployments · 1\.67/week · 0\.24/day",
        r"lead time for changes\s+median 26\.2 h · p90 2\.1 d \(5 changes shipped\)",
        r"change failure rate\s+66\.7% \(4 of 6\)",
        r"time to restore\s+median 1\.5 h · p90 3\.0 h \(3 incidents resolved\), 1 unresolved",
        r"AI-assisted changes\s+50\.0% \(3 of 6\)",
        r"change failure rate, AI\s+50\.0% \(1 of 2\)",
        r"change failure rate, human\s+100\.0% \(3 of 3\)",
        r"median agent diff size\s+40 lines",
        r"behaviour changes with tests\s+60\.0% \(3 of 5\)",
        r"independent approval\s+50\.0% \(3 of 6\)",
        r"evidence coverage\s+66\.7% \(4 of 6\)",
        r"AI spend\s+\$14\.00 · \$4\.67 per engineer per month",
        r"2026-W04\s+3\s+2\s+33%\s+28\.2 h",
        r"2026-W06\s+1\s+2\s+50%\s+25\.3 h",
    ]
    for pattern in expected_rows:
        assert any(re.search(pattern, line) for line in lines), f"no line matches {pattern!r}:\n{table.output}"

    as_json = cli(scenario, *WINDOW_ARGS, "--json")
    assert as_json.exit_code == 0, as_json.output
    assert_matches(json.loads(as_json.output), EXPECTED)

    chart = tmp_path / "weekly.svg"
    drawn = cli(scenario, *WINDOW_ARGS, "--chart", str(chart))
    assert drawn.exit_code == 0, drawn.output
    svg = ET.parse(chart).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    series = {g.get("data-series"): g for g in svg.iterfind(".//s:g[@class='series']", ns)}
    assert set(series) == {"deployments", "failures", "ai", "lead"}
    # one bar per week with deployments (3, 1, 1) and per week with failures (2, 0, 2)
    assert [r.findtext("s:title", namespaces=ns) for r in series["deployments"].iterfind("s:rect", ns)] == [
        "3",
        "1",
        "1",
    ]
    assert [r.findtext("s:title", namespaces=ns) for r in series["failures"].iterfind("s:rect", ns)] == ["2", "2"]
    lead_line = series["lead"].find("s:polyline", ns)
    assert lead_line is not None and len(lead_line.get("points", "").split()) == 3
    # the tallest lead time (W04, 28.2 h) sits at the top of its panel: the lowest y of the three points
    ys = [float(p.split(",")[1]) for p in lead_line.get("points", "").split()]
    assert ys[0] == min(ys)
    labels = [t.text for t in svg.iterfind(".//s:text", ns)]
    assert {"2026-W04", "2026-W05", "2026-W06"} <= set(labels)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="PNG charts are rendered by Chromium")
def test_cli_png_chart(scenario: Settings, tmp_path: Path) -> None:
    chart = tmp_path / "weekly.png"
    drawn = cli(scenario, *WINDOW_ARGS, "--chart", str(chart))
    assert drawn.exit_code == 0, drawn.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "yesterday"), "is not a date"),
        (("--from", "2026-02-09", "--to", "2026-01-19"), "must be after"),
        (("--chart", "out.pdf"), "use a .svg"),
    ],
)
def test_cli_bad_input_is_one_clear_line(settings: Settings, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(
        metrics_command,
        list(args),
        env={"NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": settings.neo4j_password},
    )
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


# --- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "production"),
    [
        ("production", True),
        ("Production", True),
        ("prod", True),
        ("PROD", True),
        ("live", True),
        ("prod-eu-west-1", True),
        ("eu-live", True),
        ("Production (us)", True),
        ("staging", False),
        ("preprod", False),
        ("pre-prod", False),
        ("non-production", False),
        ("nonprod", False),
        ("liveness-check", False),
        ("productivity", False),
        ("", False),
        (None, False),
    ],
)
def test_production_environments(environment: str | None, production: bool) -> None:
    assert rules.is_production(environment) is production


@pytest.mark.parametrize(
    ("path", "test"),
    [
        ("tests/test_api.py", True),
        ("src/api_test.py", True),
        ("pkg/handler_test.go", True),
        ("web/src/App.test.tsx", True),
        ("web/src/cart.spec.js", True),
        ("spec/models/user_spec.rb", True),
        ("src/test/java/com/acme/CartTest.java", True),
        ("app/__tests__/cart.js", True),
        ("conftest.py", True),
        ("src/api.py", False),
        ("src/testing_utils_helper.py", False),
        ("docs/testing.md", False),
        ("src/contest.py", False),
    ],
)
def test_test_paths(path: str, test: bool) -> None:
    assert rules.is_test_path(path) is test


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([], None, None),
        ([5.0], 5.0, 5.0),
        ([1.0, 3.0], 2.0, 3.0),
        ([3.0, 1.0, 1.5], 1.5, 3.0),
        ([float(i) for i in range(1, 11)], 5.5, 9.0),  # ⌈0.9·10⌉ = 9th
        ([float(i) for i in range(1, 12)], 6.0, 10.0),  # ⌈0.9·11⌉ = 10th
    ],
)
def test_median_and_p90(values: list[float], median: float | None, p90: float | None) -> None:
    assert rules.median(values) == median and rules.p90(values) == p90


def test_iso_weeks_cover_the_window() -> None:
    weeks = rules.iso_weeks(datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 12, tzinfo=UTC))
    assert weeks == [("2026-W01", date(2025, 12, 29)), ("2026-W02", date(2026, 1, 5))]
    assert math.isclose(len(rules.iso_weeks(START, END)), 3)


def _deploy(n: int, commit: str, day: int) -> Deploy:
    at = datetime(2026, 3, day, tzinfo=UTC)
    return Deploy(f"d{n}", commit, "production", "success", at, None, "svc", frozenset())


@pytest.mark.parametrize(
    ("commits", "older", "rolled_back"),
    [
        # Without git history (no PARENT edges) a return to the previous deployment's commit is a rollback.
        (["a", "b", "a"], {}, {"d2"}),
        # With it, any ancestor counts, even one no deployment shipped before.
        (["a", "c", "b"], {"d2": True}, {"d2"}),
        # Moving forward, or deploying the same commit again, is not a rollback.
        (["a", "b", "c"], {}, set()),
        (["a", "b", "b"], {}, set()),
    ],
)
def test_rollback_rule(commits: list[str], older: dict[str, bool], rolled_back: set[str]) -> None:
    deploys = [_deploy(i + 1, sha_, i + 1) for i, sha_ in enumerate(commits)]
    chain = rules.chains(deploys, [], start=datetime(2026, 3, 1, tzinfo=UTC))
    shipped = {d.id: {"changeIds": [], "nextIsOlder": older.get(d.id, False)} for d in deploys}
    assert set(rules.shipping(list(chain.values()), shipped).rolled_back) == rolled_back


def test_a_deployment_ships_what_its_predecessor_did_not() -> None:
    deploys = [_deploy(1, "a", 2), _deploy(2, "b", 3), _deploy(3, "a", 4)]
    before = Deploy("d0", "z", "production", "inactive", datetime(2026, 2, 1, tzinfo=UTC), None, "svc", frozenset())
    chain = rules.chains(deploys, [before], start=datetime(2026, 3, 1, tzinfo=UTC))
    shipped = {
        "d0": {"changeIds": ["old"]},
        "d1": {"changeIds": ["old", "x"]},
        "d2": {"changeIds": ["old", "x", "y"]},
        "d3": {"changeIds": ["old", "x"]},
    }
    ship = rules.shipping(list(chain.values()), shipped)
    assert ship.new == {"d1": {"x"}, "d2": {"y"}, "d3": set()}
    assert {cid: d.id for cid, d in ship.first.items()} == {"x": "d1", "y": "d2"}
