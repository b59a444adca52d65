"""GitHub answered by the gate, against a local GitHub API (tests/github_server.py): a signed
`deployment_protection_rule` webhook is stored and answered through its callback (approved, or rejected
with the gaps); `tracegraph gate change … --post-status` sets the `tracegraph/verdict` commit status."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from cli.main import main
from graph.settings import Settings
from ingest.pipeline.events import Event
from ingest.sources import SOURCES
from tests import governance_scenario as gs
from tests.conftest import CORPUS, api, load
from tests.github_server import GitHubServer
from tests.test_gates import env

SECRET = "webhook-secret-for-the-gate"
TOKEN = "ghs_" + "k3Jd9Qw2Lm5Np8Rt1Vx4Zb7Cf0Gh6Sa"


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    with GitHubServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def shop(settings: Settings, github: GitHubServer) -> Settings:
    load(settings, gs.history())
    return settings.model_copy(
        update={
            "webhook_secrets": {"TRACEGRAPH_GITHUB_SECRET": SecretStr(SECRET)},
            "github_token": SecretStr(TOKEN),
            "github_api_url": github.url,
        }
    )


def protection_rule(
    github: GitHubServer, commit: str, *, run: int = 4242, callback: str | None = None
) -> dict[str, Any]:
    """A deployment_protection_rule `requested` payload, in the shape GitHub sends."""
    return {
        "action": "requested",
        "environment": "production",
        "event": "push",
        "deployment_callback_url": callback
        or f"{github.url}/repos/acme/shop/actions/runs/{run}/deployment_protection_rule",
        "deployment": {
            "url": "https://api.github.com/repos/acme/shop/deployments/555",
            "id": 555,
            "node_id": "DE_kwDOABCDEF4AAAAB",
            "sha": commit,
            "ref": "main",
            "task": "deploy",
            "payload": {"service": "shop", "strategy": "canary"},
            "original_environment": "production",
            "environment": "production",
            "created_at": "2026-03-08T09:00:00Z",
            "updated_at": "2026-03-08T09:00:00Z",
            "creator": {"login": "github-actions[bot]", "id": 41898282, "type": "Bot"},
        },
        "pull_requests": [],
        "sha": commit,
        "ref": "main",
        "repository": {"id": 1192056896, "name": "shop", "full_name": "acme/shop", "owner": {"login": "acme"}},
        "installation": {"id": 119022551},
        "sender": {"login": "alice", "id": 242828183},
        "workflow_run": {"id": run},
    }


def deliver(client: TestClient, payload: dict[str, Any], *, secret: str = SECRET, delivery: str = "d-1") -> Any:
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/github",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "deployment_protection_rule",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature,
        },
    )


def callbacks(github: GitHubServer) -> list[Any]:
    return [r for r in github.requests if r.path.endswith("/deployment_protection_rule")]


def test_a_waiting_deployment_is_approved_when_the_gate_passes(shop: Settings, github: GitHubServer) -> None:
    with TestClient(create_app(shop)) as client:
        answered = deliver(client, protection_rule(github, gs.M2))
    assert answered.status_code == 202 and answered.json()["status"] == "accepted"
    [call] = callbacks(github)
    assert call.path == "/repos/acme/shop/actions/runs/4242/deployment_protection_rule"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.body["environment_name"] == "production" and call.body["state"] == "approved"
    assert "1 change(s) to production, every one VERIFIED" in call.body["comment"]
    # The delivery itself is kept like any other (its deployment reaches the graph through the worker).
    stored = list((shop.inbox_dir).rglob("*.json"))
    assert stored and any("deployment_protection_rule" in p.read_text() for p in stored)


def test_a_waiting_deployment_is_rejected_with_the_gaps(shop: Settings, github: GitHubServer) -> None:
    with TestClient(create_app(shop)) as client:
        assert deliver(client, protection_rule(github, gs.X)).status_code == 202
    [call] = callbacks(github)
    assert call.body["state"] == "rejected"
    comment = call.body["comment"]
    assert "belongs to no merged change" in comment and "acme/shop#3 is UNVERIFIED" in comment
    assert "needs 1 independent, non-stale approval(s)" in comment and len(comment) <= 1024


def test_what_cannot_be_evaluated_is_rejected(shop: Settings, github: GitHubServer) -> None:
    with TestClient(create_app(shop)) as client:
        deliver(client, protection_rule(github, "0" * 40))
    [call] = callbacks(github)
    assert call.body["state"] == "rejected" and "could not evaluate" in call.body["comment"]


def test_unsigned_deliveries_and_foreign_callbacks_get_no_answer(shop: Settings, github: GitHubServer) -> None:
    with TestClient(create_app(shop)) as client:
        assert deliver(client, protection_rule(github, gs.M2), secret="wrong").status_code == 401
        foreign = protection_rule(github, gs.M2, callback="https://evil.example/repos/acme/shop/actions/runs/1/x")
        assert deliver(client, foreign, delivery="d-2").status_code == 202
    assert callbacks(github) == []  # the token went nowhere
    with api(shop, role="admin") as admin:
        entries = admin.get("/admin/audit").json()
    [entry] = [e for e in entries if e["token_name"] == "GitHub deployment protection rule"]
    assert "not answered" in entry["what"] and TOKEN not in entry["what"] and entry["status"] == 502


def test_github_refusing_the_token_is_logged_not_hidden(shop: Settings, github: GitHubServer) -> None:
    wrong = shop.model_copy(update={"github_token": SecretStr("ghs_not-the-right-one")})
    with TestClient(create_app(wrong)) as client:
        deliver(client, protection_rule(github, gs.M2))
    [call] = callbacks(github)
    assert call.headers["Authorization"] != f"Bearer {TOKEN}"
    with api(shop, role="admin") as admin:
        [entry] = [e for e in admin.get("/admin/audit").json() if e["action"] == "gate"]
    assert "401: Bad credentials" in entry["what"] and "ghs_not-the-right-one" not in entry["what"]


def test_the_delivery_is_normalised_into_its_deployment() -> None:
    payload = protection_rule(GitHubServer(token=TOKEN), gs.M2, callback="https://api.github.com/x")
    event = Event("github", "deployment_protection_rule", "d-1", payload, "2026-03-08T09:00:01Z")
    batch = SOURCES["github"].normalise(event)
    [deployment] = [n for n in batch.nodes if n.label == "Deployment"]
    assert deployment.key == "github:deployment:555"
    assert (deployment.props["sha"], deployment.props["environment"]) == (gs.M2, "production")
    assert SOURCES["github"].infer_type(payload) == "deployment_protection_rule"


def status_cli(settings: Settings, *args: str, token: str = TOKEN) -> Any:
    extra = {"TRACEGRAPH_GITHUB_TOKEN": token, "TRACEGRAPH_GITHUB_API_URL": settings.github_api_url}
    return CliRunner().invoke(main, ["gate", "change", *args, "--post-status"], env=env(settings, **extra))


def test_the_verdict_is_posted_as_a_commit_status(shop: Settings, github: GitHubServer) -> None:
    passed = status_cli(shop, "acme/shop#2", "--target-url", "https://ci.example.com/runs/1")
    failed = status_cli(shop, "acme/shop#3")
    assert (passed.exit_code, failed.exit_code) == (0, 1)
    ok, bad = [r for r in github.requests if "/statuses/" in r.path]
    assert ok.path == f"/repos/acme/shop/statuses/{gs.H2}"
    assert ok.body == {
        "state": "success",
        "context": "tracegraph/verdict",
        "description": "VERIFIED",
        "target_url": "https://ci.example.com/runs/1",
    }
    assert bad.path == f"/repos/acme/shop/statuses/{gs.H3}" and bad.body["state"] == "failure"
    assert bad.body["description"].startswith("1 gap(s): needs 1 independent") and len(bad.body["description"]) <= 140
    refused = status_cli(shop, "acme/shop#2", token="ghs_wrong")
    assert refused.exit_code == 2 and "GitHub answered the commit status with 401: Bad credentials" in refused.stderr
    assert "ghs_wrong" not in refused.output


@pytest.mark.skipif(not (CORPUS / "github-api").is_dir(), reason="../shared/corpus is not present")
def test_the_local_github_answers_a_commit_status_in_the_recorded_shape(shop: Settings, github: GitHubServer) -> None:
    recorded = json.loads((CORPUS / "github-api" / "octokit-fixtures" / "create-status.raw-fixture.json").read_text())
    [real] = [r for r in recorded if "/statuses/" in r["path"] and r["method"] == "post"][:1]
    answer = httpx.post(
        f"{github.url}/repos/acme/shop/statuses/{gs.H2}",
        json=real["body"],
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == real["status"] == 201
    assert set(answer.json()) == set(real["response"])
    assert set(real["body"]) <= {"state", "target_url", "description", "context"}
