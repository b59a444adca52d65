"""Commit trailers and the AI agent sessions they point at."""

from __future__ import annotations

import pytest

from ingest.trailers import AiLink, ai_links, ai_tool, normalise_model, parse_trailers

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (None, []),
        ("", []),
        # The subject alone is never a trailer block, even if it looks like one.
        ("fix: handle empty body", []),
        ("Fix bug\n\nSigned-off-by: Jane <jane@example.com>", [("Signed-off-by", "Jane <jane@example.com>")]),
        (
            "Fix bug\n\nLonger body.\n\nReviewed-by: Ann <a@x.io>\nCo-Authored-By: Claude <noreply@anthropic.com>\n",
            [("Reviewed-by", "Ann <a@x.io>"), ("Co-Authored-By", "Claude <noreply@anthropic.com>")],
        ),
        # Trailers must be in the LAST paragraph.
        ("Fix bug\n\nSigned-off-by: Jane <j@x.io>\n\nA closing remark.", []),
        # One prose line spoils the block...
        ("Fix bug\n\nCo-authored-by: Jane <j@x.io>\nthanks all", []),
        # ...unless git wrote a trailer there and trailers are at least a quarter of the lines.
        (
            "Fix bug\n\nthanks all\nSigned-off-by: Jane <j@x.io>\nCo-authored-by: Bo <b@x.io>",
            [("Signed-off-by", "Jane <j@x.io>"), ("Co-authored-by", "Bo <b@x.io>")],
        ),
        ("Fix bug\n\none\ntwo\nthree\nfour\nSigned-off-by: Jane <j@x.io>", []),
        (
            "Fix bug\n\n(cherry picked from commit abc123)\nAI-Session: s-1",
            [("AI-Session", "s-1")],
        ),
        # Continuation lines fold into the previous trailer.
        (
            "Fix bug\n\nNote: first part\n  second part\nBug: 7",
            [("Note", "first part second part"), ("Bug", "7")],
        ),
        ("Fix bug\n\n  leading continuation\nBug: 7", []),
        # A bare URL is not a trailer called "https".
        ("Fix bug\n\nhttps://example.com/issue/1", []),
        ("Fix bug\r\n\r\nRefs: #12\r\n", [("Refs", "#12")]),
        ("Fix bug\n\nKey : spaced value", [("Key", "spaced value")]),
        ("Fix bug\n\nnot a trailer line", []),
    ],
)
def test_parse_trailers(message: str | None, expected: list[tuple[str, str]]) -> None:
    assert parse_trailers(message) == expected


@pytest.mark.parametrize(
    ("co_author", "tool"),
    [
        ("Claude <noreply@anthropic.com>", "claude-code"),
        ("Claude Opus 4.1 <noreply@anthropic.com>", "claude-code"),
        ("Claude Sonnet 4 <someone@example.com>", "claude-code"),
        ("claude[bot] <209825114+claude[bot]@users.noreply.github.com>", "claude-code"),
        ("Copilot <198982749+Copilot@users.noreply.github.com>", "copilot"),
        ("GitHub Copilot <copilot@github.com>", "copilot"),
        ("Cursor Agent <cursoragent@cursor.com>", "cursor"),
        ("devin-ai-integration[bot] <158243242+devin-ai-integration[bot]@users.noreply.github.com>", "devin"),
        ("aider (openai/gpt-4o) <noreply@aider.chat>", "aider"),
        ("aider <aider@example.com>", "aider"),
        ("Codex <codex@openai.com>", "codex"),
        ("Codex <noreply@example.com>", "codex"),
        ("Codex <noreply@openai.com>", "codex"),
        ("Codex gpt-5.6-terra <noreply@example.com>", "codex"),
        ("Cursor Agent (claude-4-sonnet) <noreply@example.com>", "cursor"),
        ("Copilot (Claude Sonnet 4) <noreply@example.com>", "copilot"),
        ("Gemini 2.5 Pro <noreply@example.com>", "gemini"),
        ("gemini-code-assist[bot] <176961590+gemini-code-assist[bot]@users.noreply.github.com>", "gemini"),
        ("Gemini <gemini@example.com>", "gemini"),
        ("Amazon Q Developer <amazon-q-developer@amazon.com>", "amazon-q"),
        ("amazon-q-developer[bot] <208079219+amazon-q-developer[bot]@users.noreply.github.com>", "amazon-q"),
        # People, including ones whose names start like a tool's.
        ("Jane Doe <jane@example.com>", None),
        ("Claude Dupont <claude.dupont@example.com>", None),
        ("Devin Smith <devin@example.com>", None),
        ("Codex Smith <codex.smith@example.com>", None),
        ("Gemini Jones <gj@example.com>", None),
        ("Ann <ann@anthropic.com>", None),
        ("dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>", None),
    ],
)
def test_ai_tool(co_author: str, tool: str | None) -> None:
    assert ai_tool(co_author) == tool


def msg(*trailers: str) -> str:
    return "Add retry to payment client\n\nBody explaining why.\n\n" + "\n".join(trailers)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (None, []),
        ("Just a subject", []),
        (msg("Signed-off-by: Jane <jane@example.com>"), []),
        (msg("Co-authored-by: Jane Doe <jane@example.com>"), []),
        (msg("AI-Session: sess-123"), [AiLink("sess-123", None, None)]),
        (msg("ai-session: sess-123"), [AiLink("sess-123", None, None)]),
        (msg("Agent-Session: sess-9"), [AiLink("sess-9", None, None)]),
        (
            msg(
                "AI-Session: sess-123",
                "AI-Model: claude-sonnet-4",
                "Co-Authored-By: Claude <noreply@anthropic.com>",
            ),
            [AiLink("sess-123", "claude-code", "claude-sonnet-4")],
        ),
        (
            msg("Co-authored-by: Claude <noreply@anthropic.com>"),
            [AiLink(f"commit:{SHA}:claude-code", "claude-code", None)],
        ),
        (
            msg(
                "Co-authored-by: Copilot <198982749+Copilot@users.noreply.github.com>",
                "Co-authored-by: Jane Doe <jane@example.com>",
                "Co-authored-by: Cursor Agent <cursoragent@cursor.com>",
                "Co-authored-by: Copilot <copilot@github.com>",
                "Model: gpt-4.1",
            ),
            [
                AiLink(f"commit:{SHA}:copilot", "copilot", "gpt-4.1"),
                AiLink(f"commit:{SHA}:cursor", "cursor", "gpt-4.1"),
            ],
        ),
        (msg("AI-Tool: Aider"), [AiLink(f"commit:{SHA}:aider", "aider", None)]),
        (msg("AI-Tool: Claude Code"), [AiLink(f"commit:{SHA}:claude-code", "claude-code", None)]),
        (msg("AI-Tool: Some New Agent"), [AiLink(f"commit:{SHA}:some-new-agent", "some-new-agent", None)]),
        # A model alone is not evidence that an agent wrote the commit.
        (msg("AI-Model: gpt-4o"), []),
        (
            msg("AI-Session: a", "AI-Session: b", "AI-Session: a"),
            [AiLink("a", None, None), AiLink("b", None, None)],
        ),
        # An AI co-author outside the trailer block does not count (git would not see it either).
        (
            "Fix\n\nCo-authored-by: Claude <noreply@anthropic.com>\n\nMore prose after it.",
            [],
        ),
    ],
)
def test_ai_links(message: str | None, expected: list[AiLink]) -> None:
    assert ai_links(SHA, message) == expected


# The model a co-author line names, normalised: lower case, hyphens for spaces, dots kept, no provider.
@pytest.mark.parametrize(
    ("co_author", "tool", "model"),
    [
        ("Claude Opus 4.6 <noreply@anthropic.com>", "claude-code", "claude-opus-4.6"),
        ("Claude Opus 4.6 (1M context) <noreply@anthropic.com>", "claude-code", "claude-opus-4.6"),
        ("Claude Sonnet 4.5 <noreply@anthropic.com>", "claude-code", "claude-sonnet-4.5"),
        ("Claude 3.7 Sonnet <noreply@anthropic.com>", "claude-code", "claude-3.7-sonnet"),
        ("Claude Code (claude-opus-4-6) <noreply@anthropic.com>", "claude-code", "claude-opus-4-6"),
        ("Claude Code <noreply@anthropic.com>", "claude-code", None),
        ("Claude <noreply@anthropic.com>", "claude-code", None),
        ("claude[bot] <209825114+claude[bot]@users.noreply.github.com>", "claude-code", None),
        ("Codex <noreply@openai.com>", "codex", None),
        ("Codex gpt-5.6-terra <noreply@openai.com>", "codex", "gpt-5.6-terra"),
        ("OpenAI Codex (GPT-5-Codex) <codex@openai.com>", "codex", "gpt-5-codex"),
        ("GitHub Copilot <copilot@github.com>", "copilot", None),
        ("Copilot (Claude Sonnet 4) <198982749+Copilot@users.noreply.github.com>", "copilot", "claude-sonnet-4"),
        ("Cursor Agent <cursoragent@cursor.com>", "cursor", None),
        ("Cursor Agent (claude-4-sonnet) <cursoragent@cursor.com>", "cursor", "claude-4-sonnet"),
        ("Gemini 2.5 Pro <gemini@example.com>", "gemini", "gemini-2.5-pro"),
        ("Gemini CLI <gemini@example.com>", "gemini", None),
        ("gemini-code-assist[bot] <176961590+gemini-code-assist[bot]@users.noreply.github.com>", "gemini", None),
        ("aider (openai/gpt-4o) <noreply@aider.chat>", "aider", "gpt-4o"),
        ("aider (anthropic/claude-3-5-sonnet-20241022) <noreply@aider.chat>", "aider", "claude-3-5-sonnet-20241022"),
        # A tool found by its address: a display name without a version is not a model.
        ("Some Helper <noreply@anthropic.com>", "claude-code", None),
    ],
)
def test_co_author_lines_keep_the_model_they_name(co_author: str, tool: str, model: str | None) -> None:
    assert ai_links(SHA, msg(f"Co-Authored-By: {co_author}")) == [AiLink(f"commit:{SHA}:{tool}", tool, model)]


@pytest.mark.parametrize(
    ("trailers", "expected"),
    [
        # An explicit model trailer says what the author meant: it wins over a display name.
        (
            ("AI-Model: claude-opus-4-6", "Co-Authored-By: Claude Opus 4.6 <noreply@anthropic.com>"),
            [AiLink(f"commit:{SHA}:claude-code", "claude-code", "claude-opus-4-6")],
        ),
        (
            ("AI-Model: Claude Opus 4.6", "AI-Tool: claude-code"),
            [AiLink(f"commit:{SHA}:claude-code", "claude-code", "claude-opus-4.6")],
        ),
        # With a session id, the session's tool is the first AI co-author, and its model that line's.
        (
            ("AI-Session: s-9", "Co-Authored-By: Claude Sonnet 4.5 <noreply@anthropic.com>"),
            [AiLink("s-9", "claude-code", "claude-sonnet-4.5")],
        ),
        # Each tool keeps its own line's model.
        (
            (
                "Co-authored-by: Codex gpt-5.5 <noreply@openai.com>",
                "Co-authored-by: Claude Opus 4.6 <noreply@anthropic.com>",
            ),
            [
                AiLink(f"commit:{SHA}:codex", "codex", "gpt-5.5"),
                AiLink(f"commit:{SHA}:claude-code", "claude-code", "claude-opus-4.6"),
            ],
        ),
    ],
)
def test_model_trailers_and_co_author_models(trailers: tuple[str, ...], expected: list[AiLink]) -> None:
    assert ai_links(SHA, msg(*trailers)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Claude Opus 4.6", "claude-opus-4.6"),
        ("claude-sonnet-4", "claude-sonnet-4"),
        ("  GPT-5.1-Codex-Max ", "gpt-5.1-codex-max"),
        ("openrouter/anthropic/claude-3.5-sonnet", "claude-3.5-sonnet"),
        ("o3", "o3"),
        ("", None),
        (None, None),
        ("---", None),
    ],
)
def test_normalise_model(name: str | None, expected: str | None) -> None:
    assert normalise_model(name) == expected
