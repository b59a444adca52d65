"""The org the web app's browser tests and screenshots run on: the built-in demo, the PagerDuty incident
that followed its deployment (with a postmortem), and a pull request whose title is a script tag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest import examples as ex
from ingest.demo import envelopes as demo_envelopes

FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM = "/usr/bin/chromium"  # Debian's, driven by Playwright for Python (no browser download)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = "acme/shop"
INCIDENT = "pagerduty:Q1ABCD2EFGHIJK"
SESSION = "sess-claude-7f3a"
XSS_TITLE = "<script>alert(1)</script>"
XSS_NUMBER = 77
POSTMORTEM = f"""---
title: Refunds double-charged
date: 2026-01-06
---
# Refunds double-charged

## Summary
Refunds were charged twice for 35 minutes ({INCIDENT}).

## Root cause
Replayed refund requests from {REPO}#42 were not recognised when the idempotency key arrived in lower case.

## Action items
- Normalise idempotency keys before the lookup
- Add a security scan to the payments pipeline
"""


def _pagerduty(name: str) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "pagerduty" / name).read_text())
    return {"source": "pagerduty", "id": payload["event"]["id"], "payload": payload}


def envelopes() -> list[dict[str, Any]]:
    """Every event of the org, as `tracegraph ingest` reads them."""
    head = ex.sha("web-77-1")
    return [
        *demo_envelopes(),
        _pagerduty("v3.incident.triggered.json"),
        _pagerduty("v3.incident.resolved.json"),
        {"source": "postmortem", "id": "pm-refunds", "payload": POSTMORTEM},
        ex.pull_request(
            REPO, XSS_NUMBER, action="opened", author="mallory", head=head, title=XSS_TITLE, at="2026-01-07T09:00:00Z"
        ),
        ex.pull_request(
            REPO,
            XSS_NUMBER,
            action="closed",
            merged=True,
            merge_sha=ex.sha("web-77-merge"),
            author="mallory",
            head=head,
            title=XSS_TITLE,
            at="2026-01-07T10:00:00Z",
        ),
    ]
