"""The attestation source: in-toto statements, SLSA provenance, DSSE, Sigstore bundles, CycloneDX SBOMs."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from graph.batch import Batch
from graph.vocabulary import ORIGIN_PROPERTIES, Label, Rel
from ingest.pipeline.prepare import normalise
from ingest.reader import Unreadable, list_files, read_file
from ingest.sources.attestation import SOURCE, evidence_id
from ingest.sources.attestation_parse import MAX_SUBJECTS, git_repo, kind_of
from ingest.sources.base import Event, Rejected
from tests.conftest import CORPUS
from tests.test_agent_trace_normaliser import corpus_outcomes

FIXTURES = Path(__file__).parent / "fixtures" / "attestation"
BUILT = "91be1baa4f248ef5b2d0fa314425a3002fb17f0f"
TESTED = "73e63353891dd8be2b9cccf5a3a1178178fd8fba"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def event(payload: Any, type_: str | None = None) -> Event:
    return Event(source="attestation", type=type_, id="evt-1", payload=payload, received_at="2026-02-10T00:00:00Z")


def evidence(batch: Batch) -> list[dict[str, Any]]:
    return [
        {"id": n.key, **{k: v for k, v in n.props.items() if k not in ORIGIN_PROPERTIES}}
        for n in batch.find_nodes(Label.EVIDENCE)
    ]


def verifies(batch: Batch) -> list[tuple[str, str]]:
    return [(e.src_key, e.dst_key) for e in batch.find_edges(Rel.VERIFIES)]


def dsse(statement: Any) -> dict[str, Any]:
    raw = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
    return {"payloadType": "application/vnd.in-toto+json", "payload": base64.b64encode(raw).decode(), "signatures": []}


SLSA_V1 = fixture("statement.slsa-v1.json")


def test_slsa_v1_provenance_names_the_source_commit() -> None:
    """Of three dependencies, the git commit of the repository the workflow ran from is the one built."""
    batch = SOURCE.normalise(event(SLSA_V1))
    (found,) = evidence(batch)
    assert found == {
        "id": evidence_id(SLSA_V1),
        "type": "provenance",
        "kind": "provenance",
        "name": "slsa-provenance-v1",
        "predicateType": "https://slsa.dev/provenance/v1",
        "conclusion": "success",
        "commitSha": BUILT,
        "repo": "acme/ledger",
        "digest": "sha256:" + "a" * 64,
        "artifact": "ledger-1.4.0.tar.gz",
        "builder": "https://github.com/actions/runner/github-hosted",
        "url": "https://github.com/acme/ledger/actions/runs/101/attempts/1",
        "startedAt": "2026-02-06T10:00:00Z",
        "completedAt": "2026-02-06T10:07:30Z",
    }
    assert found["id"].startswith("attestation:") and len(found["id"]) == len("attestation:") + 32
    assert verifies(batch) == [(found["id"], BUILT)]
    assert batch.nodes[0].version == "2026-02-06T10:07:30Z#00#evt-1"


@pytest.mark.parametrize(
    ("name", "type_", "kind", "conclusion", "commit", "extra"),
    [
        # v0.2: invocation.configSource pins the commit (materials hold another repository).
        (
            "statement.slsa-v02.json",
            "statement",
            ("provenance", "slsa-provenance-v0.2"),
            "success",
            BUILT,
            {"builder": "https://ci.example.com/builders/generic@v2", "url": "https://ci.example.com/runs/77"},
        ),
        # v0.2 with only a material URI like …/commit/<sha>.
        (
            "statement.slsa-v02-materials-uri.json",
            "statement",
            ("provenance", "slsa-provenance-v0.2"),
            "success",
            BUILT,
            {"repo": "acme/ledger"},
        ),
        # A test result about a commit itself (gitCommit subject) verifies that commit.
        (
            "statement.test-result-failed.json",
            "statement",
            ("test-result", "test-result-v0.1"),
            "failure",
            TESTED,
            {"digest": f"gitCommit:{TESTED}", "url": "https://ci.example.com/runs/88"},
        ),
        (
            "statement.vsa.json",
            "statement",
            ("vsa", "slsa-vsa-v1"),
            "success",
            None,
            {"builder": "https://verifier.example.com", "completedAt": "2026-02-07T08:00:00Z"},
        ),
        # The same statement, signed: the same Evidence as the bare statement.
        ("dsse.slsa-v1.json", "dsse", ("provenance", "slsa-provenance-v1"), "success", BUILT, {}),
        ("vsa.sigstore", "sigstore-bundle", ("vsa", "slsa-vsa-v1"), "success", None, {}),
        (
            "sbom.cyclonedx.json",
            "cyclonedx",
            ("sbom", "cyclonedx-sbom"),
            "success",
            BUILT,
            {
                "digest": "sha256:" + "3" * 64,
                "artifact": "pkg:github/acme/ledger@1.4.0",
                "repo": "acme/ledger",
                "predicateType": "https://cyclonedx.org/bom/v1.5",
                "completedAt": "2026-02-06T10:08:00Z",
            },
        ),
    ],
)
def test_one_attestation_per_document(
    name: str,
    type_: str,
    kind: tuple[str, str],
    conclusion: str,
    commit: str | None,
    extra: dict[str, Any],
) -> None:
    payload = fixture(name)
    assert SOURCE.infer_type(payload) == type_
    batch = SOURCE.normalise(event(payload))
    (found,) = evidence(batch)
    assert (found["type"], found["name"]) == kind
    assert found["kind"] == found["type"]
    assert found["conclusion"] == conclusion
    assert found.get("commitSha") == commit
    assert verifies(batch) == ([(found["id"], commit)] if commit else [])
    for key, value in extra.items():
        assert found[key] == value, key


def test_signed_and_bare_statement_are_the_same_evidence() -> None:
    bare = evidence(SOURCE.normalise(event(SLSA_V1)))[0]["id"]
    signed = evidence(SOURCE.normalise(event(fixture("dsse.slsa-v1.json"))))[0]["id"]
    assert bare == signed


def test_bundle_of_attestations_in_one_document() -> None:
    """npm-style {"attestations": [{bundle: sigstore}]}: every attestation lands."""
    batch = SOURCE.normalise(event(fixture("bundle.attestations.json")))
    assert sorted((e["type"], e["conclusion"]) for e in evidence(batch)) == [
        ("provenance", "success"),
        ("test-result", "failure"),
    ]
    assert sorted(dst for _, dst in verifies(batch)) == sorted([BUILT, TESTED])


def test_intoto_jsonl_bundle_one_event_per_line() -> None:
    """An in-toto bundle is JSON Lines of DSSE envelopes; the reader hands each line over."""
    found = []
    for item in read_file(FIXTURES / "release.intoto.jsonl", source="attestation", type=None):
        assert not isinstance(item, Unreadable)
        found += [(e["name"], e.get("commitSha")) for e in evidence(normalise(item))]
    assert found == [("slsa-provenance-v0.2", BUILT), ("test-result-v0.1", TESTED), ("slsa-vsa-v1", None)]


def test_jsonl_text_is_a_bundle_too() -> None:
    """A .sigstore/.intoto file read as text may hold JSON Lines; each line is an attestation."""
    text = (FIXTURES / "release.intoto.jsonl").read_text()
    assert SOURCE.infer_type(text) == "bundle"
    assert len(evidence(SOURCE.normalise(event(text)))) == 3


def test_several_subjects_give_one_evidence_each() -> None:
    statement = json.loads(json.dumps(SLSA_V1))
    statement["subject"] = [{"name": f"bin-{i}", "digest": {"sha256": f"{i:064x}"}} for i in range(3)]
    batch = SOURCE.normalise(event(statement))
    found = evidence(batch)
    base = evidence_id(statement)
    assert [(e["id"], e["artifact"]) for e in found] == [(f"{base}:{i}", f"bin-{i}") for i in range(3)]
    assert all(dst == BUILT for _, dst in verifies(batch))

    statement["subject"] = [{"name": "x", "digest": {"sha256": "0"}}] * (MAX_SUBJECTS + 5)
    assert len(evidence(SOURCE.normalise(event(statement)))) == MAX_SUBJECTS


def test_evidence_ids_ignore_key_order_and_whitespace() -> None:
    reordered = json.loads(json.dumps(SLSA_V1, sort_keys=True, indent=7))
    assert evidence_id(reordered) == evidence_id(SLSA_V1)


def test_statement_without_a_commit_keeps_its_artifact_digest_only() -> None:
    statement = json.loads(json.dumps(SLSA_V1))
    statement["predicate"]["buildDefinition"]["resolvedDependencies"] = [
        {"uri": "pkg:npm/x@1", "digest": {"sha1": "a" * 40}}
    ]
    batch = SOURCE.normalise(event(statement))
    (found,) = evidence(batch)
    assert "commitSha" not in found and found["digest"] == "sha256:" + "a" * 64
    assert verifies(batch) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (fixture("dsse.bad-base64.json"), "DSSE payload is not valid base64"),
        (fixture("dsse.not-json.json"), "DSSE payload does not decode to JSON"),
        (dsse(b"[" * 100_000 + b"]" * 100_000), "DSSE payload does not decode to JSON (RecursionError)"),
        ({**dsse(SLSA_V1), "payloadType": "text/plain"}, "payloadType 'text/plain' is not a JSON attestation"),
        ({"payloadType": "application/vnd.in-toto+json", "signatures": []}, "DSSE envelope has no base64 payload"),
        ({**dsse(SLSA_V1), "signatures": "sig"}, "signatures must be an array"),
        (dsse([1, 2]), "in-toto statement must be a JSON object, got list"),
        (dsse({**SLSA_V1, "_type": "link"}), "not an in-toto statement: _type is 'link'"),
        ({**SLSA_V1, "predicateType": ""}, "in-toto statement has no predicateType"),
        ({k: v for k, v in SLSA_V1.items() if k != "subject"}, "in-toto statement has no subject"),
        ({**SLSA_V1, "subject": ["a.tgz"]}, "subject[0] must be an object, got str"),
        ({**SLSA_V1, "subject": [{"name": "a", "digest": "sha256:1"}]}, "subject[0].digest must be an object"),
        ({**SLSA_V1, "predicate": "built"}, "predicate must be an object, got str"),
        ({"mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.2"}, "holds no dsseEnvelope"),
        ({"bomFormat": "CycloneDX"}, "CycloneDX BOM has no specVersion"),
        ({"attestations": []}, "attestation bundle is empty"),
        ({"attestations": [SLSA_V1, {"hello": 1}]}, "attestation 2 of the bundle is not a statement"),
        (
            {"attestations": [SLSA_V1, dsse("x")]},
            "attestation 2 of the bundle: in-toto statement must be a JSON object",
        ),
        ({"attestations": [{"attestations": [SLSA_V1]}]}, "attestation 1 of the bundle is not a statement"),
        ('"just a string"', "attestation 1 of the bundle is not a statement"),
        ("{not json\nat all", "attestation text is neither JSON nor JSON Lines (line 1"),
        ({"uri": "git+https://github.com/a/b", "digest": {"sha1": "a" * 40}}, "cannot tell the attestation event type"),
    ],
)
def test_rejected_with_a_reason(payload: Any, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        SOURCE.normalise(event(payload))
    assert reason in str(caught.value)


def test_json_with_comments_is_rejected_by_the_reader() -> None:
    (item,) = read_file(FIXTURES / "statement.with-comments.json", source="attestation", type=None)
    assert isinstance(item, Unreadable)
    assert item.reason.startswith("malformed JSON")


def test_text_holding_one_container_document() -> None:
    text = (FIXTURES / "bundle.attestations.json").read_text()
    assert len(evidence(SOURCE.normalise(event(text)))) == 2


def test_sigstore_files_are_found_in_folders() -> None:
    files = list_files([FIXTURES], SOURCE.text_suffixes)
    assert "vsa.sigstore" in {f.name for f in files}
    (item,) = read_file(FIXTURES / "vsa.sigstore", source="attestation", type=None, text_suffixes=SOURCE.text_suffixes)
    assert isinstance(item, Event) and isinstance(item.payload, str)
    assert evidence(normalise(item))[0]["type"] == "vsa"


@pytest.mark.parametrize(
    ("predicate_type", "type_", "name"),
    [
        ("https://slsa.dev/provenance/v1", "provenance", "slsa-provenance-v1"),
        ("https://slsa.dev/provenance/v1?draft", "provenance", "slsa-provenance-v1"),
        ("https://slsa.dev/provenance/v0.1", "provenance", "slsa-provenance-v0.1"),
        ("https://slsa.dev/verification_summary/v0.2", "vsa", "slsa-vsa-v0.2"),
        ("https://in-toto.io/attestation/test-result/v0.1", "test-result", "test-result-v0.1"),
        ("https://spdx.dev/Document", "sbom", "spdx-sbom"),
        ("https://spdx.dev/Document/v2.3", "sbom", "spdx-sbom-v2.3"),
        ("https://cyclonedx.org/bom/v1.4", "sbom", "cyclonedx-sbom-v1.4"),
        ("https://in-toto.io/attestation/link/v0.3", "attestation", "in-toto-link-v0.3"),
        ("https://in-toto.io/attestation/release/v0.1", "attestation", "in-toto-release-v0.1"),
        ("https://github.com/npm/attestation/tree/main/specs/publish/v0.1", "attestation", "npm-publish-v0.1"),
        ("https://fooly.app/Builder/v1", "attestation", "fooly.app/Builder/v1"),
    ],
)
def test_predicate_kinds(predicate_type: str, type_: str, name: str) -> None:
    kind = kind_of(predicate_type)
    assert (kind.type, kind.name) == (type_, name)


@pytest.mark.parametrize(
    ("url", "repo"),
    [
        ("git+https://github.com/acme/ledger@refs/heads/main", "acme/ledger"),
        ("https://github.com/acme/ledger.git", "acme/ledger"),
        ("https://github.com/acme/ledger/commit/" + BUILT, "acme/ledger"),
        ("git@github.com:acme/ledger.git", "acme/ledger"),
        ("https://gitlab.com/group/sub/project/-/tree/main", "group/sub/project"),
        ("acme/ledger", "acme/ledger"),
        ("pkg:npm/x@1", None),
        ("https://example.com", None),
    ],
)
def test_git_repo(url: str, repo: str | None) -> None:
    assert git_repo(url) == repo


@pytest.mark.parametrize("folder", ["in-toto-attestation", "slsa", "sbom"])
def test_corpus_attestations(folder: str) -> None:
    if not (CORPUS / "ai-provenance" / folder).is_dir():
        pytest.skip("no shared corpus")
    counts = corpus_outcomes(folder)
    print(f"corpus ai-provenance/{folder}: {dict(counts)}")
    assert counts["ingested"] >= 1
