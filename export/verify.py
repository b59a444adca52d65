"""Checking a bundle: recompute every digest its manifest lists (and the in-toto Statement's pin) and name
each file that changed, is missing, or was added; with the organisation's public key, check that the
manifest (and the Statement) were signed with its export key, so a bundle edited and re-hashed fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from export.archive import Bundle
from export.manifest import MANIFEST, SIGNATURE, SOURCE_EVENTS, STATEMENT, UNLISTED, file_digest, whole_digest
from export.sign import MANIFEST_TYPE, open_signed
from trust.dsse import IN_TOTO
from trust.keys import TrustedKey


@dataclass
class Verification:
    """The outcome of checking a bundle: how many files matched, and one line per problem."""

    files: int = 0
    whole: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _digest(files: Mapping[str, bytes], path: str) -> str:
    # A bundle read from disk digested every file as it streamed by; an in-memory one is digested here.
    return files.digests[path] if isinstance(files, Bundle) else file_digest(files[path])


def _signature(files: Mapping[str, bytes], result: Verification, key: TrustedKey | None) -> None:
    """manifest.sig.json: a DSSE envelope of exactly manifest.json, signed with the key (when one is given)."""
    if SIGNATURE not in files:
        if key is not None:
            result.problems.append(f"not signed: the bundle has no {SIGNATURE}, so nothing proves who made it")
        return
    payload, named, problem = open_signed(files[SIGNATURE], payload_type=MANIFEST_TYPE, key=key)
    if problem:
        result.problems.append(f"signature: {SIGNATURE} {problem}")
    elif payload != files.get(MANIFEST):
        result.problems.append(f"signature: {SIGNATURE} signs another {MANIFEST} than this one (it was edited)")
    elif key is None:
        result.notes.append(f"{MANIFEST} is signed by key {', '.join(named) or '?'} (not checked: pass --key)")
    else:
        result.notes.append(f"{MANIFEST} is signed by key {key.id}: the signature verifies")


def _statement(files: Mapping[str, bytes], result: Verification, key: TrustedKey | None) -> None:
    raw = files[STATEMENT]
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    if isinstance(document, dict) and "payloadType" in document:
        raw, _, problem = open_signed(raw, payload_type=IN_TOTO, key=key)
        if problem:
            result.problems.append(f"signature: {STATEMENT} {problem}")
            return
    try:
        predicate: dict[str, Any] = json.loads(raw)["predicate"]
        pinned = "sha256:" + predicate["manifest"]["digest"]["sha256"]
        whole = "sha256:" + predicate["bundle"]["digest"]["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"changed: {STATEMENT} (not a tracegraph in-toto Statement: {exc.__class__.__name__})")
        return
    actual = _digest(files, MANIFEST)
    if pinned != actual:
        result.problems.append(
            f"changed: {MANIFEST} or {STATEMENT} (the Statement pins {pinned}, {MANIFEST} is {actual})"
        )
    elif whole != result.whole:
        result.problems.append(f"changed: {STATEMENT} (its bundle digest {whole} is not the manifest's {result.whole})")
    else:
        result.notes.append(f"{STATEMENT} pins this manifest")


def _raw_documents(files: Mapping[str, bytes], listed: dict[str, str], result: Verification) -> None:
    """Every raw document source-events.json lists is a file of the bundle; say how many it lacks."""
    try:
        index = json.loads(files[SOURCE_EVENTS])
        documents = [(str(d["id"]), str(d["file"]), d.get("digest")) for d in index["documents"]]
        missing = [str(m) for m in index.get("missing", [])]
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"changed: {SOURCE_EVENTS} (it no longer lists source events: {exc.__class__.__name__})")
        return
    differ = []
    for event, path, digest in documents:
        if path not in listed:  # (a listed file that is gone is named by the manifest's check)
            result.problems.append(f"missing: {path} (the raw document of {event}, not in the manifest)")
        elif path in files and digest and _digest(files, path) != digest:
            differ.append(event)
    result.notes.append(f"{len(documents)} raw source document(s) listed in {SOURCE_EVENTS}")
    if differ:
        # Not a broken bundle (the manifest holds): export redacts again, with the rules of its day.
        result.notes.append(
            f"{len(differ)} raw document(s) differ from the digest their source event names "
            f"(redacted again on export): {_some(differ)}"
        )
    if missing:
        result.notes.append(
            f"{len(missing)} source event(s) named without a raw document in this bundle: {_some(missing)}"
        )


def _some(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def verify_files(
    files: Mapping[str, bytes], *, expect: str | None = None, key: TrustedKey | None = None
) -> Verification:
    """Recompute every digest of a bundle and name each file that changed, is missing, or was added; with
    `key`, also require the manifest's (and the Statement's) signature to verify with it."""
    result = Verification()
    if MANIFEST not in files:
        result.problems.append(f"missing: {MANIFEST} (this is not an evidence bundle, or its manifest was removed)")
        return result
    try:
        manifest = json.loads(files[MANIFEST])
        listed: dict[str, str] = manifest["files"]
        if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
            raise TypeError("files is not a map of path to digest")
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"changed: {MANIFEST} (it no longer reads as a manifest: {exc})")
        return result
    result.whole = whole_digest(listed)
    if manifest.get("whole") != result.whole:
        result.problems.append(
            f"changed: {MANIFEST} (its file digests add up to {result.whole}, but it records {manifest.get('whole')})"
        )
    for path, digest in sorted(listed.items()):
        if path not in files:
            result.problems.append(f"missing: {path}")
        elif (actual := _digest(files, path)) != digest:
            result.problems.append(f"changed: {path} (manifest {digest}, file {actual})")
        else:
            result.files += 1
    result.problems += [f"unexpected: {p} (not in the manifest)" for p in sorted(set(files) - set(listed) - UNLISTED)]
    _signature(files, result, key)
    if SOURCE_EVENTS in files:
        _raw_documents(files, listed, result)
    if STATEMENT in files:
        _statement(files, result, key)
    if expect and expect.removeprefix("sha256:") != (result.whole or "").removeprefix("sha256:"):
        result.problems.append(f"changed: the bundle's whole digest is {result.whole}, not the expected {expect}")
    return result
