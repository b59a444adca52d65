"""Sigstore bundles (v0.1-v0.3) verified offline with sigstore-python against trusted roots and identities.

sigstore-python checks the certificate chain at the signing time, the SCT, the transparency-log entry
(inclusion proof, checkpoint, signed entry timestamp) and the DSSE signature; here we only choose the
trusted roots, compare the certificate's identity with the expected ones, and say why a bundle failed:
a forged signature, the wrong identity, a certificate expired at signing time, or one the library cannot
verify (bundles without an inclusion proof, npm's `intoto` log entries: sigstore-python refuses them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.x509.oid import ObjectIdentifier
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import (
    AllOf,
    AnyOf,
    Identity,
    OIDCBuildSignerURI,
    OIDCIssuer,
    OIDCIssuerV2,
    OIDCSourceRepositoryURI,
    VerificationPolicy,
)

from trust.config import ExpectedIdentity, TrustError

ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
BUILD_SIGNER_URI = ObjectIdentifier("1.3.6.1.4.1.57264.1.9")
GITHUB = "https://github.com/"


@dataclass(frozen=True)
class Roots:
    """One sigstore-python Verifier per trusted-root file."""

    verifiers: tuple[tuple[str, Verifier], ...]

    @classmethod
    def load(cls, files: Sequence[Path], *, where: str) -> Roots:
        found = []
        for path in files:
            try:
                found.append((path.name, Verifier(trusted_root=TrustedRoot.from_file(str(path)))))
            except (OSError, ValueError, SigstoreError) as exc:
                raise TrustError(f"trusted root {path} of {where} cannot be used: {_first_line(exc)}") from None
        return cls(tuple(found))


class _CertificateChecked:
    """A policy that accepts any identity: the expected ones are compared after the signature verified,
    so a failure can say whether the signature or the identity was wrong."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


class _SignerWorkflow:
    """The Build Signer URI names this workflow (`owner/repo/path`) at any ref."""

    def __init__(self, workflow: str):
        self.prefix = (workflow if workflow.startswith(GITHUB) else GITHUB + workflow.strip("/")) + "@"

    def verify(self, cert: x509.Certificate) -> None:
        found = _extension(cert, BUILD_SIGNER_URI)
        if found is None or not found.startswith(self.prefix):
            from sigstore.errors import VerificationError

            raise VerificationError(f"signer workflow {found!r} is not {self.prefix}<ref>")


def _repository_url(repository: str) -> str:
    return repository if repository.startswith(("https://", "http://")) else GITHUB + repository.strip("/")


def policy_of(expected: ExpectedIdentity) -> VerificationPolicy:
    """The sigstore-python policy an expected identity stands for."""
    checks: list[VerificationPolicy] = [AnyOf([OIDCIssuer(expected.issuer), OIDCIssuerV2(expected.issuer)])]
    if expected.subject:
        checks.append(Identity(identity=expected.subject))
    if expected.repository:
        checks.append(OIDCSourceRepositoryURI(_repository_url(expected.repository)))
    if expected.signer_workflow:
        workflow = expected.signer_workflow
        if "@" in workflow:
            checks.append(OIDCBuildSignerURI(workflow if workflow.startswith(GITHUB) else GITHUB + workflow))
        else:
            checks.append(_SignerWorkflow(workflow))
    return AllOf(checks)


def _extension(cert: x509.Certificate, oid: ObjectIdentifier) -> str | None:
    try:
        raw = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    data = getattr(raw, "value", b"")
    try:
        return str(asn1.decode_der(str, data))
    except (ValueError, TypeError):
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else None


def signer_of(cert: x509.Certificate) -> str:
    """Who a Fulcio certificate names: its subject (SAN) and OIDC issuer."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.UniformResourceIdentifier)]
        names += san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        names = []
    issuer = _extension(cert, ISSUER_V2) or _extension(cert, ISSUER_V1) or "unknown issuer"
    return f"{', '.join(names) or 'no subject'} (issuer {issuer})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:300]


def _signed_at(bundle: dict[str, Any]) -> list[datetime]:
    entries = (bundle.get("verificationMaterial") or {}).get("tlogEntries") or []
    times = []
    for entry in entries if isinstance(entries, list) else []:
        value = entry.get("integratedTime") if isinstance(entry, dict) else None
        if isinstance(value, str | int) and str(value).isdigit():
            times.append(datetime.fromtimestamp(int(value), tz=UTC))
    return times


def _expired(cert: x509.Certificate, bundle: dict[str, Any]) -> str | None:
    for when in _signed_at(bundle):
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            return (
                f"expired certificate: it was valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
                f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, the bundle was signed at {when:%Y-%m-%dT%H:%M:%SZ}"
            )
    return None


@dataclass(frozen=True)
class Checked:
    """A bundle's DSSE payload and who signed it (None, with `problem`, when it was not verified)."""

    payload: bytes | None = None
    signer: str | None = None
    problem: str | None = None


def verify_bundle(document: dict[str, Any], roots: Roots, identities: Sequence[ExpectedIdentity]) -> Checked:
    """Verify a Sigstore bundle's DSSE envelope offline; never raises."""
    if not roots.verifiers:
        return Checked(problem="unverifiable: no Sigstore trusted root is configured (sigstore: in TRACEGRAPH_TRUST)")
    try:
        bundle = Bundle.from_json(json.dumps(document))
    except (SigstoreError, ValueError, TypeError, KeyError) as exc:
        return Checked(problem=f"unverifiable: sigstore-python cannot read this bundle: {_first_line(exc)}")
    cert = bundle.signing_certificate
    if expired := _expired(cert, document):
        return Checked(problem=expired)
    failures = []
    logging.getLogger("sigstore").setLevel(logging.ERROR)  # its warnings are the outcome we report
    for name, verifier in roots.verifiers:
        try:
            payload_type, payload = verifier.verify_dsse(bundle, _CertificateChecked())
        except (SigstoreError, ValueError) as exc:
            failures.append(f"{name}: {_first_line(exc)}")
            continue
        if payload_type != "application/vnd.in-toto+json":
            return Checked(
                problem=f"unverifiable: the bundle signs a {payload_type!r} payload, not an in-toto statement"
            )
        signer = signer_of(cert)
        for expected in identities:
            try:
                policy_of(expected).verify(cert)
            except (SigstoreError, ValueError):
                continue
            return Checked(payload=payload, signer=f"sigstore: {signer}")
        wanted = "; ".join(e.describe() for e in identities) or "none configured"
        return Checked(problem=f"wrong identity: signed by {signer}; expected {wanted}")
    text = "; ".join(failures)
    if "invalid signature" in text.lower():
        return Checked(problem=f"forged signature: the DSSE signature does not verify ({text})")
    return Checked(problem=f"not verified against the trusted root(s): {text}")
