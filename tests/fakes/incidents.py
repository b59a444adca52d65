"""PagerDuty REST v2 and Opsgenie Alert API v2 for the collectors' tests.

PagerDuty: classic offset pagination (`limit`, `offset`, `more`, `total`) as in
corpus/pagerduty-api/demisto-content/list-incidents_limit-2_more-true.json; incidents shaped like
pypd-test-data/sample_incidents.json; services like sample_services.json; log entries as PagerDuty
documents them (`trigger_log_entry`, ... with the incident included by `include[]=incidents`);
`ratelimit-*` headers (reset in seconds). Opsgenie: list alerts with `paging` links
(demisto-content/list-alerts_with-paging-next.json), alert logs (list-alert-logs.json), throttling as a
429 with X-RateLimit-State THROTTLED and X-RateLimit-Period-In-Sec.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.server import Answer, FakeApi, Request


class FakePagerDuty(FakeApi):
    token_prefix = "Token token="

    def __init__(self, token: str, *, delay: float = 0.0, allowed: bool = True):
        super().__init__(token, delay=delay)
        self.services: list[dict[str, Any]] = []
        self.log_entries: list[dict[str, Any]] = []
        self.allowed = allowed

    def limit_headers(self, request: Request) -> dict[str, str]:
        return {"ratelimit-limit": "960", "ratelimit-remaining": str(self.remaining), "ratelimit-reset": "30"}

    def _page(self, request: Request, name: str, items: list[Any]) -> Answer:
        limit, offset = int(request.query.get("limit", 25)), int(request.query.get("offset", 0))
        chunk = items[offset : offset + limit]
        body = {name: chunk, "limit": limit, "offset": offset, "more": offset + limit < len(items), "total": None}
        return Answer(200, body)

    def route(self, request: Request) -> Answer:
        if not self.allowed:
            return Answer(403, {"error": {"message": "Access Denied", "code": 2010, "errors": ["Access Denied"]}})
        if request.path == "/services":
            return self._page(request, "services", self.services)
        if request.path == "/log_entries":
            low, high = request.query.get("since", ""), request.query.get("until", "9999")
            found = [e for e in self.log_entries if low <= e["created_at"] < high]
            found.sort(key=lambda e: (e["created_at"], e["id"]), reverse=True)
            return self._page(request, "log_entries", found)
        return Answer(404, {"error": {"message": "Not Found", "code": 2100}})


def pd_service(ident: str, name: str) -> dict[str, Any]:
    return {
        "id": ident,
        "type": "service",
        "name": name,
        "summary": name,
        "description": f"{name} in production",
        "status": "active",
        "created_at": "2025-07-07T10:37:23-07:00",
        "self": f"https://api.pagerduty.com/services/{ident}",
        "html_url": f"https://acme.pagerduty.com/service-directory/{ident}",
        "escalation_policy": {"id": "P0I8J4B", "type": "escalation_policy_reference", "summary": "Primary"},
    }


def pd_incident(
    ident: str, number: int, *, title: str, service: dict[str, Any], status: str, created: str
) -> dict[str, Any]:
    return {
        "id": ident,
        "type": "incident",
        "summary": f"[#{number}] {title}",
        "incident_number": number,
        "title": title,
        "created_at": created,
        "status": status,
        "urgency": "high",
        "incident_key": f"key-{ident}",
        "html_url": f"https://acme.pagerduty.com/incidents/{ident}",
        "self": f"https://api.pagerduty.com/incidents/{ident}",
        "service": {"id": service["id"], "type": "service_reference", "summary": service["name"]},
        "assignments": [
            {"at": created, "assignee": {"id": "PUSER01", "type": "user_reference", "summary": "Dana Oncall"}}
        ],
        "priority": {"id": "P53ZZH5", "type": "priority_reference", "summary": "P1"},
    }


def pd_log_entry(ident: str, kind: str, *, incident: dict[str, Any], at: str) -> dict[str, Any]:
    return {
        "id": ident,
        "type": kind,
        "summary": kind.replace("_log_entry", "").title(),
        "created_at": at,
        "agent": {"id": "PUSER01", "type": "user_reference", "summary": "Dana Oncall"},
        "channel": {"type": "web_ui"},
        "service": incident["service"],
        "incident": incident,
    }


class FakeOpsgenie(FakeApi):
    token_prefix = "GenieKey "

    def __init__(self, token: str, *, delay: float = 0.0, allowed: bool = True):
        super().__init__(token, delay=delay)
        self.alerts: list[dict[str, Any]] = []
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.allowed = allowed

    def limit_headers(self, request: Request) -> dict[str, str]:
        return {"X-RateLimit-State": "OK", "X-Request-ID": "69f312f6-7455-4bb8-b0ea-fc733d76d243"}

    def route(self, request: Request) -> Answer:
        if not self.allowed:
            return Answer(
                403, {"message": "You are not authorized for this operation.", "took": 0.001, "requestId": "r"}
            )
        parts = request.path.strip("/").split("/")
        if parts[:2] != ["v2", "alerts"]:
            return Answer(404, {"message": "Not found"})
        if len(parts) == 2:
            ordered = sorted(
                self.alerts, key=lambda a: (a["updatedAt"], a["id"]), reverse=request.query.get("order") != "asc"
            )
            limit, offset = int(request.query.get("limit", 20)), int(request.query.get("offset", 0))
            chunk = ordered[offset : offset + limit]
            base = f"{self.url}/v2/alerts?limit={limit}&sort=updatedAt&order=desc"
            paging = {"first": f"{base}&offset=0"}
            if offset + limit < len(ordered):
                paging["next"] = f"{base}&offset={offset + limit}"
            listed = [{k: v for k, v in a.items() if k not in ("entity", "description")} for a in chunk]
            return Answer(200, {"data": listed, "paging": paging, "took": 0.012, "requestId": "d81a7214"})
        alert = next((a for a in self.alerts if a["id"] == parts[2]), None)
        if alert is None:
            return Answer(404, {"message": "Alert does not exist", "took": 0.002})
        if len(parts) == 3:
            return Answer(200, {"data": alert, "took": 0.004, "requestId": "r"})
        if parts[3] == "logs":
            logs = sorted(self.logs.get(alert["id"], []), key=lambda log: log["offset"])
            after = request.query.get("offset")
            found = [log for log in logs if not after or log["offset"] > after]
            limit = int(request.query.get("limit", 20))
            chunk = found[:limit]
            paging = (
                {"next": f"{self.url}/v2/alerts/{alert['id']}/logs?offset={chunk[-1]['offset']}"}
                if len(found) > limit
                else {}
            )
            return Answer(200, {"data": chunk, "paging": paging, "took": 0.008, "requestId": "69f312f6"})
        return Answer(404, {"message": "Not found"})


def og_alert(
    ident: str, tiny: int, *, message: str, entity: str, created: str, updated: str, status: str = "closed"
) -> dict[str, Any]:
    return {
        "id": ident,
        "tinyId": str(tiny),
        "alias": ident,
        "message": message,
        "status": status,
        "acknowledged": True,
        "isSeen": True,
        "tags": ["service:" + entity],
        "snoozed": False,
        "count": 1,
        "lastOccurredAt": created,
        "createdAt": created,
        "updatedAt": updated,
        "source": "prometheus",
        "owner": "dana@acme.example",
        "priority": "P2",
        "teams": [],
        "responders": [],
        "integration": {"id": "3cc69931", "name": "Prometheus", "type": "API"},
        "entity": entity,
        "description": f"{message} (details)",
    }


def og_log(offset: str, text: str, at: str, kind: str = "alertAction") -> dict[str, Any]:
    return {"createdAt": at, "log": text, "offset": offset, "owner": "dana@acme.example", "type": kind}
