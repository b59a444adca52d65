"""API records -> webhook-shaped payloads -> the sources' normalisers: tables, no database, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collect import github_shapes as shape
from collect import gitlab, opsgenie, pagerduty
from collect.cursor import NewestFirst, OldestFirst
from graph.batch import Batch
from graph.vocabulary import Label
from ingest.pipeline.events import Event
from ingest.pipeline.prepare import normalise
from tests.fakes import github as gh

FIXTURES = Path(__file__).parent / "fixtures"
REPO = shape.repository("Acme/Shop", "https://github.com/Acme/Shop")


def fixture(folder: str, name: str) -> Any:
    return json.loads((FIXTURES / folder / name).read_text())


def batch(source: str, kind: str, payload: dict[str, Any]) -> Batch:
    return normalise(Event(source, kind, "e1", payload, "2026-01-01T00:00:00Z"))


def props(found: Batch, label: Label, key: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for node in found.nodes:
        if node.label == label and node.key == key:
            merged.update(node.props)
    return merged


def test_a_pull_request_keeps_its_changed_paths_and_its_bot_author() -> None:
    pr = gh.pull_request(
        "Acme/Shop",
        7,
        author="renovate[bot]",
        title="Bump",
        updated="2026-01-02T00:00:00Z",
        commits=[gh.commit("a" * 40, message="bump", author="renovate", at="2026-01-02T00:00:00Z")],
        files=["src/auth/token.py", "package.json"],
        labels=["deps"],
    )
    payload = shape.pull_request(pr, REPO, labels=["deps"], files=pr["files"])
    assert payload["pull_request"]["user"] == {"login": "renovate[bot]", "type": "Bot"}
    found = batch("github", "pull_request", payload)
    change = props(found, Label.CHANGE, "github:acme/shop#7")
    assert change["files"] == ["package.json", "src/auth/token.py"] and change["labels"] == ["deps"]
    assert props(found, Label.PERSON, "renovate[bot]")["isBot"] is True


@pytest.mark.parametrize(
    ("state", "action", "stored"),
    [
        ("APPROVED", "submitted", "APPROVED"),
        ("DISMISSED", "dismissed", "DISMISSED"),
        ("CHANGES_REQUESTED", "submitted", "CHANGES_REQUESTED"),
        ("PENDING", None, None),
    ],
)
def test_reviews_keep_their_state_and_pending_ones_are_not_reviews_yet(
    state: str, action: str | None, stored: str | None
) -> None:
    pr = {"number": 7, "url": "https://github.com/Acme/Shop/pull/7"}
    r = gh.review(11, repo="Acme/Shop", number=7, reviewer="dave", state=state, oid="b" * 40, at="2026-01-02T00:00:00Z")
    payload = shape.review(r, pr, REPO)
    if action is None:
        assert payload is None
        return
    assert payload is not None and payload["action"] == action
    assert props(batch("github", "pull_request_review", payload), Label.REVIEW, "github:review:11")["state"] == stored


def test_checks_statuses_and_deployments_read_as_their_webhooks() -> None:
    run = gh.check_run(
        5,
        repo="Acme/Shop",
        name="unit",
        conclusion="failure",
        suite=9,
        started="2026-01-01T00:00:00Z",
        completed="2026-01-01T00:05:00Z",
    )
    evidence = props(
        batch("github", "check_run", shape.check_run(run, "c" * 40, REPO)), Label.EVIDENCE, "github:check_run:5"
    )
    assert (evidence["conclusion"], evidence["status"], evidence["app"]) == ("failure", "completed", "github-actions")
    status = shape.status(gh.status_context("ci/lint", state="error", at="2026-01-01T00:00:00Z"), "c" * 40, REPO)
    assert (
        props(batch("github", "status", status), Label.EVIDENCE, f"github:status:acme/shop@{'c' * 40}:ci/lint")[
            "conclusion"
        ]
        == "error"
    )
    d = gh.deployment(
        3,
        sha="d" * 40,
        created="2026-01-01T00:00:00Z",
        states=[("in_progress", "2026-01-01T00:00:00Z"), ("success", "2026-01-01T00:09:00Z")],
        service="shop-api",
    )
    assert shape.deployment(d, REPO, "https://api.github.com")["payload"] == {
        "service": "shop-api",
        "strategy": "canary",
    }
    statuses = shape.deployment_statuses(d, REPO, "https://api.github.com")
    assert [s["deployment_status"]["state"] for s in statuses] == ["in_progress", "success"]
    merged = Batch()
    for s in statuses:
        merged.extend(batch("github", "deployment_status", s))
    assert shape.deployment_finished(d)
    deployed = props(merged, Label.DEPLOYMENT, "github:deployment:3")
    assert (deployed["status"], deployed["finishedAt"], deployed["service"]) == (
        "success",
        "2026-01-01T00:09:00Z",
        "shop-api",
    )


@pytest.mark.parametrize(
    ("protection", "rules", "rulesets", "expected"),
    [
        (None, [], [], {"protected": False, "requiredApprovals": 0, "bypassActors": [], "enforceAdmins": False}),
        (
            {
                "required_pull_request_reviews": {"required_approving_review_count": 2, "dismiss_stale_reviews": True},
                "enforce_admins": {"enabled": True},
            },
            [],
            [],
            {
                "protected": True,
                "requiredApprovals": 2,
                "dismissStaleReviews": True,
                "bypassActors": [],
                "enforceAdmins": True,
            },
        ),
        (
            None,
            [
                {
                    "type": "pull_request",
                    "parameters": {"required_approving_review_count": 1, "require_code_owner_review": True},
                    "ruleset_id": 4,
                }
            ],
            [
                {
                    "id": 4,
                    "name": "guard",
                    "bypass_actors": [
                        {"actor_id": 1, "actor_type": "OrganizationAdmin"},
                        {"actor_id": 77, "actor_type": "Team"},
                    ],
                }
            ],
            {
                "protected": True,
                "requiredApprovals": 1,
                "requireCodeOwnerReviews": True,
                "bypassActors": ["org-admin", "team:77"],
                "postureSources": ["ruleset:guard"],
            },
        ),
    ],
)
def test_branch_protection_becomes_the_repository_posture(
    protection: Any, rules: Any, rulesets: Any, expected: dict[str, Any]
) -> None:
    payload = shape.posture(
        REPO, "main", protection=protection, rules=rules, rulesets=rulesets, observed_at="2026-01-03T00:00:00Z"
    )
    found = props(batch("github", "branch_protection", payload), Label.REPOSITORY, "acme/shop")
    assert found["postureAt"] == "2026-01-03T00:00:00Z" and found["defaultBranch"] == "main"
    for name, value in expected.items():
        assert found[name] == value, name


def test_a_gitlab_merge_request_keeps_its_paths_and_approvals_name_the_head_they_saw() -> None:
    versions = [
        {"id": 1, "head_commit_sha": "a" * 40, "created_at": "2026-01-01T09:00:00Z"},
        {"id": 2, "head_commit_sha": "b" * 40, "created_at": "2026-01-01T10:00:00Z"},
    ]
    assert gitlab.head_at(versions, "2026-01-01T09:30:00Z") == "a" * 40
    assert gitlab.head_at(versions, "2026-01-01T10:00:00Z") == "b" * 40
    assert gitlab.head_at(versions, "2026-01-01T08:00:00Z") is None
    hook = {
        "object_kind": "merge_request",
        "project": {"path_with_namespace": "acme/api", "web_url": "https://gitlab.example.com/acme/api"},
        "object_attributes": {
            "iid": 3,
            "state": "opened",
            "updated_at": "2026-01-01T10:00:00Z",
            "last_commit": {"id": "b" * 40},
        },
        "files": [{"new_path": "src/auth/x.py", "old_path": "src/x.py"}],
    }
    assert props(batch("gitlab", "merge_request", hook), Label.CHANGE, "gitlab:acme/api!3")["files"] == [
        "src/auth/x.py",
        "src/x.py",
    ]


def test_pagerduty_log_entries_and_services_read_as_v3_webhooks() -> None:
    incident = {
        "id": "PX1",
        "incident_number": 9,
        "title": "Down",
        "status": "resolved",
        "created_at": "2026-01-01T00:00:00Z",
        "service": {"id": "S1", "summary": "checkout"},
        "assignments": [{"assignee": {"summary": "Dana"}}],
        "urgency": "high",
    }
    ack = pagerduty.log_entry_event(
        {"id": "L1", "type": "acknowledge_log_entry", "created_at": "2026-01-01T00:05:00Z", "incident": incident}
    )
    note = pagerduty.log_entry_event(
        {"id": "L2", "type": "annotate_log_entry", "created_at": "2026-01-01T00:06:00Z", "incident": incident}
    )
    assert pagerduty.log_entry_event({"id": "L3", "type": "notify_log_entry", "incident": incident}) is None
    assert ack is not None and note is not None
    assert props(normalise(ack), Label.INCIDENT, "pagerduty:PX1")["status"] == "acknowledged"
    # Annotated an hour ago: the incident's status now says nothing about its status then.
    assert "status" not in props(normalise(note), Label.INCIDENT, "pagerduty:PX1")
    # A service.updated webhook (tests/fixtures) and a collected service read the same way.
    webhook = normalise(
        Event("pagerduty", None, "w1", fixture("pagerduty", "v3.service.updated.json"), "2026-01-06T12:00:00Z")
    )
    assert props(webhook, Label.SERVICE, "shop-api")["url"] == "https://acme.pagerduty.com/services/PSHOP01"
    service = pagerduty.service_payload(
        {"id": "S1", "name": "checkout", "html_url": "https://acme.pagerduty.com/services/S1"}
    )
    found = batch("pagerduty", "service.updated", service)
    assert props(found, Label.SERVICE, "checkout")["url"] == "https://acme.pagerduty.com/services/S1"


@pytest.mark.parametrize(
    ("log", "action"),
    [
        ("Alert created via API[Prometheus]", "Create"),
        ("Alert acknowledged via web[x]", "Acknowledge"),
        ("Alert unacknowledged by dana", "UnAcknowledge"),
        ("Alert closed via web", "Close"),
        ("Viewed on [web]", None),
        ("Added note to alert", None),
    ],
)
def test_opsgenie_logs_name_the_webhook_action(log: str, action: str | None) -> None:
    assert opsgenie.action_of({"log": log}) == action


def test_opsgenie_times_become_the_webhooks_epoch_milliseconds() -> None:
    alert = {
        "id": "A1",
        "message": "Latency",
        "tinyId": "12",
        "entity": "checkout",
        "createdAt": "2021-11-24T12:14:40.926Z",
        "priority": "P2",
    }
    payload = opsgenie.alert_payload(alert, "Close", "2021-11-24T12:30:00.000Z")
    assert payload["alert"]["createdAt"] == 1637756080926
    found = props(batch("opsgenie", "Close", payload), Label.INCIDENT, "opsgenie:A1")
    assert (found["status"], found["resolvedAt"], found["service"]) == ("resolved", "2021-11-24T12:30:00Z", "checkout")


def test_a_newest_first_scan_stops_at_what_the_last_run_saw_and_resumes_a_killed_one() -> None:
    scan = NewestFirst({}, since="2026-01-01")
    assert scan.keep("2026-01-05T00:00:00Z") and scan.keep("2026-01-03T00:00:00Z", finished=False)
    state = scan.checkpoint("cursor-1", has_next=True)
    assert state["run"]["after"] == "cursor-1" and state["run"]["stop"] == "2026-01-01T00:00:00Z"
    resumed = NewestFirst(state)
    assert resumed.after == "cursor-1" and not resumed.keep("2025-12-31T00:00:00Z") and resumed.done
    # The next run stops at the run still in progress, not at the newest record.
    assert resumed.checkpoint(None, has_next=False) == {"next": "2026-01-03T00:00:00Z"}


def test_an_oldest_first_scan_moves_its_filter_or_its_page() -> None:
    scan = OldestFirst({}, since="2026-01-01")
    assert scan.checkpoint(["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"], full=True) == {
        "next": "2026-01-03T00:00:00Z",
        "page": 1,
    }
    # A whole page at the same time as the filter: the page moves on instead.
    assert scan.checkpoint(["2026-01-03T00:00:00Z", "2026-01-03T00:00:00Z"], full=True) == {
        "next": "2026-01-03T00:00:00Z",
        "page": 2,
    }
    assert scan.checkpoint(["2026-01-04T00:00:00Z"], full=False) == {"next": "2026-01-04T00:00:00Z"} and scan.done
