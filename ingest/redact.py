"""Secret redaction for every stored text (prompt summaries, PR titles, bodies, URLs, labels, check names,
commit messages, raw documents).

Every secret is replaced by `[REDACTED:<kind>]` before anything is stored. Detection is regex only
(no network, no verification), table-driven, and ordered: specific token shapes first, so a GitHub
token is reported as `github-token` rather than as a generic `secret-assignment`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import orjson

MARKER = "[REDACTED:"


def _always(_: str) -> bool:
    return True


@dataclass(frozen=True)
class _Rule:
    """One kind of secret: its pattern, the group that holds the secret, and a final check."""

    kind: str
    pattern: re.Pattern[str]
    group: str | int = 0
    accept: Callable[[str], bool] = _always


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


# Placeholders people paste instead of a secret: ${VAR}, {{ var }}, <your-token>, ***, xxxx, ...
_PLACEHOLDER = re.compile(r"\s*(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{.*\}\}|<[^>]*>|\*+|[xX]+|\.\.\.+)\s*")
# Unquoted values that read as prose or code rather than a secret: words and identifiers made of
# lowercase, Capitalised or UPPER parts (get_password, os.environ.API_KEY, Kubernetes-based), and
# bare numbers (token counts). CamelCase runs and anything with a digit inside still count.
_WORD = r"(?:[a-z]+|[A-Z][a-z]*|[A-Z]+)"
_WORDISH = re.compile(rf"{_WORD}(?:[._-]{_WORD})*|\d+")


def _high_entropy(value: str) -> bool:
    return (
        len(value) >= 8
        and _entropy(value) >= 3.0
        and not _WORDISH.fullmatch(value)
        and not _PLACEHOLDER.fullmatch(value)
    )


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _real_quoted(value: str) -> bool:
    return bool(value.strip()) and not _PLACEHOLDER.fullmatch(value)


# Names whose value is a secret; the name may carry a prefix (DB_PASSWORD, X-Api-Key, client_secret).
# The lookbehind anchors the name at the start of a word: without it every position inside a long
# identifier would rescan the rest of it, which is quadratic on large pasted blobs.
_SECRET_NAME = (
    r"(?P<name>[\"']?(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]*?"
    r"(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
    r"(?:[_-]?key)?[\"']?)"
    r"(?P<sep>\s*(?:=>|:=|=|:)\s*)"
)
# Unquoted values stop at whitespace and delimiters, and never end on sentence punctuation.
_UNQUOTED = r"(?P<value>[^\s'\"`,;<>(){}\[\]]*[^\s'\"`,;<>(){}\[\].:!?])"

_RULES: tuple[_Rule, ...] = (
    _Rule(
        "private-key",
        # A truncated block (no END line) is redacted to the end of the text rather than leaked.
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
            r".*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
            re.S,
        ),
    ),
    _Rule(
        "url-password",
        re.compile(
            # scheme://user:password@host; only the password is replaced.
            r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
            r"(?P<user>[^\s:/@]*):(?P<pw>[^\s/?#]+)@(?=[^\s@/])"
        ),
        "pw",
    ),
    _Rule("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    _Rule(
        "aws-secret",
        re.compile(
            r"(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*(?:=>|:=|=|:)\s*[\"']?"
            r"(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
        "value",
    ),
    _Rule(
        "github-token",
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{22,}"),
    ),
    _Rule("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    _Rule(
        "slack-webhook",
        re.compile(r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_]+/[A-Za-z0-9_/]+"),
    ),
    _Rule("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    # Slack app-level tokens: xapp-<version>-<app id>-<number>-<secret>.
    _Rule("slack-token", re.compile(r"\bxapp-\d-[A-Za-z0-9]+-\d+-[A-Za-z0-9]+")),
    _Rule("npm-token", re.compile(r"\bnpm_[A-Za-z0-9]{36,}")),
    _Rule("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    _Rule("sendgrid-key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}")),
    # PyPI API tokens are macaroons: "pypi-" and a base64url body that starts "AgE" (pypi.org and TestPyPI).
    _Rule("pypi-token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}")),
    _Rule("stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}")),
    _Rule("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35,}")),
    _Rule("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    # Requiring a digit keeps kebab-case words that happen to start with "sk-" out.
    _Rule("openai-key", re.compile(r"\bsk-(?!ant-)[A-Za-z0-9_-]{20,}"), 0, _has_digit),
    _Rule("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")),
    _Rule(
        "secret-assignment",
        re.compile(_SECRET_NAME + r"(?P<quote>[\"'])(?P<value>[^\"'\n]+)(?P=quote)", re.I),
        "value",
        _real_quoted,
    ),
    _Rule("secret-assignment", re.compile(_SECRET_NAME + _UNQUOTED, re.I), "value", _high_entropy),
)


def _replace(rule: _Rule, match: re.Match[str]) -> str:
    whole = match.group(0)
    secret = match.group(rule.group)
    # Already-redacted text stays as it is, so redact() is idempotent.
    if not secret or MARKER in secret or not rule.accept(secret):
        return whole
    start, end = match.start(rule.group) - match.start(), match.end(rule.group) - match.start()
    return f"{whole[:start]}{MARKER}{rule.kind}]{whole[end:]}"


# Necessary conditions, one per rule kind: a rule can only match text where its hint matches. Most
# strings (ids, URLs, timestamps, prose) hold no hint at all, so one scan replaces fifteen; redaction was
# a third of ingest's CPU before. Hints use the rules' own case folding (re.I where the rule has it), so
# Unicode folds (ſ, K) behave exactly as in the rules.
_HINTS: dict[str, str] = {
    "private-key": r"PRIVATE KEY",
    "url-password": r"://[^\s:/@]*:[^\s/?#]+@",
    "aws-access-key": r"AKIA|ASIA",
    "aws-secret": r"(?i:secret)",
    "github-token": r"gh[pousr]_|github_pat_",
    "gitlab-token": r"glpat-",
    "slack-webhook": r"hooks\.slack\.com/",
    "slack-token": r"xox[abprs]-|xapp-",
    "npm-token": r"npm_",
    "huggingface-token": r"hf_",
    "sendgrid-key": r"SG\.",
    "pypi-token": r"pypi-",
    "stripe-key": r"[sr]k_(?:live|test)_",
    "google-api-key": r"AIza",
    "anthropic-key": r"sk-ant-",
    "openai-key": r"sk-",
    "jwt": r"eyJ",
    "secret-assignment": r"(?i:passw(?:or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)",
}
_HINT = {kind: re.compile(pattern) for kind, pattern in _HINTS.items()}
_ANY_HINT = re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(_HINTS.values())))


def may_hold_secrets(text: str) -> bool:
    """Whether any rule could match somewhere in `text` (False means redact() leaves it as it is).

    Hints never span a line break, so the texts of many values joined by newlines are scanned at
    once with the same answer as one scan each: most batches hold no hint at all. ASCII text takes
    the literal scan redact_document uses (each hint implies one of its literals).
    """
    if text.isascii():
        return _DOCUMENT_HINT.search(text.lower()) is not None or _URL_PASSWORD_HINT.search(text) is not None
    return _ANY_HINT.search(text) is not None


def redact(text: str | None) -> str | None:
    """Return the text with every detected secret replaced by `[REDACTED:<kind>]`."""
    if not text or not may_hold_secrets(text):
        return text
    for rule in _RULES:
        hint = _HINT[rule.kind]
        if rule.kind == "secret-assignment":
            text = _sub_at_names(rule, text)
        elif hint.search(text):
            text = rule.pattern.sub(partial(_replace, rule), text)
    return text


# What a secret's name is made of, folded the way the rules fold it (with re.I, [A-Za-z] also takes
# the four letters Unicode folds into ASCII: İ ı ſ K).
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.-]", re.I)


def _sub_at_names(rule: _Rule, text: str) -> str:
    """rule.pattern.sub over text, trying the pattern only where a match can start.

    A secret-assignment match starts at the first character of a name (or the quote before it) and
    the name holds a hint word: so only the start of each run of name characters that holds a hint
    can begin one. Trying the pattern there alone gives what sub() gives, left to right and without
    overlaps, but a 1 MB git-ai note with a few dozen "token" words is no longer scanned whole by a
    pattern that backtracks at every position (0.42 of 0.96 s of redaction on 400 real-shaped notes).
    """
    starts: list[int] = []
    # ASCII text lowers without moving anything: the literal scan then finds the same words faster.
    hints = _ASSIGNMENT_WORDS.finditer(text.lower()) if text.isascii() else _HINT[rule.kind].finditer(text)
    for found in hints:
        start = found.start()
        while start > 0 and _NAME_CHAR.match(text, start - 1):
            start -= 1
        if start > 0 and text[start - 1] in "\"'":
            starts.append(start - 1)
        starts.append(start)
    pieces: list[str] = []
    done = 0
    for start in sorted(set(starts)):
        if start < done:
            continue
        match = rule.pattern.match(text, start)
        if match is None:
            continue
        pieces += [text[done:start], _replace(rule, match)]
        done = match.end()
    return "".join(pieces) + text[done:] if pieces else text


def count_redactions(value: object) -> int:
    """Count `[REDACTED:` markers in a string, or recursively in lists, tuples and dict values."""
    if isinstance(value, str):
        return value.count(MARKER)
    if isinstance(value, dict):
        items: Iterable[object] = value.values()
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        return 0
    # Called on every node's properties during ingest: strings and scalars are counted inline
    # rather than through a call each.
    total = 0
    for item in items:
        if isinstance(item, str):
            total += item.count(MARKER)
        elif isinstance(item, dict | list | tuple | set | frozenset):
            total += count_redactions(item)
    return total


# A JSON key that names a secret (access_token, client_secret, X-Api-Key …); its string value is one.
_SECRET_KEY = re.compile(
    r"[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)"
    r"(?:[_-]?key)?",
    re.I,
)
# Keys that say "token" but hold no secret in the payloads tracegraph reads.
_NOT_SECRET_KEYS = frozenset({"tokens", "token_count", "max_tokens", "input_tokens", "output_tokens", "token_type"})


def redact_value(value: object, key: str | None = None) -> object:
    """Redact every string inside a JSON value; a string under a secret-like key is a secret itself.

    Redacting the serialised text is not enough: JSON escapes the quotes the text rules rely on.
    """
    if isinstance(value, str):
        cleaned = redact(value) or value
        if (
            key is not None
            and cleaned == value
            and key.lower() not in _NOT_SECRET_KEYS
            and _SECRET_KEY.fullmatch(key)
            and _real_quoted(value)
        ):
            return f"{MARKER}secret-assignment]"
        return cleaned
    if isinstance(value, dict):
        return {k: redact_value(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def _literal_trie(literals: Iterable[str]) -> str:
    """One pattern matching exactly the given literals, shaped as their prefix tree.

    A plain alternation makes the regex engine try every literal at every position; the tree tries
    each next character once (the document scan below takes 6.7 instead of 13.3 us per event).
    """
    tree: dict[str, dict] = {}
    for literal in literals:
        node = tree
        for char in literal:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(tree)


# The hints as lowercase literals, for whole ASCII documents: a scan for literals is four times faster
# than the hints' alternation of patterns on a 1 KB document. Each hint implies one of these in the
# lowercased text (the url-password hint, a pattern, is searched on its own).
_DOCUMENT_HINT = re.compile(
    _literal_trie(
        (
            *("private key", "akia", "asia", "secret", "glpat-", "hooks.slack.com/", "xox", "aiza", "sk-", "eyj"),
            *("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "k_live_", "k_test_", "passw", "token"),
            *("xapp-", "npm_", "hf_", "sg.", "pypi-"),
            *(f"{word}{sep}key" for word in ("api", "access", "private") for sep in ("", "_", "-")),
        )
    )
)
_URL_PASSWORD_HINT = re.compile(_HINTS["url-password"])
# The secret-assignment hint's words, lowercase: for ASCII text, the same positions as the hint.
_ASSIGNMENT_WORDS = re.compile(
    _literal_trie(
        ("passwd", "password", "secret", "token")
        + tuple(f"{word}{sep}key" for word in ("api", "access", "private") for sep in ("", "_", "-"))
    )
)


def dumps_sorted(value: object) -> str:
    """The canonical JSON text of a document: keys sorted, compact, non-ASCII as UTF-8 (not \\u escapes).

    orjson writes it in a fifth of json.dumps' time (2.1 against 9.3 us for a bench event, a tenth of
    the normaliser's time). What orjson refuses (integers beyond 64 bits, keys that are not strings,
    lone surrogates) falls back to json in the same layout with non-ASCII escaped, the only way to
    write a lone surrogate. NaN and Infinity, which JSON lacks, come out of orjson as null.
    """
    try:
        return orjson.dumps(value, default=str, option=_PASS_TO_STR | orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# Dates and dataclasses are written as str() writes them, as json.dumps(default=str) did.
_PASS_TO_STR = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def redact_document(value: object) -> str:
    """The canonical JSON text of a document with every secret inside redacted as redact_value does."""
    return redact_payload(value)[0]


def redact_payload(value: object) -> tuple[str, object]:
    """The canonical JSON text of a document with every secret inside redacted, and the document itself
    redacted the same way (the very object given when it holds no secret)."""
    text = dumps_sorted(value)
    # Nearly every webhook document holds no hint of any rule anywhere (3 of 267 real GitHub and GitLab
    # payloads do): one scan of its text then stands for a walk over every string. JSON escaping only
    # lengthens runs the hints accept, so a hint in any key or string is still found in the text;
    # non-ASCII, raw or escaped, could hide a Unicode case fold (a long s, a Kelvin sign), so such
    # documents take the walk.
    if (
        text.isascii()
        and "\\u" not in text
        and _DOCUMENT_HINT.search(text.lower()) is None
        and _URL_PASSWORD_HINT.search(text) is None
    ):
        return text, value
    redacted = redact_value(value)
    return dumps_sorted(redacted), redacted
