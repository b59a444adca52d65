"""What a document claims about its own authenticity, and whether the trust file bears it out.

A source that carries signatures (the attestation plugin) describes each signed part as a Claim: the
evidence keys it backs, the DSSE envelope or Sigstore bundle, the statement inside, and what the delivery
says it is attached to. `check` answers who signed it, or why it was rejected; the pipeline turns that into
the evidence's trust (ingest.pipeline.trust).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trust.config import TrustConfig
from trust.dsse import IN_TOTO, open_envelope

MAX_PROBLEM = 400


@dataclass(frozen=True)
class Claim:
    """One attestation as delivered: the evidence it backs, its statement, and its signature if any."""

    keys: tuple[str, ...]
    statement: Mapping[str, Any]
    envelope: Mapping[str, Any] | None = None
    bundle: Mapping[str, Any] | None = None
    # What the delivery says the attestation is about ({"commit": sha} or {"digest": "sha256:…"}).
    attached: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Check:
    """Who signed a claim (`signer`), or why it was rejected (`problem`); neither for an unsigned document."""

    signer: str | None = None
    problem: str | None = None


def _subject_digests(statement: Mapping[str, Any]) -> set[str]:
    found = set()
    subjects = statement.get("subject")
    for subject in subjects if isinstance(subjects, list) else []:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        for alg, value in digest.items() if isinstance(digest, dict) else ():
            if isinstance(alg, str) and isinstance(value, str):
                found.add(f"{alg.lower()}:{value.lower()}")
    return found


def subject_problem(statement: Mapping[str, Any], attached: Mapping[str, Any] | None) -> str | None:
    """Why the statement is not about what the delivery attaches it to (a commit or an artifact digest), or None."""
    if not attached:
        return None
    digests = _subject_digests(statement)
    wanted = []
    commit = attached.get("commit")
    if isinstance(commit, str) and commit:
        wanted.append(({f"gitcommit:{commit.lower()}", f"sha1:{commit.lower()}"}, f"commit {commit}"))
    digest = attached.get("digest")
    if isinstance(digest, str) and digest:
        alg, _, value = digest.partition(":")
        wanted.append(({f"{alg.lower()}:{value.lower()}"}, f"artifact {digest}"))
    for accepted, what in wanted:
        if not digests & accepted:
            names = ", ".join(sorted(digests)) or "none"
            return f"subject digest mismatch: the statement's subjects are {names}; the delivery attaches it to {what}"
    return None


def _same_statement(payload: bytes | None, statement: Mapping[str, Any]) -> bool:
    try:
        return payload is not None and json.loads(payload) == statement
    except (ValueError, RecursionError):
        return False


def _verify(claim: Claim, config: TrustConfig) -> Check:
    if claim.bundle is not None:
        from trust.sigstore import verify_bundle

        checked = verify_bundle(dict(claim.bundle), config.roots, config.identities)
        if checked.problem:
            return Check(problem=checked.problem)
        if not _same_statement(checked.payload, claim.statement):
            return Check(problem="forged signature: the verified payload is not the statement that was read")
        return Check(signer=checked.signer)
    if claim.envelope is not None:
        opened = open_envelope(claim.envelope, config.keys)
        if opened.problem == "the envelope carries no signature":
            return Check()
        if opened.problem:
            return Check(problem=opened.problem)
        if opened.payload_type != IN_TOTO:
            return Check(problem=f"unverifiable: the envelope signs a {opened.payload_type!r} payload, not in-toto")
        return Check(signer=opened.signer)
    return Check()


def check(claim: Claim, config: TrustConfig) -> Check:
    """Verify a claim's signature (if any) and its subjects against what it is attached to; never raises."""
    try:
        result = _verify(claim, config)
    except Exception as exc:  # noqa: BLE001 - a malformed signature must reject the evidence, never crash ingest
        result = Check(problem=f"unverifiable: {exc.__class__.__name__}: {str(exc)[:200]}")
    if result.problem is None and (mismatch := subject_problem(claim.statement, claim.attached)):
        result = Check(problem=mismatch)
    if result.problem and len(result.problem) > MAX_PROBLEM:
        result = Check(problem=result.problem[: MAX_PROBLEM - 1] + "…")
    return result
