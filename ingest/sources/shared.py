"""Graph builders several sources share: AI sessions from provenance records, commit stubs, PR contracts.

Sources never import each other; what two of them build the same way lives here (GitHub and GitLab
pull-request bodies carry ```ai-provenance blocks and contract sections; a provenance record is the
same whether it came in a body or as its own event).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from graph.batch import Batch, BatchError
from graph.vocabulary import Label, Rel
from ingest.redact import redact
from ingest.sources.base import Event, Rejected, iso, person_key

ZERO_SHA = "0" * 40

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
        # A bare login belongs to the provider of the change the session proposed (GitHub by default).
        provider = change_id.partition(":")[0] if change_id else "github"
        batch.edge(
            (Label.PERSON, person_key(provider, login)),
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


def add_commit_stub(batch: Batch, event: Event, version: str, sha: str | None, repo: str | None) -> str | None:
    """Add a Commit stub known to belong to `repo` (its other facts come from pushes); its sha."""
    if sha is None:
        return None
    return batch.node(Label.COMMIT, sha, version=version, origin=event.origin, repo=repo)


# PR templates name the same section several ways; all map onto one contract property.
CONTRACT_HEADINGS: dict[str, str] = {
    "intent": "contractIntent",
    "risk": "contractRisk",
    "risks": "contractRisk",
    "risk assessment": "contractRisk",
    "test evidence": "contractTestEvidence",
    "testing": "contractTestEvidence",
    "tests": "contractTestEvidence",
    "test plan": "contractTestEvidence",
    "rollout": "contractRollout",
    "rollout plan": "contractRollout",
    "rollback": "contractRollback",
    "rollback plan": "contractRollback",
}

# Linear-time patterns only: PR bodies are attacker-controlled text up to 65k characters.
_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_CONTRACT_FENCE = re.compile(r"^ {0,3}(```|~~~)\s*(\S*)")


def _heading_key(title: str | None) -> str:
    # "Test evidence:" / "**Rollback**" / "Risk 🔥" / "## Rollout ##" all mean the same section.
    return " ".join(re.sub(r"[^a-z ]+", " ", (title or "").lower()).split())


def _strip_comments(section: str) -> str:
    # Template placeholders are HTML comments; an unclosed one hides the rest, as when rendered.
    kept: list[str] = []
    start = 0
    while (opening := section.find("<!--", start)) != -1:
        kept.append(section[start:opening])
        closing = section.find("-->", opening + 4)
        if closing == -1:
            return "".join(kept)
        start = closing + 3
    kept.append(section[start:])
    return "".join(kept)


def contract_sections(body: Any) -> dict[str, str]:
    """Contract properties from the Markdown headings of a PR body (section text, trimmed)."""
    found: dict[str, str] = {}
    if not isinstance(body, str):
        return found
    current: tuple[str, int] | None = None
    lines: list[str] = []
    fence: str | None = None  # the info string of the open fence, "" for a plain one
    for line in body.splitlines():
        opened = fence
        if fence_match := _CONTRACT_FENCE.match(line):
            fence = fence_match.group(2).lower() if fence is None else None
        # Provenance blocks are machine records, read by provenance.find_blocks, not contract prose.
        if "ai-provenance" in (fence, opened):
            continue
        match = None if fence is not None or opened is not None else _HEADING.fullmatch(line)
        if match is None:
            lines.append(line)
            continue
        level = len(match.group(1))
        if current is not None and level > current[1]:
            lines.append(line)  # a sub-heading belongs to the section it sits in
            continue
        if current is not None:
            _store(found, current[0], lines)
        prop = CONTRACT_HEADINGS.get(_heading_key(match.group(2)))
        current = (prop, level) if prop else None
        lines = []
    if current is not None:
        _store(found, current[0], lines)
    return found


def _store(found: dict[str, str], prop: str, lines: list[str]) -> None:
    # An untouched template section (only placeholder comments) is not a contract.
    section = _strip_comments("\n".join(lines)).strip()
    if section and prop not in found:
        found[prop] = section


def add_body_sessions(batch: Batch, event: Event, body: Any, change: str) -> None:
    """AgentSessions from the ```ai-provenance blocks of a pull/merge request body; broken ones skipped."""
    if not isinstance(body, str):
        return
    for record in find_blocks(body):
        scratch = Batch()  # so a record rejected halfway leaves nothing behind
        try:
            add_session(scratch, event, record, change_id=change, operator=None)
        except (Rejected, BatchError):
            continue  # a broken provenance block must not cost us the pull request itself
        batch.extend(scratch)


_REPO_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://)?(?:[^@/]+@)?(?P<host>[^/:@]+)[/:](?P<path>[^?#@]+)", re.I)
_REPO_STOP = frozenset({"-", "commit", "commits", "tree", "blob", "releases", "actions", "pull", "merge_requests"})


def git_repo(url: str) -> str | None:
    """`owner/name` (or `group/sub/project`) from a git URL, `git+https://…@ref` URI or `owner/name`."""
    text = url.strip().removeprefix("git+")
    if re.fullmatch(r"[\w.-]+/[\w.-]+", text):
        return text.removesuffix(".git")
    match = _REPO_URL.fullmatch(text) or _REPO_URL.match(text)
    if not match or "." not in match["host"]:
        return None
    parts: list[str] = []
    for part in match["path"].strip("/").split("/"):
        if part in _REPO_STOP:
            break
        parts.append(part)
    if match["host"].lower() in ("github.com", "www.github.com"):
        parts = parts[:2]
    repo = "/".join(parts).removesuffix(".git")
    return repo if "/" in repo else None
