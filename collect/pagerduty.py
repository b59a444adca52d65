"""`tracegraph collect pagerduty`: services, and incidents through their log entries (REST API v2).

Incidents are read through the account's log entries (`GET /log_entries?include[]=incidents`, the
overview entries: triggered, acknowledged, resolved, reassigned, escalated, annotated...), in time
windows from the cursor (or --since, or a year back) to the time the run started. Each entry becomes
the V3 webhook event PagerDuty would have sent for it (`incident.triggered` ...), carrying the
incident as the entry's `include` gave it, and goes through the one pipeline. A lifecycle event says
the status it leaves; other entries report no status, since the incident's status then is not known.

A window is paged with offsets (PagerDuty's classic pagination, at most 10,000 deep: a window that
would go deeper is halved); the cursor keeps the window and offset of the last page written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from collect.http import Dialect, Provider
from collect.run import Collector, Page, event
from ingest.pipeline.events import Event
from ingest.timestamps import iso

DEFAULT_API = "https://api.pagerduty.com"
SOURCE = "pagerduty"
LIMIT = 100
MAX_OFFSET = 10_000
WINDOW = timedelta(days=30)
DEFAULT_SINCE = timedelta(days=365)

# Log entry types -> the V3 event type the webhook names the same happening with.
KINDS = {
    "trigger_log_entry": "incident.triggered",
    "acknowledge_log_entry": "incident.acknowledged",
    "unacknowledge_log_entry": "incident.unacknowledged",
    "resolve_log_entry": "incident.resolved",
    "reopen_log_entry": "incident.reopened",
    "assign_log_entry": "incident.reassigned",
    "escalate_log_entry": "incident.escalated",
    "delegate_log_entry": "incident.delegated",
    "annotate_log_entry": "incident.annotated",
    "priority_change_log_entry": "incident.priority_updated",
}
LIFECYCLE = frozenset(
    {"incident.triggered", "incident.acknowledged", "incident.unacknowledged", "incident.resolved", "incident.reopened"}
)

DIALECT = Dialect(
    provider="PagerDuty",
    token_variable="PAGERDUTY_TOKEN",
    limit_header="ratelimit-limit",
    remaining_header="ratelimit-remaining",
    reset_header="ratelimit-reset",
    reset_is_epoch=False,
    needs="a REST API key (a read-only account key is enough) or a user token that may read incidents",
)


API = Provider(
    DIALECT,
    DEFAULT_API,
    lambda token: {"Authorization": f"Token token={token}", "Accept": "application/vnd.pagerduty+json;version=2"},
)
client = API.client


def _time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _text(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def incident_data(incident: dict[str, Any], kind: str) -> dict[str, Any]:
    """An incident of the REST API as the `data` of a V3 webhook event."""
    assignees = [a.get("assignee") for a in incident.get("assignments") or [] if isinstance(a, dict)]
    return {
        "id": incident.get("id"),
        "type": "incident",
        "self": incident.get("self"),
        "html_url": incident.get("html_url"),
        "number": incident.get("incident_number"),
        # The incident's status now is not its status when an annotation or escalation happened.
        "status": incident.get("status") if kind in LIFECYCLE else None,
        "incident_key": incident.get("incident_key"),
        "created_at": incident.get("created_at"),
        "title": incident.get("title") or incident.get("summary"),
        "service": incident.get("service"),
        "assignees": [a for a in assignees if isinstance(a, dict)],
        "priority": incident.get("priority"),
        "urgency": incident.get("urgency"),
    }


def service_payload(service: dict[str, Any]) -> dict[str, Any]:
    """A service of the REST API as a V3 `service.updated` webhook event."""
    return {
        "event": {
            "id": f"service:{service['id']}",
            "event_type": "service.updated",
            "resource_type": "service",
            # Services carry no update time: their creation dates the facts (a later webhook wins).
            "occurred_at": service.get("created_at"),
            "data": {
                "id": service["id"],
                "type": "service",
                "name": service.get("name"),
                "summary": service.get("summary") or service.get("name"),
                "description": service.get("description"),
                "html_url": service.get("html_url"),
                "status": service.get("status"),
            },
        }
    }


def log_entry_event(entry: dict[str, Any]) -> Event | None:
    """A log entry (with its incident included) as the V3 webhook event; None for entries webhooks lack."""
    kind = KINDS.get(str(entry.get("type")))
    incident = entry.get("incident")
    if kind is None or not isinstance(incident, dict) or not incident.get("id") or not entry.get("id"):
        return None
    payload = {
        "event": {
            "id": entry["id"],
            "event_type": kind,
            "resource_type": "incident",
            "occurred_at": entry.get("created_at"),
            "agent": entry.get("agent"),
            "data": incident_data(incident, kind),
        }
    }
    return event(SOURCE, kind, f"incident:{incident['id']}:{entry['id']}", payload)


class PagerDutyCollector(Collector):
    """Reads PagerDuty's API page by page and yields the pages of events (see collect.run.drive)."""

    async def pages(self) -> AsyncIterator[Page]:
        async for page in self.services():
            yield page
        async for page in self.log_entries():
            yield page

    async def services(self) -> AsyncIterator[Page]:
        offset = 0
        while True:
            reply = await self.api.request(
                "GET", "/services", params={"limit": LIMIT, "offset": offset, "total": "false"}
            )
            body = reply.body or {}
            page = Page()
            for service in body.get("services") or []:
                if service.get("id") and service.get("name"):
                    page.events.append(
                        event(SOURCE, "service.updated", f"service:{service['id']}", service_payload(service))
                    )
                    page.records["services"] += 1
            yield page
            if not body.get("more"):
                return
            offset += LIMIT

    async def log_entries(self) -> AsyncIterator[Page]:
        key = "pagerduty:log_entries"
        saved = await self.load(key)
        run = saved.get("run") if isinstance(saved.get("run"), dict) else None
        started = _text(datetime.now(UTC))
        if run:
            low, until, offset, size = run["since"], run["until"], int(run["offset"]), float(run["days"])
        else:
            first = iso(self.options.since) or _text(datetime.now(UTC) - DEFAULT_SINCE)
            low, until, offset, size = saved.get("next") or first, started, 0, WINDOW.days
        while low < until:
            high = min(until, _text(_time(low) + timedelta(days=size)))
            params = {
                "since": low,
                "until": high,
                "limit": LIMIT,
                "offset": offset,
                "is_overview": "true",
                "include[]": "incidents",
                "time_zone": "UTC",
            }
            reply = await self.api.request("GET", "/log_entries", params=params)
            body = reply.body or {}
            more = bool(body.get("more"))
            if more and offset + 2 * LIMIT > MAX_OFFSET and size > 1 / 24:
                size /= 2  # too many entries for one window: read it in halves
                offset = 0
                continue
            page = Page()
            for entry in body.get("log_entries") or []:
                if (found := log_entry_event(entry)) is not None:
                    page.events.append(found)
                    page.records["incident events"] += 1
                    page.records["incidents"] += found.type == "incident.triggered"
            if more:
                offset += LIMIT
            else:
                low, offset, size = high, 0, WINDOW.days
            state = (
                {"next": low}
                if low >= until
                else {"run": {"since": low, "until": until, "offset": offset, "days": size}}
            )
            page.cursor = (key, state)
            yield page
