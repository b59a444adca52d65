"""DSSE envelopes (github.com/secure-systems-lab/dsse): the PAE encoding, signing, and checking by key id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trust.keys import SigningKey, TrustedKey, b64decode, b64encode

IN_TOTO = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1's Pre-Authentication Encoding: what a signature covers (type and body, length-prefixed)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign(payload_type: str, payload: bytes, key: SigningKey) -> dict[str, Any]:
    """A DSSE envelope over `payload`, signed with `key` (its key id in the signature)."""
    signature = key.sign(pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": b64encode(payload),
        "signatures": [{"keyid": key.id, "sig": b64encode(signature)}],
    }


@dataclass(frozen=True)
class Opened:
    """An envelope's payload, and who signed it (None: not verified; `problem` says why)."""

    payload_type: str
    payload: bytes
    signer: str | None = None
    problem: str | None = None


def payload_of(envelope: Any) -> tuple[str, bytes]:
    """(payloadType, decoded payload) of an envelope; ValueError saying what is wrong."""
    if not isinstance(envelope, dict):
        raise ValueError("a DSSE envelope is a JSON object")
    payload_type = envelope.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise ValueError("the DSSE envelope has no payloadType")
    return payload_type, b64decode(envelope.get("payload"), what="the DSSE payload")


def signatures_of(envelope: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The envelope's signatures (an empty list when it carries none)."""
    found = envelope.get("signatures")
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def open_envelope(envelope: Any, keys: Mapping[str, TrustedKey]) -> Opened:
    """Check an envelope's signatures against trusted keys: by key id, or every key when a signature names none.

    One signature that verifies is enough. Otherwise `problem` says which of these it is: no trusted key is
    configured, the signature names a key that is not trusted, or it does not verify (forged or altered).
    """
    payload_type, payload = payload_of(envelope)
    if not signatures_of(envelope):
        return Opened(payload_type, payload, problem="the envelope carries no signature")
    if not keys:
        return Opened(
            payload_type, payload, problem="untrusted key: no signing keys are configured (keys: in TRACEGRAPH_TRUST)"
        )
    signed = pae(payload_type, payload)
    unknown: list[str] = []
    failed: list[str] = []
    for i, signature in enumerate(signatures_of(envelope)):
        keyid = signature.get("keyid")
        named = keyid if isinstance(keyid, str) else ""
        try:
            raw = b64decode(signature.get("sig"), what=f"signature {i + 1}")
        except ValueError as exc:
            failed.append(str(exc))
            continue
        candidates = [keys[named]] if named in keys else [] if named else list(keys.values())
        if named and not candidates:
            unknown.append(named)
            continue
        for key in candidates:
            if key.verifies(raw, signed):
                return Opened(
                    payload_type, payload, signer=f"key {key.id} ({key.name})" if key.name else f"key {key.id}"
                )
        failed.append(f"signature {i + 1}" + (f" by key {named}" if named else "") + " does not verify")
    if failed:
        return Opened(payload_type, payload, problem="forged signature: " + "; ".join(failed))
    return Opened(
        payload_type,
        payload,
        problem=f"untrusted key: signed with key {', '.join(map(repr, unknown))}, which TRACEGRAPH_TRUST does not list",
    )
