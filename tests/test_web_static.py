"""The web app without a browser: search parsing, links, autoescape, vendored assets, the demo's pointer
to the web app, and the plans of its reads."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from graph import access, search
from graph.settings import Settings
from tests.conftest import run_graph
from tests.test_query_plans import read_statements, scans
from web.render import change_path, environment, item_path
from web.security import PAGE_POLICY, style_policy

VENDOR = Path(__file__).resolve().parents[1] / "web" / "static" / "vendor"


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("acme/shop#42", ["github:acme/shop#42", "gitlab:acme/shop!42"]),
        ("Acme/Shop#42", ["github:acme/shop#42", "gitlab:acme/shop!42"]),
        ("group/sub/project!7", ["github:group/sub/project#7", "gitlab:group/sub/project!7"]),
        ("https://github.com/acme/shop/pull/42", ["github:acme/shop#42", "gitlab:acme/shop!42"]),
        ("https://github.com/acme/shop/pull/42/files?w=1", ["github:acme/shop#42", "gitlab:acme/shop!42"]),
        ("https://gitlab.example.com/group/proj/-/merge_requests/17", ["github:group/proj#17", "gitlab:group/proj!17"]),
    ],
)
def test_a_change_reference_or_url_names_only_that_change(text: str, ids: list[str]) -> None:
    parsed = search.parse(text)
    assert parsed.change_ids == ids and parsed.sha is None and parsed.words == []


def test_other_texts_are_a_sha_prefix_ids_and_title_words() -> None:
    parsed = search.parse("  18CC930  ")
    assert parsed.sha == "18cc930" and parsed.ids[0] == "18CC930"
    parsed = search.parse("Q1ABCD2EFGHIJK")
    assert "pagerduty:Q1ABCD2EFGHIJK" in parsed.ids and parsed.sha is None
    parsed = search.parse('refunds "idempotency" AND (keys)~ OR *')
    # Lucene syntax never reaches the full-text query: words are \w+ runs only.
    assert search.lucene(parsed.words) == "refunds AND idempotency AND AND AND keys AND OR"
    assert search.parse("x" * 5000).text == "x" * search.MAX_TEXT


def test_pages_link_changes_by_their_ids() -> None:
    assert change_path("github:acme/shop#42") == "/changes/acme/shop/42"
    assert change_path("gitlab:group/sub/proj!7") == "/changes/group/sub/proj/7?provider=gitlab"
    assert item_path("incident", "pagerduty:Q1/../x") == "/incidents/pagerduty%3AQ1%2F..%2Fx"


def test_templates_escape_everything_and_links_only_web_urls() -> None:
    env = environment()
    assert env.autoescape is True
    rendered = env.from_string('{% from "macros.html" import ext %}{{ ext(url, title) }} {{ gap | ticks }}').render(
        url="javascript:alert(1)", title="<script>alert(1)</script>", gap="`<b>` is <i>"
    )
    assert rendered == "&lt;script&gt;alert(1)&lt;/script&gt; <code>&lt;b&gt;</code> is &lt;i&gt;"


def test_the_page_policy_allows_no_inline_script() -> None:
    directives = dict(d.split(" ", 1) for d in PAGE_POLICY.split("; "))
    assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in PAGE_POLICY
    assert re.search(r"style-src 'sha256-[A-Za-z0-9+/]+=*'", style_policy("body{}"))


def test_vendored_assets_are_the_npm_files_the_readme_names() -> None:
    table = (VENDOR / "README.md").read_text()
    rows = re.findall(r"^\| ([\w./-]+) \| ([\w.@/-]+) \| [^|]+ \| ([^|]+) \| ([0-9a-f]{64}) \|$", table, re.M)
    assert len(rows) == 5
    for file, package, licence, digest in rows:
        assert hashlib.sha256((VENDOR / file).read_bytes()).hexdigest() == digest, f"{file} differs from {package}"
        licence_file = re.search(r"\(([^)]+)\)", licence)
        assert licence_file and (VENDOR / licence_file[1]).is_file(), f"no licence for {file}"


def test_the_demo_ends_with_the_web_page_and_a_token_that_signs_in(settings: Settings) -> None:
    env = {
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
    }
    first = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False)
    second = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False)
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert "open http://127.0.0.1:8000/changes/acme/shop/42" in second.output
    tokens = [re.search(r"reader token .*: (tg_\S+)", r.output) for r in (first, second)]
    assert all(tokens)
    old, new = (run_graph(settings, lambda g, t=t: access.authenticate(g, t[1])) for t in tokens)  # type: ignore[index]
    assert old is None and new is not None and new.role == access.Role.READER  # one live demo token


def test_the_web_reads_use_indexes(settings: Settings) -> None:
    from graph.queries import web

    statements = read_statements(web)
    assert {"graph.queries.web.CHANGES_MERGED", "graph.queries.web.ORIGINS", "graph.queries.web.SEARCH_EXACT"} <= set(
        statements
    )
    assert scans(settings, statements) == {}


def test_over_tls_the_session_cookie_is_secure_and_unknown_addresses_get_a_page(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    secret = run_graph(settings, lambda g: access.create_token(g, role=access.Role.READER, name="tls"))[0]
    with TestClient(create_app(settings), base_url="https://tracegraph.example") as client:
        form = client.get("/sign-in")
        nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert nonce and "secure" in form.headers["set-cookie"].lower()
        signed = client.post(
            "/sign-in",
            data={"token": secret, "csrf": nonce[1], "next": "//evil.example/x"},
            headers={"Origin": "https://tracegraph.example"},
            follow_redirects=False,
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/"  # never off-site
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "; secure" in cookie
        page = client.get("/no/such/page", headers={"Accept": "text/html"})
        assert page.status_code == 404 and "No such page" in page.text
        assert client.get("/no/such/page").json() == {"detail": "Not Found"}  # the API's answer stays JSON


def test_search_finds_each_kind_of_thing_a_person_types(settings: Settings) -> None:
    from tests.conftest import load
    from tests.web_org import envelopes

    load(settings, envelopes())

    def found(text: str) -> list[tuple[str, str]]:
        return [(h.kind, h.key) for h in run_graph(settings, lambda g: search.search(g, text))]

    assert found("acme/shop#42") == [("change", "github:acme/shop#42")]
    assert found("https://github.com/Acme/Shop/pull/41") == [("change", "github:acme/shop#41")]
    assert found("18cc930") == [("commit", "18cc93021080ec9aca489d07372e2ad591b97fee")]
    assert found("Q1ABCD2EFGHIJK") == [("incident", "pagerduty:Q1ABCD2EFGHIJK")]
    assert found("sess-claude-7f3a")[0] == ("session", "sess-claude-7f3a")
    # Words of titles, stemmed: "refunds" finds the change and the "Refund API" incident.
    assert set(found("refunds")) == {("change", "github:acme/shop#42"), ("incident", "pagerduty:Q1ABCD2EFGHIJK")}
    assert found("no such words anywhere") == []
