"""The provenance source: `.ai/provenance.json` records and ```ai-provenance blocks in PR bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.sources.base import Event, Rejected, change_id
from ingest.sources.provenance import SOURCE
from ingest.sources.shared import add_session, find_blocks

FAKE_TOKEN = "ghp_" + "a1B2" * 9


def record(**overrides: Any) -> dict[str, Any]:
    """A full provenance record; keyword arguments replace (or, with None, drop) fields."""
    base: dict[str, Any] = {
        "tool": "claude-code",
        "tool_version": "1.0.51",
        "model": "claude-sonnet-4",
        "session_id": "sess-7f3a",
        "prompt_summary": "Add retries with jitter to the payment client",
        "reviewer": "alice",
        "risk_area": "payments",
        "verification": ["pytest -q", "manual sandbox charge"],
        "operator": "bob",
        "started_at": "2025-06-01T10:00:00Z",
        "ended_at": "2025-06-01T10:42:00+02:00",
        "cost_usd": 1.25,
        "tokens": 48213,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def event(payload: Any, subject: dict[str, Any] | None = None, type_: str | None = None) -> Event:
    return Event(
        source="provenance",
        type=type_,
        id="evt-1",
        payload=payload,
        received_at="2025-06-02T00:00:00Z",
        subject=subject,
    )


def session_props(batch: Batch) -> dict[str, Any]:
    (node,) = batch.find_nodes(Label.AGENT_SESSION)
    return node.props


def edges(batch: Batch, rel: Rel) -> list[tuple[str, str]]:
    return [(e.src_key, e.dst_key) for e in batch.find_edges(rel)]


def test_full_record_with_subject() -> None:
    batch = SOURCE.normalise(event(record(), {"repo": "acme/shop", "number": 42}))

    (node,) = batch.find_nodes(Label.AGENT_SESSION)
    assert node.key == "sess-7f3a"
    assert node.version == "2025-06-01T08:42:00Z#00#evt-1"
    assert node.props == {
        "tool": "claude-code",
        "toolVersion": "1.0.51",
        "model": "claude-sonnet-4",
        "promptSummary": "Add retries with jitter to the payment client",
        "reviewer": "alice",
        "riskArea": "payments",
        "verification": '["pytest -q","manual sandbox charge"]',
        "startedAt": "2025-06-01T10:00:00Z",
        "endedAt": "2025-06-01T08:42:00Z",
        "costUsd": 1.25,
        "tokens": 48213,
        "source": "provenance",
        "sourceEventId": "evt-1",
        "receivedAt": "2025-06-02T00:00:00Z",
    }
    assert edges(batch, Rel.PROPOSED) == [("sess-7f3a", "github:acme/shop#42")]
    assert edges(batch, Rel.OPERATED) == [("bob", "sess-7f3a")]
    for edge in batch.edges:
        assert edge.version == node.version
        assert edge.props["sourceEventId"] == "evt-1"


@pytest.mark.parametrize(
    ("subject", "proposed"),
    [
        (None, []),
        ({}, []),
        ({"repo": "acme/shop", "number": 7, "provider": "github"}, [("sess-7f3a", "github:acme/shop#7")]),
        (
            {"repo": "grp/sub/proj", "number": 17, "provider": "gitlab"},
            [("sess-7f3a", "gitlab:grp/sub/proj!17")],
        ),
    ],
)
def test_subject_decides_the_change(subject: dict[str, Any] | None, proposed: list[tuple[str, str]]) -> None:
    batch = SOURCE.normalise(event(record(), subject))
    assert len(batch.find_nodes(Label.AGENT_SESSION)) == 1
    assert edges(batch, Rel.PROPOSED) == proposed


@pytest.mark.parametrize(
    ("payload", "subject", "message"),
    [
        (record(session_id=None), None, "has no session_id"),
        (record(session_id="  "), None, "has no session_id"),
        (record(session_id=42), None, "has no session_id"),
        (record(tool=["claude"]), None, "'tool' must be a string"),
        (record(model=3), None, "'model' must be a string"),
        (record(started_at="yesterday"), None, "'started_at' is not an ISO-8601 time"),
        (record(cost_usd="cheap"), None, "'cost_usd' must be a finite number"),
        (record(cost_usd="NaN"), None, "'cost_usd' must be a finite number"),
        (record(cost_usd=True), None, "'cost_usd' must be a number, got bool"),
        (record(tokens="many"), None, "'tokens' must be an integer"),
        (record(operator=7), None, "'operator' must be a login string"),
        (record(), {"repo": "shop", "number": 42}, "repo must look like 'owner/name'"),
        (record(), {"repo": "a/b/c", "number": 42}, "repo must look like 'owner/name'"),
        (record(), {"repo": "acme/shop", "number": 0}, "positive integer"),
        (record(), {"repo": "acme/shop", "number": "42"}, "positive integer"),
        (record(), {"repo": "acme/shop"}, "positive integer"),
        (
            record(),
            {"repo": "acme/shop", "number": 1, "provider": "bitbucket"},
            "unknown provenance subject provider",
        ),
    ],
)
def test_rejects_bad_input(payload: dict[str, Any], subject: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(Rejected, match=message):
        SOURCE.normalise(event(payload, subject, type_="session"))


@pytest.mark.parametrize("payload", [None, [], "sess-1", 42])
def test_add_session_rejects_non_objects(payload: Any) -> None:
    with pytest.raises(Rejected, match="must be a JSON object"):
        add_session(Batch(), event(payload), payload, change_id=None)


@pytest.mark.parametrize(
    ("field", "value", "prop", "expected"),
    [
        (
            "prompt_summary",
            f"use {FAKE_TOKEN} to push",
            "promptSummary",
            "use [REDACTED:github-token] to push",
        ),
        ("verification", "pytest -q", "verification", "pytest -q"),
        ("verification", {"tests": "pass", "canary": True}, "verification", '{"tests":"pass","canary":true}'),
        (
            "verification",
            f"ran with token={FAKE_TOKEN}",
            "verification",
            "ran with token=[REDACTED:github-token]",
        ),
        ("cost_usd", 2, "costUsd", 2.0),
        ("cost_usd", "0.75", "costUsd", 0.75),
        ("tokens", 1200.0, "tokens", 1200),
        ("tokens", {"input": 1000, "output": 200}, "tokens", 1200),
        ("tokens", {"input": 1000, "output": 200, "total": 1300}, "tokens", 1300),
        ("started_at", 1748772000, "startedAt", "2025-06-01T10:00:00Z"),
    ],
)
def test_field_values(field: str, value: Any, prop: str, expected: Any) -> None:
    batch = SOURCE.normalise(event(record(**{field: value})))
    props = session_props(batch)
    assert props[prop] == expected
    assert FAKE_TOKEN not in json.dumps(props)


@pytest.mark.parametrize(
    ("overrides", "argument", "operator"),
    [
        ({}, None, "bob"),
        ({}, "carol", "bob"),  # the record's operator wins over the caller's guess
        ({"operator": None, "user": "dave"}, "carol", "dave"),
        ({"operator": None, "user": {"login": "erin"}}, None, "erin"),
        ({"operator": "@frank"}, None, "frank"),
        ({"operator": None}, "carol", "carol"),
        ({"operator": None}, None, None),
    ],
)
def test_operator(overrides: dict[str, Any], argument: str | None, operator: str | None) -> None:
    batch = Batch()
    returned = add_session(batch, event(record()), record(**overrides), change_id=None, operator=argument)
    assert returned == "sess-7f3a"
    assert edges(batch, Rel.OPERATED) == ([(operator, "sess-7f3a")] if operator else [])
    assert edges(batch, Rel.PROPOSED) == []


def test_version_falls_back_to_start_then_zero() -> None:
    started = SOURCE.normalise(event(record(ended_at=None)))
    assert started.nodes[0].version == "2025-06-01T10:00:00Z#00#evt-1"
    bare = SOURCE.normalise(event({"session_id": "s-1"}))
    assert bare.nodes[0].version == "0000-00-00T00:00:00Z#00#evt-1"
    assert session_props(bare) == {
        "source": "provenance",
        "sourceEventId": "evt-1",
        "receivedAt": "2025-06-02T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("payload", "kind"),
    [({"session_id": "s"}, "session"), ({"tool": "x"}, None), (["session_id"], None), (None, None)],
)
def test_infer_type(payload: Any, kind: str | None) -> None:
    assert SOURCE.infer_type(payload) == kind


@pytest.mark.parametrize(
    ("provider", "repo", "number", "expected"),
    [("github", "o/r", 42, "github:o/r#42"), ("gitlab", "group/project", 17, "gitlab:group/project!17")],
)
def test_change_id(provider: str, repo: str, number: int, expected: str) -> None:
    assert change_id(provider, repo, number) == expected


def test_change_id_unknown_provider() -> None:
    with pytest.raises(Rejected, match="unknown change provider 'bitbucket'"):
        change_id("bitbucket", "o/r", 1)


BLOCK_A = '```ai-provenance\n{"session_id": "a", "tool": "cursor"}\n```'
BLOCK_B = '~~~ai-provenance\n{\n  "session_id": "b",\n  "model": "gpt-4.1"\n}\n~~~'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, []),
        ("", []),
        ('No provenance here.\n\n```json\n{"session_id": "x"}\n```', []),
        (f"## Summary\nFixes retries.\n\n{BLOCK_A}\n\nThanks!", [{"session_id": "a", "tool": "cursor"}]),
        (
            f"{BLOCK_A}\n\ntext\n\n{BLOCK_B}",
            [{"session_id": "a", "tool": "cursor"}, {"session_id": "b", "model": "gpt-4.1"}],
        ),
        # A broken block is skipped; the good one still counts.
        (
            '```ai-provenance\n{"session_id": "a",\n```\n\n' + BLOCK_B,
            [{"session_id": "b", "model": "gpt-4.1"}],
        ),
        ("```ai-provenance\nnot json at all\n```", []),
        ("```ai-provenance\n[1, 2]\n```", []),
        (
            '```ai-provenance\n[{"session_id": "a"}, {"session_id": "b"}]\n```',
            [{"session_id": "a"}, {"session_id": "b"}],
        ),
        # Windows line endings and an info string with extra words.
        ('\r\n```AI-Provenance json\r\n{"session_id": "w"}\r\n```\r\n', [{"session_id": "w"}]),
        # An example quoted inside another fence is not a block of this PR.
        ('````markdown\n```ai-provenance\n{"session_id": "example"}\n```\n````', []),
        # A backtick fence is not closed by a tilde fence or a shorter one.
        ('````ai-provenance\n{"session_id": "long"}\n```\n````', []),
        ('````ai-provenance\n{"session_id": "long"}\n````', [{"session_id": "long"}]),
        # Hidden in an HTML comment, as bots often do: still found.
        ('<!--\n```ai-provenance\n{"session_id": "hidden"}\n```\n-->', [{"session_id": "hidden"}]),
    ],
)
def test_find_blocks(body: str | None, expected: list[dict[str, Any]]) -> None:
    assert find_blocks(body) == expected


def test_blocks_feed_add_session() -> None:
    body = f"{BLOCK_A}\n{BLOCK_B}"
    batch = Batch()
    ids = [add_session(batch, event({}), r, change_id="github:o/r#5", operator="pr-author") for r in find_blocks(body)]
    assert ids == ["a", "b"]
    assert edges(batch, Rel.PROPOSED) == [("a", "github:o/r#5"), ("b", "github:o/r#5")]
    assert edges(batch, Rel.OPERATED) == [("pr-author", "a"), ("pr-author", "b")]
