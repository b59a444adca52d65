"""Webhook receivers: each signature scheme valid, invalid, missing and replayed; limits; durable 503s.

The router is mounted on a bare FastAPI app (as api/app.py mounts it) with its inbox in a temp
folder; these tests never need Neo4j, except the last one, which follows a delivery into the graph.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.webhooks import router
from graph.settings import Settings
from ingest import examples as ex
from ingest import signatures
from ingest.inbox import PENDING, Inbox

GITHUB_SECRET = "gh-webhook-secret"
GITLAB_TOKEN = "gl-webhook-token"
PAGERDUTY_SECRET = "pd-webhook-secret"
OPSGENIE_TOKEN = "og-webhook-token"
INGEST_TOKEN = "ingest-token-for-tests"


SECRETS = {
    "TRACEGRAPH_GITHUB_SECRET": GITHUB_SECRET,
    "TRACEGRAPH_GITLAB_TOKEN": GITLAB_TOKEN,
    "TRACEGRAPH_PAGERDUTY_SECRET": PAGERDUTY_SECRET,
    "TRACEGRAPH_OPSGENIE_TOKEN": OPSGENIE_TOKEN,
}


def webhook_settings(*, secrets: dict[str, str | None] | None = None, **overrides: Any) -> Settings:
    """Settings with every webhook secret configured (`secrets` overrides some, None or "" unsets)."""
    chosen = {**SECRETS, **(secrets or {})}
    values: dict[str, Any] = {"ingest_token": INGEST_TOKEN, "max_body_bytes": 64 * 1024, **overrides}
    return Settings.model_construct(
        webhook_secrets={k: SecretStr(v) for k, v in chosen.items() if v is not None},
        **{k: SecretStr(v) if isinstance(v, str) else v for k, v in values.items()},
    )


def make_app(inbox: Inbox, config: Settings | None = None) -> FastAPI:
    """The router on a bare app, with the state api/app.py provides."""
    app = FastAPI()
    app.include_router(router)
    app.state.inbox = inbox
    app.state.settings = config or webhook_settings()
    return app


@pytest.fixture
def inbox(tmp_path: Path) -> Inbox:
    return Inbox(tmp_path / "inbox")


@pytest.fixture
def client(inbox: Inbox) -> Iterator[TestClient]:
    with TestClient(make_app(inbox)) as test_client:
        yield test_client


def stored(inbox: Inbox) -> list[dict[str, Any]]:
    """Every envelope waiting in pending/ (and proof nothing is half-written in tmp/)."""
    assert not list((inbox.root / "tmp").glob("*")), "a partial write was left behind"
    return [json.loads((inbox.dir(PENDING) / name).read_text()) for name in inbox.names(PENDING)]


# --- one signed request per scheme ---------------------------------------------------------------


@dataclass(frozen=True)
class Scheme:
    path: str
    source: str
    type: str
    id: str
    body: bytes
    sign: Callable[[bytes], dict[str, str]]  # the auth headers a genuine sender adds
    forge: dict[str, str]  # auth headers of an impostor
    extra: dict[str, str]  # event and delivery headers


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


PR = ex.pull_request("acme/hooks", 7, action="opened", author="alice", head=ex.sha("hooks-7"))["payload"]
MR = {"object_kind": "merge_request", "project": {"path_with_namespace": "acme/hooks"}, "object_attributes": {"iid": 3}}
PD = {"event": {"id": "01PDEVENT", "event_type": "incident.triggered", "data": {"id": "PINC1", "type": "incident"}}}
OG = {"action": "Create", "alert": {"alertId": "a-1", "updatedAt": 1502709956288000110, "message": "down"}}

SCHEMES = {
    "github": Scheme(
        "/webhooks/github",
        "github",
        "pull_request",
        "delivery-1",
        _json(PR),
        lambda body: {"X-Hub-Signature-256": signatures.github_signature(GITHUB_SECRET, body)},
        {"X-Hub-Signature-256": signatures.github_signature("not-the-secret", _json(PR))},
        {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "delivery-1"},
    ),
    "gitlab": Scheme(
        "/webhooks/gitlab",
        "gitlab",
        "Merge Request Hook",
        "gl-event-uuid-1",
        _json(MR),
        lambda body: {"X-Gitlab-Token": GITLAB_TOKEN},
        {"X-Gitlab-Token": GITLAB_TOKEN + "x"},
        {"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": "gl-event-uuid-1"},
    ),
    "pagerduty": Scheme(
        "/webhooks/pagerduty",
        "pagerduty",
        "incident.triggered",
        "01PDEVENT",
        _json(PD),
        lambda body: {"X-PagerDuty-Signature": signatures.pagerduty_signature(PAGERDUTY_SECRET, body)},
        {"X-PagerDuty-Signature": signatures.pagerduty_signature("old-secret", _json(PD))},
        {},
    ),
    "opsgenie": Scheme(
        "/webhooks/opsgenie",
        "opsgenie",
        "Create",
        "a-1:Create:1502709956288000110",
        _json(OG),
        lambda body: {signatures.OPSGENIE_HEADER: OPSGENIE_TOKEN},
        {signatures.OPSGENIE_HEADER: "guess"},
        {},
    ),
}
NAMES = sorted(SCHEMES)


def send(client: TestClient, scheme: Scheme, *, auth: dict[str, str] | None = None, body: bytes | None = None) -> Any:
    body = scheme.body if body is None else body
    headers = {"Content-Type": "application/json", **scheme.extra}
    headers.update(scheme.sign(body) if auth is None else auth)
    return client.post(scheme.path, content=body, headers=headers)


@pytest.mark.parametrize("name", NAMES)
def test_a_valid_delivery_is_stored_as_an_envelope_then_acknowledged(
    client: TestClient, inbox: Inbox, name: str
) -> None:
    scheme = SCHEMES[name]
    response = send(client, scheme)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "id": scheme.id}
    [envelope] = stored(inbox)
    assert (envelope["source"], envelope["type"], envelope["id"]) == (scheme.source, scheme.type, scheme.id)
    assert envelope["payload"] == json.loads(scheme.body) and envelope["received_at"].endswith("Z")
    assert envelope["via"] == f"webhook:{name}"


@pytest.mark.parametrize("name", NAMES)
def test_an_invalid_signature_is_401_and_nothing_is_stored(client: TestClient, inbox: Inbox, name: str) -> None:
    response = send(client, SCHEMES[name], auth=SCHEMES[name].forge)
    assert response.status_code == 401 and response.json() == {"detail": "bad or missing signature"}
    assert stored(inbox) == [] and not inbox.dir("seen").exists()


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_signature_is_401_and_nothing_is_stored(client: TestClient, inbox: Inbox, name: str) -> None:
    response = send(client, SCHEMES[name], auth={})
    assert response.status_code == 401
    assert stored(inbox) == []


@pytest.mark.parametrize("name", ["github", "pagerduty"])
def test_a_body_altered_after_signing_is_401(client: TestClient, inbox: Inbox, name: str) -> None:
    scheme = SCHEMES[name]
    tampered = scheme.body.replace(b"alice", b"mallory").replace(b"PINC1", b"PINC2")
    assert tampered != scheme.body
    assert send(client, scheme, auth=scheme.sign(scheme.body), body=tampered).status_code == 401
    assert stored(inbox) == []


@pytest.mark.parametrize("name", NAMES)
def test_a_replayed_delivery_is_a_duplicate_and_stored_once(client: TestClient, inbox: Inbox, name: str) -> None:
    scheme = SCHEMES[name]
    assert send(client, scheme).status_code == 202
    again = send(client, scheme)
    assert again.status_code == 200 and again.json() == {"status": "duplicate", "id": scheme.id}
    assert len(stored(inbox)) == 1


@pytest.mark.parametrize("name", NAMES)
def test_a_replay_after_the_worker_moved_it_on_is_still_a_duplicate(
    client: TestClient, inbox: Inbox, name: str
) -> None:
    assert send(client, SCHEMES[name]).status_code == 202
    with inbox.claim("w") as claim:
        claim.done(claim.take(10))
    assert send(client, SCHEMES[name]).json()["status"] == "duplicate"
    assert inbox.counts()[PENDING] == 0 and inbox.counts()["done"] == 1


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("github", "TRACEGRAPH_GITHUB_SECRET"),
        ("gitlab", "TRACEGRAPH_GITLAB_TOKEN"),
        ("pagerduty", "TRACEGRAPH_PAGERDUTY_SECRET"),
        ("opsgenie", "TRACEGRAPH_OPSGENIE_TOKEN"),
    ],
)
@pytest.mark.parametrize("unset", [None, ""])
def test_an_unconfigured_secret_is_503_never_an_unsigned_accept(
    inbox: Inbox, name: str, variable: str, unset: str | None
) -> None:
    config = webhook_settings(secrets={variable: unset})
    with TestClient(make_app(inbox, config)) as client:
        response = send(client, SCHEMES[name], auth={})
    assert response.status_code == 503
    assert response.json() == {"detail": f"webhook secret not configured (set {variable})"}
    assert stored(inbox) == []


def test_the_settings_read_the_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in {
        "TRACEGRAPH_GITHUB_SECRET": "s3cret-gh",
        "TRACEGRAPH_GITLAB_TOKEN": "s3cret-gl",
        "TRACEGRAPH_PAGERDUTY_SECRET": "s3cret-pd",
        "TRACEGRAPH_OPSGENIE_TOKEN": "s3cret-og",
        "TRACEGRAPH_INGEST_TOKEN": "s3cret-in",
        "TRACEGRAPH_MAX_BODY_BYTES": "1000",
    }.items():
        monkeypatch.setenv(variable, value)
    config = Settings()
    names = ("TRACEGRAPH_GITHUB_SECRET", "TRACEGRAPH_GITLAB_TOKEN", "TRACEGRAPH_PAGERDUTY_SECRET")
    secrets = [config.secret(name) for name in (*names, "TRACEGRAPH_OPSGENIE_TOKEN")]
    assert secrets == ["s3cret-gh", "s3cret-gl", "s3cret-pd", "s3cret-og"]
    assert (
        config.ingest_token and config.ingest_token.get_secret_value() == "s3cret-in" and config.max_body_bytes == 1000
    )
    assert "s3cret" not in repr(config)  # secrets never show up in logs or tracebacks


# --- scheme details ------------------------------------------------------------------------------


def test_pagerduty_accepts_any_of_several_signatures(client: TestClient, inbox: Inbox) -> None:
    scheme = SCHEMES["pagerduty"]
    good = signatures.pagerduty_signature(PAGERDUTY_SECRET, scheme.body)
    rotated = f"{signatures.pagerduty_signature('old-secret', scheme.body)},{good}"
    assert send(client, scheme, auth={"X-PagerDuty-Signature": rotated}).status_code == 202
    assert len(stored(inbox)) == 1


@pytest.mark.parametrize(
    "header",
    [
        "v1=",
        "v2=" + signatures.hmac_sha256_hex(PAGERDUTY_SECRET, SCHEMES["pagerduty"].body),
        "v1=zz, v1=00",
        ",,,",
        "v1=" + signatures.hmac_sha256_hex(PAGERDUTY_SECRET, b"{}"),
    ],
)
def test_pagerduty_rejects_wrong_versions_and_signatures(client: TestClient, inbox: Inbox, header: str) -> None:
    assert send(client, SCHEMES["pagerduty"], auth={"X-PagerDuty-Signature": header}).status_code == 401
    assert stored(inbox) == []


@pytest.mark.parametrize(
    ("secret", "body", "header", "ok"),
    [
        ("s", b"{}", signatures.github_signature("s", b"{}"), True),
        ("s", b"{}", signatures.github_signature("s", b"{}").upper().replace("SHA256", "sha256"), True),
        ("s", b"{}", "sha1=" + signatures.hmac_sha256_hex("s", b"{}"), False),
        ("s", b"{}", signatures.hmac_sha256_hex("s", b"{}"), False),
        ("s", b"{}", "sha256=", False),
        ("", b"{}", signatures.github_signature("", b"{}"), False),
        ("s", b"{}", None, False),
    ],
)
def test_github_signature_table(secret: str, body: bytes, header: str | None, ok: bool) -> None:
    assert signatures.verify_github(secret, body, header) is ok


@pytest.mark.parametrize(
    ("check", "ok"),
    [
        (lambda: signatures.verify_gitlab("t", "t"), True),
        (lambda: signatures.verify_gitlab("t", "T"), False),
        (lambda: signatures.verify_gitlab("", ""), False),
        (lambda: signatures.verify_gitlab("t", None), False),
        (lambda: signatures.verify_opsgenie("t", "t"), True),
        (lambda: signatures.verify_opsgenie("t", "t "), False),
        (lambda: signatures.verify_bearer("t", "Bearer t"), True),
        (lambda: signatures.verify_bearer("t", "bearer   t"), True),
        (lambda: signatures.verify_bearer("t", "Basic t"), False),
        (lambda: signatures.verify_bearer("t", "Bearer é"), False),
        (lambda: signatures.verify_bearer("", "Bearer "), False),
    ],
)
def test_token_comparisons(check: Callable[[], bool], ok: bool) -> None:
    assert check() is ok


def test_github_ping_is_answered_and_not_stored(client: TestClient, inbox: Inbox) -> None:
    body = _json({"zen": "Keep it logically awesome.", "hook_id": 1})
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "ping-1"}
    headers |= {"X-Hub-Signature-256": signatures.github_signature(GITHUB_SECRET, body)}
    response = client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert stored(inbox) == []


def test_signed_deliveries_of_types_no_source_reads_are_ignored_not_stored(client: TestClient, inbox: Inbox) -> None:
    """A type no normaliser reads would only sit in quarantine: it is answered and dropped."""
    body = _json({"action": "created", "issue": {"number": 1}})
    headers = {"X-GitHub-Event": "issues", "X-GitHub-Delivery": "issue-1"}
    headers |= {"X-Hub-Signature-256": signatures.github_signature(GITHUB_SECRET, body)}
    response = client.post("/webhooks/github", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert "github issues" in response.json()["reason"]
    pd = _json({"event": {"id": "01EP", "event_type": "escalation_policy.updated", "data": {"id": "PEP1"}}})
    signed = {"X-PagerDuty-Signature": signatures.pagerduty_signature(PAGERDUTY_SECRET, pd)}
    assert client.post("/webhooks/pagerduty", content=pd, headers=signed).json()["status"] == "ignored"
    assert stored(inbox) == []


def test_an_unsigned_delivery_of_an_ignored_type_is_still_401(client: TestClient, inbox: Inbox) -> None:
    response = client.post("/webhooks/github", content=b"{}", headers={"X-GitHub-Event": "ping"})
    assert response.status_code == 401 and stored(inbox) == []


@pytest.mark.parametrize("name", ["provenance", "no-such-source"])
def test_a_source_without_webhooks_is_404_naming_those_that_have_them(client: TestClient, name: str) -> None:
    response = client.post(f"/webhooks/{name}", content=b"{}")
    assert response.status_code == 404
    assert "github, gitlab, opsgenie, pagerduty" in response.json()["detail"] and "/events" in response.json()["detail"]


def test_github_form_encoded_deliveries_are_read(client: TestClient, inbox: Inbox) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(PR)}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "form-1",
        "X-Hub-Signature-256": signatures.github_signature(GITHUB_SECRET, body),
    }
    assert client.post("/webhooks/github", content=body, headers=headers).status_code == 202
    assert stored(inbox)[0]["payload"] == PR


def test_github_without_a_delivery_header_dedups_on_the_body(client: TestClient, inbox: Inbox) -> None:
    scheme = SCHEMES["github"]
    headers = {"X-GitHub-Event": "pull_request", **scheme.sign(scheme.body)}
    first = client.post("/webhooks/github", content=scheme.body, headers=headers)
    second = client.post("/webhooks/github", content=scheme.body, headers=headers)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"].startswith("sha256:") and len(stored(inbox)) == 1


def test_gitlab_prefers_the_idempotency_key_that_survives_retries(client: TestClient, inbox: Inbox) -> None:
    scheme = SCHEMES["gitlab"]
    retry = {**scheme.extra, "Idempotency-Key": "idem-1"}
    for uuid in ("uuid-a", "uuid-b"):  # a manual resend may carry a new event UUID
        headers = {**retry, "X-Gitlab-Event-UUID": uuid, **scheme.sign(scheme.body)}
        client.post(scheme.path, content=scheme.body, headers=headers)
    assert [e["id"] for e in stored(inbox)] == ["idem-1"]


def test_opsgenie_without_alert_fields_dedups_on_the_body(client: TestClient, inbox: Inbox) -> None:
    body = _json({"action": "Close", "alert": {"message": "no id"}})
    headers = {signatures.OPSGENIE_HEADER: OPSGENIE_TOKEN}
    ids = [client.post("/webhooks/opsgenie", content=body, headers=headers).json()["id"] for _ in range(2)]
    assert ids[0] == ids[1] and ids[0].startswith("sha256:") and len(stored(inbox)) == 1


@pytest.mark.parametrize(
    ("name", "body", "detail"),
    [
        ("github", b"not json", "body is not JSON"),
        ("github", b"[1, 2]", "body must be a JSON object"),
        ("github", b'{"a": NaN}', "body is not JSON"),
        ("github", b"[" * 100_000 + b"]" * 100_000, ""),
        ("pagerduty", b'{"event": "x"}', "expected `event.event_type` (V3) or a `messages` list (V2)"),
        ("pagerduty", b'{"event": {"id": "1"}}', "names no event type"),
        ("opsgenie", b'{"alert": {}}', "expected an `action` string"),
        ("opsgenie", b'{"action": 5}', "expected an `action` string"),
    ],
)
def test_signed_but_unreadable_bodies_are_400_and_not_stored(inbox: Inbox, name: str, body: bytes, detail: str) -> None:
    config = webhook_settings(max_body_bytes=1024 * 1024)
    with TestClient(make_app(inbox, config)) as client:
        response = send(client, SCHEMES[name], body=body)
    assert response.status_code == 400 and detail in response.json()["detail"]
    assert stored(inbox) == []


def test_gitlab_without_an_event_header_uses_object_kind_or_says_400(client: TestClient, inbox: Inbox) -> None:
    headers = {"X-Gitlab-Token": GITLAB_TOKEN}
    assert client.post("/webhooks/gitlab", content=_json(MR), headers=headers).status_code == 202
    assert client.post("/webhooks/gitlab", content=b'{"a": 1}', headers=headers).status_code == 400
    assert [e["type"] for e in stored(inbox)] == ["merge_request"]


def test_an_oversized_delivery_id_is_refused(client: TestClient, inbox: Inbox) -> None:
    scheme = SCHEMES["github"]
    headers = {**scheme.extra, "X-GitHub-Delivery": "d" * 500, **scheme.sign(scheme.body)}
    response = client.post(scheme.path, content=scheme.body, headers=headers)
    assert response.status_code == 400 and "longer than" in response.json()["detail"]


@pytest.mark.parametrize("name", NAMES)
def test_a_body_above_the_limit_is_413_and_not_stored(inbox: Inbox, name: str) -> None:
    config = webhook_settings(max_body_bytes=1000)
    big = _json({"action": "Create", "pad": "x" * 2000})
    with TestClient(make_app(inbox, config)) as client:
        response = send(client, SCHEMES[name], body=big)
        streamed = client.post(
            SCHEMES[name].path,
            content=iter([big[:600], big[600:]]),  # chunked: no Content-Length to trust
            headers={**SCHEMES[name].extra, **SCHEMES[name].sign(big)},
        )
    assert response.status_code == 413 and streamed.status_code == 413
    assert stored(inbox) == []


# --- a disk that refuses -------------------------------------------------------------------------


def test_an_inbox_under_a_file_is_503_not_a_silent_drop(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    box = Inbox(tmp_path / "a-file" / "inbox")
    with TestClient(make_app(box)) as client:
        response = send(client, SCHEMES["github"])
        replay = send(client, SCHEMES["github"])
    assert response.status_code == 503 and "not stored" in response.json()["detail"]
    assert replay.status_code == 503  # not mistaken for a duplicate later


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_inbox_is_503(tmp_path: Path) -> None:
    box = Inbox(tmp_path / "inbox")
    box.root.mkdir()
    box.root.chmod(0o500)
    try:
        with TestClient(make_app(box)) as client:
            assert send(client, SCHEMES["github"]).status_code == 503
    finally:
        box.root.chmod(0o700)


def test_a_full_disk_is_503_and_leaves_no_partial_file(
    client: TestClient, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    response = send(client, SCHEMES["github"])
    assert response.status_code == 503
    monkeypatch.undo()
    assert stored(inbox) == [] and not inbox.is_duplicate("github", "delivery-1")
    assert send(client, SCHEMES["github"]).status_code == 202  # the sender's retry lands


# --- /events -------------------------------------------------------------------------------------


def post_events(client: TestClient, body: bytes | str, token: str | None = INGEST_TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post("/events", content=body, headers=headers)


ENVELOPES = [
    ex.pull_request("acme/ev", 1, action="opened", author="alice", head=ex.sha("ev-1")),
    ex.check_run("acme/ev", name="unit-tests", head=ex.sha("ev-1"), conclusion="success", run_id=11),
]


@pytest.mark.parametrize(
    "body",
    [
        "\n".join(json.dumps(e) for e in ENVELOPES) + "\n",
        json.dumps(ENVELOPES, indent=2),
    ],
    ids=["jsonl", "array"],
)
def test_events_take_jsonl_or_an_array_of_envelopes(client: TestClient, inbox: Inbox, body: str) -> None:
    response = post_events(client, body)
    assert response.status_code == 202
    assert response.json() == {
        "status": "accepted",
        "accepted": 2,
        "duplicates": 0,
        "ids": [e["id"] for e in ENVELOPES],
    }
    assert [(e["source"], e["type"], e["id"], e["via"]) for e in stored(inbox)] == [
        ("github", e["type"], e["id"], "api:events:static") for e in ENVELOPES
    ]


def test_events_take_one_pretty_printed_envelope_and_dedup_replays(client: TestClient, inbox: Inbox) -> None:
    assert post_events(client, json.dumps(ENVELOPES[0], indent=2)).status_code == 202
    mixed = post_events(client, "\n".join(json.dumps(e) for e in ENVELOPES))
    assert mixed.status_code == 202 and mixed.json()["accepted"] == 1 and mixed.json()["duplicates"] == 1
    again = post_events(client, json.dumps(ENVELOPES))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(stored(inbox)) == 2


def test_an_envelope_without_id_gets_a_content_id_independent_of_formatting(client: TestClient, inbox: Inbox) -> None:
    doc = {"source": "github", "type": "pull_request", "payload": ENVELOPES[0]["payload"]}
    first = post_events(client, json.dumps(doc))
    second = post_events(client, json.dumps(doc, indent=4, sort_keys=True))
    assert first.json()["ids"] == second.json()["ids"] and second.json()["status"] == "duplicate"


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("wrong", 401), ("", 401), (INGEST_TOKEN + "x", 401)],
)
def test_events_need_the_ingest_token(client: TestClient, inbox: Inbox, token: str | None, status: int) -> None:
    response = post_events(client, json.dumps(ENVELOPES[0]), token=token)
    assert response.status_code == status and response.headers["www-authenticate"] == "Bearer"
    assert stored(inbox) == []


def test_events_without_a_configured_token_are_503(inbox: Inbox) -> None:
    with TestClient(make_app(inbox, webhook_settings(ingest_token=None))) as client:
        response = post_events(client, json.dumps(ENVELOPES[0]))
    assert response.status_code == 503 and "TRACEGRAPH_INGEST_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ("", 400, "no envelopes"),
        ('{"source": "github"}', 400, "envelope 1: not an event envelope"),
        ('{"source": "github", "payload": {}}\n{"oops"', 400, "line 2"),
        ('[{"source": "nope", "payload": {}}]', 422, "unknown source 'nope'"),
        ('{"source": "github", "id": [1], "payload": {}}', 400, "envelope field 'id'"),
        ('{"source": "github", "type": "t", "id": "' + "i" * 300 + '", "payload": {}}', 400, "longer than"),
        (b"\xff\xfe", 400, "not UTF-8"),
    ],
)
def test_bad_envelopes_are_refused_whole_and_named(
    client: TestClient, inbox: Inbox, body: str | bytes, status: int, detail: str
) -> None:
    response = post_events(client, body)
    assert response.status_code == status and detail in response.json()["detail"], response.text
    assert stored(inbox) == []


# --- into the graph ------------------------------------------------------------------------------


def test_a_signed_delivery_reaches_the_graph_through_the_worker(settings: Settings, inbox: Inbox) -> None:
    from ingest import worker
    from tests.conftest import run_graph
    from tests.test_ingest_cli import answers

    with TestClient(make_app(inbox)) as client:
        assert send(client, SCHEMES["github"]).status_code == 202
    run_graph(settings, lambda graph: worker.run(graph, inbox, once=True, log=lambda _: None))
    [change] = answers(settings, [("acme/hooks", 7)])
    assert change["head_sha"] == ex.sha("hooks-7")
    assert inbox.counts() == {"pending": 0, "claimed": 0, "done": 1, "quarantine": 0, "failed": 0}
