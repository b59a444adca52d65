"""Read a Markdown postmortem: front matter, sections, action items and the references it makes.

Pure text in, `PostmortemDoc` out; `postmortem.py` turns that into graph rows. Postmortems are
written by people from many templates, so everything here is lenient: YAML front matter is optional
and, when broken, ignored in favour of the body; headings may be ATX (`## Root cause`), setext
(underlined), or a label line naming a known section (`**Root cause:** ...`, `Summary: ...`), which
runs to the next heading. Every pattern is linear-time: the text is untrusted.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import yaml

# --- front matter -----------------------------------------------------------------------------

_FRONT_OPEN = re.compile(r"\A\ufeff?---[ \t]*\r?\n")
_FRONT_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.M)


def split_front_matter(text: str) -> tuple[dict[str, Any], str, str | None]:
    """(front matter, body, problem): {} and the whole text when there is none or it is broken."""
    opening = _FRONT_OPEN.match(text)
    if opening is None:
        return {}, text, None
    closing = _FRONT_CLOSE.search(text, opening.end())
    if closing is None:
        return {}, text, "front matter is never closed"
    raw, body = text[opening.end() : closing.start()], text[closing.end() :].lstrip("\r\n")
    try:
        data = yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        return {}, body, f"front matter is not valid YAML ({problem}); read the body only"
    if data is None:
        return {}, body, None
    if not isinstance(data, dict):
        return {}, body, "front matter is not a mapping; read the body only"
    return {str(k).strip().lower().replace("-", "_"): v for k, v in data.items()}, body, None


def scalars(value: Any) -> list[str]:
    """A front matter value as a list of non-empty strings (a scalar, or a flat list of scalars)."""
    values = value if isinstance(value, list) else [value]
    found = []
    for item in values:
        if isinstance(item, dt.date | dt.datetime):
            item = item.isoformat()
        if isinstance(item, str | int | float) and not isinstance(item, bool) and str(item).strip():
            found.append(str(item).strip())
    return found


def first(front: dict[str, Any], *keys: str) -> str | None:
    """The first non-empty scalar under any of the keys."""
    for key in keys:
        if values := scalars(front.get(key)):
            return values[0]
    return None


# --- Markdown blocks --------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of the body: a heading (level 1-6, 7 for a bold label) or text, and whether it sits in a fix section."""

    text: str
    heading: int = 0
    fix: bool = False


_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_SETEXT = re.compile(r" {0,3}(=+|-{2,})[ \t]*")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_LABEL = re.compile(r"\s*\*\*([^*\n]{1,60})\*\*\s*(?::\s*)?(.*)|\s*([A-Za-z][A-Za-z ()/-]{1,40}):\s+(.+)")
_PLAIN = re.compile(r" {0,3}[^\s#>|`~*+-]")


def heading_key(title: str) -> str:
    """'2. Root Cause(s):' -> 'root cause s': lower-case letters and single spaces only."""
    return " ".join(re.sub(r"[^a-z]+", " ", title.lower()).split())


SUMMARY = re.compile(r"(?:executive |incident |issue |event )?(?:summary|overview|tl dr|abstract|description)\b")
ROOT_CAUSE = re.compile(r"root caus|causes?\b|what caused|why did (?:it|this) happen")
CONTRIBUTING = re.compile(r"contributing factors?\b")
ACTIONS = re.compile(
    r"action items?\b|corrective|prevent(?:ive|ative)|follow ?ups?\b|follow up\b|next steps|"
    r"remediation (?:items|actions|tasks)|action plan|todos?\b"
)
# Sections that name the fix rather than the cause: changes linked there are not blamed.
FIXES = re.compile(
    ACTIONS.pattern + r"|resolution|remediation|mitigation|recovery|fix(?:es)?\b|lessons? learn|what went well|rollback"
)
DATE = re.compile(r"(?:incident )?date\b|when\b")
KNOWN = (SUMMARY, ROOT_CAUSE, CONTRIBUTING, ACTIONS, FIXES, DATE)


def _known(title: str) -> bool:
    key = heading_key(title)
    return any(pattern.match(key) for pattern in KNOWN)


def _strip_comments(text: str) -> str:
    # Template guidance lives in HTML comments; an unclosed one hides the rest, as when rendered.
    kept, start = [], 0
    while (opening := text.find("<!--", start)) != -1:
        kept.append(text[start:opening])
        closing = text.find("-->", opening + 4)
        if closing == -1:
            return "".join(kept)
        start = closing + 3
    kept.append(text[start:])
    return "".join(kept)


def _atx_title(rest: str | None) -> str:
    title = (rest or "").rstrip()
    # A closing run of #s is decoration ("## Summary ##"), but "C#" is a word.
    stripped = title.rstrip("#")
    if stripped != title and (not stripped or stripped[-1] in " \t"):
        title = stripped.rstrip()
    return title.strip()


def blocks(body: str) -> list[Line]:
    """The body as headings and text lines, outside code fences, with HTML comments removed."""
    lines: list[Line] = []
    fence: str | None = None
    for raw in _strip_comments(body).splitlines():
        if fence_match := _FENCE.match(raw):
            fence = None if fence == fence_match.group(1) else fence or fence_match.group(1)
            lines.append(Line(raw))
            continue
        if fence is not None:
            lines.append(Line(raw))
            continue
        if atx := _ATX.fullmatch(raw):
            lines.append(Line(_atx_title(atx.group(2)), heading=len(atx.group(1))))
        elif _SETEXT.fullmatch(raw) and lines and not lines[-1].heading and _PLAIN.match(lines[-1].text):
            lines[-1] = Line(lines[-1].text.strip(), heading=1 if raw.strip()[0] == "=" else 2)
        elif (label := _LABEL.fullmatch(raw)) and _known(label.group(1) or label.group(3)):
            lines.append(Line((label.group(1) or label.group(3)).strip().rstrip(":"), heading=7))
            if rest := (label.group(2) or label.group(4) or "").strip():
                lines.append(Line(rest))
        else:
            lines.append(Line(raw))
    return _mark_fix_sections(lines)


def _mark_fix_sections(lines: list[Line]) -> list[Line]:
    marked: list[Line] = []
    stack: list[tuple[int, bool]] = []
    for line in lines:
        if line.heading:
            while stack and stack[-1][0] >= line.heading:
                stack.pop()
            stack.append((line.heading, bool(FIXES.match(heading_key(line.text)))))
        marked.append(Line(line.text, line.heading, any(fix for _, fix in stack)))
    return marked


def section(lines: list[Line], pattern: re.Pattern[str]) -> list[str] | None:
    """The lines of every section whose heading matches (sub-sections included), or None."""
    found: list[str] = []
    matched = False
    level = 0
    for line in lines:
        if line.heading and (not level or line.heading <= level):
            level = line.heading if pattern.match(heading_key(line.text)) else 0
            matched = matched or bool(level)
            continue
        if level:
            found.append(f"{'#' * min(line.heading, 6)} {line.text}" if line.heading else line.text)
    return found if matched else None


def section_text(lines: list[Line], pattern: re.Pattern[str]) -> str | None:
    """A section's text, trimmed, or None when it is missing or empty."""
    found = section(lines, pattern)
    text = "\n".join(found).strip() if found else ""
    return re.sub(r"\n{3,}", "\n\n", text) or None


# --- action items -----------------------------------------------------------------------------

_ITEM = re.compile(r"(\s*)(?:[-*+]|\d{1,3}[.)])\s+(.*)")
_CHECKBOX = re.compile(r"\[[ xX]\]\s*")
_SEPARATOR_CELL = re.compile(r":?-+:?")


def _cells(row: str) -> list[str]:
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return [cell.strip() for cell in inner.split("|")]


def _is_separator(row: str) -> bool:
    cells = _cells(row)
    return "|" in row and all(_SEPARATOR_CELL.fullmatch(c) for c in cells)


def action_items(lines: list[str]) -> list[str]:
    """List items and table rows (header excluded) of action-item sections, one string each."""
    items: list[str] = []
    in_table = False
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if "|" in line and _is_separator(following):
            in_table = True  # the header row
            continue
        if in_table and "|" in line:
            if not _is_separator(line) and (cells := [c for c in _cells(line) if c]):
                items.append(" | ".join(cells))
            continue
        in_table = False
        if item := _ITEM.fullmatch(line):
            if entry := _CHECKBOX.sub("", item.group(2), count=1).strip():
                items.append(entry)
        elif items and line.startswith(("  ", "\t")) and line.strip() and not line.lstrip().startswith("#"):
            items[-1] = f"{items[-1]} {line.strip()}"  # a wrapped item continues on an indented line
    return items


# --- the document -----------------------------------------------------------------------------

_DATE = re.compile(r"(?<!\d)(\d{4})[-/](\d{2})[-/](\d{2})(?!\d)")


def find_date(text: str | None) -> str | None:
    """The first valid YYYY-MM-DD (or YYYY/MM/DD) date in the text, as YYYY-MM-DD."""
    for match in _DATE.finditer(text or ""):
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError:
            continue
    return None


def _clean_title(text: str) -> str | None:
    title = text.strip().lstrip("#>*-+ \t").strip().strip("*_`").strip()
    return title[:300] or None


@dataclass
class PostmortemDoc:
    """What a postmortem says, before it becomes graph rows."""

    title: str | None
    front: dict[str, Any]
    problem: str | None
    date: str | None
    summary: str | None
    root_cause: str | None
    action_items: list[str]
    has_heading: bool
    lines: list[Line]


def _title(front: dict[str, Any], lines: list[Line]) -> str | None:
    if title := first(front, "title", "name"):
        return _clean_title(title)
    headings = [line for line in lines if line.heading and line.heading < 7 and _clean_title(line.text)]
    if headings:
        top = min(line.heading for line in headings)
        return _clean_title(next(line.text for line in headings if line.heading == top))
    return next((t for line in lines if (t := _clean_title(line.text))), None)


def _front_action_items(value: Any) -> list[str]:
    found = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            parts = [f"{k}: {v}" for k, v in item.items() if scalars(v)]
            found.append("; ".join(parts))
        else:
            found.extend(scalars(item))
    return [item for item in found if item]


def parse(text: str) -> PostmortemDoc:
    """Parse one Markdown postmortem (front matter optional)."""
    front, body, problem = split_front_matter(text)
    lines = blocks(body)
    actions = _front_action_items(front.get("action_items") or front.get("actions") or front.get("follow_ups"))
    actions += action_items(section(lines, ACTIONS) or [])
    date_text = first(front, "date", "incident_date", "created", "created_at")
    return PostmortemDoc(
        title=_title(front, lines),
        front=front,
        problem=problem,
        date=find_date(date_text) or find_date(section_text(lines, DATE)) or find_date(body),
        summary=first(front, "summary", "description") or section_text(lines, SUMMARY),
        root_cause=(
            first(front, "root_cause", "rootcause", "cause")
            or section_text(lines, ROOT_CAUSE)
            or section_text(lines, CONTRIBUTING)
        ),
        action_items=actions,
        has_heading=any(line.heading and line.heading < 7 for line in lines),
        lines=lines,
    )
