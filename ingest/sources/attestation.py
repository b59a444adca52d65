"""Supply-chain attestations: in-toto statements, SLSA provenance, DSSE envelopes, Sigstore bundles, SBOMs.

Every attestation becomes Evidence keyed by the digest of its statement (`attestation:<hash>`,
plus `:<i>` per subject when a statement names several artifacts), of type provenance, sbom,
test-result, vsa or attestation. When the statement pins a git commit (a SLSA build's source,
a `gitCommit` subject) the evidence VERIFIES that commit; otherwise it is kept with the
artifact digest it names. Signatures are not verified here: `claims` describes each signed part (the DSSE
envelope or Sigstore bundle, its statement, the evidence it backs, what the delivery attaches it to) and the
pipeline checks them against the trust file (trust.check), which decides the evidence's trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.sources.attestation_parse import (
    STATEMENT_PREFIX,
    Kind,
    Subject,
    bom_commit,
    bom_subject,
    build_commit,
    conclusion,
    kind_of,
    predicate_builder,
    predicate_times,
    predicate_url,
    subjects,
)
from ingest.sources.base import Event, Rejected, Source, get, iso
from trust.check import Claim

SIGSTORE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle"
MAX_ATTESTATIONS = 1000


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def evidence_id(document: Any) -> str:
    """`attestation:` + the first 32 hex of the SHA-256 of the document's canonical JSON."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "attestation:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def evidence_keys(document: Any, count: int) -> list[str]:
    """The Evidence keys of a document about `count` subjects: one, or one per subject (`:<i>`)."""
    base = evidence_id(document)
    return [base] if count <= 1 else [f"{base}:{i}" for i in range(count)]


def _add(
    batch: Batch,
    event: Event,
    document: Any,
    kind: Kind,
    found: list[Subject],
    commit: tuple[str, str | None] | None,
    **props: Any,
) -> None:
    sha, repo = commit if commit else (None, None)
    # A statement about a commit itself (a gitCommit subject) verifies that commit.
    sha = sha or next((s.git_commit for s in found if s.git_commit), None)
    at = event.version(props.get("completedAt") or props.get("startedAt"))
    keys = evidence_keys(document, len(found))
    for key, subject in zip(keys, found or [Subject(None, None, None)], strict=True):
        node = (Label.EVIDENCE, key)
        batch.node(
            *node,
            version=at,
            origin=event.origin,
            type=kind.type,
            kind=kind.type,
            name=kind.name,
            commitSha=sha,
            repo=repo,
            digest=subject.digest,
            artifact=subject.name,
            **props,
        )
        if sha:
            batch.edge(node, Rel.VERIFIES, (Label.COMMIT, sha), version=at, origin=event.origin)


def add_statement(batch: Batch, event: Event, statement: Any) -> None:
    """Evidence from one in-toto Statement (v0.1 or v1) of any predicate type."""
    if not isinstance(statement, dict):
        raise Rejected(f"in-toto statement must be a JSON object, got {_type_name(statement)}")
    type_ = statement.get("_type")
    if type_ is not None and not (isinstance(type_, str) and type_.startswith(STATEMENT_PREFIX)):
        raise Rejected(f"not an in-toto statement: _type is {type_!r} (expected {STATEMENT_PREFIX}v1 or v0.1)")
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type.strip():
        raise Rejected("in-toto statement has no predicateType")
    predicate = statement.get("predicate")
    if predicate is None:
        predicate = {}
    if not isinstance(predicate, dict):
        raise Rejected(f"in-toto statement predicate must be an object, got {_type_name(predicate)}")
    kind = kind_of(predicate_type.strip())
    started, completed = predicate_times(predicate)
    _add(
        batch,
        event,
        statement,
        kind,
        subjects(statement),
        build_commit(predicate) if kind.type == "provenance" else None,
        predicateType=predicate_type.strip(),
        conclusion=conclusion(kind, predicate),
        builder=predicate_builder(predicate),
        url=predicate_url(predicate),
        startedAt=started,
        completedAt=completed,
    )


def add_bom(batch: Batch, event: Event, bom: dict[str, Any]) -> None:
    """Evidence of kind sbom from a CycloneDX BOM (SBOM, VEX, OBOM… all are BOMs)."""
    spec = bom.get("specVersion")
    if not isinstance(spec, str) or not spec:
        raise Rejected("CycloneDX BOM has no specVersion")
    subject = bom_subject(bom)
    _add(
        batch,
        event,
        bom,
        Kind("sbom", "cyclonedx-sbom"),
        [subject],
        bom_commit(bom),
        predicateType=f"https://cyclonedx.org/bom/v{spec}",
        conclusion="success",
        completedAt=iso(get(bom, "metadata", "timestamp")),
    )


def add_spdx(batch: Batch, event: Event, document: dict[str, Any]) -> None:
    """Evidence of kind sbom from a bare SPDX JSON document."""
    name = document.get("name")
    _add(
        batch,
        event,
        document,
        Kind("sbom", "spdx-sbom"),
        [Subject(name if isinstance(name, str) and name else None, None, None)],
        None,
        predicateType="https://spdx.dev/Document",
        conclusion="success",
        completedAt=iso(get(document, "creationInfo", "created")),
    )


def _decode_payload(envelope: dict[str, Any]) -> Any:
    payload, payload_type = envelope.get("payload"), envelope.get("payloadType")
    if not isinstance(payload, str) or not payload:
        raise Rejected("DSSE envelope has no base64 payload")
    if not isinstance(payload_type, str) or "json" not in payload_type.lower():
        raise Rejected(f"DSSE payloadType {payload_type!r} is not a JSON attestation (application/vnd.in-toto+json)")
    text = payload.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        # DSSE says standard base64; some writers use the URL-safe alphabet, accepted strictly too.
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected("DSSE payload is not valid base64") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Rejected(f"DSSE payload does not decode to JSON ({exc.__class__.__name__})") from None


def add_envelope(batch: Batch, event: Event, envelope: Any) -> None:
    """Evidence from a DSSE envelope whose payload is an in-toto statement."""
    if not isinstance(envelope, dict):
        raise Rejected(f"DSSE envelope must be a JSON object, got {_type_name(envelope)}")
    if not isinstance(envelope.get("signatures", []), list):
        raise Rejected("DSSE envelope signatures must be an array")
    add_statement(batch, event, _decode_payload(envelope))


def add_sigstore(batch: Batch, event: Event, bundle: dict[str, Any]) -> None:
    """Evidence from a Sigstore bundle's DSSE envelope."""
    envelope = bundle.get("dsseEnvelope")
    if envelope is None:
        raise Rejected("Sigstore bundle holds no dsseEnvelope (a bare message signature is not an attestation)")
    add_envelope(batch, event, envelope)


def _members(document: dict[str, Any]) -> list[Any]:
    """Attestations held by a container: npm's `attestations[]`, Cloud Build's `provenance_summary`."""
    if isinstance(document.get("attestations"), list):
        return [item.get("bundle", item) if isinstance(item, dict) else item for item in document["attestations"]]
    provenance = get(document, "provenance_summary", "provenance")
    if isinstance(provenance, list):
        return [get(item, "envelope") for item in provenance]
    raise Rejected("attestation bundle holds no attestations")


def _parse_text(text: str) -> list[Any]:
    """A .sigstore/.intoto file read as text: one JSON document, or JSON Lines."""
    try:
        return [json.loads(text)]
    except RecursionError:
        raise Rejected("attestation text is nested too deeply to be an attestation") from None
    except json.JSONDecodeError:
        pass
    documents = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                documents.append(json.loads(line))
            except RecursionError:
                raise Rejected(f"attestation text line {number} is nested too deeply") from None
            except json.JSONDecodeError as exc:
                raise Rejected(f"attestation text is neither JSON nor JSON Lines (line {number}: {exc.msg})") from None
    return documents


def bundle_members(bundle: Any) -> list[tuple[str, Any]]:
    """(type, document) of every attestation in a bundle (JSON Lines text, npm attestations, Cloud Build)."""
    members = _members(bundle) if isinstance(bundle, dict) else _parse_text(bundle)
    # Text may hold one container document; containers inside containers are not a format anyone writes.
    if (
        isinstance(bundle, str)
        and len(members) == 1
        and isinstance(members[0], dict)
        and infer_type(members[0]) == "bundle"
    ):
        members = _members(members[0])
    if not members:
        raise Rejected("attestation bundle is empty")
    if len(members) > MAX_ATTESTATIONS:
        raise Rejected(f"attestation bundle holds {len(members)} attestations (at most {MAX_ATTESTATIONS})")
    found = []
    for i, member in enumerate(members):
        kind = infer_type(member) if isinstance(member, dict) else None
        if kind is None or kind == "bundle":
            raise Rejected(f"attestation {i + 1} of the bundle is not a statement, envelope, Sigstore bundle or BOM")
        found.append((kind, member))
    return found


def add_bundle(batch: Batch, event: Event, bundle: Any) -> None:
    """Every attestation in a bundle (JSON Lines text, npm attestations, Cloud Build provenance)."""
    for i, (kind, member) in enumerate(bundle_members(bundle)):
        try:
            ADDERS[kind](batch, event, member)
        except Rejected as exc:
            raise Rejected(f"attestation {i + 1} of the bundle: {exc}") from None


def _claim(kind: str, document: Any, attached: Any) -> Claim | None:
    """What one attestation claims: its statement, the evidence it backs, and its envelope or bundle."""
    envelope = document.get("dsseEnvelope") if kind == "sigstore-bundle" else document if kind == "dsse" else None
    statement = _decode_payload(envelope) if isinstance(envelope, dict) else document
    if kind not in ("statement", "dsse", "sigstore-bundle") or not isinstance(statement, dict):
        return None  # BOMs carry no signature or in-toto subjects to check
    return Claim(
        keys=tuple(evidence_keys(statement, len(subjects(statement)))),
        statement=statement,
        envelope=envelope if kind == "dsse" else None,
        bundle=document if kind == "sigstore-bundle" else None,
        attached=attached if isinstance(attached, dict) else None,
    )


def claims(event: Event) -> list[Claim]:
    """Every signed (or subject-pinned) part of an attestation event, for the pipeline to verify."""
    kind = event.type or infer_type(event.payload)
    members = bundle_members(event.payload) if kind == "bundle" else [(kind or "", event.payload)]
    return [found for kind, member in members if (found := _claim(kind, member, event.subject))]


ADDERS: dict[str, Callable[[Batch, Event, Any], None]] = {
    "statement": add_statement,
    "dsse": add_envelope,
    "sigstore-bundle": add_sigstore,
    "cyclonedx": add_bom,
    "spdx": add_spdx,
    "bundle": add_bundle,
}


def infer_type(payload: Any) -> str | None:
    """Tell an attestation's shape: statement, dsse, sigstore-bundle, cyclonedx, spdx or bundle."""
    if isinstance(payload, str):
        return "bundle"
    if not isinstance(payload, dict):
        return None
    media_type = payload.get("mediaType")
    if "dsseEnvelope" in payload or (isinstance(media_type, str) and media_type.startswith(SIGSTORE_MEDIA_TYPE)):
        return "sigstore-bundle"
    if "payloadType" in payload or ("payload" in payload and "signatures" in payload):
        return "dsse"
    if "_type" in payload or "predicateType" in payload:
        return "statement"
    if payload.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    if isinstance(payload.get("spdxVersion"), str):
        return "spdx"
    if "attestations" in payload or "provenance_summary" in payload:
        return "bundle"
    return None


def _handler(adder: Callable[[Batch, Event, Any], None]) -> Callable[[Event], Batch]:
    def normalise(event: Event) -> Batch:
        batch = Batch()
        adder(batch, event, event.payload)
        return batch

    normalise.__doc__ = adder.__doc__
    return normalise


SOURCE = Source(
    name="attestation",
    handlers={name: _handler(adder) for name, adder in ADDERS.items()},
    infer_type=infer_type,
    # Sigstore bundles are saved as `.sigstore`; they are JSON, read here from text.
    text_suffixes=frozenset({".sigstore"}),
    claims=claims,
)
