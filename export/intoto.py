"""The in-toto Statement v1 of a bundle: its subjects are the changes' merge (or head) commits, its
predicate pins the manifest's SHA-256, the whole-bundle digest and the verdicts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from export.manifest import FORMAT_URI, MANIFEST, WHOLE_DEFINITION, generator, sha256_hex
from export.scope import ExportError, ExportSet
from graph.models import Change

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


def _subject(change: Change) -> dict[str, Any] | None:
    sha = change.merge_commit_sha or change.head_sha
    if not sha:
        return None
    parsed = urlparse(change.url or "")
    host = (
        f"{parsed.scheme}://{parsed.netloc}"
        if parsed.netloc
        else "https://" + ("gitlab.com" if change.id.startswith("gitlab:") else "github.com")
    )
    return {"name": f"git+{host}/{change.repo}@{sha}", "digest": {"gitCommit": sha}}


def statement(export: ExportSet, manifest: bytes, whole: str, generated_at: str) -> dict[str, Any]:
    """An in-toto Statement v1 over the changes' merge commits whose predicate pins the manifest."""
    subjects = [s for c in export.answers if (s := _subject(c))]
    if not subjects:
        raise ExportError("nothing to attest: no change in this export has a merge or head commit")
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": FORMAT_URI,
        "predicate": {
            "generatedAt": generated_at,
            "generator": generator(),
            "scope": export.scope.model_dump(exclude_none=True),
            "manifest": {"path": MANIFEST, "digest": {"sha256": sha256_hex(manifest)}},
            "bundle": {"digest": {"sha256": whole.removeprefix("sha256:")}, "definition": WHOLE_DEFINITION},
            "verdicts": [
                {"change": c.id, "status": c.verdict.status.value, "gaps": c.verdict.gaps} for c in export.answers
            ],
        },
    }
