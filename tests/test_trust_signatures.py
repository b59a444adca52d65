"""Signature verification without a database: DSSE envelopes against keys the tests generate (Ed25519, ECDSA
P-256, RSA), Sigstore bundles from the shared corpus against its trusted roots, in-toto subjects, the trust file.

Every rejection must say which it is (forged signature, untrusted key, wrong identity, expired certificate,
subject digest mismatch, unverifiable) and nothing may raise.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from tests.conftest import CORPUS
from trust.check import Claim, check, subject_problem
from trust.config import TrustConfig, TrustError, load_trust
from trust.dsse import IN_TOTO, pae
from trust.keys import TrustedKey, key_id, signing_key

HEAD = "a" * 40
SIGSTORE = CORPUS / "sigstore" / "sigstore-go"
SLSA = CORPUS / "ai-provenance" / "slsa" / "slsa-verifier-testdata"
ACTIONS = "https://token.actions.githubusercontent.com"
GENERIC_SIGNER = (
    "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml"
    "@refs/tags/v2.1.0"
)
needs_corpus = pytest.mark.skipif(not SIGSTORE.is_dir() or not SLSA.is_dir(), reason="no shared corpus here")


def statement(commit: str = HEAD) -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "git+https://github.com/acme/pay", "digest": {"gitCommit": commit}}],
        "predicateType": "https://in-toto.io/attestation/vulns/v0.2",
        "predicate": {"scanner": {"uri": "pkg:github/aquasecurity/trivy", "result": []}},
    }


def envelope(payload: dict[str, Any], sign: Any, keyid: str) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    signature = sign(pae(IN_TOTO, body))
    return {
        "payloadType": IN_TOTO,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode()}],
    }


def _pem(private: Any) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _signers() -> dict[str, tuple[Any, Any]]:
    """name -> (private key, sign(data) -> signature) for each supported algorithm."""
    ed = ed25519.Ed25519PrivateKey.generate()
    p256 = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    return {
        "ed25519": (ed, ed.sign),
        "p256": (p256, lambda data: p256.sign(data, ec.ECDSA(hashes.SHA256()))),
        "rsa": (rsa_key, lambda data: rsa_key.sign(data, pss, hashes.SHA256())),
    }


SIGNERS = _signers()


def trust_file(tmp_path: Path, text: str) -> TrustConfig:
    path = tmp_path / "trust.yaml"
    path.write_text(text)
    return load_trust(path)


def keyed(tmp_path: Path) -> TrustConfig:
    lines = ["keys:"]
    for name, (private, _) in SIGNERS.items():
        (tmp_path / f"{name}.pub").write_bytes(_pem(private))
        lines += [f"  - id: {name}-key", f"    public_key: {name}.pub", f"    name: {name} release key"]
    return trust_file(tmp_path, "\n".join(lines) + "\n")


@pytest.mark.parametrize("algorithm", sorted(SIGNERS))
def test_a_dsse_envelope_signed_with_a_trusted_key_names_its_signer(tmp_path: Path, algorithm: str) -> None:
    config = keyed(tmp_path)
    signed = envelope(statement(), SIGNERS[algorithm][1], f"{algorithm}-key")
    result = check(Claim(keys=("e",), statement=statement(), envelope=signed), config)
    assert result == type(result)(signer=f"key {algorithm}-key ({algorithm} release key)", problem=None)


def test_a_signature_with_no_keyid_is_tried_against_every_trusted_key(tmp_path: Path) -> None:
    config = keyed(tmp_path)
    signed = envelope(statement(), SIGNERS["p256"][1], "")
    assert (
        check(Claim(keys=("e",), statement=statement(), envelope=signed), config).signer
        == "key p256-key (p256 release key)"
    )


def test_forged_altered_and_untrusted_signatures_are_each_rejected_with_their_reason(tmp_path: Path) -> None:
    config = keyed(tmp_path)
    good = envelope(statement(), SIGNERS["ed25519"][1], "ed25519-key")

    garbage = copy.deepcopy(good)
    garbage["signatures"][0]["sig"] = base64.b64encode(b"\x00" * 64).decode()
    altered = copy.deepcopy(good)
    altered["payload"] = base64.b64encode(json.dumps(statement("b" * 40)).encode()).decode()
    other_key = envelope(statement(), ed25519.Ed25519PrivateKey.generate().sign, "ed25519-key")
    stranger = envelope(statement(), SIGNERS["ed25519"][1], "someone-else")
    not_base64 = copy.deepcopy(good)
    not_base64["signatures"][0]["sig"] = "%%% not base64 %%%"

    def problem(env: dict[str, Any], config: TrustConfig = config) -> str:
        result = check(Claim(keys=("e",), statement=statement(), envelope=env), config)
        assert result.signer is None and result.problem
        return result.problem

    assert problem(garbage).startswith("forged signature: signature 1 by key ed25519-key does not verify")
    assert problem(altered).startswith("forged signature")
    assert problem(other_key).startswith("forged signature")
    assert problem(not_base64).startswith("forged signature: signature 1 is not valid base64")
    assert problem(stranger).startswith("untrusted key: signed with key 'someone-else'")
    assert problem(good, TrustConfig()).startswith("untrusted key: no signing keys are configured")


def test_an_envelope_without_signatures_is_unsigned_not_rejected(tmp_path: Path) -> None:
    bare = envelope(statement(), SIGNERS["ed25519"][1], "x") | {"signatures": []}
    assert (
        check(Claim(keys=("e",), statement=statement(), envelope=bare), keyed(tmp_path))
        == type(check(Claim(keys=("e",), statement=statement()), TrustConfig()))()
    )


def test_in_toto_subjects_must_match_what_the_delivery_attaches_them_to(tmp_path: Path) -> None:
    config = keyed(tmp_path)
    signed = envelope(statement(), SIGNERS["ed25519"][1], "ed25519-key")
    assert check(Claim(("e",), statement(), envelope=signed, attached={"commit": HEAD}), config).signer
    wrong = check(Claim(("e",), statement(), envelope=signed, attached={"commit": "c" * 40}), config)
    assert wrong.signer is None and wrong.problem
    assert wrong.problem.startswith("subject digest mismatch: the statement's subjects are gitcommit:" + HEAD)
    assert f"commit {'c' * 40}" in wrong.problem
    artifact = statement() | {"subject": [{"name": "app.tgz", "digest": {"sha256": "ab" * 32}}]}
    assert subject_problem(artifact, {"digest": "sha256:" + "ab" * 32}) is None
    assert "artifact sha256:" + "cd" * 32 in (subject_problem(artifact, {"digest": "sha256:" + "cd" * 32}) or "")


def test_the_trust_file_reports_each_mistake_by_name(tmp_path: Path) -> None:
    cases = {
        "keys: [{id: a}]\n": "give the key as public_key",
        "keys: [{id: a, public_key: missing.pub}]\n": "cannot read key 'a'",
        "keys: [{id: a, pem: 'not a key'}]\n": "is not a PEM public key",
        "sigstore: {trusted_roots: [root.json], identities: [{issuer: x}]}\n": "names a subject",
        "sigstore: {trusted_roots: [nowhere.json], identities: [{issuer: x, subject: y}]}\n": "do not exist",
        "surprise: 1\n": "Extra inputs are not permitted",
    }
    for text, expected in cases.items():
        with pytest.raises(TrustError, match=expected):
            trust_file(tmp_path, text)
    weak = ec.generate_private_key(ec.SECP384R1())
    (tmp_path / "p384.pub").write_bytes(_pem(weak))
    with pytest.raises(TrustError, match="only P-256"):
        trust_file(tmp_path, "keys: [{id: a, public_key: p384.pub}]\n")


def test_the_export_key_id_is_its_public_keys_and_its_repr_hides_the_key() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = signing_key(pem, where="test")
    assert key.id == key_id(private.public_key()) and len(key.id) == 64
    assert repr(key) == f"SigningKey(id={key.id!r})"
    assert TrustedKey(key.id, "", key.public).verifies(key.sign(b"x"), b"x")


# --- Sigstore bundles from the corpus ----------------------------------------------------------


def _jsonl(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text().splitlines()[0])
    return document


def _statement_of(bundle: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    return found


def sigstore_trust(tmp_path: Path, identities: str) -> TrustConfig:
    return trust_file(
        tmp_path,
        f"sigstore:\n  trusted_roots: [{SIGSTORE / 'trusted-root-public-good.json'}]\n  identities:\n{identities}",
    )


@needs_corpus
def test_a_sigstore_bundle_verifies_offline_against_the_trusted_root_and_expected_identity(tmp_path: Path) -> None:
    bundle = _jsonl(SLSA / "gha_generic__v2.1.0__binary-linux-amd64-push-v14.2.intoto.jsonl")
    config = sigstore_trust(tmp_path, f"    - {{issuer: '{ACTIONS}', subject: '{GENERIC_SIGNER}'}}\n")
    result = check(Claim(("e",), _statement_of(bundle), bundle=bundle), config)
    assert result.problem is None
    assert result.signer == f"sigstore: {GENERIC_SIGNER} (issuer {ACTIONS})"


@needs_corpus
def test_a_sigstore_bundle_from_another_identity_is_rejected_as_the_wrong_identity(tmp_path: Path) -> None:
    bundle = _jsonl(SLSA / "gha_generic__v2.1.0__binary-linux-amd64-push-v14.2.intoto.jsonl")
    expected = "https://github.com/acme/pay/.github/workflows/release.yml@refs/heads/main"
    config = sigstore_trust(tmp_path, f"    - {{issuer: '{ACTIONS}', subject: '{expected}'}}\n")
    result = check(Claim(("e",), _statement_of(bundle), bundle=bundle), config)
    assert result.signer is None and result.problem
    assert result.problem.startswith(f"wrong identity: signed by {GENERIC_SIGNER} (issuer {ACTIONS}); expected")
    assert expected in result.problem


@needs_corpus
def test_a_github_artifact_attestation_is_checked_for_its_repository_and_signer_workflow(tmp_path: Path) -> None:
    bundle = _jsonl(SLSA / "bcr__rules_lint-v1.3.1.tar.gz.intoto.jsonl")
    claim = Claim(("e",), _statement_of(bundle), bundle=bundle)
    workflow = "bazel-contrib/.github/.github/workflows/release_ruleset.yaml"
    right = sigstore_trust(
        tmp_path, f"    - {{issuer: '{ACTIONS}', repository: aspect-build/rules_lint, signer_workflow: '{workflow}'}}\n"
    )
    assert (check(claim, right).signer or "").startswith("sigstore: https://github.com/bazel-contrib/.github/")
    pinned = sigstore_trust(
        tmp_path,
        f"    - {{issuer: '{ACTIONS}', repository: aspect-build/rules_lint, "
        f"signer_workflow: '{workflow}@refs/tags/v7.1.0'}}\n",
    )
    assert check(claim, pinned).signer
    for wrong in (
        f"    - {{issuer: '{ACTIONS}', repository: acme/rules_lint, signer_workflow: '{workflow}'}}\n",
        f"    - {{issuer: '{ACTIONS}', repository: aspect-build/rules_lint, signer_workflow: acme/x/.github/w.yml}}\n",
        f"    - {{issuer: 'https://accounts.google.com', repository: aspect-build/rules_lint, "
        f"signer_workflow: '{workflow}'}}\n",
    ):
        result = check(claim, sigstore_trust(tmp_path, wrong))
        assert (result.problem or "").startswith("wrong identity"), result
    # The artifact it is attached to must be one of its subjects.
    attached = Claim(("e",), claim.statement, bundle=bundle, attached={"digest": "sha256:" + "0" * 64})
    assert (check(attached, right).problem or "").startswith("subject digest mismatch")


@needs_corpus
def test_an_expired_certificate_and_a_forged_sigstore_signature_are_rejected(tmp_path: Path) -> None:
    bundle = _jsonl(SLSA / "gha_generic__v2.1.0__binary-linux-amd64-push-v14.2.intoto.jsonl")
    config = sigstore_trust(tmp_path, f"    - {{issuer: '{ACTIONS}', subject: '{GENERIC_SIGNER}'}}\n")
    late = copy.deepcopy(bundle)
    entry = late["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 86400)  # a day after the 10-minute certificate
    expired = check(Claim(("e",), _statement_of(late), bundle=late), config)
    assert (expired.problem or "").startswith("expired certificate: it was valid 2025-02-25T21:12:23Z to "), expired

    forged = copy.deepcopy(bundle)
    signature = bytearray(base64.b64decode(forged["dsseEnvelope"]["signatures"][0]["sig"]))
    signature[-5] ^= 0xFF
    forged["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    result = check(Claim(("e",), _statement_of(forged), bundle=forged), config)
    assert result.signer is None and (result.problem or "").startswith("forged signature"), result


@needs_corpus
def test_bundles_sigstore_python_cannot_verify_are_rejected_with_its_reason_not_a_crash(tmp_path: Path) -> None:
    config = sigstore_trust(tmp_path, f"    - {{issuer: '{ACTIONS}', subject: '{GENERIC_SIGNER}'}}\n")
    npm = json.loads((SLSA / "npm__gha__gundam-visor-cli-v1-tag.tgz.json").read_text())
    documents = [a["bundle"] for a in npm["attestations"]]
    documents += [json.loads(p.read_text()) for p in sorted(SIGSTORE.glob("*.sigstore.json"))]
    for document in documents:
        if "dsseEnvelope" not in document:
            continue
        result = check(Claim(("e",), _statement_of(document), bundle=document), config)
        assert result.signer is None and result.problem, document.get("mediaType")
        assert result.problem.split(":")[0] in {
            "unverifiable",
            "not verified against the trusted root(s)",
            "expired certificate",
        }
    assert check(Claim(("e",), {}, bundle=documents[0]), TrustConfig()).problem == (
        "unverifiable: no Sigstore trusted root is configured (sigstore: in TRACEGRAPH_TRUST)"
    )
