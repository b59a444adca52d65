"""Read files and folders into source events: envelopes, or bare payloads with --source/--type."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

from ingest.pipeline.events import Event, Unreadable, content_id, to_event
from ingest.timestamps import now

# How events read here arrived (Event.via): from a file someone handed to tracegraph.
FILE = "file"
JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
LINE_SUFFIXES = {".jsonl", ".ndjson"}
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}


def list_files(paths: list[Path], text_suffixes: frozenset[str] = frozenset()) -> list[Path]:
    """Files given, and JSON (or the source's text) files found recursively in folders given, in a stable order."""
    wanted = JSON_SUFFIXES | text_suffixes
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in wanted and not SKIP_DIRS & set(p.parts)
            )
        else:
            found.append(path)
    return found


def read_file(
    path: Path, *, source: str | None, type: str | None, text_suffixes: frozenset[str] = frozenset()
) -> Iterator[Event | Unreadable]:
    """Events in one file: one JSON document, one per line for .jsonl/.ndjson, or the text of a text source."""
    try:
        suffix = path.suffix.lower()
        # A file named on the command line for a text source is text unless it is plainly JSON.
        if source is not None and text_suffixes and (suffix in text_suffixes or suffix not in JSON_SUFFIXES):
            text = path.read_text(encoding="utf-8")
            yield Event(source, type, content_id(text), text, now(), location=str(path), via=FILE)
            return
        if path.suffix.lower() in LINE_SUFFIXES:
            with path.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield _parse(line, f"{path}:{number}", source=source, type=type)
            return
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        yield Unreadable(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})", "")
        return
    except OSError as exc:
        yield Unreadable(str(path), f"cannot read file: {exc.strerror}", "")
        return
    yield _parse(text, str(path), source=source, type=type)


def _parse(text: str, location: str, *, source: str | None, type: str | None) -> Event | Unreadable:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return Unreadable(location, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", text)
    except RecursionError:
        return Unreadable(location, "JSON nested too deeply to read", text[:10000])
    found = to_event(doc, text, location, source=source, type=type)
    return dataclasses.replace(found, via=FILE) if isinstance(found, Event) else found
