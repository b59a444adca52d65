"""git-ai authorship notes (`refs/notes/ai`, authorship/3.0.0): a pure parser, and what a note adds to a batch.

A note is an attestation section (file paths, then indented `key ranges` lines), a line that is
exactly `---`, then a JSON object with `prompts` (legacy AI sessions), `sessions` (AI sessions)
and `humans` (known human authors). Keys route by prefix: `s_…::t_…` to `sessions`, `h_…` to
`humans`, bare hex to `prompts`. Both the `git-ai` source and `tracegraph ingest-git` use this.

Real notes hold one more kind of key than the v3 spec shows. git-ai names a line's author by the
agent's hash when its checkpoint knows the agent, and otherwise by the checkpoint kind itself
(`CheckpointKind::to_str` in git-ai's working_log.rs): `ai_agent` and `ai_tab` for AI edits whose
agent is unknown, `human` and `known_human` for a person's. git-ai writes every key but `human`
into the note and reads any key that is not `human` or `h_…` as AI; so do we. A kind key names no
session of its own, so its lines become an anonymous session of that one commit
(`commit:<sha>:ai_agent`), never one node shared by every commit that has such lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.redact import redact
from ingest.sources.base import Event

DIVIDER = "---"
SCHEMA_PREFIX = "authorship/3."
SUMMARY_CHARS = 280

# git-ai resolves a session key by what precedes "::" (ai_session_key in git-ai's recovery code).
_SESSION_KEY = re.compile(r"(?P<session>s_[0-9a-fA-F]+)(?:::t_[0-9a-fA-F]+)?")
_HUMAN_KEY = re.compile(r"h_[0-9a-fA-F]+")
# Checkpoint kinds git-ai writes as the key when a checkpoint names no agent or person.
ANONYMOUS_AI_KEYS = frozenset({"ai_agent", "ai_tab"})
ANONYMOUS_HUMAN_KEYS = frozenset({"human", "known_human"})
# Legacy keys are 16 hex characters; notes written before git-ai 1.0 used 7.
_LEGACY_KEY = re.compile(r"[0-9a-fA-F]{7,64}")
# Twelve digits is far beyond any file; longer numbers are garbage, not line numbers.
_RANGE = re.compile(r"(?P<start>\d{1,12})(?:-(?P<end>\d{1,12}))?")
_RANGE_LIST = re.compile(r"\d{1,12}(?:-\d{1,12})?(?:,\d{1,12}(?:-\d{1,12})?)*")
_IDENTITY = re.compile(r"\s*(?P<name>[^<>]*?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>\s*")
_EMAIL = re.compile(r"[^<>\s@]+@[^<>\s@]+")


@dataclass(frozen=True)
class NoteSession:
    """An AI session of the note: a `sessions` record (s_ key) or a legacy `prompts` record."""

    key: str
    kind: str  # "session", "prompt", or "anonymous" (a checkpoint-kind key such as ai_agent)
    tool: str | None = None
    conversation_id: str | None = None
    model: str | None = None
    human_author: str | None = None
    prompt_summary: str | None = None

    def session_id(self, sha: str) -> str:
        """The AgentSession key: the tool's own conversation id, so other sources naming it meet here;
        for an anonymous key, a session of this commit alone."""
        if self.kind == "anonymous":
            return f"commit:{sha}:{self.key}"
        return self.conversation_id or self.key


@dataclass(frozen=True)
class Attribution:
    """The lines of one file that one attestation key (an AI session or a known human) wrote."""

    path: str
    key: str
    owner: str  # the session key (s_… or legacy hash) or the human key (h_…)
    is_ai: bool
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class AuthorshipNote:
    """One parsed authorship log."""

    schema_version: str
    base_commit_sha: str | None
    git_ai_version: str | None
    sessions: dict[str, NoteSession] = field(default_factory=dict)
    humans: dict[str, str] = field(default_factory=dict)
    attributions: tuple[Attribution, ...] = ()
    ai_lines: int = 0
    human_lines: int = 0

    @property
    def ai_share(self) -> float | None:
        """Share of attested lines written by AI (0..1), or None when no line is attested."""
        total = self.ai_lines + self.human_lines
        return self.ai_lines / total if total else None


def parse_note(text: str) -> AuthorshipNote:
    """Parse an authorship/3.x note; ValueError with a readable reason when it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"an authorship note is text, got {type(text).__name__}")
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        divider = lines.index(DIVIDER)
    except ValueError:
        raise ValueError(
            "not a git-ai authorship note: no '---' line between the attestation section and the JSON metadata"
        ) from None
    metadata = _metadata("\n".join(lines[divider + 1 :]))
    prompts = _records(metadata, "prompts")
    session_records = _records(metadata, "sessions")
    humans = {key: _human(key, record) for key, record in _records(metadata, "humans").items()}
    sessions = {key: _session(key, record, "prompt") for key, record in prompts.items()}
    sessions.update({key: _session(key, record, "session") for key, record in session_records.items()})
    attributions = tuple(_attestations(lines[:divider]))
    # An AI key the metadata does not describe still names a session that wrote lines of this commit.
    for attribution in attributions:
        if attribution.is_ai and attribution.owner not in sessions:
            owner = attribution.owner
            kind = "anonymous" if owner in ANONYMOUS_AI_KEYS else "session" if owner.startswith("s_") else "prompt"
            sessions[owner] = NoteSession(key=owner, kind=kind)
    ai_lines, human_lines = _count(attributions)
    return AuthorshipNote(
        schema_version=metadata["schema_version"],
        base_commit_sha=_optional_string(metadata, "base_commit_sha"),
        git_ai_version=_optional_string(metadata, "git_ai_version"),
        sessions=sessions,
        humans=humans,
        attributions=attributions,
        ai_lines=ai_lines,
        human_lines=human_lines,
    )


def _metadata(raw: str) -> dict[str, Any]:
    try:
        metadata = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"authorship note metadata after '---' is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValueError("authorship note metadata is nested too deeply to be a git-ai note") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"authorship note metadata must be a JSON object, got {type(metadata).__name__}")
    schema = metadata.get("schema_version")
    if not isinstance(schema, str):
        raise ValueError("authorship note metadata has no schema_version")
    if not schema.startswith(SCHEMA_PREFIX):
        raise ValueError(f"unsupported authorship note schema {schema!r} (supported: authorship/3.x)")
    return metadata


def _records(metadata: Mapping[str, Any], name: str) -> dict[str, Any]:
    # Older notes have no `sessions` or `humans`; the spec says to read those as empty maps.
    value = metadata.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"authorship note metadata field {name!r} must be an object, got {type(value).__name__}")
    for key, record in value.items():
        if not isinstance(record, dict):
            raise ValueError(f"authorship note {name}[{key!r}] must be an object, got {type(record).__name__}")
    return value


def _optional_string(record: Mapping[str, Any], name: str, where: str = "metadata") -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"authorship note {where} field {name!r} must be a string, got {type(value).__name__}")
    return value.strip() or None


def _session(key: str, record: dict[str, Any], kind: str) -> NoteSession:
    where = f"{kind}s[{key!r}]"
    agent = record.get("agent_id")
    if agent is not None and not isinstance(agent, dict):
        raise ValueError(f"authorship note {where}.agent_id must be an object, got {type(agent).__name__}")
    agent = agent or {}
    return NoteSession(
        key=key,
        kind=kind,
        tool=_optional_string(agent, "tool", f"{where}.agent_id"),
        conversation_id=_optional_string(agent, "id", f"{where}.agent_id"),
        model=_optional_string(agent, "model", f"{where}.agent_id"),
        human_author=_optional_string(record, "human_author", where),
        prompt_summary=_first_prompt(record.get("messages")),
    )


def _first_prompt(messages: Any) -> str | None:
    # Notes before git-ai 1.3.4 embedded the transcript; its first user message says what was asked.
    if not isinstance(messages, list):
        return None
    for message in messages:
        if isinstance(message, dict) and message.get("type") == "user" and isinstance(message.get("text"), str):
            text = " ".join(message["text"].split())
            if text:
                return redact(text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…")
    return None


def _human(key: str, record: dict[str, Any]) -> str:
    author = _optional_string(record, "author", f"humans[{key!r}]")
    if author is None:
        raise ValueError(f"authorship note humans[{key!r}] has no author")
    return author


def _attestations(lines: list[str]) -> Iterable[Attribution]:
    path: str | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if not line[0].isspace():
            path = _path(line)
            continue
        if path is None:
            raise ValueError(f"authorship note line {number}: attestation entry before any file path")
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"authorship note line {number}: expected '  <key> <ranges>', got {line.strip()!r}")
        key, spec = parts
        owner, is_ai = _owner(key, number)
        yield Attribution(path=path, key=key, owner=owner, is_ai=is_ai, ranges=_ranges(spec, number))


def _path(line: str) -> str:
    text = line.rstrip()
    # Paths with spaces, tabs or newlines are written in double quotes.
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return text


def _owner(key: str, number: int) -> tuple[str, bool]:
    if session := _SESSION_KEY.fullmatch(key):
        return session["session"], True
    if _HUMAN_KEY.fullmatch(key) or key in ANONYMOUS_HUMAN_KEYS:
        return key, False
    if _LEGACY_KEY.fullmatch(key) or key in ANONYMOUS_AI_KEYS:
        return key, True
    raise ValueError(
        f"authorship note line {number}: {key[:80]!r} is not a session (s_…::t_…), human (h_…), legacy (hex) "
        "or checkpoint-kind (ai_agent, ai_tab, human, known_human) key"
    )


def _ranges(spec: str, number: int) -> tuple[tuple[int, int], ...]:
    # Most specs are well formed: one scan validates the whole list (a regex per part was a quarter
    # of parsing a real-shaped note); a spec that fails is walked part by part to say which part.
    if _RANGE_LIST.fullmatch(spec):
        ranges = []
        for part in spec.split(","):
            start, _, end = part.partition("-")
            first, last = int(start), int(end or start)
            if first < 1 or last < first:
                raise ValueError(f"authorship note line {number}: line range {part!r} must be 1-indexed and ascending")
            ranges.append((first, last))
        return tuple(ranges)
    for part in spec.split(","):
        if _RANGE.fullmatch(part) is None:
            raise ValueError(f"authorship note line {number}: {part!r} is not a line number or range like 19-222")
    raise AssertionError("unreachable: every part is a range, so the list is one")  # pragma: no cover


def _count(attributions: tuple[Attribution, ...]) -> tuple[int, int]:
    """AI and human lines; a line claimed by both counts once, as AI."""
    by_path: dict[str, list[Attribution]] = {}
    for attribution in attributions:
        by_path.setdefault(attribution.path, []).append(attribution)
    ai = human = 0
    for mine in by_path.values():
        ai_here = _covered([r for a in mine if a.is_ai for r in a.ranges])
        ai += ai_here
        human += _covered([r for a in mine for r in a.ranges]) - ai_here
    return ai, human


def _covered(ranges: list[tuple[int, int]]) -> int:
    # Interval union, so overlapping or repeated ranges are not counted twice (and no line set is built).
    total, reach = 0, 0
    for start, end in sorted(ranges):
        if end > reach:
            total += end - max(start, reach + 1) + 1
            reach = end
    return total


def person(identity: str | None) -> tuple[str, str | None] | None:
    """(login, name) for a `Name <email>` or bare e-mail identity; None when only a name is given."""
    if not identity:
        return None
    if match := _IDENTITY.fullmatch(identity):
        return match["email"], match["name"] or None
    text = identity.strip()
    return (text, None) if _EMAIL.fullmatch(text) else None


def add_note(batch: Batch, event: Event, sha: str, note: AuthorshipNote, *, at: Any = None) -> None:
    """Add a commit's AI/human line counts and the sessions that authored it (and who operated them)."""
    version = event.version(at)
    origin = event.origin
    commit = (Label.COMMIT, sha)
    batch.node(
        *commit,
        version=version,
        origin=origin,
        aiLines=note.ai_lines,
        humanLines=note.human_lines,
        aiShare=note.ai_share,
    )
    for session in note.sessions.values():
        node = (Label.AGENT_SESSION, session.session_id(sha))
        batch.node(
            *node,
            version=version,
            origin=origin,
            tool=session.tool,
            model=session.model,
            humanAuthor=session.human_author,
            promptSummary=session.prompt_summary,
        )
        batch.edge(node, Rel.AUTHORED, commit, version=version, origin=origin)
        if operator := person(session.human_author):
            login, name = operator
            batch.node(Label.PERSON, login, version=version, origin=origin, name=name, emails=[login])
            batch.edge((Label.PERSON, login), Rel.OPERATED, node, version=version, origin=origin)
