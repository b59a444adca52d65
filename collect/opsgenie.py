"""`tracegraph collect opsgenie`: alerts with their logs (Alert API v2).

Alerts are listed newest `updatedAt` first (collect.cursor.NewestFirst: a later run stops at what it
saw); each one is read in full (`GET /v2/alerts/{id}`: its entity names the service) with its logs
(`GET /v2/alerts/{id}/logs`, oldest first). Every log that records a lifecycle action ("Alert
created / acknowledged / unacknowledged / closed ...") becomes the alert webhook Opsgenie would have
sent for it (`action` Create, Acknowledge, UnAcknowledge, Close), with the alert as it is and the time
of that log, and goes through the one pipeline. Other logs (views, notifications, notes) change no fact
the graph keeps.

Opsgenie answers the API in ISO-8601 times; its webhooks in epoch milliseconds: the payloads carry the
webhook's form. Offsets go at most 20,000 deep: a list that long stops there with a warning.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from collect.cursor import NewestFirst
from collect.http import Dialect, Provider
from collect.run import Collector, Page, event
from ingest.pipeline.events import Event

DEFAULT_API = "https://api.opsgenie.com"
SOURCE = "opsgenie"
LIMIT = 100
MAX_OFFSET = 20_000
_ACTION = re.compile(r"\balert\s+(created|acknowledged|unacknowledged|closed)\b", re.I)
ACTIONS = {"created": "Create", "acknowledged": "Acknowledge", "unacknowledged": "UnAcknowledge", "closed": "Close"}

DIALECT = Dialect(
    provider="Opsgenie",
    token_variable="OPSGENIE_API_KEY",
    wait_headers=("x-ratelimit-period-in-sec",),
    needs="an API key (an API integration's, or a global key) with the Read access right",
)


API = Provider(DIALECT, DEFAULT_API, lambda key: {"Authorization": f"GenieKey {key}", "Accept": "application/json"})
client = API.client


def epoch_ms(value: Any) -> int | None:
    """An ISO-8601 time of the API as the epoch milliseconds of the webhooks."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def action_of(log: dict[str, Any]) -> str | None:
    """The webhook action a log line records (None for views, notifications and the like)."""
    found = _ACTION.search(str(log.get("log") or ""))
    return ACTIONS[found.group(1).lower()] if found else None


def alert_payload(alert: dict[str, Any], action: str, at: Any) -> dict[str, Any]:
    """An alert webhook for one action, the alert's facts as the API gives them now."""
    return {
        "action": action,
        "alert": {
            "alertId": alert.get("id"),
            "message": alert.get("message"),
            "tinyId": alert.get("tinyId"),
            "alias": alert.get("alias"),
            "entity": alert.get("entity"),
            "tags": alert.get("tags") or [],
            "priority": alert.get("priority"),
            "owner": alert.get("owner") or None,
            "source": alert.get("source"),
            "createdAt": epoch_ms(alert.get("createdAt")),
            "updatedAt": epoch_ms(at),
        },
        "integrationName": (alert.get("integration") or {}).get("name"),
    }


class OpsgenieCollector(Collector):
    """Reads Opsgenie's API page by page and yields the pages of events (see collect.run.drive)."""

    async def pages(self) -> AsyncIterator[Page]:
        key = "opsgenie:alerts"
        scan = NewestFirst(await self.load(key), since=self.options.since)
        while not scan.done:
            offset = int(scan.after or 0)
            if offset + LIMIT > MAX_OFFSET:
                self.warn(f"Opsgenie lists at most {MAX_OFFSET:,} alerts: older ones were not read (use --since)")
                break
            params = {"limit": LIMIT, "offset": offset, "sort": "updatedAt", "order": "desc"}
            reply = await self.api.request("GET", "/v2/alerts", params=params)
            alerts = (reply.body or {}).get("data") or []
            page = Page()
            for listed in alerts:
                if not listed.get("id") or not scan.keep(listed.get("updatedAt")):
                    break
                page.events += await self.alert_events(listed)
                page.records["alerts"] += 1
            has_next = bool(((reply.body or {}).get("paging") or {}).get("next")) and len(alerts) >= LIMIT
            page.cursor = (key, scan.checkpoint(offset + len(alerts), has_next=has_next))
            yield page

    async def alert_events(self, listed: dict[str, Any]) -> list[Event]:
        ident = quote(str(listed["id"]), safe="")
        reply = await self.api.request(
            "GET", f"/v2/alerts/{ident}", params={"identifierType": "id"}, allow=frozenset({404})
        )
        if reply.status == 404:
            return []  # deleted since it was listed
        alert = {**listed, **((reply.body or {}).get("data") or {})}
        events = []
        offset: str | None = None
        while True:
            params: dict[str, Any] = {"limit": LIMIT, "order": "asc", "direction": "next"}
            if offset:
                params["offset"] = offset
            logs_reply = await self.api.request("GET", f"/v2/alerts/{ident}/logs", params=params)
            logs = (logs_reply.body or {}).get("data") or []
            for log in logs:
                action = action_of(log)
                if action and log.get("createdAt"):
                    key = f"alert:{listed['id']}:{action}:{log.get('offset') or log['createdAt']}"
                    events.append(event(SOURCE, action, key, alert_payload(alert, action, log["createdAt"])))
            offset = logs[-1].get("offset") if logs else None
            if len(logs) < LIMIT or not offset or not ((logs_reply.body or {}).get("paging") or {}).get("next"):
                return events
