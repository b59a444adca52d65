"""Audit periods: population, a reproducible sample, evidence bundles, exceptions, controls and the policy in force."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from cli.main import main
from export.archive import read_bundle
from export.scope import safe_name
from export.verify import verify_files
from governance import exceptions as xs
from governance.audit_period import draw, rank
from graph.access import Principal, Role
from graph.policy import DEFAULT_POLICY, load_policy
from graph.settings import Settings
from tests import governance_scenario as gs
from tests.conftest import load, run_graph


def period(settings: Settings, out: Path, *, seed: int, sample: int = 1) -> Result:
    args = ["audit-period", "--from", "2026-03-02", "--to", "2026-04-01", "--sample", str(sample)]
    args += ["--seed", str(seed), "--out", str(out)]
    result = CliRunner().invoke(
        main,
        args,
        env={
            "NEO4J_URI": settings.neo4j_uri,
            "NEO4J_PASSWORD": settings.neo4j_password,
            "TRACEGRAPH_HOME": str(settings.home),
            "TRACEGRAPH_POLICY": None,
        },
    )
    assert result.exit_code == 0, result.output
    return result


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_sample_is_drawn_by_seed_alone() -> None:
    ids = [f"github:acme/shop#{n}" for n in range(1, 60)]
    first = draw(ids, seed=7, size=25)
    assert first == draw(list(reversed(ids)), seed=7, size=25)  # the population's order does not matter
    assert first != draw(ids, seed=8, size=25)
    assert len(first) == 25 and len(set(first)) == 25
    assert first[0] == min(ids, key=lambda i: rank(7, i))
    assert draw(ids[:3], seed=7, size=25) == sorted(ids[:3], key=lambda i: rank(7, i))


def test_an_audit_period_holds_its_population_sample_evidence_exceptions_and_controls(
    settings: Settings, tmp_path: Path
) -> None:
    load(
        settings,
        [
            *gs.history(),
            *gs.deploy(103, gs.M2, at="2026-03-04T12:00:00Z"),
            *gs.deploy(104, gs.M3, at="2026-03-05T12:00:00Z"),
            *gs.deploy(106, gs.X, at="2026-03-07T12:00:00Z"),
        ],
    )
    carol = Principal(token_id="tok_carol", name="carol", role=Role.APPROVER)
    policy = load_policy()
    granted = datetime(2026, 3, 5, 9, tzinfo=UTC)
    exc = run_graph(
        settings,
        lambda g: xs.grant(
            g,
            policy,
            carol,
            change_id="github:acme/shop#3",
            reason="Sale starts today",
            expires_at=granted + timedelta(days=3),
            emergency=True,
            now=granted,
        ),
    )

    first, again, other = tmp_path / "q1", tmp_path / "q1-again", tmp_path / "q1-other"
    printed = period(settings, first, seed=42).stdout
    period(settings, again, seed=42)

    population = rows(first / "population.csv")
    assert [r["change"] for r in population] == ["github:acme/shop#2", "github:acme/shop#3"]
    by_id = {r["change"]: r for r in population}
    two = by_id["github:acme/shop#2"]
    assert (two["verdict"], two["meets_approvals"]) == ("VERIFIED", "yes")
    three = by_id["github:acme/shop#3"]
    assert (three["verdict"], three["meets_approvals"], three["exceptions"]) == (
        "UNVERIFIED",
        "NO",
        f"{exc.id} (expired)",
    )
    assert three["deployment"] == "github:deployment:104"

    # The same seed and population give the same sample, and the report says how it was drawn.
    assert (first / "sample.csv").read_bytes() == (again / "sample.csv").read_bytes()
    report = json.loads((first / "report.json").read_text())
    [sampled] = report["sample"]["changes"]
    assert sampled == min(by_id, key=lambda i: rank(42, i))
    assert "SHA-256 of the text '<seed>:<change id>'" in report["sample"]["method"] and "seed 42" in printed
    assert rows(first / "sample.csv")[0]["sha256"] == rank(42, sampled)
    seeds = {json.loads((p / "report.json").read_text())["sample"]["changes"][0] for p in (first,)}
    for seed in range(43, 60):  # some other seed draws the other change
        if min(by_id, key=lambda i: rank(seed, i)) != sampled:
            period(settings, other, seed=seed)
            seeds.add(json.loads((other / "report.json").read_text())["sample"]["changes"][0])
            break
    assert seeds == set(by_id)

    # An evidence bundle per sampled change, itself verifiable; the whole folder verifies too.
    bundle = first / "evidence" / safe_name(sampled)
    assert (bundle / "manifest.json").is_file()
    assert not verify_files(read_bundle(bundle)).problems
    assert not verify_files(read_bundle(first)).problems
    assert CliRunner().invoke(main, ["verify-export", str(first)]).exit_code == 0

    # Deployments outside the reviewed flow are listed apart; the period's exceptions with their gaps.
    [outside] = rows(first / "outside-review.csv")
    assert outside["deployment"] == "github:deployment:106" and "belongs to no merged change" in outside["gaps"]
    [listed] = rows(first / "exceptions.csv")
    assert (listed["id"], listed["granted_by"], listed["emergency"]) == (exc.id, "carol", "yes")
    assert "was not reviewed by" in listed["gaps"] and "expired on" in listed["gaps"]

    # Controls: per control, how many changes of the population met every requirement it names.
    controls = {c["id"]: c for c in report["controls"]}
    assert controls["SOC 2 CC8.1"]["met"] == 1 and controls["SOC 2 CC8.1"]["population"] == 2
    assert controls["ISO/IEC 27001:2022 A.8.32"]["met"] == 1
    assert "| SOC 2 CC8.1 |" in (first / "report.md").read_text() and "not legal advice" in printed
    assert "NOT LEGAL ADVICE" in (first / "controls.yaml").read_text()
    assert (first / "policy.yaml").read_text() == DEFAULT_POLICY.read_text()
