"""Trust end to end, against a real Neo4j: how each fact arrived decides whether it counts.

The issue's story first (a payments change whose only security scan is an in-toto statement in a DSSE
envelope with a garbage signature, ingested as a file: UNVERIFIED), then forged and wrong-identity
attestations beside a genuinely signed one that does count, the policy's minimum trust, the writer keeping
the stronger of two arrivals, and what GraphQL and `tracegraph ask` show.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from cli.main import main
from graph.settings import Settings
from ingest import examples as ex
from ingest.pipeline.events import Event, to_event
from ingest.pipeline.trust import arrival
from ingest.runner import ingest_events
from tests.conftest import CORPUS, api, run_graph, token
from trust.dsse import IN_TOTO, pae

REPO = "acme/pay"
SLSA = CORPUS / "ai-provenance" / "slsa" / "slsa-verifier-testdata"
GENERIC = SLSA / "gha_generic__v2.1.0__binary-linux-amd64-push-v14.2.intoto.jsonl"
ACTIONS = "https://token.actions.githubusercontent.com"
GENERIC_SIGNER = (
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml"
    "@refs/tags/v2.1.0"
)
QUERY = """
query($repo: String!, $number: Int!) {
  change(repo: $repo, number: $number) {
    riskArea
    approvals { reviewer { login } trust trustBy }
    evidence { kind name conclusion trust trustBy signatureProblem }
    verdict { status gaps }
  }
}
"""


def ask(settings: Settings, number: int, repo: str = REPO) -> dict[str, Any]:
    with api(settings) as client:
        response = client.post("/graphql", json={"query": QUERY, "variables": {"repo": repo, "number": number}})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    change: dict[str, Any] = body["data"]["change"]
    return change


def events(envelopes: list[dict[str, Any]], via: str) -> list[Event]:
    found = []
    for i, envelope in enumerate(envelopes):
        event = to_event(envelope, json.dumps(envelope), f"test:{i}", source=None, type=None)
        assert isinstance(event, Event)
        found.append(Event(**{**event.__dict__, "via": via}))
    return found


def ingest(settings: Settings, envelopes: list[dict[str, Any]], via: str = "file") -> Any:
    summary = run_graph(settings, lambda g: ingest_events(g, events(envelopes, via), quarantine_dir=None))
    assert summary.rejected == [], summary.rejected
    return summary


def payments_change(number: int, head: str, repo: str = REPO) -> list[dict[str, Any]]:
    """Two independent approvals and green tests on the head of a payments change; no security scan yet."""
    pr = dict(author="alice", head=head, labels=["payments"])
    return [
        ex.pull_request(repo, number, action="opened", at="2026-02-01T10:00:00Z", **pr),  # type: ignore[arg-type]
        ex.check_run(repo, name="unit-tests", head=head, conclusion="success", run_id=number * 10),
        *(
            ex.review(repo, number, reviewer=who, state="approved", commit=head, review_id=number * 100 + i, at=at)
            for i, (who, at) in enumerate((("bob", "2026-02-01T12:00:00Z"), ("carol", "2026-02-01T12:30:00Z")))
        ),
        ex.pull_request(
            repo,
            number,
            action="closed",
            merged=True,
            merge_sha=ex.sha(f"merge-{repo}-{number}"),
            at="2026-02-01T15:00:00Z",
            **pr,  # type: ignore[arg-type]
        ),
    ]


def scan_statement(head: str) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": f"git+https://github.com/{REPO}", "digest": {"gitCommit": head}}],
        "predicateType": "https://in-toto.io/attestation/vulns/v0.2",
        "predicate": {"scanner": {"uri": "pkg:github/aquasecurity/trivy", "result": []}},
    }


def dsse(statement: dict[str, Any], key: ed25519.Ed25519PrivateKey | None, keyid: str = "scan-key") -> dict[str, Any]:
    body = json.dumps(statement).encode()
    signature = key.sign(pae(IN_TOTO, body)) if key else b"garbage, not a signature at all"
    return {
        "payloadType": IN_TOTO,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode()}],
    }


def attestation(document: Any, name: str) -> dict[str, Any]:
    return {"source": "attestation", "type": None, "id": name, "payload": document}


def scan_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ed25519.Ed25519PrivateKey:
    """A key the organisation trusts for security scans, configured in TRACEGRAPH_TRUST."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "scan.pub").write_bytes(pem)
    (tmp_path / "trust.yaml").write_text("keys:\n  - {id: scan-key, public_key: scan.pub, name: trivy in CI}\n")
    monkeypatch.setenv("TRACEGRAPH_TRUST", str(tmp_path / "trust.yaml"))
    return key


# --- the story and its variants ----------------------------------------------------------


def test_a_garbage_signed_security_scan_ingested_as_a_file_leaves_a_payments_change_unverified(
    settings: Settings,
) -> None:
    head = ex.sha("story-head")
    ingest(settings, [*payments_change(1, head), attestation(dsse(scan_statement(head), None), "forged-scan")])
    change = ask(settings, 1)
    assert change["riskArea"] == "payments" and change["verdict"]["status"] == "UNVERIFIED"
    [scan] = [e for e in change["evidence"] if e["kind"] == "security-scan"]
    assert (scan["name"], scan["conclusion"], scan["trust"]) == ("in-toto-vulns-v0.2", "success", "UNVERIFIED")
    assert scan["signatureProblem"].startswith("untrusted key: no signing keys are configured")
    [gap] = change["verdict"]["gaps"]
    assert gap.startswith("`security-scan` evidence on the shipped commit")
    assert "does not count: in-toto-vulns-v0.2: its signature was rejected: untrusted key" in gap


def test_forged_signatures_never_count_while_the_trusted_keys_signature_does(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = scan_key(tmp_path, monkeypatch)
    forged_head, stranger_head, signed_head = ex.sha("forged"), ex.sha("stranger"), ex.sha("signed")
    impostor = ed25519.Ed25519PrivateKey.generate()
    ingest(
        settings,
        [
            *payments_change(2, forged_head),
            attestation(dsse(scan_statement(forged_head), None), "garbage"),
            *payments_change(3, stranger_head),
            attestation(dsse(scan_statement(stranger_head), impostor), "impostor"),
            *payments_change(4, signed_head),
            attestation(dsse(scan_statement(signed_head), key), "genuine"),
        ],
    )
    for number, reason in ((2, "forged signature: signature 1 by key scan-key does not verify"), (3, "forged")):
        change = ask(settings, number)
        assert change["verdict"]["status"] == "UNVERIFIED"
        assert any(reason in gap for gap in change["verdict"]["gaps"]), change["verdict"]
    signed = ask(settings, 4)
    assert signed["verdict"] == {"status": "VERIFIED", "gaps": []}
    [scan] = [e for e in signed["evidence"] if e["kind"] == "security-scan"]
    assert (scan["trust"], scan["trustBy"], scan["signatureProblem"]) == ("SIGNED", "key scan-key (trivy in CI)", None)
    # Every other fact came from a file: unverified, named as such.
    assert {a["trust"] for a in signed["approvals"]} == {"UNVERIFIED"}
    assert {a["trustBy"] for a in signed["approvals"]} == {"a file given to tracegraph ingest"}


def test_an_uploaded_scan_is_below_the_payments_minimum_and_the_gap_says_so(settings: Settings) -> None:
    head = ex.sha("uploaded")
    ingest(settings, payments_change(5, head))
    codeql = ex.check_run(REPO, name="codeql-scan", head=head, conclusion="success", run_id=55)
    ingester = token(settings, "ingester")
    with api(settings, role=None) as client:
        response = client.post("/events", json=codeql, headers={"Authorization": f"Bearer {ingester}"})
        assert response.status_code == 202, response.text
    box_settings = settings
    from ingest import worker
    from ingest.inbox import Inbox

    run_graph(box_settings, lambda g: worker.run(g, Inbox(box_settings.inbox_dir), once=True, log=lambda _: None))
    change = ask(settings, 5)
    [scan] = [e for e in change["evidence"] if e["kind"] == "security-scan"]
    assert scan["trust"] == "UPLOADED" and scan["trustBy"].startswith("POST /events with ingester token ")
    [gap] = change["verdict"]["gaps"]
    assert "does not count: codeql-scan: it is uploaded (POST /events with ingester token" in gap
    assert gap.endswith("payments needs provider or signed")


def test_the_same_scan_through_a_verified_webhook_counts(settings: Settings) -> None:
    head = ex.sha("webhook")
    ingest(settings, payments_change(6, head))
    ingest(
        settings, [ex.check_run(REPO, name="codeql-scan", head=head, conclusion="success", run_id=66)], "webhook:github"
    )
    change = ask(settings, 6)
    assert change["verdict"] == {"status": "VERIFIED", "gaps": []}
    [scan] = [e for e in change["evidence"] if e["kind"] == "security-scan"]
    assert (scan["trust"], scan["trustBy"]) == ("PROVIDER", "github webhook, signature checked")


@pytest.mark.skipif(not GENERIC.is_file(), reason="no shared corpus here")
def test_real_sigstore_provenance_counts_only_from_the_expected_identity(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """slsa-github-generator's provenance of slsa-framework/example-package@4d329c7, verified offline."""
    repo, head = "slsa-framework/example-package", "4d329c75e7ec1725f7c9ce917a8799d408d06be3"
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "areas:\n  payments:\n    labels: [payments]\n    required_approvals: 2\n"
        "    required_evidence: [tests, provenance]\n    minimum_trust: {provenance: signed}\n"
        "default_area: payments\nevidence_kinds:\n  - {match: '*test*', kind: tests}\n"
        "  - {match: '*provenance*', kind: provenance}\n"
    )
    settings = settings.model_copy(update={"policy_file": policy})
    root = CORPUS / "sigstore" / "sigstore-go" / "trusted-root-public-good.json"

    def trust(subject: str) -> None:
        path = tmp_path / f"trust-{len(subject)}.yaml"
        path.write_text(
            f"sigstore:\n  trusted_roots: ['{root}']\n  identities:\n"
            f"    - {{issuer: '{ACTIONS}', subject: '{subject}'}}\n"
        )
        monkeypatch.setenv("TRACEGRAPH_TRUST", str(path))

    bundle = json.loads(GENERIC.read_text().splitlines()[0])
    trust("https://github.com/slsa-framework/example-package/.github/workflows/release.yml@refs/heads/main")
    ingest(settings, [*payments_change(7, head, repo), attestation(bundle, "provenance-wrong-identity")])
    change = ask(settings, 7, repo)
    assert change["verdict"]["status"] == "UNVERIFIED"
    [provenance] = [e for e in change["evidence"] if e["kind"] == "provenance"]
    assert provenance["trust"] == "UNVERIFIED"
    assert provenance["signatureProblem"].startswith(f"wrong identity: signed by {GENERIC_SIGNER}")
    assert any("provenance" in gap and "wrong identity" in gap for gap in change["verdict"]["gaps"])

    # The same bundle again, now that the organisation trusts the generator: the stronger arrival wins.
    trust(GENERIC_SIGNER)
    ingest(settings, [attestation(bundle, "provenance-right-identity")])
    change = ask(settings, 7, repo)
    [provenance] = [e for e in change["evidence"] if e["kind"] == "provenance"]
    assert (provenance["trust"], provenance["signatureProblem"]) == ("SIGNED", None)
    assert provenance["trustBy"] == f"sigstore: {GENERIC_SIGNER} (issuer {ACTIONS})"
    assert change["verdict"] == {"status": "VERIFIED", "gaps": []}

    # A forged copy of it (same statement, altered signature) arriving later cannot take that away.
    forged = copy.deepcopy(bundle)
    forged["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(b"\x01" * 71).decode()
    ingest(settings, [attestation(forged, "provenance-forged")])
    assert ask(settings, 7, repo)["verdict"]["status"] == "VERIFIED"


# --- two arrivals of one fact ------------------------------------------------------------------


def test_a_stronger_arrival_wins_and_a_weaker_replay_writes_nothing(settings: Settings) -> None:
    head = ex.sha("replay")
    ingest(settings, payments_change(8, head))
    scan = ex.check_run(REPO, name="codeql-scan", head=head, conclusion="success", run_id=88)
    ingest(settings, [scan], "file")
    assert ask(settings, 8)["verdict"]["status"] == "UNVERIFIED"
    ingest(settings, [scan], "webhook:github")
    assert ask(settings, 8)["verdict"]["status"] == "VERIFIED"
    again = ingest(settings, [scan], "api:events:tok_1")
    assert again.written.properties_set == 0
    change = ask(settings, 8)
    assert change["verdict"]["status"] == "VERIFIED"
    assert [e["trust"] for e in change["evidence"] if e["kind"] == "security-scan"] == ["PROVIDER"]


def test_a_fact_mixed_from_two_arrivals_counts_at_the_weaker(settings: Settings) -> None:
    """A provider's run still in progress, then an upload that 'completes' it: the success is the upload's."""
    head = ex.sha("mixed")
    ingest(settings, payments_change(9, head))
    started = ex.check_run(REPO, name="codeql-scan", head=head, conclusion=None, run_id=99)
    finished = ex.check_run(
        REPO, name="codeql-scan", head=head, conclusion="success", run_id=99, at="2026-02-01T11:00:00Z"
    )
    ingest(settings, [started], "webhook:github")
    ingest(settings, [finished], "api:events:tok_2")
    change = ask(settings, 9)
    [scan] = [e for e in change["evidence"] if e["kind"] == "security-scan"]
    assert (scan["conclusion"], scan["trust"]) == ("success", "UPLOADED")
    assert change["verdict"]["status"] == "UNVERIFIED"


def test_each_way_in_gives_its_trust() -> None:
    assert arrival("webhook:gitlab") == (arrival("webhook:gitlab")[0], "gitlab webhook, signature checked")
    table = {
        "webhook:github": "provider",
        "collect:github": "provider",
        "api:events:tok_9": "uploaded",
        "api:events": "uploaded",
        "file": "unverified",
        "spool:drop.jsonl": "unverified",
        "git": "unverified",
        "": "unverified",
        "inbox": "unverified",
    }
    assert {via: arrival(via)[0].value for via in table} == table
    assert arrival("api:events:tok_9")[1] == "POST /events with ingester token tok_9"


def test_ask_prints_how_each_fact_arrived(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    head = ex.sha("ask")
    ingest(settings, [*payments_change(10, head), attestation(dsse(scan_statement(head), None), "ask-forged")])
    for name, value in {"NEO4J_URI": settings.neo4j_uri, "NEO4J_PASSWORD": settings.neo4j_password}.items():
        monkeypatch.setenv(name, value or "")
    monkeypatch.setenv("TRACEGRAPH_HOME", str(settings.home))
    result = CliRunner().invoke(main, ["ask", "change", f"{REPO}#10"])
    assert result.exit_code == 0, result.output
    assert "unverified (a file given to tracegraph ingest)" in result.output
    assert "signature rejected: untrusted key: no signing keys are configured" in result.output


def test_an_upload_cannot_move_a_providers_evidence_onto_another_commit(settings: Settings) -> None:
    """Same check run id, another head_sha, an older time (so it writes no property, only an edge)."""
    head, elsewhere = ex.sha("moved-head"), ex.sha("moved-elsewhere")
    ingest(settings, payments_change(11, head))
    genuine = ex.check_run(REPO, name="codeql-scan", head=elsewhere, conclusion="success", run_id=111)
    ingest(settings, [genuine], "webhook:github")
    moved = ex.check_run(
        REPO, name="codeql-scan", head=head, conclusion="success", run_id=111, at="2026-01-01T00:00:00Z"
    )
    moved["id"] = "moved-delivery"
    ingest(settings, [moved], "api:events:tok_3")
    change = ask(settings, 11)
    assert [e for e in change["evidence"] if e["kind"] == "security-scan"] == []
    assert change["verdict"]["status"] == "UNVERIFIED"
    assert any(gap.startswith("no successful `security-scan` evidence") for gap in change["verdict"]["gaps"])


def test_a_policy_can_require_approvals_from_the_provider(settings: Settings, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "areas:\n  payments:\n    labels: [payments]\n    required_approvals: 2\n    required_evidence: [tests]\n"
        "    approval_trust: provider\ndefault_area: payments\nevidence_kinds:\n  - {match: '*test*', kind: tests}\n"
    )
    settings = settings.model_copy(update={"policy_file": policy})
    head = ex.sha("approvals")
    story = payments_change(12, head)
    ingest(settings, story)
    change = ask(settings, 12)
    [gap] = change["verdict"]["gaps"]
    assert gap.startswith("needs 2 independent, non-stale approval(s)") and "has 0" in gap
    assert "bob: the approval does not count: it is unverified (a file given to tracegraph ingest); " in gap
    assert gap.endswith("payments needs provider or signed")
    reviews = [e for e in story if e["type"] == "pull_request_review"]
    ingest(settings, reviews, "webhook:github")
    change = ask(settings, 12)
    assert change["verdict"] == {"status": "VERIFIED", "gaps": []}
    assert {(a["reviewer"]["login"], a["trust"]) for a in change["approvals"]} == {
        ("bob", "PROVIDER"),
        ("carol", "PROVIDER"),
    }
