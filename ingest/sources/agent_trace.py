"""Agent Trace records (spec 0.1): which lines of which files an AI or a human wrote, at which revision.

One record (a JSON object, or a line of `.agent-trace/traces.jsonl`) becomes one AgentSession
keyed by the record's `id`, with the tool, the main model, the overall contributor type and a
bounded `path:start-end:type[:model]` summary of its ranges. A git `vcs.revision` links the
session to the commit it AUTHORED. Records that break the schema are rejected with the path of
the offending field.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.sources.base import Event, Rejected, Source, iso
from ingest.sources.shared import git_repo

MAX_RANGES = 200
MODEL_ID_CHARS = 250
CONTRIBUTOR_TYPES = frozenset({"human", "ai", "mixed", "unknown"})
VCS_TYPES = frozenset({"git", "jj", "hg", "svn"})
_VERSION = re.compile(r"\d+\.\d+\.\d+")
_GIT_SHA = re.compile(r"[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?")
# Vendors put the repository beside the revision under various names; the spec names none.
_REPO_FIELDS = ("repository", "repo", "url", "remote")


@dataclass(frozen=True)
class Span:
    """One attributed line range of one file."""

    path: str
    start: int
    end: int
    contributor: str
    model: str | None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _string(data: dict[str, Any], name: str, where: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Rejected(f"agent-trace record {where}{name} must be a non-empty string, got {_type_name(value)}")
    return value.strip() or None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Rejected(f"agent-trace record {where} must be an object, got {_type_name(value)}")
    return value


def _array(data: dict[str, Any], name: str, where: str) -> list[Any]:
    value = data.get(name)
    if not isinstance(value, list):
        raise Rejected(f"agent-trace record {where}{name} must be an array, got {_type_name(value)}")
    return value


def _line(data: dict[str, Any], name: str, where: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Rejected(f"agent-trace record {where}{name} must be an integer ≥ 1, got {value!r}")
    return value


def _contributor(value: Any, where: str, inherited: tuple[str, str | None] | None) -> tuple[str, str | None] | None:
    if value is None:
        return inherited
    contributor = _object(value, where)
    kind = contributor.get("type")
    if not isinstance(kind, str) or kind not in CONTRIBUTOR_TYPES:
        raise Rejected(
            f"agent-trace record {where}.type must be one of {', '.join(sorted(CONTRIBUTOR_TYPES))}, got {kind!r}"
        )
    model = _string(contributor, "model_id", f"{where}.")
    if model and len(model) > MODEL_ID_CHARS:
        raise Rejected(f"agent-trace record {where}.model_id is longer than {MODEL_ID_CHARS} characters")
    return kind, model


def _spans(record: dict[str, Any]) -> list[Span]:
    spans: list[Span] = []
    for f, file in enumerate(_array(record, "files", "")):
        at = f"files[{f}]"
        file = _object(file, at)
        path = _string(file, "path", f"{at}.", required=True)
        for c, conversation in enumerate(_array(file, "conversations", f"{at}.")):
            at_c = f"{at}.conversations[{c}]"
            conversation = _object(conversation, at_c)
            outer = _contributor(conversation.get("contributor"), f"{at_c}.contributor", None)
            for r, span in enumerate(_array(conversation, "ranges", f"{at_c}.")):
                at_r = f"{at_c}.ranges[{r}]"
                span = _object(span, at_r)
                start, end = _line(span, "start_line", f"{at_r}."), _line(span, "end_line", f"{at_r}.")
                if end < start:
                    raise Rejected(f"agent-trace record {at_r} ends (line {end}) before it starts (line {start})")
                kind, model = _contributor(span.get("contributor"), f"{at_r}.contributor", outer) or ("unknown", None)
                spans.append(Span(str(path), start, end, kind, model))
    return spans


def contributor_type(spans: list[Span]) -> str:
    """The record's overall contributor: one known type, `mixed` when several, `unknown` when none."""
    known = {s.contributor for s in spans} - {"unknown"}
    if not known:
        return "unknown"
    return known.pop() if len(known) == 1 else "mixed"


def main_model(spans: list[Span]) -> str | None:
    """The model behind the most AI-written lines (first seen wins a tie)."""
    lines: Counter[str] = Counter()
    for span in spans:
        if span.model and span.contributor in ("ai", "mixed"):
            lines[span.model] += span.end - span.start + 1
    return lines.most_common(1)[0][0] if lines else None


def summary(spans: list[Span]) -> list[str]:
    """`path:start-end:type[:model]` per range, at most MAX_RANGES of them plus a count of the rest."""
    shown = [
        f"{s.path}:{s.start}-{s.end}:{s.contributor}" + (f":{s.model}" if s.model else "") for s in spans[:MAX_RANGES]
    ]
    if len(spans) > MAX_RANGES:
        shown.append(f"… {len(spans) - MAX_RANGES} more ranges")
    return shown


def _vcs(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """(git commit SHA, repository `owner/name`) named by the record's vcs, when it is git."""
    if record.get("vcs") is None:
        return None, None
    vcs = _object(record["vcs"], "vcs")
    kind = vcs.get("type")
    if not isinstance(kind, str) or kind not in VCS_TYPES:
        raise Rejected(f"agent-trace record vcs.type must be one of {', '.join(sorted(VCS_TYPES))}, got {kind!r}")
    revision = _string(vcs, "revision", "vcs.", required=True)
    if kind != "git" or not _GIT_SHA.fullmatch(revision or ""):
        return None, None  # jj change ids, hg and svn revisions, short SHAs: no Commit key to meet
    repo = next((git_repo(vcs[name]) for name in _REPO_FIELDS if isinstance(vcs.get(name), str)), None)
    return (revision or "").lower(), repo


def normalise_trace(event: Event) -> Batch:
    """One trace record → an AgentSession with its ranges summary, AUTHORED → the git commit it names."""
    record = event.payload
    version = _string(record, "version", "", required=True)
    if not _VERSION.fullmatch(version or ""):
        raise Rejected(f"agent-trace record version must look like 0.1.0, got {version!r}")
    record_id = _string(record, "id", "", required=True)
    stamp = _string(record, "timestamp", "", required=True)
    if iso(stamp) is None:
        raise Rejected(f"agent-trace record timestamp must be an RFC 3339 date-time, got {stamp!r}")
    tool = _object(record["tool"], "tool") if record.get("tool") is not None else {}
    spans = _spans(record)
    if record.get("metadata") is not None:
        _object(record["metadata"], "metadata")
    sha, repo = _vcs(record)

    batch = Batch()
    at = event.version(stamp)
    node = (Label.AGENT_SESSION, str(record_id))
    batch.node(
        *node,
        version=at,
        origin=event.origin,
        tool=_string(tool, "name", "tool."),
        toolVersion=_string(tool, "version", "tool."),
        model=main_model(spans),
        contributorType=contributor_type(spans),
        files=summary(spans),
    )
    if sha:
        if repo:
            batch.node(Label.COMMIT, sha, version=at, origin=event.origin, repo=repo)
        batch.edge(node, Rel.AUTHORED, (Label.COMMIT, sha), version=at, origin=event.origin)
    return batch


def _infer(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    if "files" in payload or "vcs" in payload or ("version" in payload and "id" in payload):
        return "trace"
    return None


SOURCE = Source(name="agent-trace", handlers={"trace": normalise_trace}, infer_type=_infer)
