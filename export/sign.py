"""Signing a bundle: the organisation's Ed25519 export key, a DSSE envelope over manifest.json, and the
in-toto Statement as a DSSE envelope. The key is read from a file or the environment and never written
anywhere: not to the bundle, the graph or a log (only its key id is).
"""

from __future__ import annotations

import json
from typing import Any

from graph.settings import Settings
from trust import dsse
from trust.keys import (
    KeyProblem,
    PublicKey,
    SigningKey,
    TrustedKey,
    b64decode,
    b64encode,
    key_id,
    public_key,
    signing_key,
)

MANIFEST_TYPE = "application/vnd.tracegraph.manifest+json"


def export_signer(settings: Settings) -> SigningKey | None:
    """The export key TRACEGRAPH_EXPORT_KEY (PEM text) or TRACEGRAPH_EXPORT_KEY_FILE names; None when neither."""
    if settings.export_key is not None and settings.export_key.get_secret_value().strip():
        return signing_key(settings.export_key.get_secret_value().encode(), where="TRACEGRAPH_EXPORT_KEY")
    if settings.export_key_file is not None:
        path = settings.export_key_file
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise KeyProblem(
                f"cannot read the export key {path} (TRACEGRAPH_EXPORT_KEY_FILE): {exc.strerror}"
            ) from None
        return signing_key(pem, where=f"the export key {path}")
    return None


def envelope_bytes(payload_type: str, payload: bytes, signer: SigningKey | None) -> bytes:
    """A DSSE envelope as the bundle stores it: signed when there is a key, with no signature otherwise."""
    envelope: dict[str, Any] = (
        dsse.sign(payload_type, payload, signer)
        if signer
        else {"payloadType": payload_type, "payload": b64encode(payload), "signatures": []}
    )
    return (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode()


def verifying_key(pem: bytes, *, where: str) -> TrustedKey:
    """The public key `verify-export --key` checks signatures with (its id is the SPKI SHA-256)."""
    key: PublicKey = public_key(pem, where=where)
    return TrustedKey(key_id(key), "", key)


def open_signed(data: bytes, *, payload_type: str, key: TrustedKey | None) -> tuple[bytes, list[str], str | None]:
    """(payload, key ids it names, problem) of a stored envelope; with `key`, its signature must verify."""
    try:
        envelope = json.loads(data)
        found_type, payload = dsse.payload_of(envelope)
    except (ValueError, RecursionError) as exc:
        return b"", [], f"not a DSSE envelope ({exc})"
    if found_type != payload_type:
        return payload, [], f"its payloadType is {found_type!r}, not {payload_type!r}"
    signatures = dsse.signatures_of(envelope)
    named = [s["keyid"] for s in signatures if isinstance(s.get("keyid"), str)]
    if key is None:
        return payload, named, None
    if not signatures:
        return payload, named, "it carries no signature (the bundle was exported without a key)"
    signed = dsse.pae(found_type, payload)
    for signature in signatures:
        try:
            if key.verifies(b64decode(signature.get("sig"), what="the signature"), signed):
                return payload, named, None
        except ValueError:
            continue
    return payload, named, f"no signature verifies with the given key {key.id} (signed by {', '.join(named) or '?'})"
