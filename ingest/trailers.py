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
# What may follow a tool's name when the co-author line also names the model: a parenthesis
# ("aider (openai/gpt-4o)", "Cursor Agent (claude-4-sonnet)") or words with a version digit in them
# ("Codex gpt-5.6-terra"). A version digit is what tells a model from a person's surname.
_MODEL_SUFFIX = r"(?:\s+\(.*\)|\s+[\w./:-]*\d[\w./:-]*(?:\s+[\w./:-]+)*)?"

# Names are matched strictly: "Claude" or "Claude Opus 4" is the agent, "Claude Dupont" is a person.
KNOWN_AI_TOOLS: tuple[AiTool, ...] = (
    AiTool(
        "claude-code",
        _p(r"claude(?:[ -](?:code|opus|sonnet|haiku|\d)[\w .()-]*)?|claude\[bot\]"),
        _p(r"noreply@anthropic\.com|" + _GH_NOREPLY.format(r"claude(?:\[bot\])?")),
    ),
    AiTool(
        "copilot",
        _p(r"(?:(?:github )?copilot|copilot-swe-agent(?:\[bot\])?|github-copilot(?:\[bot\])?)" + _MODEL_SUFFIX),
        _p(r"copilot@github\.com|" + _GH_NOREPLY.format(r"(?:copilot|copilot-swe-agent(?:\[bot\])?)")),
    ),
    AiTool(
        "cursor",
        _p(r"(?:cursor(?: agent|agent)?(?:\[bot\])?)" + _MODEL_SUFFIX),
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
        _p(r"(?:(?:openai )?codex|chatgpt-codex-connector(?:\[bot\])?)" + _MODEL_SUFFIX),
        _p(r"(?:codex|noreply)@openai\.com|" + _GH_NOREPLY.format(r"chatgpt-codex-connector(?:\[bot\])?")),
    ),
    AiTool(
        "gemini",
        _p(r"(?:gemini(?: cli| code assist)?|gemini-code-assist(?:\[bot\])?)" + _MODEL_SUFFIX),
        _p(r".*gemini-code-assist.*"),
    ),
    AiTool(
        "amazon-q",
        _p(r"amazon[ -]q(?:[ -]developer)?(?:\[bot\])?"),
        _p(r".*amazon-q.*"),
    ),
)

# Words that name a tool or a vendor's product rather than a model; dropped from a co-author's name
# before what is left is read as the model ("Codex gpt-5-codex" → gpt-5-codex, "Claude Code" → none).
_PRODUCT_WORDS = frozenset(
    {"agent", "ai", "aider", "amazon", "assist", "chatgpt", "cli", "code", "codex", "connector", "copilot"}
    | {"cursor", "cursoragent", "devin", "developer", "github", "google", "integration", "openai", "q"}
)
# A model family alone ("Claude", "Gemini") names no model.
_FAMILIES = frozenset({"claude", "gemini"})
_PARENTHESIS = re.compile(r"\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
_BOT = re.compile(r"\[bot\]", re.I)
_SEPARATORS = re.compile(r"\s+")


def normalise_model(name: str | None) -> str | None:
    """A model name as the graph keeps it: lower case, words joined by hyphens, dots kept, no provider
    prefix ("Claude Opus 4.6" → claude-opus-4.6, "openai/gpt-4o" → gpt-4o); None when nothing is left."""
    if not name:
        return None
    text = name.strip().strip("\"'").rsplit("/", 1)[-1]
    text = _SEPARATORS.sub("-", text.lower()).strip("-.:")
    text = re.sub(r"-{2,}", "-", text)
    return text[:200] or None


def _model_words(text: str) -> str | None:
    words = [w for w in _SEPARATORS.split(_BOT.sub("", text).strip().lower()) if w]
    kept = [w for w in words if w not in _PRODUCT_WORDS]
    if not kept or set(kept) <= _FAMILIES:
        return None
    model = "-".join(kept)
    # A model has a version ("4.6", "gpt-4o", "o3") or a tier ("Claude Opus"); anything else is not one.
    if not re.search(r"\d|opus|sonnet|haiku|flash|pro|ultra|nano", model):
        return None
    return normalise_model(model)


def co_author_model(name: str) -> str | None:
    """The model an AI co-author's display name carries, normalised, or None when it names none:
    the name without its parentheses first ("Claude Opus 4.6 (1M context)" → claude-opus-4.6), then
    what a parenthesis holds ("aider (openai/gpt-4o)" → gpt-4o)."""
    outside = _PARENTHESIS.sub(" ", name)
    if found := _model_words(outside):
        return found
    for inside in _PARENTHESIS.findall(name):
        if found := _model_words(_PARENTHESIS.sub(" ", inside)):
            return found
    return None


def _identity(co_author: str) -> tuple[str, str]:
    match = _CO_AUTHOR.fullmatch(co_author)
    name, email = (match["name"], match["email"]) if match else (co_author, "")
    return name.strip().strip('"'), email.strip()


def ai_tool(co_author: str) -> str | None:
    """The AI tool a `Name <email>` co-author stands for, or None for a person."""
    name, email = _identity(co_author)
    return next((row.tool for row in KNOWN_AI_TOOLS if row.matches(name, email)), None)


def ai_links(sha: str, message: str | None) -> list[AiLink]:
    """Agent sessions a commit message names (AI-Session trailer) or implies (AI co-author)."""
    sessions: list[str] = []
    tools: list[str] = []
    model: str | None = None
    # The model each tool's co-author line names ("Claude Opus 4.6" → claude-opus-4.6), first one kept.
    models: dict[str, str] = {}
    for key, value in parse_trailers(message):
        lowered = key.lower()
        if not value:
            continue
        if lowered in SESSION_KEYS:
            sessions.append(value)
        elif lowered in MODEL_KEYS:
            model = model or normalise_model(value)
        elif lowered in TOOL_KEYS:
            # "AI-Tool: Claude Code" and "AI-Tool: claude-code" name the same tool.
            tools.append(ai_tool(value) or re.sub(r"\s+", "-", value.lower()))
        elif lowered == CO_AUTHOR_KEY and (tool := ai_tool(value)):
            tools.append(tool)
            if found := co_author_model(_identity(value)[0]):
                models.setdefault(tool, found)
    tools = list(dict.fromkeys(tools))
    # An explicit AI-Model trailer is what the author chose to state: it wins over a display name.
    if sessions:
        tool = tools[0] if tools else None
        found = model or (models.get(tool) if tool else None)
        return [AiLink(session, tool, found) for session in dict.fromkeys(sessions)]
    # No session id: a synthetic session per tool stands for "this tool co-wrote this commit".
    return [AiLink(f"commit:{sha}:{tool}", tool, model or models.get(tool)) for tool in tools]
