"""Webhook receivers and the envelope endpoint: verify, store durably in the inbox, then acknowledge.

One route, `POST /webhooks/{source}`, serves every source whose plugin declares a `Webhook` (how a
delivery is verified, where its event type and delivery id are). It answers 202 only once the
delivery is durable in the inbox (on disk in the spool folder, or acknowledged by JetStream: see
ingest.inboxes), 200 "duplicate" for a delivery stored before, 200 "ignored" for an event type the
source does not read (nothing stored), 401 for a bad or missing signature (nothing stored), 404 for a
source without webhooks, 503 when its secret is not configured or the inbox cannot store it, 413
above the body size limit (or the broker's message size).

A delivery can also ask for an answer besides being stored: a GitHub `deployment_protection_rule`
waits for tracegraph's gate. The app registers such *reactions* by (source, event type) in
`app.state.reactions`; one runs, after the response, on every verified delivery of its type.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from api.auth import principal
from graph.access import Role
from graph.settings import Settings, get_settings
from ingest import signatures
from ingest.inbox import Delivery, InboxUnavailable, Stored
from ingest.inboxes import DeliveryTooLarge, InboxBackend, as_backend, spool
from ingest.pipeline.events import Unreadable, content_id, to_event
from ingest.sources import SOURCES
from ingest.sources.base import Source, Webhook

log = logging.getLogger("tracegraph.webhooks")
MAX_ID_LENGTH = 200  # delivery ids become graph keys; index keys must stay small
MAX_TYPE_LENGTH = 100


def get_app_settings(request: Request) -> Settings:
    """The app's settings (app.state.settings, else read once from the environment)."""
    found = getattr(request.app.state, "settings", None)
    if found is None:
        found = request.app.state.settings = get_settings()
    return found  # type: ignore[no-any-return]


def get_inbox(request: Request) -> InboxBackend:
    """The app's inbox (app.state.inbox, opened in the lifespan; else the spool folder of the settings)."""
    found = getattr(request.app.state, "inbox", None)
    if found is None:
        found = request.app.state.inbox = spool(get_app_settings(request))
    return as_backend(found)


# (app, verified payload) -> None: what a delivery of one (source, type) asks for beyond being stored.
Reaction = Callable[[FastAPI, dict[str, Any]], Awaitable[None]]


def reaction(request: Request, source: str, kind: str) -> Reaction | None:
    """The reaction the app registered for deliveries of this source and type, if any."""
    registered: dict[tuple[str, str], Reaction] = getattr(request.app.state, "reactions", {})
    return registered.get((source, kind))


ConfigDep = Annotated[Settings, Depends(get_app_settings)]
InboxDep = Annotated[InboxBackend, Depends(get_inbox)]


async def require_ingest_token(request: Request, config: ConfigDep) -> str:
    """An API token with the ingester (or admin) role, or the static TRACEGRAPH_INGEST_TOKEN when one is set
    (a bootstrap credential for pipelines); the one place the ingest credential is checked. Answers the id
    of the token that was presented (`static` for TRACEGRAPH_INGEST_TOKEN): what it uploads is `uploaded` by it."""
    header = request.headers.get("authorization")
    static = config.ingest_token.get_secret_value() if config.ingest_token is not None else ""
    if static and signatures.verify_bearer(static, header):
        return "static"
    graph = getattr(request.app.state, "graph", None)
    presented = header[7:].strip() if header and header[:7].lower() == "bearer " else ""
    if graph is not None and presented:
        who = await principal(request, presented)
        if who is not None:
            if not who.allows(Role.INGESTER):
                raise HTTPException(403, f"this token's role is {who.role.value}; /events needs ingester")
            return who.token_id
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
    # The id of a delivery that carries none: the same for every copy of the same bytes.
    return content_id(body.decode("utf-8", errors="surrogateescape"))


def _checked(value: str, what: str, limit: int) -> str:
    if len(value) > limit:
        raise HTTPException(400, f"{what} is longer than {limit} characters")
    return value


async def store(inbox: InboxBackend, deliveries: list[Delivery]) -> list[Stored]:
    """Put deliveries in the inbox; 503 when it cannot store them (nothing acknowledged), 413 when too large."""
    try:
        return await inbox.put_many(deliveries)
    except InboxUnavailable as exc:
        log.error("%s", exc)
        raise HTTPException(503, "inbox unavailable: the delivery was not stored; send it again later") from exc
    except DeliveryTooLarge as exc:
        raise HTTPException(413, f"the inbox cannot store this delivery: {exc}") from exc


def _answer(stored: Stored) -> JSONResponse:
    if stored.duplicate:
        return JSONResponse({"status": "duplicate", "id": stored.id}, status_code=200)
    return JSONResponse({"status": "accepted", "id": stored.id}, status_code=202)


router = APIRouter()


def _webhook(name: str) -> tuple[Source, Webhook]:
    source = SOURCES.get(name)
    if source is None or source.webhook is None:
        known = ", ".join(sorted(n for n, s in SOURCES.items() if s.webhook is not None))
        raise HTTPException(404, f"no webhook for source {name!r} (webhooks: {known}; other sources: POST /events)")
    return source, source.webhook


def _payload(hook: Webhook, headers: Any, body: bytes) -> dict[str, Any]:
    if hook.form_field and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", errors="replace"))
        body = form.get(hook.form_field, [""])[0].encode()
    return _object(body)


@router.post("/webhooks/{name}", status_code=202)
async def receive(
    name: str, request: Request, config: ConfigDep, inbox: InboxDep, background: BackgroundTasks
) -> JSONResponse:
    """A provider's webhook delivery: verified as its source declares, stored, then acknowledged."""
    source, hook = _webhook(name)
    secret = config.secret(hook.secret_variable)
    if not secret:
        # Never accept unsigned deliveries: without a secret there is nothing to check them against.
        raise HTTPException(503, f"webhook secret not configured (set {hook.secret_variable})")
    body = await read_body(request, config.max_body_bytes)
    headers = request.headers
    if not hook.verify(secret, headers, body):
        log.warning("rejected a %s delivery with a bad or missing signature", name)
        raise HTTPException(401, "bad or missing signature")
    payload = _payload(hook, headers, body)
    kind = hook.event_type(headers, payload)
    if not kind:
        raise HTTPException(400, f"not a {name} webhook: it names no event type (expected {hook.type_hint})")
    kind = _checked(kind, "event type", MAX_TYPE_LENGTH)
    if kind in hook.ignored or not source.handles(kind):
        # A signed delivery of a type no normaliser reads would only sit in quarantine forever.
        return JSONResponse({"status": "ignored", "reason": f"tracegraph does not read {name} {kind} events"}, 200)
    delivery_id = _checked(hook.delivery_id(headers, payload) or _digest(body), "delivery id", MAX_ID_LENGTH)
    stored = await store(inbox, [Delivery(name, kind, delivery_id, payload, via=f"webhook:{name}")])
    react = reaction(request, name, source.canonical_type(kind) or kind)
    if react is not None:
        # A redelivery is answered again: GitHub sends one when its first try got no answer.
        background.add_task(react, request.app, payload)
    return _answer(stored[0])


def parse_envelopes(body: bytes, via: str = "api:events") -> list[Delivery]:
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
                via=via,
            )
        )
    return deliveries


@router.post("/events", status_code=202)
async def events(
    request: Request, config: ConfigDep, inbox: InboxDep, token: Annotated[str, Depends(require_ingest_token)]
) -> JSONResponse:
    """Event envelopes (JSON object, array or JSON lines) with the ingest token; each deduplicated by source and id."""
    body = await read_body(request, config.max_body_bytes)
    try:
        # What arrives here is `uploaded`, by the token that sent it (ingest.pipeline.trust).
        deliveries = parse_envelopes(body, via=f"api:events:{token}")
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
