"""Opsgenie alert webhooks (Create, Acknowledge, Close and every other action) -> `Incident`s.

The alert becomes `Incident` `opsgenie:{alertId}`; its status uses the words the PagerDuty source
uses (`triggered`, `acknowledged`, `resolved`) so incidents read the same whatever paged.
Actions that do not move the lifecycle (AddNote, AddTags, Escalate, custom actions...) refresh the
incident's facts without touching its status; a payload that carries no alert is rejected.

Opsgenie stamps `createdAt` in epoch milliseconds and `updatedAt` in epoch nanoseconds (19 digits).
Python's json reads both as exact ints; they are converted with integer arithmetic only, because a
float cannot hold 19 digits (1502709956999999999 ns would round up into the next second).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest import signatures
from ingest.redact import redact
from ingest.sources.base import Event, Headers, OpenHandlers, Rejected, Source, Webhook, get, integer, items, text

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# (smallest value, units per second): the unit is told by magnitude, which is unambiguous until the
# year 5138, when epoch seconds reach 1e11 (and ms 1e14, µs 1e17).
_UNITS: tuple[tuple[int, int], ...] = ((10**17, 10**9), (10**14, 10**6), (10**11, 10**3), (0, 1))


def epoch_iso(value: Any) -> str | None:
    """An epoch timestamp in s, ms, µs or ns (int or digit string) as 'YYYY-MM-DDTHH:MM:SSZ', exactly."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    # Floats are refused rather than trusted: they may already have lost the digits that matter.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    per_second = next(units for floor, units in _UNITS if value >= floor)
    try:
        moment = _EPOCH + timedelta(seconds=value // per_second)
    except OverflowError:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Lifecycle actions (lower-cased): the status they leave the alert in, their own timestamp, and a
# rank that orders actions stamped with the same second.
STATUS_AFTER: dict[str, str] = {
    "create": "triggered",
    "acknowledge": "acknowledged",
    "unacknowledge": "triggered",
    "close": "resolved",
}
OWN_TIMESTAMP: dict[str, str] = {"acknowledge": "acknowledgedAt", "close": "resolvedAt"}
RANK: dict[str, int] = {"create": 0, "acknowledge": 2, "unacknowledge": 3, "close": 4}
OTHER_RANK = 1

ACTIONS = (
    "Create",
    "Acknowledge",
    "UnAcknowledge",
    "Close",
    "Delete",
    "AddNote",
    "AddTags",
    "RemoveTags",
    "AddDetails",
    "RemoveDetails",
    "AddRecipient",
    "AddResponder",
    "AddTeam",
    "AssignOwnership",
    "TakeOwnership",
    "Escalate",
    "EscalateNext",
    "Snooze",
    "SnoozeEnded",
    "UpdateDescription",
    "UpdateMessage",
    "UpdatePriority",
)


def _priority(value: Any) -> str | None:
    # Opsgenie sends "P1".."P5"; some integrations send the bare number.
    number = integer(value)
    if number is not None:
        return f"P{number}"
    found = text(value)
    return found.strip().upper() if found else None


def _service(alert: dict[str, Any], payload: dict[str, Any]) -> str | None:
    """The alert's entity, else a `service:<name>` tag, else the integration that raised it."""
    entity = text(alert.get("entity"))
    if entity and entity.strip():
        return entity.strip()
    for tag in items(alert.get("tags")):
        if isinstance(tag, str) and tag.lower().startswith("service:") and tag[len("service:") :].strip():
            return tag[len("service:") :].strip()
    name = text(payload.get("integrationName"))
    return name.strip() if name and name.strip() else None


def _number(tiny_id: Any) -> int | None:
    if isinstance(tiny_id, str) and tiny_id.isdigit() and len(tiny_id) < 19:
        return int(tiny_id)
    return integer(tiny_id)


def alert_event(event: Event) -> Batch:
    """Any Opsgenie alert action -> an update of the Incident for its alert."""
    payload = event.payload
    action = text(payload.get("action")) or event.type or ""
    alert = payload.get("alert")
    if not isinstance(alert, dict):
        raise Rejected(f"opsgenie {action} payload has no alert object")
    alert_id = alert.get("alertId")
    if isinstance(alert_id, bool) or not isinstance(alert_id, str | int) or not str(alert_id).strip():
        raise Rejected(f"opsgenie {action} payload has no alert.alertId")
    key = action.lower()
    created = epoch_iso(alert.get("createdAt"))
    # updatedAt is when this action happened; a Create may only carry createdAt. An acknowledgement
    # or closure without updatedAt has no time of its own, and createdAt is not it.
    updated = epoch_iso(alert.get("updatedAt"))
    version = event.version(updated or created, RANK.get(key, OTHER_RANK))
    own = OWN_TIMESTAMP.get(key)
    service = _service(alert, payload)
    owner = text(alert.get("owner"))
    priority = _priority(alert.get("priority"))
    node = (Label.INCIDENT, f"opsgenie:{str(alert_id).strip()}")
    batch = Batch()
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        title=redact(text(alert.get("message"))),
        status=STATUS_AFTER.get(key),
        severity=priority,
        priority=priority,
        service=service,
        number=_number(alert.get("tinyId")),
        triggeredAt=created,
        assignees=[owner] if owner else None,
        acknowledgedAt=updated if own == "acknowledgedAt" else None,
        resolvedAt=updated if own == "resolvedAt" else None,
    )
    if service:
        batch.edge(node, Rel.AFFECTS, (Label.SERVICE, service), version=version, origin=event.origin)
    return batch


def infer_type(payload: Any) -> str | None:
    """The webhook's `action` (Create, Acknowledge, Close, ...)."""
    return text(get(payload, "action"))


def _delivery_id(headers: Headers, payload: Any) -> str | None:
    # Opsgenie sends no delivery id; an alert's id, the action and its update time name one event.
    parts = [get(payload, "alert", "alertId"), get(payload, "action"), get(payload, "alert", "updatedAt")]
    return ":".join(str(p) for p in parts) if all(p not in (None, "") for p in parts) else None


SOURCE = Source(
    name="opsgenie",
    # Every action (custom actions have names of their own) updates the alert's incident.
    handlers=OpenHandlers(ACTIONS, alert_event, lambda action: bool(action.strip())),
    infer_type=infer_type,
    webhook=Webhook(
        verify=lambda secret, headers, body: signatures.verify_opsgenie(
            secret, headers.get(signatures.OPSGENIE_HEADER.lower())
        ),
        secret_variable="TRACEGRAPH_OPSGENIE_TOKEN",
        type_hint="an `action` string",
        event_type=lambda headers, payload: infer_type(payload),
        delivery_id=_delivery_id,
    ),
)
