"""An exception's whole life: granted by an approver, refused for the author, the agent's operator and a
reader; the gate passes while it is active and the change stays UNVERIFIED; expiry; the emergency review
after the fact; revocation; every step in the audit log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from governance import exceptions as xs
from governance.gate import gate_commit
from graph import repository
from graph.access import Principal, Role
from graph.driver import Graph
from graph.policy import load_policy
from graph.settings import Settings
from ingest import examples as ex
from tests import governance_scenario as gs
from tests.conftest import api, load, run_graph, token
from tests.test_gates import env, gate_json

SOON = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")


def cli(settings: Settings, *args: str, as_: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env(settings, TRACEGRAPH_TOKEN=as_))


def approver(settings: Settings, login: str) -> str:
    created = cli(settings, "token", "create", "--role", "approver", "--name", login)
    assert created.exit_code == 0, created.output
    return created.stdout.strip()


@pytest.fixture
def shop(settings: Settings) -> Settings:
    load(settings, gs.history())
    # erin operated the agent session that wrote PR #3
    load(
        settings,
        [
            ex.provenance(
                gs.REPO, 3, session_id="s-3", tool="claude-code", model="m", prompt_summary="Coupons", operator="erin"
            )
        ],
    )
    return settings


def grant(settings: Settings, who: str | None, *extra: str) -> Result:
    return cli(
        settings,
        "exception",
        "grant",
        "acme/shop#3",
        "--reason",
        "Coupons must ship before the sale; review follows",
        "--expires",
        SOON,
        *extra,
        as_=who,
    )


def exception_id(result: Result) -> str:
    return result.stdout.split()[0]


def test_an_exception_from_its_grant_to_its_revocation(shop: Settings) -> None:
    assert gate_json(shop, "commit", gs.M3, "--environment", "production")[0] == 1

    # Refused: no token, a reader, the change's author, the agent session's operator, a date past the limit.
    assert grant(shop, None).exit_code == 2
    reader = grant(shop, token(shop, "reader"))
    assert reader.exit_code == 2 and "only an approver may grant" in reader.stderr
    author = grant(shop, approver(shop, "alice"))
    assert author.exit_code == 2 and "alice is an author of github:acme/shop#3" in author.stderr
    operator = grant(shop, approver(shop, "erin"))
    assert operator.exit_code == 2 and "operated an agent session" in operator.stderr
    carol = approver(shop, "carol")
    too_long = cli(shop, "exception", "grant", "acme/shop#3", "--reason", "x", "--expires", "2099-01-01", as_=carol)
    assert too_long.exit_code == 2 and "beyond the policy's 90 days" in too_long.stderr
    assert gate_json(shop, "commit", gs.M3, "--environment", "production")[0] == 1

    # Granted, as an emergency: the gate passes while it is active; the change stays UNVERIFIED.
    granted = grant(shop, carol, "--emergency")
    assert granted.exit_code == 0, granted.output
    exc = exception_id(granted)
    assert exc.startswith("exc_") and "ACTIVE" in granted.stdout and "review due by" in granted.stdout
    code, answer = gate_json(shop, "commit", gs.M3, "--environment", "production")
    assert code == 0
    three = next(c for c in answer["changes"] if c["id"] == "github:acme/shop#3")
    assert (three["verdict"], three["coveredBy"], three["passes"]) == ("UNVERIFIED", exc, True)
    asked = json.loads(cli(shop, "ask", "change", "acme/shop#3", "--json").stdout)
    assert asked["verdict"]["status"] == "UNVERIFIED" and asked["verdict"]["gaps"]
    assert asked["exceptions"][0]["grantedBy"] == "carol" and asked["exceptions"][0]["emergency"] is True
    assert f"exception {exc} (active" in cli(shop, "ask", "change", "acme/shop#3").stdout
    with api(shop) as client:
        body = client.post(
            "/graphql",
            json={
                "query": '{ change(repo: "acme/shop", number: 3) '
                "{ verdict { status } exceptions { id state grantedBy } } }"
            },
        ).json()
    assert body["data"]["change"] == {
        "verdict": {"status": "UNVERIFIED"},
        "exceptions": [{"id": exc, "state": "active", "grantedBy": "carol"}],
    }

    # An unreviewed emergency exception is a gap of its own, listed for auditors.
    listed = cli(shop, "exception", "list")
    assert "awaits its review after the fact" in listed.stdout

    window = ["--service", "shop", "--from", "2026-06-01", "--to", "2027-03-01"]
    metrics = json.loads(cli(shop, "metrics", *window, "--json").stdout)
    assert metrics["exceptions"] == {
        "inForce": 1,
        "granted": 1,
        "emergency": 1,
        "withGaps": 1,
        "unreviewed": 1,
        "expiredUnverified": 0,
    }
    assert "1 with gaps: 1 emergency not reviewed" in cli(shop, "metrics", *window).stdout

    # The review after the fact: not by the one who granted it, nor the author; by another approver.
    refused = cli(shop, "exception", "review", exc, "--notes", "fine", as_=carol)
    assert refused.exit_code == 2 and "its review must come from another approver" in refused.stderr
    assert cli(shop, "exception", "review", exc, "--notes", "fine", as_=approver(shop, "alice")).exit_code == 2
    dave = approver(shop, "dave")
    reviewed = cli(shop, "exception", "review", exc, "--notes", "Coupon code reviewed with the payments team", as_=dave)
    assert reviewed.exit_code == 0 and "reviewed by dave" in reviewed.stdout
    assert "gap:" not in cli(shop, "exception", "list", "--change", "acme/shop#3").stdout

    # Revoked: the gate refuses again at once.
    revoked = cli(shop, "exception", "revoke", exc, "--reason", "The sale was cancelled", as_=dave)
    assert revoked.exit_code == 0 and "REVOKED" in revoked.stdout
    assert gate_json(shop, "commit", gs.M3, "--environment", "production")[0] == 1
    assert cli(shop, "exception", "revoke", exc, "--reason", "again", as_=dave).exit_code == 2

    audit = json.loads(cli(shop, "audit", "--json").stdout)
    seen = {(e["action"], e["token_name"], e["status"]) for e in audit if e["action"].startswith("exception.")}
    assert {
        ("exception.grant", "alice", 403),
        ("exception.grant", "erin", 403),
        ("exception.grant", "carol", 201),
        ("exception.review", "carol", 403),
        ("exception.review", "dave", 200),
        ("exception.revoke", "dave", 200),
    } <= seen


def test_an_exception_covers_only_while_active(shop: Settings) -> None:
    """Expiry, and an emergency review that is overdue: the gate stops passing; each is a gap of its own."""
    policy = load_policy()
    granted_at = datetime(2026, 3, 10, tzinfo=UTC)
    change = run_graph(shop, lambda g: repository.change(g, policy, repo=gs.REPO, number=3))
    assert change is not None

    carol = Principal(token_id="tok_carol", name="carol", role=Role.APPROVER)

    async def grant_as_carol(graph: Graph) -> Any:
        return await xs.grant(
            graph,
            policy,
            carol,
            change_id=change.id,
            reason="hotfix",
            expires_at=granted_at + timedelta(days=10),
            emergency=True,
            now=granted_at,
        )

    exc = run_graph(shop, grant_as_carol)
    assert exc.review_due_at == granted_at + timedelta(days=policy.exceptions.review_within_days)

    def gate_at(moment: datetime) -> bool:
        return run_graph(shop, lambda g: gate_commit(g, policy, gs.M3, environment="production", now=moment)).passed

    assert gate_at(granted_at + timedelta(days=1)) is True
    overdue = granted_at + timedelta(days=6)
    assert xs.state(exc, overdue) == "review overdue" and gate_at(overdue) is False
    assert "was not reviewed by" in xs.gaps(exc, overdue, verdict=change.verdict.status)[0]
    reviewed = exc.model_copy(update={"reviewed_at": granted_at + timedelta(days=2), "reviewed_by": "dave"})
    expired = granted_at + timedelta(days=11)
    assert xs.state(reviewed, expired) == "expired"
    assert xs.gaps(reviewed, expired, verdict=change.verdict.status) == [
        f"exception {exc.id} for github:acme/shop#3 expired on 2026-03-20 00:00 UTC and the change is not VERIFIED"
    ]
    assert gate_at(expired) is False
