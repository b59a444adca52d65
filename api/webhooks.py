"""Webhook receivers and the envelope endpoint: verify, store durably in the inbox, then acknowledge.

Every endpoint answers 202 only once the delivery is on disk (ingest.inbox), 200 "duplicate" for a
delivery stored before, 401 for a bad or missing signature (nothing stored), 503 when its secret is
not configured or the inbox cannot be written, 413 above the body size limit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool

from api.auth import principal
from graph.access import Role
from graph.settings import get_settings
from ingest import signatures
from ingest.inbox import Delivery, Inbox, InboxUnavailable, Stored, inbox_dir
from ingest.reader import Unreadable, to_event
from ingest.sources import SOURCES

log = logging.getLogger("tracegraph.webhooks")
MAX_ID_LENGTH = 200  # delivery ids become graph keys; index keys must stay small
MAX_TYPE_LENGTH = 100


class WebhookSettings(BaseSettings):
    """Secrets of the live ingest path, from the environment (or .env)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    github_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_GITHUB_SECRET"))
    gitlab_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_GITLAB_TOKEN"))
    pagerduty_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TRACEGRAPH_PAGERDUTY_SECRET")
    )
    opsgenie_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_OPSGENIE_TOKEN"))
    ingest_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_INGEST_TOKEN"))
    max_body_bytes: int = Field(default=5 * 1024 * 1024, validation_alias=AliasChoices("TRACEGRAPH_MAX_BODY_BYTES"))


def get_webhook_settings(request: Request) -> WebhookSettings:
    """The app's webhook settings (app.state.webhook_settings, else read once from the environment)."""
    found = getattr(request.app.state, "webhook_settings", None)
    if found is None:
        found = request.app.state.webhook_settings = WebhookSettings()
    return found  # type: ignore[no-any-return]


def get_inbox(request: Request) -> Inbox:
    """The app's inbox (app.state.inbox, else TRACEGRAPH_INBOX or TRACEGRAPH_HOME/inbox)."""
    found = getattr(request.app.state, "inbox", None)
    if found is None:
        found = request.app.state.inbox = Inbox(inbox_dir(get_settings()))
    return found  # type: ignore[no-any-return]


ConfigDep = Annotated[WebhookSettings, Depends(get_webhook_settings)]
InboxDep = Annotated[Inbox, Depends(get_inbox)]


def _secret(value: SecretStr | None, variable: str) -> str:
    secret = value.get_secret_value() if value is not None else ""
    if not secret:
        # Never accept unsigned deliveries: without a secret there is nothing to check them against.
        raise HTTPException(503, f"webhook secret not configured (set {variable})")
    return secret


async def require_ingest_token(request: Request, config: ConfigDep) -> None:
    """An API token with the ingester (or admin) role, or the static TRACEGRAPH_INGEST_TOKEN when one is set
    (a bootstrap credential for pipelines); the one place the ingest credential is checked."""
    header = request.headers.get("authorization")
    static = config.ingest_token.get_secret_value() if config.ingest_token is not None else ""
    if static and signatures.verify_bearer(static, header):
        return
    graph = getattr(request.app.state, "graph", None)
    presented = header[7:].strip() if header and header[:7].lower() == "bearer " else ""
    if graph is not None and presented:
        who = await principal(request, presented)
        if who is not None:
            if not who.allows(Role.INGESTER):
                raise HTTPException(403, f"this token's role is {who.role.value}; /events needs ingester")
            return
    if not static and graph is None:
        raise HTTPException(503, "webhook secret not configured (set TRACEGRAPH_INGEST_TOKEN)")
    raise HTTPException(
        401,
        "missing or wrong ingest token (create one with `tracegraph token create --role ingester`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything above limit bytes without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str | bytes, what: str = "body") -> Any:
    """Strict JSON (no NaN/Infinity), or 400 saying why."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError as exc:
        raise HTTPException(400, f"{what} is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise HTTPException(400, f"{what} is not JSON: {exc}") from exc


def _object(body: bytes) -> dict[str, Any]:
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise HTTPException(400, "body must be a JSON object")
    return payload


def _digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()[:32]


def _checked(value: str, what: str, limit: int) -> str:
    if len(value) > limit:
        raise HTTPException(400, f"{what} is longer than {limit} characters")
    return value


async def store(inbox: Inbox, deliveries: list[Delivery]) -> list[Stored]:
    """Put deliveries in the inbox off the event loop; 503 when the disk refuses (nothing acknowledged)."""
    try:
        return await run_in_threadpool(inbox.put_many, deliveries)
    except InboxUnavailable as exc:
        log.error("%s", exc)
        raise HTTPException(503, "inbox unavailable: the delivery was not stored; send it again later") from exc


def _answer(stored: Stored) -> JSONResponse:
    if stored.duplicate:
        return JSONResponse({"status": "duplicate", "id": stored.id}, status_code=200)
    return JSONResponse({"status": "accepted", "id": stored.id}, status_code=202)


async def _receive(
    request: Request,
    config: WebhookSettings,
    secret: SecretStr | None,
    variable: str,
    verify: Callable[[str, bytes], bool],
) -> bytes:
    """The raw body of a delivery whose signature checks out (else 503/413/401)."""
    key = _secret(secret, variable)
    body = await read_body(request, config.max_body_bytes)
    if not verify(key, body):
        log.warning("rejected a %s delivery with a bad or missing signature", request.url.path)
        raise HTTPException(401, "bad or missing signature")
    return body


router = APIRouter()


@router.post("/webhooks/github", status_code=202)
async def github(request: Request, config: ConfigDep, inbox: InboxDep) -> JSONResponse:
    """GitHub: `X-Hub-Signature-256`, event in `X-GitHub-Event`, dedup on `X-GitHub-Delivery`."""
    headers = request.headers
    body = await _receive(
        request,
        config,
        config.github_secret,
        "TRACEGRAPH_GITHUB_SECRET",
        lambda key, raw: signatures.verify_github(key, raw, headers.get("x-hub-signature-256")),
    )
    event = _checked(headers.get("x-github-event", ""), "X-GitHub-Event", MAX_TYPE_LENGTH)
    if not event:
        raise HTTPException(400, "missing X-GitHub-Event header")
    if event == "ping":  # sent once when the hook is created; there is nothing to store
        return JSONResponse({"status": "pong"}, status_code=200)
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", errors="replace"))
        body = form.get("payload", [""])[0].encode()
    payload = _object(body)
    delivery_id = _checked(headers.get("x-github-delivery") or _digest(body), "X-GitHub-Delivery", MAX_ID_LENGTH)
    stored = await store(inbox, [Delivery("github", event, delivery_id, payload, via="webhook:github")])
    return _answer(stored[0])


@router.post("/webhooks/gitlab", status_code=202)
async def gitlab(request: Request, config: ConfigDep, inbox: InboxDep) -> JSONResponse:
    """GitLab: `X-Gitlab-Token`, event in `X-Gitlab-Event`, dedup on `Idempotency-Key`, `X-Gitlab-Event-UUID`."""
    headers = request.headers
    body = await _receive(
        request,
        config,
        config.gitlab_token,
        "TRACEGRAPH_GITLAB_TOKEN",
        lambda key, _: signatures.verify_gitlab(key, headers.get("x-gitlab-token")),
    )
    payload = _object(body)
    kind = headers.get("x-gitlab-event") or payload.get("object_kind")
    if not isinstance(kind, str) or not kind:
        raise HTTPException(400, "missing X-Gitlab-Event header")
    # Idempotency-Key stays the same when GitLab retries a delivery; the event UUID names the event.
    delivery_id = headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid") or _digest(body)
    delivery = Delivery(
        "gitlab",
        _checked(kind, "X-Gitlab-Event", MAX_TYPE_LENGTH),
        _checked(delivery_id, "delivery id", MAX_ID_LENGTH),
        payload,
        via="webhook:gitlab",
    )
    return _answer((await store(inbox, [delivery]))[0])


@router.post("/webhooks/pagerduty", status_code=202)
async def pagerduty(request: Request, config: ConfigDep, inbox: InboxDep) -> JSONResponse:
    """PagerDuty: `X-PagerDuty-Signature` (any v1 signature), type `event.event_type`, dedup on `event.id`."""
    headers = request.headers
    body = await _receive(
        request,
        config,
        config.pagerduty_secret,
        "TRACEGRAPH_PAGERDUTY_SECRET",
        lambda key, raw: signatures.verify_pagerduty(key, raw, headers.get("x-pagerduty-signature")),
    )
    payload = _object(body)
    event = payload.get("event")
    if isinstance(event, dict):
        kind, event_id = event.get("event_type"), event.get("id")
        if not isinstance(kind, str) or not kind:
            raise HTTPException(400, "PagerDuty webhook has no event.event_type")
    elif isinstance(payload.get("messages"), list):
        kind, event_id = "messages", None  # a legacy V2 delivery: its body digest names it
    else:
        raise HTTPException(400, "not a PagerDuty webhook: no `event` object (V3) or `messages` list (V2)")
    delivery_id = str(event_id) if isinstance(event_id, str | int) and event_id != "" else _digest(body)
    delivery = Delivery(
        "pagerduty",
        _checked(kind, "event.event_type", MAX_TYPE_LENGTH),
        _checked(delivery_id, "event.id", MAX_ID_LENGTH),
        payload,
        via="webhook:pagerduty",
    )
    return _answer((await store(inbox, [delivery]))[0])


@router.post("/webhooks/opsgenie", status_code=202)
async def opsgenie(request: Request, config: ConfigDep, inbox: InboxDep) -> JSONResponse:
    """Opsgenie: custom header `X-Opsgenie-Token`, type `action`, dedup on alert id + action + update time."""
    headers = request.headers
    body = await _receive(
        request,
        config,
        config.opsgenie_token,
        "TRACEGRAPH_OPSGENIE_TOKEN",
        lambda key, _: signatures.verify_opsgenie(key, headers.get(signatures.OPSGENIE_HEADER)),
    )
    payload = _object(body)
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise HTTPException(400, "Opsgenie webhook has no `action`")
    alert = payload["alert"] if isinstance(payload.get("alert"), dict) else {}
    parts = [alert.get("alertId"), action, alert.get("updatedAt")]
    # Opsgenie sends no delivery id; an alert's id, the action and its update time name one event.
    delivery_id = ":".join(str(p) for p in parts) if all(p not in (None, "") for p in parts) else _digest(body)
    delivery = Delivery(
        "opsgenie",
        _checked(action, "action", MAX_TYPE_LENGTH),
        _checked(delivery_id, "delivery id", MAX_ID_LENGTH),
        payload,
        via="webhook:opsgenie",
    )
    return _answer((await store(inbox, [delivery]))[0])


def parse_envelopes(body: bytes) -> list[Delivery]:
    """Envelopes of an /events body (one JSON object, a JSON array, or JSON lines); 400/422 naming the bad one."""
    text = body.decode("utf-8", errors="strict") if body else ""
    stripped = text.strip()
    if not stripped:
        raise HTTPException(400, "no envelopes in the body")
    docs: list[tuple[str, Any]]
    try:
        whole = json.loads(stripped, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        lines = [(n, line) for n, line in enumerate(stripped.splitlines(), start=1) if line.strip()]
        if len(lines) == 1:
            parse_json(stripped)  # raises the 400 that says why
        docs = [(f"line {n}", parse_json(line, f"line {n}")) for n, line in lines]
    else:
        docs = [(f"envelope {i + 1}", d) for i, d in enumerate(whole if isinstance(whole, list) else [whole])]
    deliveries = []
    for where, doc in docs:
        # A canonical text makes the content id of an envelope without id independent of formatting.
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        item = to_event(doc, raw, where, source=None, type=None)
        if isinstance(item, Unreadable):
            reason = (
                item.reason if "--source" not in item.reason else "not an event envelope {source, type, id, payload}"
            )
            raise HTTPException(400, f"{where}: {reason}")
        if item.source not in SOURCES:
            raise HTTPException(422, f"{where}: unknown source {item.source!r} (known: {', '.join(sorted(SOURCES))})")
        deliveries.append(
            Delivery(
                item.source,
                _checked(item.type, f"{where}: type", MAX_TYPE_LENGTH) if item.type else None,
                _checked(item.id, f"{where}: id", MAX_ID_LENGTH),
                item.payload,
                subject=dict(item.subject) if item.subject is not None else None,
                received_at=item.received_at,
                via="api:events",
            )
        )
    return deliveries


@router.post("/events", status_code=202, dependencies=[Depends(require_ingest_token)])
async def events(request: Request, config: ConfigDep, inbox: InboxDep) -> JSONResponse:
    """Event envelopes (JSON object, array or JSON lines) with the ingest token; each deduplicated by source and id."""
    body = await read_body(request, config.max_body_bytes)
    try:
        deliveries = parse_envelopes(body)
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"body is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    stored = await store(inbox, deliveries)
    accepted = [s.id for s in stored if not s.duplicate]
    answer = {
        "status": "accepted" if accepted else "duplicate",
        "accepted": len(accepted),
        "duplicates": len(stored) - len(accepted),
        "ids": [s.id for s in stored],
    }
    return JSONResponse(answer, status_code=202 if accepted else 200)
