"""The seed's checklist as policy: PR contract sections and a staged rollout per risk area, rollback drills per
service tier. Each requirement has a scenario that meets it and one that misses it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from graph.settings import Settings
from tests import governance_scenario as gs
from tests.conftest import load
from tests.test_gates import env, gate_json

POLICY = """
areas:
  payments:
    labels: [payments]
    required_approvals: 1
    required_evidence: [tests]
    required_contract: [rollout, rollback]
    staged_strategies: [canary, flag]
  standard:
    required_approvals: 1
    required_evidence: [tests]
default_area: standard
evidence_kinds:
  - {match: "*test*", kind: tests}
drills:
  within_days: {"1": 30}
  tiers: {shop: "1", billing: "1"}
"""
CONTRACT = (
    "## Intent\nCharge in the buyer's currency\n\n## Rollout\nCanary 5%, then 50%\n\n## Rollback\nRevert the flag"
)
NO_ROLLBACK = "## Intent\nRound totals\n\n## Rollout\nAll at once"
H10, M10, H11, M11, H12, M12 = (gs.sha(n) for n in ("h10", "M10", "h11", "M11", "h12", "M12"))


def cli(settings: Settings, policy: Path, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env(settings, TRACEGRAPH_POLICY=str(policy)))


@pytest.fixture
def payments(settings: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    """#10: payments, full contract, deployed by canary. #11: no Rollback section, not deployed.
    #12: full contract, deployed to production in full."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    load(
        settings,
        [
            *gs.history(),
            gs.git_commit(H10, [gs.M2], message="Multi-currency"),
            gs.git_commit(M10, [gs.M2, H10], message="Merge pull request #10"),
            gs.git_commit(H11, [M10], message="Round totals"),
            gs.git_commit(M11, [M10, H11], message="Merge pull request #11"),
            gs.git_commit(H12, [M11], message="Refund fees"),
            gs.git_commit(M12, [M11, H12], message="Merge pull request #12"),
            *gs.pull_request(10, H10, M10, labels=["payments"], body=CONTRACT, day=10),
            *gs.pull_request(11, H11, M11, labels=["payments"], body=NO_ROLLBACK, day=11),
            *gs.pull_request(12, H12, M12, labels=["payments"], body=CONTRACT, day=12),
            *gs.deploy(110, M10, at="2026-03-10T12:00:00Z", strategy="canary"),
            *gs.deploy(112, M12, at="2026-03-12T12:00:00Z", strategy="full"),
        ],
    )
    return settings, policy


def verdict(settings: Settings, policy: Path, number: int) -> dict[str, object]:
    asked = cli(settings, policy, "ask", "change", f"acme/shop#{number}", "--json")
    assert asked.exit_code == 0, asked.output
    found: dict[str, object] = json.loads(asked.stdout)["verdict"]
    return found


def test_a_change_with_every_required_contract_section_and_a_canary_is_verified(
    payments: tuple[Settings, Path],
) -> None:
    settings, policy = payments
    assert verdict(settings, policy, 10) == {"status": "VERIFIED", "gaps": []}
    answer = json.loads(cli(settings, policy, "ask", "change", "acme/shop#10", "--json").stdout)
    assert answer["contract"]["rollback"] == "Revert the flag"


def test_a_missing_contract_section_is_a_gap_in_the_answer_and_the_gate(payments: tuple[Settings, Path]) -> None:
    settings, policy = payments
    gap = "the pull request description has no `Rollback` section (payments policy requires: Rollout, Rollback)"
    assert verdict(settings, policy, 11) == {"status": "UNVERIFIED", "gaps": [gap]}
    code, answer = gate_json(settings, "change", "acme/shop#11", TRACEGRAPH_POLICY=str(policy))
    assert code == 1
    [contract] = [m for m in answer["changes"][0]["missing"] if m["requirement"] == "contract"]
    assert contract["gaps"] == [gap] and "`## Rollback`" in contract["how"]


def test_a_full_production_deployment_of_a_payments_change_is_a_gap(payments: tuple[Settings, Path]) -> None:
    settings, policy = payments
    assert verdict(settings, policy, 12) == {
        "status": "UNVERIFIED",
        "gaps": [
            "deployment github:deployment:112 to production has strategy `full` (payments policy requires a staged "
            "rollout: canary or flag)"
        ],
    }


@pytest.mark.parametrize(
    ("environment", "strategy", "code"),
    [("production", "flag", 0), ("production", "canary", 0), ("production", "full", 1), ("staging", "full", 0)],
)
def test_the_gate_checks_the_strategy_of_the_deployment_it_gates(
    payments: tuple[Settings, Path], environment: str, strategy: str, code: int
) -> None:
    settings, policy = payments
    args = ["change", "acme/shop#10", "--environment", environment, "--strategy", strategy]
    found, answer = gate_json(settings, *args, TRACEGRAPH_POLICY=str(policy))
    assert found == code
    if code:
        assert answer["changes"][0]["gaps"] == [
            "the deployment being gated to production has strategy `full` (payments policy requires a staged "
            "rollout: canary or flag)"
        ]
    unstated, _ = gate_json(
        settings, "change", "acme/shop#10", "--environment", "production", TRACEGRAPH_POLICY=str(policy)
    )
    assert unstated == 1  # a production deployment that states no strategy is not a staged one


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_recent_rollback_drill_meets_the_tier_rule_and_a_missing_one_is_overdue(
    payments: tuple[Settings, Path],
) -> None:
    settings, policy = payments

    def status(*args: str) -> dict[str, Any]:
        found = cli(settings, policy, "status", "--environment", "production", "--json", *args)
        return {s["service"]: s for s in json.loads(found.stdout)}

    def record(*args: str) -> Result:
        return cli(settings, policy, "drill", "record", "--service", "billing", "--environment", "production", *args)

    load(settings, gs.deploy(201, gs.M1, at=_ago(40), service="billing"))
    # shop's drill: a deployment marked as one, 8 days ago, restored in 6 minutes
    load(settings, gs.deploy(202, gs.M1, at=_ago(8), finished=_ago(8 - 6 / 1440), drill=True, service="shop"))
    by_service = status()
    shop, billing = by_service["shop"]["drill"], by_service["billing"]["drill"]
    assert (shop["overdue"], shop["dueWithinDays"], shop["last"]["origin"]) == (False, 30, "deployment")
    assert shop["last"]["restoreSeconds"] == pytest.approx(360, abs=1)
    assert billing["overdue"] is True and billing["last"] is None
    gap = "no rollback drill of billing in production within 30 days (tier 1); there has been none"
    assert gap in by_service["billing"]["gaps"]

    # A drill recorded by hand meets the rule too; one 45 days ago does not.
    old = record("--restore-minutes", "12", "--at", _ago(45), "--by", "sre-oncall")
    assert old.exit_code == 0, old.output
    billing = status("--service", "billing")["billing"]["drill"]
    assert billing["overdue"] is True and "the last was on" in billing["gap"]
    assert record("--restore-seconds", "300", "--at", _ago(2), "--notes", "rolled back the fee change").exit_code == 0
    billing = status("--service", "billing")["billing"]["drill"]
    assert (billing["overdue"], billing["last"]["restoreSeconds"]) == (False, 300)
    listed = cli(settings, policy, "drill", "list", "--service", "billing")
    assert "restored in 5.0 min" in listed.stdout and "restored in 12.0 min" in listed.stdout
    both = record("--restore-seconds", "3", "--restore-minutes", "1")
    assert both.exit_code == 2 and "exactly one of" in both.stderr
