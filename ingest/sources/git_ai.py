"""git-ai authorship notes as files or envelopes: `tracegraph ingest --source git-ai notes/`.

A note arrives as text (a `.txt`/`.log` file, one note per file) or as an envelope payload
`{"commit": "<sha>", "note": "<text>", "at": "<commit time, optional>"}`. The commit it belongs to
is, in this order: the payload's `commit`, the envelope subject's `commit`, a file name that starts with the SHA (how
`git notes` exports are usually saved), then the note's own `base_commit_sha`. The attachment
point comes first because a note copied across a rebase may still carry its old base.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from graph.batch import Batch
from ingest.git_ai_notes import AuthorshipNote, add_note, parse_note
from ingest.sources.base import Event, Rejected, Source

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_SHA_PREFIX = re.compile(r"(?P<sha>[0-9a-f]{64}|[0-9a-f]{40})(?![0-9a-f])")


def _explicit(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _SHA.fullmatch(value.strip().lower()):
        raise Rejected(f"git-ai note {where} must be a full 40- or 64-hex commit SHA, got {value!r}")
    return value.strip().lower()


def _from_location(location: str) -> str | None:
    # A .jsonl location ends in ":<line>"; the file name is what may carry the SHA.
    name = PurePath(location.rsplit(":", 1)[0] if location.rsplit(":", 1)[-1].isdigit() else location).name
    match = _SHA_PREFIX.match(name.lower())
    return match["sha"] if match else None


def commit_of(event: Event, note: AuthorshipNote, explicit: Any) -> str:
    """The SHA of the commit the note is attached to, or Rejected when nothing names it."""
    subject = event.subject.get("commit") if event.subject else None
    found = _explicit(explicit, "commit") or _explicit(subject, "subject commit") or _from_location(event.location)
    if found:
        return found
    base = (note.base_commit_sha or "").lower()
    if _SHA.fullmatch(base):
        return base
    raise Rejected(
        "git-ai note names no commit: give {'commit': sha, 'note': text}, name the file after the commit SHA, "
        "or keep a full base_commit_sha in the note"
    )


def normalise_note(event: Event) -> Batch:
    """One authorship note → the commit's AI/human line counts, its agent sessions and their operators."""
    payload = event.payload
    explicit: Any = None
    at: Any = None
    if isinstance(payload, dict):
        explicit, at = payload.get("commit"), payload.get("at")
        text = payload.get("note")
        if not isinstance(text, str):
            raise Rejected("git-ai payload must be {'commit': '<sha>', 'note': '<authorship log text>'}")
    else:
        text = payload
    try:
        note = parse_note(text)
    except ValueError as exc:
        raise Rejected(str(exc)) from None
    batch = Batch()
    add_note(batch, event, commit_of(event, note, explicit), note, at=at)
    return batch


def _infer(payload: Any) -> str | None:
    if isinstance(payload, str) or (isinstance(payload, dict) and ("note" in payload or "commit" in payload)):
        return "note"
    return None


SOURCE = Source(
    name="git-ai",
    handlers={"note": normalise_note},
    infer_type=_infer,
    text_suffixes=frozenset({".txt", ".log"}),
)
