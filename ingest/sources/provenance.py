"""AI session provenance: `.ai/provenance.json` records about a change (```ai-provenance blocks in PR
bodies are read by the GitHub and GitLab sources through `shared`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graph.batch import Batch
from ingest.sources.base import Event, Rejected, Source, change_id
from ingest.sources.shared import add_session

# GitHub repos are exactly owner/name; GitLab projects may sit in nested groups.
_REPO_SHAPES: dict[str, re.Pattern[str]] = {
    "github": re.compile(r"[\w.-]+/[\w.-]+"),
    "gitlab": re.compile(r"[\w.-]+(?:/[\w.-]+)+"),
}


def _subject_change_id(subject: Mapping[str, Any] | None) -> str | None:
    if not subject:
        return None
    if not isinstance(subject, Mapping):
        raise Rejected(f"provenance subject must be an object like {{'repo': 'o/r', 'number': 42}}, got {subject!r}")
    provider = subject.get("provider") or "github"
    if provider not in _REPO_SHAPES:
        raise Rejected(f"unknown provenance subject provider {provider!r} (known: {', '.join(sorted(_REPO_SHAPES))})")
    repo, number = subject.get("repo"), subject.get("number")
    if not isinstance(repo, str) or not _REPO_SHAPES[provider].fullmatch(repo):
        raise Rejected(f"provenance subject repo must look like 'owner/name', got {repo!r}")
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise Rejected(f"provenance subject number must be a positive integer, got {number!r}")
    return change_id(provider, repo, number)


def normalise_session(event: Event) -> Batch:
    """One provenance record (payload) about an optional change (subject) → an AgentSession batch."""
    batch = Batch()
    add_session(batch, event, event.payload, change_id=_subject_change_id(event.subject))
    return batch


SOURCE = Source(
    name="provenance",
    handlers={"session": normalise_session},
    infer_type=lambda p: "session" if isinstance(p, dict) and "session_id" in p else None,
)
