"""A screenshot of every page of the web app, in headless Chromium, to look at before a change ships.

    .venv/bin/python scripts/screenshots.py [--load] [--out screenshots/]

It reads the graph tracegraph is configured for (NEO4J_URI, or the local `tracegraph db start` server);
`--load` first ingests the web org (the demo, its incident and postmortem, a script-tag title;
tests/web_org.py), idempotent. The app runs under uvicorn in this process on a free port; an admin
and a reader token are created for the run. Prints one line per page: its file, HTTP status and
the time to load it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INCIDENT = "pagerduty:Q1ABCD2EFGHIJK"
# (file name, path, role that opens it)
PAGES = [
    ("01-sign-in", "/sign-in", None),
    ("02-home", "/", "admin"),
    ("03-search", "/search?q=refunds", "admin"),
    ("04-change-unverified", "/changes/acme/shop/42", "admin"),
    ("05-change-verified", "/changes/acme/shop/41", "admin"),
    ("06-change-script-title", "/changes/acme/shop/77", "admin"),
    ("07-changes-list", "/changes", "admin"),
    ("08-changes-unverified-in-production", "/changes?verdict=UNVERIFIED&env=production", "admin"),
    ("09-incident", f"/incidents/{INCIDENT}", "admin"),
    ("10-session", "/sessions/sess-claude-7f3a", "admin"),
    ("11-commit", "/search?q=18cc930", "admin"),
    ("12-deployment", "/deployments/github:deployment:9001", "admin"),
    ("13-raw-document", "/sources/github:review-4211", "admin"),
    ("14-services", "/services", "admin"),
    ("15-service", "/services/shop-api", "admin"),
    ("16-metrics", "/metrics?from=2025-12-01&to=2026-02-01", "admin"),
    ("17-exports", "/exports", "admin"),
    ("18-admin-tokens", "/manage/tokens", "admin"),
    ("19-admin-audit", "/manage/audit", "admin"),
    ("20-not-found", "/changes/acme/shop/9999", "admin"),
    ("21-reader-on-admin-page", "/manage/tokens", "reader"),
    ("22-graphiql", "/graphql", None),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(load: bool) -> tuple[str, str]:
    """Load the web org when asked; an admin and a reader token for this run."""
    from graph import access
    from graph.driver import connected
    from graph.settings import get_settings
    from ingest.pipeline.events import to_event
    from ingest.runner import ingest_events
    from tests.web_org import envelopes

    settings = get_settings()
    async with connected(settings, ensure=True) as graph:
        if load:
            events = [to_event(e, json.dumps(e), f"web:{i}", source=None, type=None) for i, e in enumerate(envelopes())]
            await ingest_events(graph, events, quarantine_dir=settings.quarantine_dir)  # type: ignore[arg-type]
        admin, _ = await access.create_token(graph, role=access.Role.ADMIN, name="screenshots admin")
        reader, _ = await access.create_token(graph, role=access.Role.READER, name="screenshots reader")
    return admin, reader


def serve() -> tuple[Any, threading.Thread, str]:
    import uvicorn

    from api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("the web server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def shoot(url: str, tokens: dict[str, str], out: Path, width: int) -> list[str]:
    from playwright.sync_api import sync_playwright

    lines = []
    with sync_playwright() as playwright:
        from tests.web_org import CHROMIUM, CHROMIUM_ARGS

        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--hide-scrollbars"])
        contexts: dict[str | None, Any] = {}
        for role in (None, "admin", "reader"):
            context = browser.new_context(base_url=url, viewport={"width": width, "height": 900})
            if role is not None:
                tab = context.new_page()
                tab.goto("/sign-in")
                tab.fill("#token", tokens[role])
                tab.click("button[type=submit]")
                tab.wait_for_load_state()
                tab.close()
            contexts[role] = context
        for name, path, role in PAGES:
            tab = contexts[role].new_page()
            started = time.perf_counter()
            response = tab.goto(path)
            tab.wait_for_load_state("networkidle")
            elapsed = time.perf_counter() - started
            if path == "/graphql":
                tab.wait_for_selector(".graphiql-editors", timeout=20000)
            file = out / f"{name}.png"
            tab.screenshot(path=str(file), full_page=True)
            status = response.status if response else 0
            lines.append(f"{file}  {status}  {elapsed * 1000:.0f} ms  {path}")
            tab.close()
        browser.close()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", action="store_true", help="ingest the web org first (idempotent)")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="folder for the PNGs")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    args = parser.parse_args()
    if not Path("/usr/bin/chromium").exists():
        print("error: chromium is not installed (apt-get install -y chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    admin, reader = asyncio.run(prepare(args.load))
    server, thread, url = serve()
    try:
        for line in shoot(url, {"admin": admin, "reader": reader}, args.out, args.width):
            print(line)
    finally:
        server.should_exit = True
        thread.join(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
