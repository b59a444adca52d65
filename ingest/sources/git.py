"""A git repository's commits as events: what `tracegraph ingest-git` reads, or the same records as envelopes.

`commit` (id `{repo}@{sha}`): the Commit with its parents, author and committer, signature letter,
trailers, changed files and line counts, and the agent sessions its trailers name; versioned by its
commit time. `repository` (id the repository's name): the Repository node.

    {"repo": "acme/shop", "sha": "…", "parents": ["…"], "author": {"name", "email", "at"},
     "committer": {"name", "email", "at"}, "signature": "G", "message": "…",
     "files": ["…"] (null for merges: git prints no file list for them), "additions": 3, "deletions": 1}
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.redact import redact
from ingest.sources.base import Event, Rejected, Source, get, integer, iso, items, require_text, strings, text
from ingest.trailers import ai_links, parse_trailers

# %G?: G good, U good with unknown trust, X/Y good but expired sig/key, R revoked key, B bad,
# E cannot be checked (key missing), N none. Verified means "checks out against a key we hold":
# U only lacks a local trust decision. Expired or revoked (X, Y, R) do not count: a wrong
# "verified" is worse than a missing one. The letter itself is kept as `signature`.
VERIFIED_SIGNATURES = frozenset({"G", "U"})
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "testdata", "e2e"})
# test_x.py, x_test.go, x.test.ts, x.spec.js, XTest.java, XTests.cs; not latest.txt or contest.py.
_TEST_NAME = re.compile(r"(?:^|[._-])(?:tests?|spec)(?:[._-]|$)|[a-z0-9]Tests?(?:\.|$)|^Test[A-Z0-9_]")


@lru_cache(maxsize=1 << 16)
def is_test_file(path: str) -> bool:
    """Whether a path is a test: under a test folder, or named like one (test_x.py, x.spec.ts, XTest.java).

    Cached: a repository's commits name the same files over and over (PurePosixPath per file was 4 %
    of git ingest on a real-shaped repository); the split gives PurePosixPath's parts ("a//b", "./a")."""
    parts = [part for part in path.split("/") if part and part != "."]
    return bool(parts) and (
        any(part.lower() in _TEST_DIRS for part in parts[:-1]) or bool(_TEST_NAME.search(parts[-1]))
    )


def commit(event: Event) -> Batch:
    """One commit record -> the Commit node, its PARENT edges and the agent sessions its trailers name."""
    record = event.payload
    sha = require_text(record, "sha", what="git commit").lower()
    if not _SHA.fullmatch(sha):
        raise Rejected(f"git commit sha must be 40 or 64 hex characters, got {sha[:80]!r}")
    message = (text(record.get("message")) or "").rstrip("\n")
    safe_message = redact(message) or ""
    parents = [p.lower() for p in strings(record.get("parents"))]
    committed_at = get(record, "committer", "at")
    signature = text(record.get("signature")) or "N"
    # Trailers as stored come from the redacted message (a secret in a trailer is gone already);
    # session ids come from the message as written.
    links = ai_links(sha, message)
    files = record.get("files")
    known = isinstance(files, list)  # git prints no file list for merges; keep what we knew
    paths = sorted(set(strings(files))) if known else None
    version = event.version(committed_at)
    batch = Batch()
    node = (Label.COMMIT, sha)
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        repo=text(record.get("repo")),
        message=safe_message,
        authoredAt=iso(get(record, "author", "at")),
        committedAt=iso(committed_at),
        authorName=text(get(record, "author", "name")),
        authorEmail=text(get(record, "author", "email")),
        committerName=text(get(record, "committer", "name")),
        committerEmail=text(get(record, "committer", "email")),
        trailers=[f"{k}: {v}" for k, v in parse_trailers(safe_message)],
        verified=signature in VERIFIED_SIGNATURES,
        signature=signature,
        parents=parents,
        files=paths,
        additions=_count(record.get("additions")) if known else None,
        deletions=_count(record.get("deletions")) if known else None,
        testFiles=sum(1 for f in paths if is_test_file(f)) if paths is not None else None,
        aiTools=sorted({link.tool for link in links if link.tool}) or None,
    )
    for parent in parents:
        batch.edge(node, Rel.PARENT, (Label.COMMIT, parent), version=version, origin=event.origin)
    for link in links:
        session = (Label.AGENT_SESSION, link.session_id)
        batch.node(*session, version=version, origin=event.origin, tool=link.tool, model=link.model)
        batch.edge(session, Rel.AUTHORED, node, version=version, origin=event.origin)
    return batch


def _count(value: Any) -> int | None:
    found = integer(value)
    return found if found is not None and found >= 0 else None


def repository(event: Event) -> Batch:
    """A repository record {"name": "owner/name", "url": "https://…"} -> the Repository node."""
    name = require_text(event.payload, "name", what="git repository")
    batch = Batch()
    batch.node(
        Label.REPOSITORY,
        name,
        # A repository's facts do not change with when they were read: every reading agrees.
        version=event.version(None),
        origin=event.origin,
        url=text(event.payload.get("url")),
    )
    return batch


def _infer(payload: Any) -> str | None:
    if isinstance(payload, dict):
        if "sha" in payload and "parents" in payload:
            return "commit"
        if "name" in payload and not items(payload.get("parents")):
            return "repository"
    return None


SOURCE = Source(name="git", handlers={"commit": commit, "repository": repository}, infer_type=_infer)
