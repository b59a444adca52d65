"""Signed exports: the manifest signed with the organisation's Ed25519 key (from a file or the environment),
`verify-export --key`, a bundle edited and re-hashed failing, the in-toto Statement as a signed DSSE envelope,
and the key itself reaching no bundle, graph or log.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from cli.export import export, verify_export
from export.manifest import file_digest, whole_digest
from graph.settings import Settings
from graph.snapshot import snapshot
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import api, load, run_graph
from trust.dsse import pae
from trust.keys import key_id


@pytest.fixture
def org_key(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """The organisation's export key (private PEM file, mode 600) and its public half."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    secret, public = tmp_path / "export.key", tmp_path / "export.pub"
    secret.write_bytes(pem)
    secret.chmod(0o600)
    public.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return secret, public, pem


def run_export(settings: Settings, *args: str, **extra: str) -> Result:
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
        "TRACEGRAPH_POLICY": None,
        "TRACEGRAPH_EXPORT_KEY": None,
        "TRACEGRAPH_EXPORT_KEY_FILE": None,
        **extra,
    }
    return CliRunner().invoke(export, list(args), env=env, catch_exceptions=False)


def verify(path: Path, *args: str) -> Result:
    return CliRunner().invoke(verify_export, [str(path), *args], catch_exceptions=False)


def signed_bundle(settings: Settings, out: Path, key_file: Path) -> Result:
    assert not load(settings, demo_envelopes()).rejected
    result = run_export(
        settings, "--change", "acme/shop#42", "--out", str(out), "--in-toto", TRACEGRAPH_EXPORT_KEY_FILE=str(key_file)
    )
    assert result.exit_code == 0, result.output
    return result


def test_a_signed_bundle_verifies_with_the_key_and_an_edited_rehashed_one_fails(
    settings: Settings, tmp_path: Path, org_key: tuple[Path, Path, bytes]
) -> None:
    secret, public, _ = org_key
    out = tmp_path / "bundle"
    result = signed_bundle(settings, out, secret)
    manifest = json.loads((out / "manifest.json").read_text())
    signature = json.loads((out / "manifest.sig.json").read_text())
    public_key = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    assert manifest["signingKey"] == key_id(public_key) == signature["signatures"][0]["keyid"]
    assert f"signed with export key {manifest['signingKey']}" in result.output
    assert base64.b64decode(signature["payload"]) == (out / "manifest.json").read_bytes()

    checked = verify(out, "--key", str(public))
    assert checked.exit_code == 0, checked.output
    assert f"manifest.json is signed by key {manifest['signingKey']}: the signature verifies" in checked.output
    assert "statement.intoto.json pins this manifest" in checked.output
    assert "(not checked: pass --key)" in verify(out).output

    # Edit an answer, recompute its digest, the whole digest and the Statement's pin: every digest matches...
    answer = out / "answers" / "github-acme-shop-42.json"
    answer.write_text(answer.read_text().replace("UNVERIFIED", "VERIFIED"))
    manifest["files"]["answers/github-acme-shop-42.json"] = file_digest(answer.read_bytes())
    manifest["whole"] = whole_digest(manifest["files"])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    assert verify(out).exit_code == 1  # the signed manifest no longer matches
    (out / "manifest.sig.json").unlink()
    (out / "statement.intoto.json").unlink()
    assert verify(out).exit_code == 0  # ...so without the key, a re-hashed bundle passes
    failed = verify(out, "--key", str(public))
    assert failed.exit_code == 1 and "not signed: the bundle has no manifest.sig.json" in failed.stderr


@pytest.fixture
def bundle(settings: Settings, tmp_path: Path, org_key: tuple[Path, Path, bytes]) -> tuple[Path, Path]:
    """The demo's acme/shop#42 exported with --in-toto and signed with the organisation's key; its public key."""
    secret, public, _ = org_key
    signed_bundle(settings, tmp_path / "bundle", secret)
    return tmp_path / "bundle", public


def test_a_bundle_signed_with_another_key_or_re_signed_fails_with_the_organisations_key(
    settings: Settings, tmp_path: Path, bundle: tuple[Path, Path]
) -> None:
    out, public = bundle
    intruder = ed25519.Ed25519PrivateKey.generate()
    envelope = json.loads((out / "manifest.sig.json").read_text())
    signed = pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    envelope["signatures"] = [{"keyid": "intruder", "sig": base64.b64encode(intruder.sign(signed)).decode()}]
    (out / "manifest.sig.json").write_text(json.dumps(envelope))
    failed = verify(out, "--key", str(public))
    assert failed.exit_code == 1
    assert "signature: manifest.sig.json no signature verifies with the given key" in failed.stderr

    not_ed25519 = tmp_path / "p256.key"
    not_ed25519.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    refused = run_export(
        settings, "--change", "acme/shop#42", "--out", str(tmp_path / "b2"), TRACEGRAPH_EXPORT_KEY_FILE=str(not_ed25519)
    )
    assert refused.exit_code == 2 and "exports are signed with an Ed25519 key" in refused.output


def test_the_in_toto_statement_is_a_dsse_envelope_signed_like_the_manifest(bundle: tuple[Path, Path]) -> None:
    out, public = bundle
    envelope = json.loads((out / "statement.intoto.json").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    public_key = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    [signature] = envelope["signatures"]
    public_key.verify(
        base64.b64decode(signature["sig"]), pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    )

    statement["predicate"]["verdicts"][0]["status"] = "VERIFIED"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (out / "statement.intoto.json").write_text(json.dumps(envelope))
    failed = verify(out, "--key", str(public))
    assert failed.exit_code == 1 and "signature: statement.intoto.json no signature verifies" in failed.stderr


def test_the_key_reaches_no_bundle_graph_api_answer_or_log(
    settings: Settings, tmp_path: Path, org_key: tuple[Path, Path, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    secret, _, pem = org_key
    caplog.set_level(logging.DEBUG)
    body = b"".join(pem.strip().splitlines()[1:-1])  # the base64 inside the PEM
    marks = [pem, body, body[:24]]
    out = tmp_path / "bundle"
    result = signed_bundle(settings, out, secret)
    from_env = run_export(
        settings, "--change", "acme/shop#42", "--out", str(tmp_path / "b2"), TRACEGRAPH_EXPORT_KEY=pem.decode()
    )
    assert from_env.exit_code == 0, from_env.output
    # The same key, from the environment: the same key id.
    assert (
        json.loads((tmp_path / "b2" / "manifest.json").read_text())["signingKey"]
        == json.loads((out / "manifest.json").read_text())["signingKey"]
    )
    keyed = settings.model_copy(update={"export_key_file": secret})
    with api(keyed) as client:
        served = client.get("/export/change/acme/shop/42", params={"format": "json", "in_toto": "true"})
        assert served.status_code == 200
    texts = [p.read_bytes() for folder in (out, tmp_path / "b2") for p in folder.rglob("*") if p.is_file()]
    texts += [served.content, result.output.encode(), from_env.output.encode(), caplog.text.encode()]
    graph = run_graph(settings, snapshot)
    texts.append("\n".join(graph.nodes + graph.edges).encode())
    texts.append(repr(keyed).encode())
    for text in texts:
        for mark in marks:
            assert mark not in text
