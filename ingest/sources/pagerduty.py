"""PagerDuty webhooks: V3 `incident.*` events and the legacy V2 `messages[]` shape -> `Incident`s.

Every incident event type is one status update of the same `Incident` (`pagerduty:{incident id}`):
the event's `occurred_at` (V3) or the message's `created_on` (V2) is its version, so later events
win property by property whatever the delivery order. `acknowledgedAt` and `resolvedAt` are only
ever set by their own event type, so a late annotation can never move them.

A reopened incident goes back to status `triggered` with a later version; its old `resolvedAt`
stays, because the writer never erases a property (read `status`, not `resolvedAt`, to know
whether an incident is open).
"""

from __future__ import annotations

import re
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest import signatures
from ingest.redact import redact
from ingest.sources.base import (
    Event,
    Headers,
    OpenHandlers,
    Rejected,
    Source,
    Webhook,
    get,
    integer,
    iso,
    items,
    lower,
    text,
)

# The status each lifecycle event leaves the incident in (V3 names, then V2 names).
STATUS_AFTER: dict[str, str] = {
    "incident.triggered": "triggered",
    "incident.acknowledged": "acknowledged",
    "incident.unacknowledged": "triggered",
    "incident.resolved": "resolved",
    "incident.reopened": "triggered",
    "incident.trigger": "triggered",
    "incident.acknowledge": "acknowledged",
    "incident.unacknowledge": "triggered",
    "incident.resolve": "resolved",
}
# Events of one incident often share a second (timestamps are kept to the second): the rank puts
# them in lifecycle order; other updates (annotations, reassignment...) sit between trigger and ack.
RANK: dict[str, int] = {"triggered": 0, "acknowledged": 2, "resolved": 4}
RANK_BY_TYPE: dict[str, int] = {"incident.unacknowledged": 3, "incident.unacknowledge": 3, "incident.reopened": 5}
STATUSES = frozenset({"triggered", "acknowledged", "resolved"})
# Timestamps owned by one event type each.
OWN_TIMESTAMP: dict[str, str] = {"acknowledged": "acknowledgedAt", "resolved": "resolvedAt"}


def _rank(kind: str) -> int:
    if kind in RANK_BY_TYPE:
        return RANK_BY_TYPE[kind]
    status = STATUS_AFTER.get(kind)
    return RANK[status] if status else 1


def _status(kind: str, reported: Any) -> str | None:
    # The lifecycle event says what happened; other events report the status at that moment.
    if kind in STATUS_AFTER:
        return STATUS_AFTER[kind]
    found = lower(reported)
    return found if found in STATUSES else None


def _name(ref: Any) -> str | None:
    """The display name of a PagerDuty reference object (`summary` in V3, `name` in V2)."""
    return text(get(ref, "summary")) or text(get(ref, "name"))


def _add_incident(
    batch: Batch,
    event: Event,
    *,
    incident_id: str,
    kind: str,
    at: Any,
    version: str,
    service: str | None,
    **props: Any,
) -> None:
    own = OWN_TIMESTAMP.get(STATUS_AFTER.get(kind, ""))
    if kind in ("incident.triggered", "incident.trigger") and props.get("triggeredAt") is None:
        props["triggeredAt"] = iso(at)
    node = (Label.INCIDENT, f"pagerduty:{incident_id}")
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        service=service,
        acknowledgedAt=iso(at) if own == "acknowledgedAt" else None,
        resolvedAt=iso(at) if own == "resolvedAt" else None,
        **props,
    )
    if service:
        batch.edge(node, Rel.AFFECTS, (Label.SERVICE, service), version=version, origin=event.origin)


# --- V3 ---------------------------------------------------------------------------------------


def _v3(event: Event, kind: str) -> Batch:
    body = get(event.payload, "event")
    if not isinstance(body, dict):
        raise Rejected("pagerduty payload has no event object")
    data = body.get("data")
    if not isinstance(data, dict):
        raise Rejected(f"pagerduty {kind} event has no data object")
    # occurred_at is always sent; without it the facts still count, but lose to any timed event.
    occurred = body.get("occurred_at")
    version = event.version(occurred, _rank(kind))
    batch = Batch()
    data_type = text(data.get("type"))
    if data_type not in (None, "incident"):
        # Notes, responders and status updates carry only a reference to their incident.
        incident_id = _ident(get(data, "incident", "id"))
        if incident_id is None:
            raise Rejected(f"pagerduty {kind} event ({data_type}) names no incident.id")
        url = text(get(data, "incident", "html_url"))
        _add_incident(
            batch, event, incident_id=incident_id, kind=kind, at=occurred, version=version, service=None, url=url
        )
        return batch
    incident_id = _ident(data.get("id"))
    if incident_id is None:
        raise Rejected(f"pagerduty {kind} event has no data.id")
    priority = text(get(data, "priority", "summary"))
    urgency = lower(data.get("urgency"))
    assignees = [name for ref in items(data.get("assignees")) if (name := _name(ref))]
    _add_incident(
        batch,
        event,
        incident_id=incident_id,
        kind=kind,
        at=occurred,
        version=version,
        service=_name(data.get("service")),
        title=redact(text(data.get("title"))),
        status=_status(kind, data.get("status")),
        urgency=urgency,
        priority=priority,
        severity=priority or urgency,  # a priority (P1...) says more than an urgency
        number=integer(data.get("number")),
        url=text(data.get("html_url")),
        triggeredAt=iso(data.get("created_at")),
        # An empty list is a real fact (nobody is assigned any more); a missing one is not.
        assignees=assignees if isinstance(data.get("assignees"), list) else None,
    )
    return batch


def _ident(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    found = str(value).strip()
    return found or None


# --- V2 (legacy) ------------------------------------------------------------------------------

# V2 incidents named their title in several places over the years, the oldest last.
_V2_TITLE_PATHS: tuple[tuple[str, ...], ...] = (
    ("title",),
    ("description",),
    ("trigger_summary_data", "subject"),
    ("trigger_summary_data", "description"),
    ("trigger_summary_data", "summary"),
)
_SUMMARY_NUMBER = re.compile(r"\[#\d+\]\s*")


def _v2_title(incident: dict[str, Any]) -> str | None:
    for path in _V2_TITLE_PATHS:
        if found := text(get(incident, *path)):
            return found
    summary = text(incident.get("summary"))
    if summary is None:
        return None
    return _SUMMARY_NUMBER.sub("", summary, count=1) or None


def _v2_assignees(incident: dict[str, Any]) -> list[str] | None:
    if isinstance(incident.get("assignments"), list):
        return [n for a in incident["assignments"] if (n := _name(get(a, "assignee")))]
    user = incident.get("assigned_to_user")
    if isinstance(user, dict):
        return [n for n in [text(user.get("name")) or text(user.get("email"))] if n]
    return None


def _v2(event: Event) -> Batch:
    messages = get(event.payload, "messages")
    if not isinstance(messages, list) or not messages:
        raise Rejected("pagerduty V2 payload has no messages")
    batch = Batch()
    for index, message in enumerate(messages):
        kind = text(get(message, "event"))
        incident = get(message, "incident")
        if kind is None or not isinstance(incident, dict):
            raise Rejected(f"pagerduty V2 message {index} has no event or incident")
        incident_id = _ident(incident.get("id"))
        if incident_id is None:
            raise Rejected(f"pagerduty V2 message {index} has no incident.id")
        at = message.get("created_on") or incident.get("last_status_change_at") or incident.get("last_status_change_on")
        # Messages of one delivery share its id: their position keeps each one's version distinct.
        version = f"{event.version(at, _rank(kind))}#{index:04d}"
        priority = text(get(incident, "priority", "summary")) or text(get(incident, "priority", "name"))
        urgency = lower(incident.get("urgency"))
        _add_incident(
            batch,
            event,
            incident_id=incident_id,
            kind=kind,
            at=at,
            version=version,
            service=_name(incident.get("service")),
            title=redact(_v2_title(incident)),
            status=_status(kind, incident.get("status")),
            urgency=urgency,
            priority=priority,
            severity=priority or urgency,  # a priority (P1...) says more than an urgency
            number=integer(incident.get("incident_number")) or integer(incident.get("number")),
            url=text(incident.get("html_url")),
            triggeredAt=iso(incident.get("created_at") or incident.get("created_on")),
            assignees=_v2_assignees(incident),
        )
    return batch


# --- services ---------------------------------------------------------------------------------


def service_event(event: Event) -> Batch:
    """A V3 `service.*` event (sent by webhooks, and made by `tracegraph collect pagerduty` from the
    services list) -> the Service, by name (incidents name their service by the same summary)."""
    body = get(event.payload, "event")
    data = get(body, "data")
    kind = text(get(body, "event_type")) or event.type or ""
    if not isinstance(data, dict):
        raise Rejected(f"pagerduty {kind} event has no data object")
    batch = Batch()
    name = text(data.get("name")) or text(data.get("summary"))
    if name is None or kind == "service.deleted":
        return batch  # a deleted service leaves its history in place
    batch.node(
        Label.SERVICE,
        name,
        version=event.version(get(body, "occurred_at")),
        origin=event.origin,
        url=text(data.get("html_url")),
        description=redact(text(data.get("description"))),
    )
    return batch


# --- dispatch ---------------------------------------------------------------------------------


def incident_event(event: Event) -> Batch:
    """Any PagerDuty incident event (V3 `incident.*`, or a V2 `messages` delivery) -> Incident updates."""
    if isinstance(event.payload.get("messages"), list):
        return _v2(event)
    kind = text(get(event.payload, "event", "event_type")) or event.type or ""
    if kind.startswith("service."):
        return service_event(event)
    return _v3(event, kind)


V3_TYPES = (
    "incident.acknowledged",
    "incident.annotated",
    "incident.delegated",
    "incident.escalated",
    "incident.priority_updated",
    "incident.reassigned",
    "incident.reopened",
    "incident.resolved",
    "incident.responder.added",
    "incident.responder.replied",
    "incident.status_update_published",
    "incident.triggered",
    "incident.unacknowledged",
    "service.created",
    "service.updated",
    "service.deleted",
)
V2_TYPE = "messages"


def infer_type(payload: Any) -> str | None:
    """`event.event_type` of a V3 payload, or `messages` for a V2 delivery."""
    if not isinstance(payload, dict):
        return None
    if isinstance(payload.get("messages"), list):
        return V2_TYPE
    return text(get(payload, "event", "event_type"))


def _delivery_id(headers: Headers, payload: Any) -> str | None:
    # A V3 event names itself; a legacy V2 delivery has no id, so its body digest names it.
    event_id = get(payload, "event", "id")
    if isinstance(event_id, bool) or not isinstance(event_id, str | int) or event_id == "":
        return None
    return str(event_id)


SOURCE = Source(
    name="pagerduty",
    handlers=OpenHandlers(
        (*V3_TYPES, V2_TYPE),
        incident_event,
        # Any incident.* type, including ones PagerDuty adds later, is a status update.
        lambda kind: (
            kind == V2_TYPE
            or (kind.startswith("incident.") and len(kind) > len("incident."))
            or kind in ("service.created", "service.updated", "service.deleted")
        ),
    ),
    infer_type=infer_type,
    webhook=Webhook(
        verify=lambda secret, headers, body: signatures.verify_pagerduty(
            secret, body, headers.get("x-pagerduty-signature")
        ),
        secret_variable="TRACEGRAPH_PAGERDUTY_SECRET",
        type_hint="`event.event_type` (V3) or a `messages` list (V2)",
        event_type=lambda headers, payload: infer_type(payload),
        delivery_id=_delivery_id,
    ),
)
