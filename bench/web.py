"""The web app's pages against GraphQL for the same answer, and the change page's Largest Contentful Paint.

    python -m bench.web DIR [--runs 200] [--lcp 20]

Runs against the graph bench.ingest (or `tracegraph ingest`) left in the bench's Neo4j (bench.common).
The real app runs as `uvicorn` in a child process, as in bench.query; a reader token signs in once and
the pages are fetched over one keep-alive connection. For --runs keys drawn from DIR/keys.json, page
and GraphQL taking turns at asking first (the first pays the cold reads of a key):

- the change page (/changes/{repo}/{n}: the five-minute answer, the origin of every fact, rendering)
  beside GraphQL `change(repo, number)` asking what the page shows;
- the incident page (/incidents/{id}: suspects, postmortems, origins) beside GraphQL
  `incident(id) { suspects … postmortems … }`.

Server time is the page's own Server-Timing header (reads and rendering inside the app); the
round trip over loopback is printed too. Then Chromium (Debian's, through Playwright) opens the change
page of --lcp keys in a signed-in tab and reads `largest-contentful-paint` from the Performance API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench import common
from bench.query import Client, free_port, running_api
from graph.access import Role, create_token
from graph.driver import connected
from graph.settings import Settings

CHANGE_QUERY = """query($repo: String!, $number: Int!) {
  change(repo: $repo, number: $number) {
    id title url state riskArea headSha mergeCommitSha createdAt mergedAt author { login }
    verdict { status gaps }
    approvals { reviewer { login } at commitSha stale independent reasons }
    evidence { kind name conclusion commitSha url at source }
    sessions { id tool model promptSummary operator { login } startedAt }
    commits { sha message authoredAt aiTools author { login } }
    deployments { id environment service status at }
    incidents { id title severity status triggeredAt }
  }
}"""
INCIDENT_QUERY = """query($id: ID!) {
  incident(id: $id) {
    id title severity status service triggeredAt resolvedAt
    suspects { score reason change { id title verdict { status } sessions { id tool model operator { login } } }
               deployment { id environment startedAt } }
    traceNotes postmortems { title rootCause actionItems }
  }
}"""
TIMING = re.compile(r"app;dur=([0-9.]+)")


class PageClient:
    """GET pages through httpx over a keep-alive connection with a session cookie: status, server time
    (the page's own Server-Timing), seconds for the round trip."""

    def __init__(self, port: int, cookie: str):
        self.client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Cookie": cookie, "Accept": "text/html"}, timeout=60
        )

    async def get(self, path: str) -> tuple[int, float, float]:
        started = time.perf_counter()
        response = await self.client.get(path)
        found = TIMING.search(response.headers.get("server-timing", ""))
        return response.status_code, float(found[1]) / 1000 if found else float("nan"), time.perf_counter() - started

    async def aclose(self) -> None:
        await self.client.aclose()


async def post(client: Client, payload: dict[str, Any]) -> tuple[int, Any]:
    """bench.query's POST of a GraphQL request."""
    return await client.post("/graphql", payload)


def sign_in(port: int, token: str) -> str:
    """The session cookie a reader token opens (the sign-in form, as a browser posts it)."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        form = client.get("/sign-in")
        nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert nonce, "no sign-in form"
        client.post("/sign-in", data={"token": token, "csrf": nonce[1], "next": "/"})
        value = client.cookies.get("tracegraph_session")
    if not value:
        raise SystemExit("signing in did not open a session")
    return f"tracegraph_session={value}"


async def measure(port: int, token: str, cookie: str, keys: dict[str, Any], runs: int) -> dict[str, Any]:
    rng = random.Random(7)
    changes = [rng.choice(keys["changes"]) for _ in range(runs)]
    incidents = [f"pagerduty:{rng.choice(keys['incidents'])}" for _ in range(runs)] if keys["incidents"] else []
    pages = PageClient(port, cookie)
    graphql = Client(port, {"Authorization": f"Bearer {token}"})
    found: dict[str, Any] = {}
    try:
        # One warm-up of each, so query plans are compiled before timing.
        await pages.get(f"/changes/{quote(changes[0][0])}/{changes[0][1]}")
        await post(graphql, {"query": CHANGE_QUERY, "variables": {"repo": changes[0][0], "number": 1}})
        for name, items, page_path, query, variables in (
            (
                "change",
                changes,
                lambda k: f"/changes/{quote(k[0])}/{k[1]}",
                CHANGE_QUERY,
                lambda k: {"repo": k[0], "number": k[1]},
            ),
            ("incident", incidents, lambda k: f"/incidents/{quote(k, safe='')}", INCIDENT_QUERY, lambda k: {"id": k}),
        ):
            if not items:
                continue
            if name == "incident":
                await pages.get(page_path(items[0]))
                await post(graphql, {"query": query, "variables": variables(items[0])})
            server, trip, api = [], [], []
            for i, key in enumerate(items):
                # Whichever asks first for a key pays Neo4j's cold page-cache reads: take turns.
                for step in ("page", "graphql") if i % 2 == 0 else ("graphql", "page"):
                    if step == "page":
                        status, app_seconds, seconds = await pages.get(page_path(key))
                        if status != 200:
                            raise SystemExit(f"{page_path(key)} answered {status}")
                        server.append(app_seconds)
                        trip.append(seconds)
                        continue
                    started = time.perf_counter()
                    status, body = await post(graphql, {"query": query, "variables": variables(key)})
                    api.append(time.perf_counter() - started)
                    if status != 200 or body.get("errors"):
                        raise SystemExit(f"GraphQL failed for {key}: {body}")
            found[name] = {
                "page server time": common.summary_ms(server),
                "page round trip": common.summary_ms(trip),
                "GraphQL round trip": common.summary_ms(api),
            }
    finally:
        await pages.aclose()
        await graphql.aclose()
    return found


def lcp(port: int, cookie: str, keys: list[list[Any]]) -> dict[str, float]:
    """Largest Contentful Paint of the change page in Chromium, per key (ms)."""
    from playwright.sync_api import sync_playwright

    script = """() => new Promise(resolve => {
      new PerformanceObserver(list => { const e = list.getEntries(); resolve(e[e.length - 1].startTime); })
        .observe({type: 'largest-contentful-paint', buffered: true});
    })"""
    name, _, value = cookie.partition("=")
    samples = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": name, "value": value, "url": f"http://127.0.0.1:{port}"}])
        tab = context.new_page()
        tab.goto(f"http://127.0.0.1:{port}/changes/{quote(keys[0][0])}/{keys[0][1]}")  # warm the asset cache
        for repo, number in keys:
            tab.goto(f"http://127.0.0.1:{port}/changes/{quote(repo)}/{number}")
            samples.append(tab.evaluate(script) / 1000)
        browser.close()
    return common.summary_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="what bench.generate wrote (for keys.json)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--lcp", type=int, default=20, help="change pages to open in Chromium")
    args = parser.parse_args()
    keys = json.loads((args.folder / "keys.json").read_text())
    common.stop_cleanly_on_sigterm()

    async def reader_token(settings: Settings) -> str:
        async with connected(settings) as graph:
            secret, _ = await create_token(graph, role=Role.READER, name="bench.web")
            return secret

    # The graph bench.ingest left (its Neo4j started for the run and stopped after it), the app beside it.
    with common.bench_graph() as settings:
        token = asyncio.run(reader_token(settings))
        port = free_port()
        with running_api(common.client_env(settings), port):
            cookie = sign_in(port, token)
            print(f"machine: {common.machine()}")
            print(f"neo4j:   {common.neo4j_memory()}")
            print(f"graph:   {args.folder} ({len(keys['changes'])} change keys, {len(keys['incidents'])} incidents)")
            found = asyncio.run(measure(port, token, cookie, keys, args.runs))
            rng = random.Random(11)
            sample = [rng.choice(keys["changes"]) for _ in range(args.lcp)]
            found["change page LCP in Chromium"] = lcp(port, cookie, sample)

    def line(summary: dict[str, float]) -> str:
        return "  ".join(f"{k} {v:8.2f} ms" for k, v in summary.items() if k != "n") + f"  (n={summary['n']})"

    for name, figures in found.items():
        if "p50" in figures:
            print(f"{name:34s} {line(figures)}")
            continue
        print(f"{name} page ({args.runs} random keys):")
        for what, summary in figures.items():
            print(f"  {what:26s} {line(summary)}")
    record = {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": common.machine(), "runs": args.runs, **found}
    with (args.folder / "bench-web.jsonl").open("a") as log:
        log.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
