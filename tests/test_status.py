"""What runs in production, per service, and is it compliant: `tracegraph status` and GraphQL `status`;
drift (a deployment of a commit tied to no merged change) is flagged, never treated as compliant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from graph.settings import Settings
from tests import governance_scenario as gs
from tests.conftest import api, load
from tests.test_gates import env


def status(settings: Settings) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["status", "--environment", "production", "--json"], env=env(settings))
    assert result.exit_code == 0, result.output
    [shop] = json.loads(result.stdout)
    found: dict[str, Any] = shop
    return found


@pytest.fixture
def shop(settings: Settings) -> Settings:
    load(settings, gs.history())
    return settings


def test_a_service_that_shipped_only_verified_changes_is_compliant_since_its_first_deployment(shop: Settings) -> None:
    load(shop, gs.deploy(103, gs.M2, at="2026-03-04T12:00:00Z"))
    found = status(shop)
    assert found["running"]["id"] == "github:deployment:103"
    assert (found["changes"], found["notVerified"], found["drift"], found["compliant"]) == (2, 0, False, True)
    assert found["compliantSince"] == "2026-03-01T12:00:00Z"  # D1 is the baseline: R before it is where it started
    text = CliRunner().invoke(main, ["status", "--environment", "production"], env=env(shop)).stdout
    assert "shop  [compliant since 2026-03-01 12:00 UTC]" in text


def test_an_unverified_change_in_production_breaks_compliance_until_it_is_rolled_back(shop: Settings) -> None:
    load(shop, gs.deploy(103, gs.M2, at="2026-03-04T12:00:00Z"))
    load(shop, gs.deploy(104, gs.M3, at="2026-03-05T12:00:00Z"))
    found = status(shop)
    assert found["running"]["id"] == "github:deployment:104"
    assert (found["changes"], found["notVerified"], found["notVerifiedIds"]) == (3, 1, ["github:acme/shop#3"])
    assert (found["compliant"], found["compliantSince"]) == (False, None)
    # Rolled back to M2: nothing unverified runs any more, compliant again from the rollback on.
    load(shop, gs.deploy(105, gs.M2, at="2026-03-06T12:00:00Z"))
    found = status(shop)
    assert (found["notVerified"], found["compliant"], found["compliantSince"]) == (0, True, "2026-03-06T12:00:00Z")


def test_drift_is_flagged_and_never_compliant(shop: Settings) -> None:
    """X was pushed straight to main: deploying it ships a commit no merged change holds."""
    load(shop, gs.deploy(103, gs.M2, at="2026-03-04T12:00:00Z"))
    load(shop, gs.deploy(106, gs.X, at="2026-03-07T12:00:00Z"))
    found = status(shop)
    assert found["running"]["sha"] == gs.X
    assert (found["drift"], found["compliant"], found["compliantSince"]) == (True, False, None)
    assert any("belongs to no merged change" in g for g in found["gaps"])
    text = CliRunner().invoke(main, ["status", "--environment", "production"], env=env(shop)).stdout
    assert "shop  [DRIFT: not compliant]" in text
    with api(shop) as client:
        body = client.post(
            "/graphql",
            json={"query": '{ status(environment: "production") { service drift compliant running { id sha } } }'},
        ).json()
    assert body["data"]["status"] == [
        {"service": "shop", "drift": True, "compliant": False, "running": {"id": "github:deployment:106", "sha": gs.X}}
    ]


def test_a_deployment_from_a_branch_is_drift(shop: Settings) -> None:
    load(shop, gs.deploy(107, gs.H4, at="2026-03-07T12:00:00Z"))
    found = status(shop)
    assert found["drift"] is True and found["compliant"] is False
