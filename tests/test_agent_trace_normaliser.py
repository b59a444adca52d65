"""The agent-trace source: Agent Trace 0.1 records → AgentSession, AUTHORED → the git commit they name."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from graph import vocabulary
from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.pipeline.prepare import normalise
from ingest.reader import Unreadable, list_files, read_file
from ingest.sources import SOURCES
from ingest.sources.agent_trace import MAX_RANGES, SOURCE
from ingest.sources.base import Event, Rejected
from tests.conftest import CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "agent_trace"
HEAD = "275abf69c1764f6a1f4cc8b14fd2fd0c165e3b01"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def event(payload: Any, type_: str | None = None) -> Event:
    return Event(source="agent-trace", type=type_, id="evt-1", payload=payload, received_at="2026-02-10T00:00:00Z")


def session(batch: Batch) -> tuple[str, dict[str, Any]]:
    (node,) = batch.find_nodes(Label.AGENT_SESSION)
    return node.key, {k: v for k, v in node.props.items() if k not in vocabulary.ORIGIN_PROPERTIES}


def authored(batch: Batch) -> list[tuple[str, str]]:
    return [(e.src_key, e.dst_key) for e in batch.find_edges(Rel.AUTHORED)]


def test_full_record_becomes_a_session_that_authored_the_revision() -> None:
    batch = SOURCE.normalise(event(fixture("record.full.json")))

    key, props = session(batch)
    assert key == "0b9f6c1e-6a51-4f0e-9a63-3d1f2c7e8a10"
    assert props == {
        "tool": "claude-code",
        "toolVersion": "2.1.0",
        "model": "anthropic/claude-sonnet-4-5",
        "contributorType": "mixed",
        "files": [
            "src/ledger/posting.py:10-39:ai:anthropic/claude-sonnet-4-5",
            "src/ledger/posting.py:50-52:mixed:openai/gpt-5",
            "tests/test_posting.py:1-5:human",
        ],
    }
    # The revision is upper case in the record; Commit keys are lower-case SHAs.
    assert authored(batch) == [(key, HEAD)]
    (commit,) = batch.find_nodes(Label.COMMIT)
    assert commit.props["repo"] == "acme/ledger"
    assert batch.nodes[0].version == "2026-02-03T08:15:00Z#00#evt-1"
    assert batch.nodes[0].props["source"] == "agent-trace"


@pytest.mark.parametrize(
    ("name", "key", "props", "edges"),
    [
        (
            "record.minimal.json",
            "5d0c1a52-7a0b-4b8e-8f5e-0c2d1e3f4a5b",
            {"contributorType": "ai", "files": ["README.md:1-20:ai"]},
            0,
        ),
        # jj change ids are not git SHAs: the session stands alone, no Commit is invented.
        (
            "record.jj.json",
            "9e8d7c6b-5a49-4838-a727-161514131211",
            {"tool": "opencode", "contributorType": "unknown", "files": ["lib/parse.rs:3-4:unknown"]},
            0,
        ),
    ],
)
def test_records_without_a_git_commit(name: str, key: str, props: dict[str, Any], edges: int) -> None:
    batch = SOURCE.normalise(event(fixture(name)))
    assert session(batch) == (key, props)
    assert len(batch.edges) == edges
    assert batch.find_nodes(Label.COMMIT) == []


def _record(**changes: Any) -> dict[str, Any]:
    record = fixture("record.full.json")
    for path, value in changes.items():
        target = record
        *parents, last = path.split("__")
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        if value is _DROP:
            del target[int(last) if last.isdigit() else last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return record


_DROP = object()


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_record(version=_DROP), "version must be a non-empty string"),
        (_record(version="0.1"), "version must look like 0.1.0"),
        (_record(id=_DROP), "id must be a non-empty string"),
        (_record(id=42), "id must be a non-empty string, got int"),
        (_record(timestamp="yesterday"), "timestamp must be an RFC 3339 date-time"),
        (_record(files=_DROP), "files must be an array, got null"),
        (_record(files={"path": "a"}), "files must be an array, got dict"),
        (_record(files__0__path=_DROP), "files[0].path must be a non-empty string"),
        (_record(files__0__conversations=_DROP), "files[0].conversations must be an array"),
        (_record(files__1__conversations__0__ranges=_DROP), "files[1].conversations[0].ranges must be an array"),
        (
            _record(files__0__conversations__0__ranges__0__start_line="10"),
            "files[0].conversations[0].ranges[0].start_line must be an integer ≥ 1, got '10'",
        ),
        (_record(files__0__conversations__0__ranges__0__end_line=0), "end_line must be an integer ≥ 1"),
        (_record(files__0__conversations__0__ranges__0__end_line=2), "ends (line 2) before it starts (line 10)"),
        (
            _record(files__0__conversations__0__contributor__type="robot"),
            "files[0].conversations[0].contributor.type must be one of ai, human, mixed, unknown",
        ),
        (_record(files__0__conversations__0__contributor__model_id="x" * 251), "longer than 250 characters"),
        (_record(vcs__type="cvs"), "vcs.type must be one of git, hg, jj, svn"),
        (_record(vcs__type=["git"]), "vcs.type must be one of git, hg, jj, svn, got ['git']"),
        (_record(files__1__conversations__0__contributor__type={}), "contributor.type must be one of"),
        (_record(vcs__revision=_DROP), "vcs.revision must be a non-empty string"),
        (_record(vcs="git"), "vcs must be an object, got str"),
        (_record(tool=["cursor"]), "tool must be an object, got list"),
        (_record(metadata="none"), "metadata must be an object"),
    ],
)
def test_invalid_records_are_rejected_with_the_field(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(Rejected, match="agent-trace record") as caught:
        SOURCE.normalise(event(record))
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"contributor": {"type": "ai"}}, "cannot tell the agent-trace event type"),
        ({"$schema": "https://json-schema.org/draft/2020-12/schema", "properties": {}}, "cannot tell"),
        ([{"version": "0.1.0"}], "cannot tell"),
    ],
)
def test_payloads_that_are_not_records(payload: Any, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        SOURCE.normalise(event(payload))


def test_short_sha_revision_links_no_commit() -> None:
    batch = SOURCE.normalise(event(_record(vcs__revision=HEAD[:12])))
    assert authored(batch) == []


def test_summary_is_bounded() -> None:
    record = _record()
    ranges = [{"start_line": i, "end_line": i} for i in range(1, MAX_RANGES + 51)]
    record["files"] = [{"path": "big.py", "conversations": [{"contributor": {"type": "ai"}, "ranges": ranges}]}]
    _, props = session(SOURCE.normalise(event(record)))
    assert len(props["files"]) == MAX_RANGES + 1
    assert props["files"][-1] == "… 50 more ranges"


def test_main_model_is_the_one_with_most_ai_lines() -> None:
    record = _record()
    conversation = record["files"][0]["conversations"][0]
    conversation["ranges"][1] = {"start_line": 100, "end_line": 400, "contributor": {"type": "ai", "model_id": "m/big"}}
    assert session(SOURCE.normalise(event(record)))[1]["model"] == "m/big"


def test_records_are_not_mutated() -> None:
    record = fixture("record.full.json")
    before = copy.deepcopy(record)
    SOURCE.normalise(event(record))
    assert record == before


def test_jsonl_file_of_records_and_json_with_comments_through_the_reader() -> None:
    """.agent-trace/traces.jsonl is found in a folder, read per line; a bad line is rejected alone."""
    files = list_files([FIXTURES / "repo"])
    assert [f.name for f in files] == ["traces.jsonl"]
    outcomes: list[str] = []
    for item in read_file(files[0], source="agent-trace", type=None):
        assert not isinstance(item, Unreadable)
        try:
            outcomes.append(session(normalise(item))[0])
        except Rejected as exc:
            outcomes.append(f"rejected at {item.location.rsplit(':', 1)[1]}: {exc}")
    assert outcomes[0] == "aaaaaaaa-0000-4000-8000-000000000001"
    assert outcomes[1].startswith("rejected at 2: agent-trace record files[0].conversations[0].contributor.type")
    assert outcomes[2] == "aaaaaaaa-0000-4000-8000-000000000003"

    (commented,) = read_file(FIXTURES / "record.with-comments.json", source="agent-trace", type=None)
    assert isinstance(commented, Unreadable)
    assert commented.reason.startswith("malformed JSON")


def test_envelope_names_its_type() -> None:
    batch = SOURCE.normalise(event(fixture("record.minimal.json"), type_="trace"))
    assert session(batch)[0] == "5d0c1a52-7a0b-4b8e-8f5e-0c2d1e3f4a5b"


# --- the shared corpus ---------------------------------------------------------------------------

CORPUS_SOURCES = {
    "agent-trace": "agent-trace",
    "git-ai": "git-ai",
    "in-toto-attestation": "attestation",
    "slsa": "attestation",
    "sbom": "attestation",
}


def corpus_outcomes(folder: str) -> Counter[str]:
    """Read every file of corpus/ai-provenance/<folder> and normalise it; count batches and rejections."""
    source = CORPUS_SOURCES[folder]
    counts: Counter[str] = Counter()
    text = SOURCES[source].text_suffixes
    for path in sorted(p for p in (CORPUS / "ai-provenance" / folder).rglob("*") if p.is_file()):
        for item in read_file(path, source=source, type=None, text_suffixes=text):
            if isinstance(item, Unreadable):
                reason = item.reason
                counts["unreadable"] += 1
            else:
                try:
                    batch = normalise(item)
                except Rejected as exc:
                    reason = str(exc)
                    counts["rejected"] += 1
                else:
                    assert len(batch) > 0, path
                    counts["ingested"] += 1
                    continue
            # A clear reason is one line, and never a normaliser bug caught by the runner's safety net.
            assert reason and "\n" not in reason, (path, reason)
            assert "could not be read" not in reason and "does not fit the graph model" not in reason, (path, reason)
    return counts


@pytest.mark.skipif(not (CORPUS / "ai-provenance" / "agent-trace").is_dir(), reason="no shared corpus")
def test_corpus_agent_trace() -> None:
    counts = corpus_outcomes("agent-trace")
    print(f"corpus ai-provenance/agent-trace: {dict(counts)}")
    # The spec's example and minimal records are real records; the rest are schema fragments.
    assert counts["ingested"] >= 2
