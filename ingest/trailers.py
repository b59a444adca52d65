"""Git commit trailers, and the AI agent sessions they point at (AI-Session, AI co-authors)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# git interpret-trailers: a token is letters, digits and hyphens; spaces may precede the colon.
_TRAILER = re.compile(r"(?P<key>[A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(?P<value>.*?)\s*")
_CO_AUTHOR = re.compile(r"(?P<name>.*?)\s*<(?P<email>[^<>]*)>\s*")

SESSION_KEYS = frozenset({"ai-session", "agent-session"})
MODEL_KEYS = frozenset({"ai-model", "model"})
TOOL_KEYS = frozenset({"ai-tool"})
CO_AUTHOR_KEY = "co-authored-by"
# Lines git itself writes into a trailer block: a Signed-off-by key, a cherry-pick note.
_GIT_PREFIXES = ("signed-off-by", "(cherry picked from commit ")


def _paragraphs(message: str) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in message.splitlines():
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def parse_trailers(message: str | None) -> list[tuple[str, str]]:
    """Trailers (key as written, value) from the last paragraph of a commit message."""
    if not message:
        return []
    paragraphs = _paragraphs(message)
    # As in git, the first paragraph is the subject and never holds trailers.
    if len(paragraphs) < 2:
        return []
    lines = paragraphs[-1]
    trailers: list[tuple[str, str]] = []
    other = 0
    recognised = False
    folding = False
    for line in lines:
        if line[:1] in (" ", "\t"):
            if folding:
                key, value = trailers[-1]
                trailers[-1] = (key, f"{value} {line.strip()}".strip())
            else:
                other += 1
            continue
        match = _TRAILER.fullmatch(line)
        # "https://example.com" alone on a line is a URL, not a trailer called "https".
        folding = match is not None and not match["value"].startswith("//")
        if match is None or not folding:
            other += 1
            recognised = recognised or line.startswith(_GIT_PREFIXES[1])
            continue
        trailers.append((match["key"], match["value"]))
        recognised = recognised or match["key"].lower() == _GIT_PREFIXES[0]
    # git accepts a block that is all trailers, or one with a trailer git itself writes
    # (Signed-off-by, cherry-pick notes) when at least a quarter of its lines are trailers.
    if trailers and (other == 0 or (recognised and len(trailers) * 3 >= other)):
        return trailers
    return []


@dataclass(frozen=True)
class AiLink:
    """A commit's link to an agent session: an explicit session id or a synthetic per-tool one."""

    session_id: str
    tool: str | None
    model: str | None


@dataclass(frozen=True)
class AiTool:
    """How a known AI tool signs as a co-author: a name pattern and an email pattern (full match)."""

    tool: str
    name: re.Pattern[str] | None
    email: re.Pattern[str] | None

    def matches(self, name: str, email: str) -> bool:
        """Whether a co-author's name or email is this tool's."""
        return bool(
            (self.name is not None and name and self.name.fullmatch(name))
            or (self.email is not None and email and self.email.fullmatch(email))
        )


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


# GitHub's noreply addresses for apps look like "<id>+<app>[bot]@users.noreply.github.com".
_GH_NOREPLY = r"(?:\d+\+)?{}@users\.noreply\.github\.com"

# Names are matched strictly: "Claude" or "Claude Opus 4" is the agent, "Claude Dupont" is a person.
KNOWN_AI_TOOLS: tuple[AiTool, ...] = (
    AiTool(
        "claude-code",
        _p(r"claude(?:[ -](?:code|opus|sonnet|haiku|\d)[\w .()-]*)?|claude\[bot\]"),
        _p(r"noreply@anthropic\.com|" + _GH_NOREPLY.format(r"claude(?:\[bot\])?")),
    ),
    AiTool(
        "copilot",
        _p(r"(?:github )?copilot|copilot-swe-agent(?:\[bot\])?|github-copilot(?:\[bot\])?"),
        _p(r"copilot@github\.com|" + _GH_NOREPLY.format(r"(?:copilot|copilot-swe-agent(?:\[bot\])?)")),
    ),
    AiTool(
        "cursor",
        _p(r"cursor(?: agent|agent)?(?:\[bot\])?"),
        _p(r"cursoragent@cursor\.com|" + _GH_NOREPLY.format(r"cursor(?:agent)?(?:\[bot\])?")),
    ),
    AiTool(
        "devin",
        _p(r"devin-ai-integration(?:\[bot\])?|devin ai"),
        _p(_GH_NOREPLY.format(r"devin-ai-integration(?:\[bot\])?") + r"|devin@cognition(?:-labs)?\.(?:ai|com)"),
    ),
    AiTool("aider", _p(r"aider(?: \(.*\))?"), _p(r"noreply@aider\.chat")),
    AiTool(
        "codex",
        _p(r"(?:openai )?codex|chatgpt-codex-connector(?:\[bot\])?"),
        _p(r"codex@openai\.com|" + _GH_NOREPLY.format(r"chatgpt-codex-connector(?:\[bot\])?")),
    ),
    AiTool(
        "gemini",
        _p(r"gemini(?: cli| code assist)?|gemini-code-assist(?:\[bot\])?"),
        _p(r".*gemini-code-assist.*"),
    ),
    AiTool(
        "amazon-q",
        _p(r"amazon[ -]q(?:[ -]developer)?(?:\[bot\])?"),
        _p(r".*amazon-q.*"),
    ),
)


def ai_tool(co_author: str) -> str | None:
    """The AI tool a `Name <email>` co-author stands for, or None for a person."""
    match = _CO_AUTHOR.fullmatch(co_author)
    name, email = (match["name"], match["email"]) if match else (co_author, "")
    name, email = name.strip().strip('"'), email.strip()
    return next((row.tool for row in KNOWN_AI_TOOLS if row.matches(name, email)), None)


def ai_links(sha: str, message: str | None) -> list[AiLink]:
    """Agent sessions a commit message names (AI-Session trailer) or implies (AI co-author)."""
    sessions: list[str] = []
    tools: list[str] = []
    model: str | None = None
    for key, value in parse_trailers(message):
        lowered = key.lower()
        if not value:
            continue
        if lowered in SESSION_KEYS:
            sessions.append(value)
        elif lowered in MODEL_KEYS:
            model = model or value
        elif lowered in TOOL_KEYS:
            # "AI-Tool: Claude Code" and "AI-Tool: claude-code" name the same tool.
            tools.append(ai_tool(value) or re.sub(r"\s+", "-", value.lower()))
        elif lowered == CO_AUTHOR_KEY and (tool := ai_tool(value)):
            tools.append(tool)
    tools = list(dict.fromkeys(tools))
    if sessions:
        tool = tools[0] if tools else None
        return [AiLink(session, tool, model) for session in dict.fromkeys(sessions)]
    # No session id: a synthetic session per tool stands for "this tool co-wrote this commit".
    return [AiLink(f"commit:{sha}:{tool}", tool, model) for tool in tools]
