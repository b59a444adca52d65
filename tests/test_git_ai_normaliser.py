"""git-ai authorship notes: the pure parser (ingest.git_ai_notes) and the `git-ai` source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graph.batch import Batch
from graph.vocabulary import ORIGIN_PROPERTIES, Label, Rel
from ingest.git_ai_notes import AuthorshipNote, add_note, parse_note, person
from ingest.pipeline.prepare import normalise
from ingest.reader import list_files, read_file
from ingest.sources.base import Event, Rejected
from ingest.sources.git_ai import SOURCE
from tests.conftest import CORPUS
from tests.test_agent_trace_normaliser import corpus_outcomes

FIXTURES = Path(__file__).parent / "fixtures" / "git_ai"
SESSIONS_SHA = "2ded9231c59de5a9e93a6899593d6b7da5889d7b"
LEGACY_SHA = "278a0260b0c922f7c3ad5592d0780a848c51ba5e"
EMPTY_SHA = "7a1706f16a050f7f9f85a1f2e5b5f768f39cc67b"
MIXED_SHA = "91be1baa4f248ef5b2d0fa314425a3002fb17f0f"
SESSIONS_FILE = f"{SESSIONS_SHA}.sessions.txt"
EMPTY_FILE = f"{EMPTY_SHA}-empty.log"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def event(payload: Any, location: str = "", subject: dict[str, Any] | None = None) -> Event:
    return Event(
        source="git-ai",
        type=None,
        id="evt-1",
        payload=payload,
        received_at="2026-02-10T00:00:00Z",
        subject=subject,
        location=location,
    )


def plain(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k not in ORIGIN_PROPERTIES}


def sessions(batch: Batch) -> dict[str, dict[str, Any]]:
    return {n.key: plain(n.props) for n in batch.find_nodes(Label.AGENT_SESSION)}


def edges(batch: Batch, rel: Rel) -> list[tuple[str, str]]:
    return sorted((e.src_key, e.dst_key) for e in batch.find_edges(rel))


def commit(batch: Batch) -> tuple[str, dict[str, Any]]:
    (node,) = batch.find_nodes(Label.COMMIT)
    return node.key, plain(node.props)


# --- the parser -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ai", "human", "share", "keys", "base"),
    [
        # handlers.go: AI 1-12 and 20-34 (two traces overlapping at 25-29 count once), human 40-44;
        # "docs/how to.md" (a quoted path): AI line 3.
        (SESSIONS_FILE, 28, 5, 28 / 33, {"s_0a1b2c3d4e5f60", "s_7766554433aabb"}, "0" * 40),
        # Legacy bare-hex keys, including a 7-character one from before git-ai 1.0.
        ("legacy.txt", 8, 0, 1.0, {"a1b2c3d4e5f60718", "9e8d7c6"}, LEGACY_SHA),
        # An empty attestation section is valid: no attested lines, so no share at all.
        (EMPTY_FILE, 0, 0, None, {"s_5566778899aabb"}, EMPTY_SHA),
        # Mixed: a line claimed by an AI session and a human counts once, as AI (lines 5-10).
        ("mixed.txt", 60, 4, 60 / 64, {"s_abcdefabcdef12", "0f0f0f0f0f0f0f0f"}, MIXED_SHA),
    ],
)
def test_parse_note_counts_lines(
    name: str, ai: int, human: int, share: float | None, keys: set[str], base: str
) -> None:
    note = parse_note(text(name))
    assert (note.ai_lines, note.human_lines, note.ai_share) == (ai, human, share)
    assert set(note.sessions) == keys
    assert note.base_commit_sha == base
    assert note.schema_version == "authorship/3.0.0"


def test_parse_note_routes_keys_and_reads_records() -> None:
    note = parse_note(text(SESSIONS_FILE))
    assert note.humans == {"h_9f8e7d6c5b4a31": "Rosa Diaz <rosa@example.org>"}
    first = note.sessions["s_0a1b2c3d4e5f60"]
    assert (first.tool, first.model, first.conversation_id, first.kind) == (
        "claude",
        "claude-sonnet-4-5",
        "c0ffee00-1111-4222-8333-444455556666",
        "session",
    )
    assert first.session_id(SESSIONS_SHA) == "c0ffee00-1111-4222-8333-444455556666"
    paths = [(a.path, a.owner, a.is_ai, a.ranges) for a in note.attributions]
    assert paths == [
        ("api/handlers.go", "s_0a1b2c3d4e5f60", True, ((1, 12), (20, 29))),
        ("api/handlers.go", "s_0a1b2c3d4e5f60", True, ((25, 34),)),
        ("api/handlers.go", "h_9f8e7d6c5b4a31", False, ((40, 44),)),
        ("docs/how to.md", "s_7766554433aabb", True, ((3, 3),)),
    ]


def test_legacy_transcript_gives_a_redacted_prompt_summary() -> None:
    note = parse_note(text("legacy.txt"))
    summary = note.sessions["a1b2c3d4e5f60718"].prompt_summary
    assert summary == "Add a --verbose flag; the deploy token is [REDACTED:github-token] if you need it"
    assert note.sessions["9e8d7c6"].human_author is None


def test_attested_key_missing_from_the_metadata_still_names_a_session() -> None:
    note = parse_note("a.py\n  s_00000000000001::t_00000000000002 1-3\n---\n" + json.dumps(_metadata()))
    assert note.ai_lines == 3
    assert note.sessions["s_00000000000001"].session_id(SESSIONS_SHA) == "s_00000000000001"


# Keys real notes hold. git-ai keys a line by its agent's hash when the checkpoint names the agent and
# by the checkpoint kind when it does not (CheckpointKind::to_str: ai_agent, ai_tab, human,
# known_human); it writes every key but "human" and reads any key that is not "human" or h_… as AI.
@pytest.mark.parametrize(
    ("key", "owner", "is_ai"),
    [
        ("s_c9883b05a2487d::t_9f8e7d6c5b4a32", "s_c9883b05a2487d", True),
        ("s_c9883b05a2487d", "s_c9883b05a2487d", True),  # git-ai resolves a session by what precedes '::'
        ("h_31dce776f88375", "h_31dce776f88375", False),
        ("a1b2c3d4e5f60718", "a1b2c3d4e5f60718", True),  # legacy, 16 hex
        ("9e8d7c6", "9e8d7c6", True),  # legacy, 7 hex (before git-ai 1.0)
        ("ai_agent", "ai_agent", True),  # an agent edit whose checkpoint had no agent id
        ("ai_tab", "ai_tab", True),  # a tab completion whose checkpoint had no agent id
        ("known_human", "known_human", False),
        ("human", "human", False),
    ],
)
def test_attestation_keys_real_notes_hold(key: str, owner: str, is_ai: bool) -> None:
    note = parse_note(f"src/a.py\n  {key} 1-4,9\n---\n" + json.dumps(_metadata()))
    (attribution,) = note.attributions
    assert (attribution.owner, attribution.is_ai, attribution.ranges) == (owner, is_ai, ((1, 4), (9, 9)))
    assert (note.ai_lines, note.human_lines) == ((5, 0) if is_ai else (0, 5))


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "claude",
        "AI_AGENT",  # git-ai writes the kinds in lower case only
        "ai_agent::t_9f8e7d6c5b4a32",
        "s_zz::t_9f8e7d6c5b4a32",
        "s_c9883b05a2487d::t_",
        "h_",
        "h_31dce776f88375::t_9f8e7d6c5b4a32",
        "abcdef",  # six hex characters: shorter than any hash git-ai ever wrote
        '"ai_agent"',
    ],
)
def test_keys_no_git_ai_writes_are_still_refused(key: str) -> None:
    with pytest.raises(ValueError, match="is not a session"):
        parse_note(f"src/a.py\n  {key} 1-4\n---\n" + json.dumps(_metadata()))


def test_anonymous_ai_lines_become_a_session_of_that_commit_alone() -> None:
    """The shape of the notes that were refused: agent-hash keys and ai_agent keys in one note."""
    text = "\n".join(
        [
            "src/cli.rs",
            "  s_4bc25a9d71eb98::t_85fc274455f89a 32,56",
            "  ai_agent 60-69",
            "src/lib.rs",
            "  ai_agent 1-5",
            "  ai_tab 7",
            "  h_55c03ed47cd416 8-9",
            "---",
            json.dumps(
                _metadata(
                    humans={"h_55c03ed47cd416": {"author": "Sasha <sasha@example.com>"}},
                    sessions={"s_4bc25a9d71eb98": {"agent_id": {"tool": "codex", "id": "019f", "model": "gpt-5.5"}}},
                )
            ),
        ]
    )
    note = parse_note(text)
    assert (note.ai_lines, note.human_lines) == (18, 2)
    assert {key: s.kind for key, s in note.sessions.items()} == {
        "s_4bc25a9d71eb98": "session",
        "ai_agent": "anonymous",
        "ai_tab": "anonymous",
    }
    first, second = Batch(), Batch()
    add_note(first, event("unused"), LEGACY_SHA, note)
    add_note(second, event("unused"), EMPTY_SHA, note)
    assert sorted(sessions(first)) == ["019f", f"commit:{LEGACY_SHA}:ai_agent", f"commit:{LEGACY_SHA}:ai_tab"]
    assert sessions(first)[f"commit:{LEGACY_SHA}:ai_agent"] == {}  # nothing known but that an AI wrote lines
    # Two commits with anonymous AI lines share no session (which would tie their operators together).
    assert set(sessions(first)) & set(sessions(second)) == {"019f"}
    anonymous = [(f"commit:{LEGACY_SHA}:{key}", LEGACY_SHA) for key in ("ai_agent", "ai_tab")]
    assert edges(first, Rel.AUTHORED) == sorted([("019f", LEGACY_SHA), *anonymous])


def _metadata(**extra: Any) -> dict[str, Any]:
    return {"schema_version": "authorship/3.0.0", "base_commit_sha": "abc", "prompts": {}, **extra}


META = json.dumps(_metadata())


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (text("garbage.txt"), "no '---' line"),
        ("", "no '---' line"),
        ("a.py\n  abcdef0 1-2\n---\n{not json", "metadata after '---' is not valid JSON"),
        ("---\n[1, 2]", "metadata must be a JSON object, got list"),
        ("---\n{}", "has no schema_version"),
        ("---\n" + json.dumps({"schema_version": "authorship/2.1.0"}), "unsupported authorship note schema"),
        ("---\n" + json.dumps(_metadata(prompts=[])), "'prompts' must be an object, got list"),
        ("---\n" + json.dumps(_metadata(sessions={"s_1": "claude"})), "sessions['s_1'] must be an object"),
        ("---\n" + json.dumps(_metadata(humans={"h_1": {}})), "humans['h_1'] has no author"),
        (
            "---\n" + json.dumps(_metadata(prompts={"abcdef0": {"agent_id": {"tool": 3}}})),
            "prompts['abcdef0'].agent_id field 'tool' must be a string",
        ),
        ("  abcdef0 1-2\n---\n" + META, "line 1: attestation entry before any file path"),
        ("a.py\n  abcdef0\n---\n" + META, "line 2: expected '  <key> <ranges>'"),
        ("a.py\n  not-a-key 1-2\n---\n" + META, "'not-a-key' is not a session"),
        ("a.py\n  " + "ab" * 5000 + "x 1-2\n---\n" + META, "is not a session"),
        ("a.py\n  abcdef0 1-x\n---\n" + META, "'1-x' is not a line number or range"),
        ("a.py\n  abcdef0 9-3\n---\n" + META, "'9-3' must be 1-indexed and ascending"),
        ("a.py\n  abcdef0 0\n---\n" + META, "'0' must be 1-indexed"),
        ("a.py\n  abcdef0 1,,2\n---\n" + META, "'' is not a line number"),
        ("a.py\n  abcdef0 1-" + "9" * 5000 + "\n---\n" + META, "is not a line number or range"),
        ("---\n" + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_parse_note_rejects_garbage_with_a_reason(note: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_note(note)
    assert reason in str(caught.value)


def test_crlf_notes_parse() -> None:
    assert parse_note(text("mixed.txt").replace("\n", "\r\n")).ai_lines == 60


def test_huge_ranges_are_counted_without_enumerating_lines() -> None:
    note = parse_note("big.c\n  abcdef0 1-2000000000\n---\n" + META)
    assert note.ai_lines == 2_000_000_000


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ("Rosa Diaz <rosa@example.org>", ("rosa@example.org", "Rosa Diaz")),
        ("<rosa@example.org>", ("rosa@example.org", None)),
        ("rosa@example.org", ("rosa@example.org", None)),
        ("Rosa Diaz", None),
        ("rosa", None),
        (None, None),
    ],
)
def test_person_needs_an_email(identity: str | None, expected: tuple[str, str | None] | None) -> None:
    assert person(identity) == expected


# --- the source -----------------------------------------------------------------------------------


def test_sessions_note_file_takes_the_commit_from_its_name() -> None:
    """The file name (the note's attachment point) beats a stale base_commit_sha."""
    batch = SOURCE.normalise(event(text(SESSIONS_FILE), location=f"notes/{SESSIONS_FILE}"))
    assert commit(batch) == (SESSIONS_SHA, {"aiLines": 28, "humanLines": 5, "aiShare": 28 / 33})
    assert sessions(batch) == {
        "c0ffee00-1111-4222-8333-444455556666": {
            "tool": "claude",
            "model": "claude-sonnet-4-5",
            "humanAuthor": "Rosa Diaz <rosa@example.org>",
        },
        "conv-ab12": {"tool": "codex", "model": "gpt-5-codex", "humanAuthor": "rosa"},
    }
    assert edges(batch, Rel.AUTHORED) == [
        ("c0ffee00-1111-4222-8333-444455556666", SESSIONS_SHA),
        ("conv-ab12", SESSIONS_SHA),
    ]
    # Only an identity with an e-mail becomes a Person; a bare "rosa" could be anyone.
    assert edges(batch, Rel.OPERATED) == [("rosa@example.org", "c0ffee00-1111-4222-8333-444455556666")]
    (operator,) = batch.find_nodes(Label.PERSON)
    assert plain(operator.props) == {"name": "Rosa Diaz", "emails": ["rosa@example.org"]}


@pytest.mark.parametrize(
    ("payload", "location", "subject", "sha", "share"),
    [
        (text("legacy.txt"), "notes/legacy.txt", None, LEGACY_SHA, 1.0),  # from base_commit_sha
        (text(EMPTY_FILE), f"notes/{EMPTY_FILE}", None, EMPTY_SHA, None),  # empty attestation: no share
        (text("mixed.txt"), "notes/mixed.txt:3", None, MIXED_SHA, 0.9375),
        (text("mixed.txt"), "", {"commit": LEGACY_SHA.upper()}, LEGACY_SHA, 0.9375),  # envelope subject
        ({"commit": EMPTY_SHA, "note": text("mixed.txt")}, "x.json", None, EMPTY_SHA, 0.9375),
    ],
)
def test_commit_and_share(
    payload: Any, location: str, subject: dict[str, Any] | None, sha: str, share: float | None
) -> None:
    key, props = commit(SOURCE.normalise(event(payload, location, subject)))
    assert key == sha
    assert props.get("aiShare") == share
    if share is None:
        assert (props["aiLines"], props["humanLines"]) == (0, 0) and "aiShare" not in props


def test_legacy_note_sessions_and_operators() -> None:
    batch = SOURCE.normalise(event(text("legacy.txt")))
    found = sessions(batch)
    assert found["legacy-conv-1"]["promptSummary"].startswith("Add a --verbose flag")
    assert found["legacy-conv-2"] == {"tool": "copilot", "model": "gpt-4o"}
    assert edges(batch, Rel.OPERATED) == [("jake@example.org", "legacy-conv-1")]


def test_empty_attestation_still_links_the_session_to_the_commit() -> None:
    batch = SOURCE.normalise(event(text(EMPTY_FILE), location=EMPTY_FILE))
    assert edges(batch, Rel.AUTHORED) == [("merge-helper-1", EMPTY_SHA)]
    assert edges(batch, Rel.OPERATED) == [("amy@example.org", "merge-helper-1")]


@pytest.mark.parametrize(
    ("payload", "location", "reason"),
    [
        (text("garbage.txt"), "notes/garbage.txt", "no '---' line"),
        ({"commit": LEGACY_SHA}, "", "git-ai payload must be {'commit'"),
        ({"commit": "abc123", "note": text("legacy.txt")}, "", "commit must be a full 40- or 64-hex commit SHA"),
        ({"commit": 42, "note": text("legacy.txt")}, "", "commit must be a full"),
        ("---\n" + json.dumps(_metadata()), "notes/note.txt", "git-ai note names no commit"),
        ({"sha": LEGACY_SHA}, "", "cannot tell the git-ai event type"),
    ],
)
def test_source_rejects_with_a_reason(payload: Any, location: str, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        SOURCE.normalise(event(payload, location))
    assert reason in str(caught.value)


def test_add_note_is_reusable_for_ingest_git() -> None:
    """ingest-git hands add_note a parsed note and the SHA it read from refs/notes/ai, with its time."""
    batch = Batch()
    add_note(batch, event("unused"), LEGACY_SHA, parse_note(text("mixed.txt")), at="2026-02-01T10:00:00Z")
    assert commit(batch)[0] == LEGACY_SHA
    assert {n.version for n in batch.nodes} == {"2026-02-01T10:00:00Z#00#evt-1"}
    assert isinstance(parse_note(text("mixed.txt")), AuthorshipNote)


def test_folder_and_envelope_through_the_reader() -> None:
    """`tracegraph ingest --source git-ai notes/` hands .txt/.log files over as text."""
    files = list_files([FIXTURES], SOURCE.text_suffixes)
    names = sorted(f.name for f in files)
    assert names == sorted([SESSIONS_FILE, EMPTY_FILE, "envelope.note.json", "garbage.txt", "legacy.txt", "mixed.txt"])
    outcomes = {}
    for path in files:
        for item in read_file(path, source="git-ai", type=None, text_suffixes=SOURCE.text_suffixes):
            try:
                outcomes[path.name] = commit(normalise(item))[0]  # type: ignore[arg-type]
            except Rejected as exc:
                outcomes[path.name] = str(exc)
    assert outcomes["envelope.note.json"] == LEGACY_SHA  # the envelope's commit, not the note's "deadbeef"
    assert outcomes[SESSIONS_FILE] == SESSIONS_SHA
    assert outcomes["garbage.txt"].startswith("not a git-ai authorship note")


@pytest.mark.skipif(not (CORPUS / "ai-provenance" / "git-ai").is_dir(), reason="no shared corpus")
def test_corpus_git_ai() -> None:
    counts = corpus_outcomes("git-ai")
    print(f"corpus ai-provenance/git-ai: {dict(counts)}")
    # Every note (the three spec examples and the real refs/notes/ai exports) is ingested; only the
    # spec's Markdown and the licence are not notes, and they are rejected (or unreadable) with a reason.
    assert counts["ingested"] >= 24
    assert counts["rejected"] + counts["unreadable"] <= 2
