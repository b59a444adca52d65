"""The web app in a real browser: Playwright for Python driving Debian's Chromium, against the real app
under uvicorn on a free port and the session's real Neo4j. One server and one browser for the module.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from export.archive import read_bundle
from export.verify import verify_files
from graph import repository
from graph import schema as graph_schema
from graph.driver import Graph
from graph.settings import Settings
from tests.conftest import load, run_graph, token
from tests.web_org import CHROMIUM, CHROMIUM_ARGS, INCIDENT, SESSION, XSS_NUMBER, XSS_TITLE, envelopes

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed (scripts/bootstrap.sh dev installs it)"
)


@dataclass
class Site:
    url: str
    reader: str
    admin: str
    ingester: str
    settings: Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def site(neo4j_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app under uvicorn (in a thread of this process) on the web org."""
    import uvicorn

    from api.app import create_app

    settings = neo4j_settings.model_copy(update={"home": tmp_path_factory.mktemp("web-home")})

    async def reset(graph: Graph) -> None:
        await repository.delete_all(graph)
        await graph_schema.ensure_schema(graph)

    run_graph(settings, reset)
    summary = load(settings, envelopes())
    assert summary.rejected == [], summary.rejected
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.05)
    try:
        # Tokens now: once Playwright's sync API runs, this thread has an event loop and asyncio.run refuses.
        secrets = [token(settings, role) for role in ("reader", "admin", "ingester")]
        yield Site(f"http://127.0.0.1:{port}", *secrets, settings)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(site: Site, browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose page fails the test on any script error or CSP report."""
    context = browser.new_context(base_url=site.url, accept_downloads=True)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # An HTTP error status is the test's to assert; any other console error (a CSP report) is a problem.
    tab.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    confirms: list[str] = []  # what the test expects a confirm() to ask; any other dialog is a problem

    def dialog(found: Any) -> None:
        if confirms and confirms[0] in found.message:
            confirms.pop(0)
            found.accept()
        else:
            problems.append(f"dialog: {found.message}")
            found.dismiss()

    tab.on("dialog", dialog)
    tab.confirms = confirms
    yield tab
    context.close()
    assert problems == []


def sign_in(page: Any, secret: str, next_path: str = "/") -> None:
    page.goto(f"/sign-in?next={next_path}")
    page.fill("#token", secret)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_sign_in_then_search_opens_the_change_with_its_verdict_and_two_gaps(page: Any, site: Site) -> None:
    page.goto("/")
    assert page.url.endswith("/sign-in?next=/") or "/sign-in" in page.url
    sign_in(page, site.reader)
    assert page.locator("header .who").inner_text().startswith("test reader")
    page.fill("header input[name=q]", "acme/shop#42")
    page.press("header input[name=q]", "Enter")
    page.wait_for_url("**/changes/acme/shop/42")
    assert page.locator("#verdict .status").inner_text() == "UNVERIFIED"
    gaps = page.locator("#verdict .gaps li").all_inner_texts()
    assert len(gaps) == 2, gaps
    assert gaps[0].startswith("needs 2 independent, non-stale approval(s)")
    assert "security-scan" in gaps[1]
    # Every approval and piece of evidence shows how it arrived, as the answer has it (files: unverified).
    query = '{ change(repo: "acme/shop", number: 42) { approvals { trust } evidence { trust } } }'
    answer = httpx.post(
        f"{site.url}/graphql", json={"query": query}, headers={"Authorization": f"Bearer {site.reader}"}
    ).json()["data"]["change"]
    expected = [a["trust"].lower() for a in answer["approvals"] + answer["evidence"]]
    assert page.locator("td .trust").all_inner_texts() == expected and expected
    # Every fact says where it came from, with a link to its stored raw document.
    raw = page.locator("a[title='the stored raw document']").first
    raw.click()
    page.wait_for_url("**/sources/**")
    assert "stored raw document" in page.locator("main").inner_text()


def test_incident_to_suspect_to_change_to_agent_session(page: Any, site: Site) -> None:
    sign_in(page, site.reader, f"/incidents/{INCIDENT}")
    assert page.locator("h1").inner_text().startswith("Refund API 5xx")
    suspect = page.locator("table.suspects tbody tr").first
    assert "deployed" in suspect.inner_text()
    suspect.locator("a", has_text="acme/shop#42").click()
    page.wait_for_url("**/changes/acme/shop/42")
    assert page.locator(".trail .box.bad", has_text=INCIDENT).count() == 1
    page.locator("table a", has_text=SESSION).first.click()
    page.wait_for_url(f"**/sessions/{SESSION}")
    facts = page.locator("dl.facts-grid").inner_text()
    assert "claude-code" in facts and "carol" in facts and "idempotency keys" in facts


def test_a_filter_lists_only_unverified_changes_running_in_production(page: Any, site: Site) -> None:
    sign_in(page, site.reader, "/changes")
    assert page.locator("table.list tbody tr").count() == 3  # 41, 42 and 77 were merged
    page.select_option("select[name=verdict]", "UNVERIFIED")
    page.select_option("select[name=env]", "production")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/changes?*verdict=UNVERIFIED*")
    listed = page.locator("table.list tbody tr")
    assert listed.count() == 1
    assert "acme/shop#42" in listed.first.inner_text() and "UNVERIFIED" in listed.first.inner_text()
    with page.expect_download() as download:
        page.click("text=Download CSV")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["number"], r["verdict"]) for r in rows] == [("42", "UNVERIFIED")]


def test_download_an_evidence_bundle_and_verify_it(page: Any, site: Site, tmp_path: Path) -> None:
    sign_in(page, site.reader, "/changes/acme/shop/42")
    with page.expect_download() as download:
        page.click("text=Download evidence bundle")
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    assert target.name == "evidence-acme-shop-42.zip"
    result = verify_files(read_bundle(target))
    assert result.problems == [] and result.files > 5


def test_a_reader_gets_a_clear_page_not_the_admin_pages(page: Any, site: Site) -> None:
    sign_in(page, site.reader)
    assert page.locator("header nav a", has_text="Admin").count() == 0
    for path in ("/manage/tokens", "/manage/audit"):
        response = page.goto(path)
        assert response.status == 403
        text = page.locator("main").inner_text()
        assert "You cannot open this page" in text and "admins only" in text
        assert "Traceback" not in page.content()


def test_a_script_tag_in_a_title_renders_as_text(page: Any, site: Site) -> None:
    sign_in(page, site.reader, f"/changes/acme/shop/{XSS_NUMBER}")
    assert page.locator("h1.title").inner_text() == XSS_TITLE
    page.goto("/search?q=alert")
    assert XSS_TITLE in page.locator("table.list").inner_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()
    # The page fixture fails the test if an alert dialog opened or a script error happened.


def test_sign_out_ends_the_session_for_good(page: Any, site: Site, browser: Any) -> None:
    sign_in(page, site.reader)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "tracegraph_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain HTTP here
    page.click("header .who button")
    page.wait_for_url("**/sign-in")
    assert "/sign-in?next=" in page.goto("/changes").url
    # The old cookie, replayed, opens nothing: the session ended on the server.
    other = browser.new_context(base_url=site.url)
    other.add_cookies([cookie])
    assert "/sign-in" in other.new_page().goto("/").url
    other.close()


def test_admin_creates_and_revokes_a_token_and_sees_page_views_in_the_audit_log(page: Any, site: Site) -> None:
    sign_in(page, site.admin, "/manage/tokens")
    page.fill("input[name=name]", "auditor-2026")
    page.select_option("select[name=role]", "reader")
    page.click("text=Create token")
    secret = page.locator("input.secret").input_value()
    assert secret.startswith("tg_")
    assert httpx.post(
        f"{site.url}/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {secret}"}
    ).is_success
    page.confirms.append("Revoke auditor-2026?")
    page.locator("tr", has_text="auditor-2026").locator("button", has_text="Revoke").click()
    page.wait_for_url("**/manage/tokens")
    assert "revoked" in (page.locator("tr", has_text="auditor-2026").get_attribute("class") or "")
    response = httpx.post(
        f"{site.url}/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 401
    page.goto("/changes/acme/shop/42")
    page.goto("/manage/audit?action=page")
    log = page.locator("table.audit").inner_text()
    assert "GET /changes/acme/shop/42" in log and "test admin" in log


def test_graphiql_runs_from_local_assets_only(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.url)
    tab = context.new_page()
    requests: list[str] = []
    blocked: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    tab.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    tab.on("pageerror", lambda error: blocked.append(str(error)))
    tab.goto("/graphql")
    tab.wait_for_selector(".graphiql-container .graphiql-editors", timeout=20000)
    context.close()
    assert requests and all(url.startswith(site.url) for url in requests), requests
    assert blocked == []


def test_metrics_draws_its_weekly_charts(page: Any, site: Site) -> None:
    sign_in(page, site.reader, "/metrics?from=2025-12-01&to=2026-02-01")
    assert "Deployment frequency" in page.locator("main").inner_text()
    page.wait_for_function("() => window.Chart && Object.keys(window.Chart.instances).length === 3")


# --- HTTP-level: headers, CSRF, error pages ------------------------------------------------------


@contextmanager
def _signed_in_client(site: Site, secret: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, timeout=30) as client:
        form = client.get("/sign-in").text
        nonce = re.search(r'name="csrf" value="([^"]+)"', form)
        assert nonce
        response = client.post("/sign-in", data={"token": secret, "csrf": nonce[1], "next": "/"})
        assert response.status_code == 303, response.text
        yield client


def test_every_html_response_carries_the_security_headers(site: Site) -> None:
    with _signed_in_client(site, site.reader) as client:
        responses = {
            "page": client.get("/changes/acme/shop/42"),
            "error page": client.get("/changes/acme/shop/9999"),
            "sign-in": httpx.get(f"{site.url}/sign-in"),
            "GraphiQL": client.get("/graphql", headers={"Accept": "text/html"}),
            "evidence report": client.get(
                "/export/change/acme/shop/42",
                params={"format": "html"},
                headers={"Authorization": f"Bearer {site.reader}"},
            ),
        }
    for name, response in responses.items():
        assert response.headers["content-type"].startswith("text/html"), name
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy, (
            name
        )
        assert "script-src 'self'" in policy or "script-src" not in policy, name
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["x-frame-options"] == "DENY", name
        assert response.headers["referrer-policy"] == "same-origin", name
    assert responses["page"].headers["cache-control"] == "no-store"
    assert "style-src 'sha256-" in responses["evidence report"].headers["content-security-policy"]


def test_forms_refuse_a_missing_or_foreign_csrf_token(site: Site) -> None:
    with _signed_in_client(site, site.admin) as client:
        assert client.post("/manage/tokens", data={"role": "admin", "name": "x"}).status_code == 403
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/manage/tokens").text)
        assert csrf
        foreign = client.post(
            "/manage/tokens",
            data={"role": "admin", "name": "x", "csrf": csrf[1]},
            headers={"Origin": "https://evil.test"},
        )
        assert foreign.status_code == 403
        assert client.post("/sign-out", data={"csrf": "wrong"}).status_code == 403
        listed = httpx.get(f"{site.url}/admin/tokens", headers={"Authorization": f"Bearer {site.admin}"}).json()
        assert "x" not in [t["name"] for t in listed]
    # Signing in needs the form's own token too (login CSRF).
    assert httpx.post(f"{site.url}/sign-in", data={"token": site.reader}).status_code == 403


def test_bad_input_and_unknown_things_get_pages_not_tracebacks(site: Site) -> None:
    with _signed_in_client(site, site.reader) as client:
        for path, status in [
            ("/changes/acme/shop/9999", 404),
            ("/incidents/pagerduty:NOPE", 404),
            ("/changes?verdict=MAYBE", 400),
            ("/changes?from=yesterday", 400),
            ("/incidents/x?window=0", 400),
            ("/metrics?from=2020-01-01&to=2026-01-01", 400),
            ("/exports/bundle?kind=period&from=2026-01-01&to=2026-12-01", 400),
        ]:
            response = client.get(path)
            assert response.status_code == status, (path, response.status_code)
            assert response.headers["content-type"].startswith("text/html") and "Traceback" not in response.text
    ingester = site.ingester
    response = httpx.get(f"{site.url}/sign-in")
    nonce = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert nonce
    refused = httpx.post(f"{site.url}/sign-in", data={"token": ingester, "csrf": nonce[1]}, cookies=response.cookies)
    assert refused.status_code == 403 and "pages need a reader or an admin token" in refused.text
