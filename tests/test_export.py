"""Evidence export (JSON bundle, CSV, HTML, REST) and verify-export, against a real Neo4j with the demo org."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import json
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi import HTTPException, Request
from fastapi.testclient import TestClient

from api.app import create_app
from api.export import ExportAccess, export_access
from cli.export import export, scope_from_options, verify_export
from export.archive import read_bundle
from export.bundle import bundle_files
from export.html import UNVERIFIED_COLOR, VERIFIED_COLOR
from export.manifest import whole_digest
from export.scope import ExportError, Scope, collect, instant
from export.table import CSV_COLUMNS
from export.verify import verify_files
from graph.batch import Batch, Origin
from graph.policy import load_policy
from graph.settings import Settings
from graph.vocabulary import Label, Rel
from graph.writer import write_batch
from ingest import examples as ex
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import api, load, run_graph, token

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
TOKEN = "ghp_" + "Zq7Xw2Lk9Pm4Rt6Yv1Bn8Hc3Jd5Fg0Sa2Ue7"
assert len(TOKEN) == 40  # "ghp_" + 36: the shape GitHub personal access tokens have


def env(settings: Settings) -> dict[str, str | None]:
    return {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
        "TRACEGRAPH_POLICY": None,
    }


def run_export(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(export, list(args), env=env(settings), catch_exceptions=False)


def verify(path: Path, *args: str) -> Result:
    return CliRunner().invoke(verify_export, [str(path), *args], catch_exceptions=False)


def flip_one_byte(path: Path, offset: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def exported(settings: Settings, scope: Scope, *, in_toto: bool = False) -> dict[str, bytes]:
    policy = load_policy()

    async def work(graph: Any) -> dict[str, bytes]:
        return bundle_files(await collect(graph, policy, scope), policy, generated_at=NOW, in_toto=in_toto)

    return run_graph(settings, work)


def demo(settings: Settings) -> None:
    summary = load(settings, demo_envelopes())
    assert not summary.rejected


CHANGE_42 = Scope(kind="change", repo="acme/shop", number=42)


# --- the round trip ------------------------------------------------------------------------------


def test_export_verify_flip_one_byte_names_the_file(settings: Settings, tmp_path: Path) -> None:
    demo(settings)
    out = tmp_path / "bundle"
    result = run_export(settings, "--change", "acme/shop#42", "--out", str(out), "--in-toto")
    assert result.exit_code == 0, result.output
    assert "1 change(s): 0 VERIFIED, 1 UNVERIFIED" in result.output

    listed = json.loads((out / "manifest.json").read_text())["files"]
    checked = verify(out)
    assert checked.exit_code == 0, checked.output
    assert f"verified {len(listed)} files" in checked.output
    assert "statement.intoto.json pins this manifest" in checked.output

    answer = out / "answers" / "github-acme-shop-42.json"
    flip_one_byte(answer)
    failed = verify(out)
    assert failed.exit_code == 1
    assert "changed: answers/github-acme-shop-42.json" in failed.stderr
    # Only that file is named: every other digest still matches.
    assert [line for line in failed.stderr.splitlines() if line.startswith("changed:")] == [
        line for line in failed.stderr.splitlines() if "answers/github-acme-shop-42.json" in line
    ]
    flip_one_byte(answer)  # flipped back: verified again
    assert verify(out).exit_code == 0


def test_verify_names_missing_unexpected_and_tampered_manifest(settings: Settings, tmp_path: Path) -> None:
    demo(settings)
    out = tmp_path / "bundle"
    assert run_export(settings, "--change", "acme/shop#42", "--out", str(out)).exit_code == 0
    (out / "report.csv").unlink()
    (out / "sources" / "extra.json").write_text("{}")
    failed = verify(out)
    assert failed.exit_code == 1
    assert "missing: report.csv" in failed.stderr and "unexpected: sources/extra.json" in failed.stderr

    fresh = tmp_path / "fresh"
    assert run_export(settings, "--change", "acme/shop#42", "--out", str(fresh)).exit_code == 0
    manifest = json.loads((fresh / "manifest.json").read_text())
    manifest["files"]["report.html"] = "sha256:" + "0" * 64  # someone "fixes" the manifest for a changed report
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    failed = verify(fresh)
    assert failed.exit_code == 1
    assert "changed: manifest.json" in failed.stderr and "changed: report.html" in failed.stderr
    digest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["whole"]
    assert verify(fresh, "--expect", digest).exit_code == 1


@pytest.mark.parametrize("name", ["bundle.zip", "bundle.tar.gz"])
def test_archives_round_trip_and_name_the_changed_member(settings: Settings, tmp_path: Path, name: str) -> None:
    demo(settings)
    archive = tmp_path / name
    assert run_export(settings, "--change", "acme/shop#42", "--out", str(archive)).exit_code == 0
    assert verify(archive).exit_code == 0
    files = dict(read_bundle(archive))
    files["report.html"] = files["report.html"].replace(b"UNVERIFIED", b"VERIFIED__", 1)
    tampered = tmp_path / ("tampered" + name.removeprefix("bundle"))
    if name.endswith(".zip"):
        with zipfile.ZipFile(tampered, "w") as z:
            for path, data in files.items():
                z.writestr(path, data)
    else:
        with tarfile.open(tampered, "w:gz") as t:
            for path, data in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    failed = verify(tampered)
    assert failed.exit_code == 1 and "changed: report.html" in failed.stderr


def test_verify_export_of_something_that_is_not_a_bundle(tmp_path: Path) -> None:
    assert verify(tmp_path / "nope").exit_code == 2
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    result = verify(tmp_path / "x.zip")
    assert result.exit_code == 2 and "not a readable archive" in result.stderr
    (tmp_path / "empty").mkdir()
    result = verify(tmp_path / "empty")
    assert result.exit_code == 1 and "missing: manifest.json" in result.stderr


# --- what the bundle holds -----------------------------------------------------------------------


def test_bundle_holds_nodes_edges_source_events_answers_and_a_statement(settings: Settings) -> None:
    demo(settings)
    files = exported(settings, CHANGE_42, in_toto=True)
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json", "statement.intoto.json"}
    assert manifest["whole"] == whole_digest(manifest["files"])
    # "whole" is what sha256sum over the sorted files prints, hashed again.
    lines = "".join(f"{hashlib.sha256(files[p]).hexdigest()}  {p}\n" for p in sorted(manifest["files"]))
    assert manifest["whole"] == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()

    answer = json.loads(files["answers/github-acme-shop-42.json"])
    assert answer["verdict"]["status"] == "UNVERIFIED" and len(answer["verdict"]["gaps"]) == 2

    nodes = {n["id"]: n for n in json.loads(files["graph/nodes.json"])}
    edges = json.loads(files["graph/edges.json"])
    change = nodes["Change:github:acme/shop#42"]
    assert change["properties"]["title"] == "Add idempotency keys to refunds"
    closed = "github:pr-acme/shop-42-closed-18cc930-2026-01-05T12:00:00Z"
    assert change["asserted"]["title"] == {"event": closed, "at": "2026-01-05T12:00:00Z"}
    assert not any(k.startswith("_v") for n in nodes.values() for k in n["properties"])
    labels = {n["label"] for n in nodes.values()}
    assert labels == {"Change", "Repository", "Person", "Commit", "AgentSession", "Review", "Evidence"} | {
        "Deployment",
        "Service",
    }
    assert {"dave", "erin", "carol"} <= {n["key"] for n in nodes.values() if n["label"] == "Person"}
    assert not any(n["key"] == "github:acme/shop#41" for n in nodes.values())  # only this change's answer
    triples = {(e["start"].split(":")[0], e["type"], e["end"].split(":")[0]) for e in edges}
    assert {
        ("AgentSession", "PROPOSED", "Change"),
        ("Person", "SUBMITTED", "Review"),
        ("Evidence", "VERIFIES", "Commit"),
        ("Deployment", "SHIPPED", "Commit"),
        ("Deployment", "TO", "Service"),
    } <= triples
    assert all(e["start"] in nodes and e["end"] in nodes for e in edges)

    # Every node and edge names a source event whose raw document is in the bundle, content-addressed.
    index = json.loads(files["source-events.json"])
    documents = {d["id"]: d for d in index["documents"]}
    assert index["missing"] == []
    named = {n["event"] for n in nodes.values()} | {e["event"] for e in edges}
    named |= {a["event"] for n in nodes.values() for a in n["asserted"].values()}
    assert named <= set(documents)
    assert "provenance:provenance-sess-claude-7f3a" in documents
    for doc in documents.values():
        body = files[doc["file"]]
        assert doc["file"] == f"sources/{hashlib.sha256(body).hexdigest()}.json"
        assert doc["digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    assert json.loads(files[documents[closed]["file"]])["pull_request"]["title"] == "Add idempotency keys to refunds"

    # Unsigned here (no export key): a DSSE envelope with no signature around the Statement.
    envelope = json.loads(files["statement.intoto.json"])
    assert (envelope["payloadType"], envelope["signatures"]) == ("application/vnd.in-toto+json", [])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    merge = ex.sha("demo-42-merge")
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [
        {"name": f"git+https://github.com/acme/shop@{merge}", "digest": {"gitCommit": merge}}
    ]
    predicate = statement["predicate"]
    assert predicate["manifest"]["digest"]["sha256"] == hashlib.sha256(files["manifest.json"]).hexdigest()
    assert "sha256:" + predicate["bundle"]["digest"]["sha256"] == manifest["whole"]
    assert predicate["verdicts"][0]["status"] == "UNVERIFIED" and len(predicate["verdicts"][0]["gaps"]) == 2
    assert verify_files(files).problems == []


def test_bundles_of_the_same_graph_are_identical(settings: Settings) -> None:
    demo(settings)
    assert exported(settings, CHANGE_42) == exported(settings, CHANGE_42)


# --- CSV -----------------------------------------------------------------------------------------


def csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == CSV_COLUMNS
    return list(reader)


def test_csv_of_the_demo_period_has_one_row_per_change(settings: Settings) -> None:
    demo(settings)
    result = run_export(settings, "--from", "2026-01-01", "--to", "2026-02-01", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {r["number"]: r for r in csv_rows(result.stdout)}
    assert rows["42"] == {
        "repo": "acme/shop",
        "number": "42",
        "title": "Add idempotency keys to refunds",
        "url": "https://github.com/acme/shop/pull/42",
        "state": "merged",
        "risk_area": "payments",
        "author": "carol",
        "ai_assisted": "yes",
        "ai_tools": "claude-code",
        "ai_models": "claude-sonnet-4.5",
        "ai_sessions": "sess-claude-7f3a",
        "independent_approvers": "erin",
        "stale_approvals": "dave@" + ex.sha("demo-42-1")[:7],
        "evidence_present": "tests",
        "evidence_missing": "security-scan",
        "verdict": "UNVERIFIED",
        "gaps": rows["42"]["gaps"],
        "merged_at": "2026-01-05T12:00:00Z",
        "deployed_at": "2026-01-06T09:12:00Z",
        "deployed_to": "production/shop-api success 2026-01-06T09:12:00Z",
        "incidents": "",
        "evidence_trust": "tests/unit-tests: unverified",
        "approval_trust": "dave: unverified; erin: unverified",
    }
    gaps = rows["42"]["gaps"].splitlines()
    assert len(gaps) == 2 and gaps[0].startswith("needs 2 independent") and "security-scan" in gaps[1]
    human = rows["41"]
    assert (human["author"], human["ai_assisted"], human["ai_tools"], human["independent_approvers"]) == (
        "alice",
        "no",
        "",
        "bob",
    )
    assert (human["risk_area"], human["evidence_present"], human["evidence_missing"]) == ("standard", "tests", "")
    assert (human["verdict"], human["gaps"], human["deployed_at"]) == ("VERIFIED", "", "")


def test_service_scope_holds_only_the_changes_deployed_to_it(settings: Settings, tmp_path: Path) -> None:
    demo(settings)
    result = run_export(
        settings, "--service", "shop-api", "--from", "2026-01-06", "--to", "2026-01-07", "--format", "csv"
    )
    assert result.exit_code == 0, result.output
    assert [r["number"] for r in csv_rows(result.stdout)] == ["42"]
    empty = run_export(
        settings, "--service", "shop-api", "--from", "2026-01-07", "--to", "2026-02-01", "--format", "csv"
    )
    assert empty.exit_code == 0 and csv_rows(empty.stdout) == []
    unknown = run_export(settings, "--service", "nope", "--from", "2026-01-01", "--to", "2026-02-01")
    assert unknown.exit_code == 1 and "no service 'nope'" in unknown.stderr


def test_period_is_half_open_on_merged_at(settings: Settings) -> None:
    demo(settings)
    # #41 merged 2026-01-04T12:00:00Z, #42 at 2026-01-05T12:00:00Z: `to` is excluded.
    result = run_export(settings, "--from", "2026-01-04T12:00:00Z", "--to", "2026-01-05T12:00:00Z", "--format", "csv")
    assert [r["number"] for r in csv_rows(result.stdout)] == ["41"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--change", "acme/shop#999"], "no change acme/shop#999 in the graph"),
        (["--change", "acme-shop-42"], "is not a change reference"),
        (["--from", "2026-01-01"], "say what to export"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "must be before"),
        (["--from", "last tuesday", "--to", "2026-01-01"], "is not a date"),
        (["--change", "acme/shop#42", "--from", "2026-01-01"], "leave out"),
    ],
)
def test_bad_export_requests_get_one_line_errors(settings: Settings, args: list[str], message: str) -> None:
    demo(settings)
    result = run_export(settings, *args)
    assert result.exit_code in (1, 2) and message in result.stderr
    assert "Traceback" not in result.output


def test_export_refuses_to_mix_into_a_non_empty_folder(settings: Settings, tmp_path: Path) -> None:
    demo(settings)
    (tmp_path / "old.txt").write_text("old")
    result = run_export(settings, "--change", "acme/shop#42", "--out", str(tmp_path))
    assert result.exit_code == 2 and "not an empty folder" in result.stderr


# --- HTML ----------------------------------------------------------------------------------------


def test_html_report_shows_verdict_gaps_first_and_escapes_everything(settings: Settings) -> None:
    demo(settings)
    head = ex.sha("xss-1")
    load(
        settings,
        [
            ex.pull_request(
                "acme/shop",
                77,
                action="opened",
                author="mallory",
                head=head,
                title='<script>alert("x")</script><img src=x onerror=alert(1)>',
            )
        ],
    )
    page = run_export(settings, "--change", "acme/shop#42", "--format", "html").stdout
    verdict_at = page.index('class="verdict UNVERIFIED"')
    assert verdict_at < page.index("<h3>Approvals</h3>") < page.index("<h3>Evidence on the shipped commit</h3>")
    assert page.index("<h3>Provenance: AI agent sessions</h3>") < page.index("<h3>Deployments</h3>")
    assert page.index("<h3>Deployments</h3>") < page.index("<h3>Incidents</h3>") < page.index("<svg")
    assert "no successful `security-scan` evidence" in page and "needs 2 independent" in page
    assert "sess-claude-7f3a" in page and "shop-api" in page and "<script" not in page
    assert UNVERIFIED_COLOR in page and VERIFIED_COLOR in page  # both banner colours are defined in the CSS

    xss = run_export(settings, "--change", "acme/shop#77", "--format", "html").stdout
    assert "<script" not in xss and "<img" not in xss and "onerror=alert(1)>" not in xss
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in xss
    assert "http://" not in xss.replace("http://www.w3.org/2000/svg", "")  # no external asset


def incident_after_the_demo_deployment(settings: Settings) -> None:
    """An incident caused by #42's deployment, and its postmortem, as an incident source would write them."""
    origin = Origin("pagerduty", "pd-1", "2026-01-06T10:00:00Z")
    batch = Batch()
    incident, deployment = (Label.INCIDENT, "pagerduty:INC-7"), (Label.DEPLOYMENT, "github:deployment:9001")
    batch.node(
        *incident,
        version="2026-01-06T10:00:00Z#00#pd-1",
        origin=origin,
        title="Refunds <failing> twice",
        severity="sev2",
        status="resolved",
        service="shop-api",
        triggeredAt="2026-01-06T10:00:00Z",
        resolvedAt="2026-01-06T11:00:00Z",
    )
    batch.edge(incident, Rel.CAUSED_BY, deployment, version="2026-01-06T10:00:00Z#00#pd-1", origin=origin)
    batch.edge(
        incident, Rel.AFFECTS, (Label.SERVICE, "shop-api"), version="2026-01-06T10:00:00Z#00#pd-1", origin=origin
    )
    postmortem = (Label.POSTMORTEM, "pm-7")
    batch.node(
        *postmortem, version="2026-01-07T00:00:00Z#00#pm-1", origin=Origin("postmortem", "pm-1", "x"), title="PM"
    )
    batch.edge(
        postmortem,
        Rel.ANALYZES,
        incident,
        version="2026-01-07T00:00:00Z#00#pm-1",
        origin=Origin("postmortem", "pm-1", "x"),
    )
    batch.node(
        Label.SOURCE_EVENT, "pagerduty:pd-1", version="1", origin=origin, type="incident", body='{"id": "INC-7"}'
    )
    run_graph(settings, lambda g: write_batch(g, batch))


def test_incidents_reach_the_csv_the_report_and_the_bundle(settings: Settings) -> None:
    demo(settings)
    incident_after_the_demo_deployment(settings)
    rows = csv_rows(run_export(settings, "--change", "acme/shop#42", "--format", "csv").stdout)
    assert rows[0]["incidents"] == "pagerduty:INC-7 (sev2)"
    page = run_export(settings, "--change", "acme/shop#42", "--format", "html").stdout
    assert "Refunds &lt;failing&gt; twice" in page and "No incident is linked" not in page
    assert (
        page.count("marker-end") == 7
    )  # session→change, change→3 commits, commit→check, check→deploy, deploy→incident

    files = exported(settings, CHANGE_42)
    nodes = {n["id"]: n for n in json.loads(files["graph/nodes.json"])}
    assert {"Incident:pagerduty:INC-7", "Postmortem:pm-7"} <= set(nodes)
    edges = {(e["start"], e["type"], e["end"]) for e in json.loads(files["graph/edges.json"])}
    assert ("Incident:pagerduty:INC-7", "CAUSED_BY", "Deployment:github:deployment:9001") in edges
    assert ("Postmortem:pm-7", "ANALYZES", "Incident:pagerduty:INC-7") in edges
    index = json.loads(files["source-events.json"])
    assert "pagerduty:pd-1" in {d["id"] for d in index["documents"]}
    # The postmortem's raw document was never stored: the bundle says so instead of hiding it.
    assert index["missing"] == ["postmortem:pm-1"]


# --- secrets -------------------------------------------------------------------------------------


def all_exported_bytes(settings: Settings, scope: Scope) -> Iterator[tuple[str, bytes]]:
    yield from exported(settings, scope, in_toto=True).items()


def test_a_secret_in_a_title_is_in_no_exported_file(settings: Settings, tmp_path: Path) -> None:
    head = ex.sha("secret-1")
    load(
        settings,
        [
            ex.push(
                "acme/vault",
                before=ex.sha("base"),
                commits=[ex.commit(head, message=f"Use token {TOKEN} for CI", author="zoe")],
            ),
            ex.pull_request(
                "acme/vault", 5, action="opened", author="zoe", head=head, title=f"Rotate {TOKEN} now", body=TOKEN
            ),
        ],
    )
    # Belt and braces: a node written past the ingest redaction (an old graph, a new source) still leaks nothing.
    origin = Origin("github", "raw-1", "2026-01-05T00:00:00Z")
    batch = Batch()
    batch.node(Label.AGENT_SESSION, "sess-leak", version="9", origin=origin, promptSummary=f"deploy with {TOKEN}")
    batch.edge(
        (Label.AGENT_SESSION, "sess-leak"),
        Rel.PROPOSED,
        (Label.CHANGE, "github:acme/vault#5"),
        version="9",
        origin=origin,
    )
    batch.node(Label.SOURCE_EVENT, "github:raw-1", version="9", origin=origin, body=json.dumps({"t": TOKEN}))
    run_graph(settings, lambda g: write_batch(g, batch))

    files = dict(all_exported_bytes(settings, Scope(kind="change", repo="acme/vault", number=5)))
    assert any(b"[REDACTED:github-token]" in data for data in files.values())
    leaked = [path for path, data in files.items() if TOKEN.encode() in data or TOKEN[4:].encode() in data]
    assert leaked == []
    for fmt in ("csv", "html"):
        text = run_export(settings, "--change", "acme/vault#5", "--format", fmt).stdout
        assert TOKEN not in text and "[REDACTED:github-token]" in text


# --- REST ----------------------------------------------------------------------------------------


def test_rest_endpoints_serve_zip_csv_and_html(settings: Settings) -> None:
    demo(settings)
    with api(settings) as client:
        bundle = client.get("/export/change/acme/shop/42", params={"format": "json", "in_toto": "true"})
        assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
        assert 'filename="evidence-acme-shop-42.zip"' in bundle.headers["content-disposition"]
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
            files = {name: z.read(name) for name in z.namelist()}
        assert "statement.intoto.json" in files and verify_files(files).problems == []

        sheet = client.get("/export/change/acme/shop/42", params={"format": "csv"})
        assert sheet.headers["content-type"].startswith("text/csv")
        assert [r["verdict"] for r in csv_rows(sheet.text)] == ["UNVERIFIED"]

        page = client.get("/export/change/acme/shop/41", params={"format": "html"})
        assert page.headers["content-type"].startswith("text/html") and 'class="verdict VERIFIED"' in page.text

        service = client.get(
            "/export/service/shop-api", params={"from": "2026-01-01", "to": "2026-02-01", "format": "csv"}
        )
        assert [r["number"] for r in csv_rows(service.text)] == ["42"]
        period = client.get("/export", params={"from": "2026-01-01", "to": "2026-02-01", "format": "csv"})
        assert sorted(r["number"] for r in csv_rows(period.text)) == ["41", "42"]
        quarter = client.get("/export", params={"from": "2026-01-01", "to": "2026-04-01", "format": "html"})
        assert "1 of 2 change(s) VERIFIED" in quarter.text

        missing = client.get("/export/change/acme/shop/999")
        assert missing.status_code == 404 and "no change acme/shop#999" in missing.json()["detail"]
        unknown = client.get("/export/service/nope", params={"from": "2026-01-01", "to": "2026-02-01"})
        assert unknown.status_code == 404
        backwards = client.get("/export", params={"from": "2026-02-01", "to": "2026-01-01"})
        assert backwards.status_code == 400 and "from 2026-02-01 must be before to" in backwards.json()["detail"]
        assert client.get("/export/change/acme/shop/42", params={"format": "pdf"}).status_code == 422
        admin = {"Authorization": f"Bearer {token(settings, 'admin')}"}
        exports = [e for e in client.get("/admin/audit", headers=admin).json() if e["action"] == "export"]
        assert {"acme/shop#42 format=csv", "acme/shop#41 format=html"} <= {e["what"] for e in exports}
        assert next(e for e in exports if e["what"] == "acme/shop#42 format=csv")["records"] == 1


def test_rest_exports_need_a_reader_token(settings: Settings) -> None:
    demo(settings)
    with api(settings, role=None) as client:
        assert client.get("/export/change/acme/shop/42", params={"format": "csv"}).status_code == 401
        ingester = {"Authorization": f"Bearer {token(settings, 'ingester')}"}
        assert (
            client.get("/export", params={"from": "2026-01-01", "to": "2026-02-01"}, headers=ingester).status_code
            == 403
        )


def test_rest_access_control_seam(settings: Settings) -> None:
    demo(settings)

    class OnlyShop(ExportAccess):
        async def check(self, request: Request, scope: Scope) -> None:
            if scope.kind != "change" or request.headers.get("x-team") != "shop":
                raise HTTPException(403, "exports need the shop team")

    app = create_app(settings)
    app.dependency_overrides[export_access] = OnlyShop
    with TestClient(app) as client:
        assert client.get("/export/change/acme/shop/42", params={"format": "csv"}).status_code == 403
        allowed = client.get("/export/change/acme/shop/42", params={"format": "csv"}, headers={"x-team": "shop"})
        assert allowed.status_code == 200
        assert client.get("/export", params={"from": "2026-01-01", "to": "2026-02-01"}).status_code == 403


# --- pure pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", "2026-01-31T00:00:00Z"),
        ("2026-01-31T12:30:00Z", "2026-01-31T12:30:00Z"),
        ("2026-01-31T14:30:00+02:00", "2026-01-31T12:30:00Z"),
        ("2026-01-31T12:30", "2026-01-31T12:30:00Z"),
    ],
)
def test_instants_are_normalised_to_the_stored_format(text: str, expected: str) -> None:
    assert instant(text, "--from") == expected


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("o/r#1", None, None, None), "change"),
        (("group/sub/project!7", None, None, None), "change"),
        ((None, "api", "2026-01-01", "2026-02-01"), "service"),
        ((None, None, "2026-01-01", "2026-02-01"), "period"),
    ],
)
def test_scope_from_options(args: tuple[Any, ...], kind: str) -> None:
    assert scope_from_options(*args).kind == kind


@pytest.mark.parametrize(
    "args", [(None, "api", None, None), (None, None, None, "2026-01-01"), ("o/r", None, None, None)]
)
def test_scope_from_bad_options(args: tuple[Any, ...]) -> None:
    with pytest.raises(ExportError):
        scope_from_options(*args)


@pytest.mark.parametrize(
    ("title", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-rm", "'-rm"),
        ("@SUM(A1)", "'@SUM(A1)"),
        # What a spreadsheet trims or cannot show before the formula still makes it one.
        (" =1+1", "' =1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("\u200b=1+1", "'\u200b=1+1"),
        ("\ufeff@SUM(A1)", "'\ufeff@SUM(A1)"),
        ("\u3000\u00a0-2", "'\u3000\u00a0-2"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("\uff0bcmd", "'\uff0bcmd"),
        ("\ufe66HYPERLINK()", "'\ufe66HYPERLINK()"),
        ("Fix a bug", "Fix a bug"),
        (" a = b", " a = b"),
    ],
)
def test_csv_cells_cannot_become_spreadsheet_formulas(title: str, cell: str) -> None:
    from export.table import _cell

    assert _cell(title) == cell


# --- Chromium --------------------------------------------------------------------------------------


def _screenshot_module() -> Any:
    spec = importlib.util.spec_from_file_location("screenshot_report", ROOT / "scripts" / "screenshot_report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize(("number", "verdict"), [(42, "UNVERIFIED"), (41, "VERIFIED")])
def test_report_renders_its_verdict_in_headless_chromium(
    settings: Settings, tmp_path: Path, number: int, verdict: str
) -> None:
    demo(settings)
    shots = _screenshot_module()
    html = tmp_path / "report.html"
    result = run_export(settings, "--change", f"acme/shop#{number}", "--format", "html", "--out", str(html))
    assert result.exit_code == 0, result.output
    png = tmp_path / "report.png"
    shots.screenshot(html, png)
    ok, detail = shots.check(png, verdict)
    assert ok, detail


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ci.example.com/run/1?a=1&b=2", '<a href="https://ci.example.com/run/1?a=1&amp;b=2">run</a>'),
        ("javascript:alert(1)", "run"),
        ('https://x.example/"><script>', '<a href="https://x.example/&quot;&gt;&lt;script&gt;">run</a>'),
        (None, "run"),
    ],
)
def test_only_web_links_become_anchors(url: str | None, expected: str) -> None:
    from export.html import _link

    assert _link(url, "run") == expected
