"""AI session provenance: `.ai/provenance.json` records and ```ai-provenance blocks in PR bodies."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.redact import redact
from ingest.sources.base import Event, Rejected, Source, iso

# Free-text and name fields of a record; each must be a string when present.
_STRING_FIELDS = (
    "tool",
    "tool_version",
    "model",
    "prompt_summary",
    "reviewer",
    "risk_area",
)
_TIME_FIELDS = ("started_at", "ended_at")

_CHANGE_IDS: dict[str, str] = {
    "github": "github:{repo}#{number}",
    "gitlab": "gitlab:{repo}!{number}",
}
# GitHub repos are exactly owner/name; GitLab projects may sit in nested groups.
_REPO_SHAPES: dict[str, re.Pattern[str]] = {
    "github": re.compile(r"[\w.-]+/[\w.-]+"),
    "gitlab": re.compile(r"[\w.-]+(?:/[\w.-]+)+"),
}


def change_id(provider: str, repo: str, number: int) -> str:
    """The Change key: `github:owner/repo#42` or `gitlab:group/project!17`."""
    template = _CHANGE_IDS.get(provider)
    if template is None:
        raise Rejected(f"unknown change provider {provider!r} (known: {', '.join(sorted(_CHANGE_IDS))})")
    return template.format(repo=repo, number=number)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _string(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejected(f"provenance record field {name!r} must be a string, got {_type_name(value)}")
    return value.strip() or None


def _login(record: Mapping[str, Any], name: str) -> str | None:
    # Some tools write the operator as a user object ({"login": ...}) rather than a bare login.
    value = record.get(name)
    if isinstance(value, Mapping):
        value = value.get("login")
        if value is None:
            raise Rejected(f"provenance record field {name!r} is an object without a 'login'")
    if value is not None and not isinstance(value, str):
        raise Rejected(f"provenance record field {name!r} must be a login string, got {_type_name(value)}")
    return (value or "").strip().lstrip("@") or None


def _time(record: Mapping[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    parsed = iso(value)
    if parsed is None:
        raise Rejected(f"provenance record field {name!r} is not an ISO-8601 time or epoch seconds: {value!r}")
    return parsed


def _cost(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Rejected(f"provenance record field 'cost_usd' must be a number, got {_type_name(value)}")
    try:
        cost = float(value)
    except ValueError:
        cost = math.nan
    # NaN and infinity would poison every spend total they are summed into.
    if not math.isfinite(cost):
        raise Rejected(f"provenance record field 'cost_usd' must be a finite number, got {value!r}")
    return cost


def _tokens(value: Any) -> int | None:
    if value is None:
        return None
    # Some tools report {"input": n, "output": m}; the graph keeps one total.
    if isinstance(value, dict):
        if "total" in value:
            return _tokens(value["total"])
        parts = [_tokens(v) for v in value.values()]
        return sum(p for p in parts if p is not None)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected(f"provenance record field 'tokens' must be an integer, got {value!r}")
    return value


def _verification(value: Any) -> str | None:
    if value is None:
        return None
    text = (
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    )
    return redact(text)


def add_session(batch: Batch, event: Event, record: dict, *, change_id: str | None, operator: str | None = None) -> str:
    """Add an AgentSession (plus OPERATED and PROPOSED edges) from one provenance record; return its id."""
    if not isinstance(record, dict):
        raise Rejected(f"provenance record must be a JSON object, got {_type_name(record)}")
    session_id = record.get("session_id")
    if not isinstance(session_id, str) or not session_id.strip():
        raise Rejected("provenance record has no session_id")
    session_id = session_id.strip()
    strings = {name: _string(record, name) for name in _STRING_FIELDS}
    started_at, ended_at = (_time(record, name) for name in _TIME_FIELDS)
    # The record names its operator more reliably than whoever delivered it.
    login = _login(record, "operator") or _login(record, "user") or (operator or "").strip().lstrip("@")

    version = event.version(record.get("ended_at") or record.get("started_at"))
    origin = event.origin
    batch.node(
        Label.AGENT_SESSION,
        session_id,
        version=version,
        origin=origin,
        tool=strings["tool"],
        toolVersion=strings["tool_version"],
        model=strings["model"],
        promptSummary=redact(strings["prompt_summary"]),
        reviewer=strings["reviewer"],
        riskArea=strings["risk_area"],
        verification=_verification(record.get("verification")),
        startedAt=started_at,
        endedAt=ended_at,
        costUsd=_cost(record.get("cost_usd")),
        tokens=_tokens(record.get("tokens")),
    )
    if login:
        batch.edge(
            (Label.PERSON, login),
            Rel.OPERATED,
            (Label.AGENT_SESSION, session_id),
            version=version,
            origin=origin,
        )
    if change_id:
        batch.edge(
            (Label.AGENT_SESSION, session_id),
            Rel.PROPOSED,
            (Label.CHANGE, change_id),
            version=version,
            origin=origin,
        )
    return session_id


_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)")


def find_blocks(body: str | None) -> list[dict]:
    """JSON objects from fenced ```ai-provenance blocks in a PR body; broken blocks are skipped."""
    if not body:
        return []
    blocks: list[list[str]] = []
    fence: str | None = None
    collecting = False
    for line in body.splitlines():
        if fence is None:
            opening = _FENCE.fullmatch(line)
            # Backtick fences cannot have backticks in their info string (CommonMark).
            if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
                fence = opening["fence"]
                words = opening["info"].split()
                collecting = bool(words) and words[0].lower() == "ai-provenance"
                if collecting:
                    blocks.append([])
            continue
        closing = _FENCE.fullmatch(line)
        if closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence) and not closing["info"]:
            fence, collecting = None, False
        elif collecting:
            blocks[-1].append(line)
    records: list[dict] = []
    for lines in blocks:
        try:
            parsed = json.loads("\n".join(lines))
        except ValueError:
            continue
        candidates = parsed if isinstance(parsed, list) else [parsed]
        records.extend(item for item in candidates if isinstance(item, dict))
    return records


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
