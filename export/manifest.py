"""What a bundle is checked by: the names of its fixed files, SHA-256 digests, and the stamps it carries."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

FORMAT_URI = "https://tracegraph.dev/evidence-bundle/v1"
MANIFEST = "manifest.json"
STATEMENT = "statement.intoto.json"
# A DSSE envelope over manifest.json, signed with the organisation's export key (export.sign).
SIGNATURE = "manifest.sig.json"
# The source events a bundle names and the file holding each raw document (export.bundle).
SOURCE_EVENTS = "source-events.json"
# Files a bundle holds beside the ones its manifest lists: the manifest, its signature, and the Statement.
UNLISTED = frozenset({MANIFEST, STATEMENT, SIGNATURE})
WHOLE_DEFINITION = (
    "sha256 over the UTF-8 lines '<hex digest>  <path>\\n' of every file in `files`, sorted by path: "
    "what `sha256sum` prints for those paths in that order, piped into `sha256sum`"
)


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` in hex."""
    return hashlib.sha256(data).hexdigest()


def file_digest(data: bytes) -> str:
    """The digest of one file as the manifest lists it: 'sha256:<hex>'."""
    return "sha256:" + sha256_hex(data)


def whole_digest(files: dict[str, str]) -> str:
    """The digest of the whole bundle from {path: 'sha256:<hex>'} (see WHOLE_DEFINITION)."""
    lines = "".join(f"{digest.removeprefix('sha256:')}  {path}\n" for path, digest in sorted(files.items()))
    return "sha256:" + sha256_hex(lines.encode())


def generator() -> str:
    """Who made the bundle: this tracegraph and its version."""
    try:
        return f"tracegraph {version('tracegraph')}"
    except PackageNotFoundError:
        return "tracegraph"


def stamp(value: datetime | None) -> str:
    """A time as exports write it ('YYYY-MM-DDTHH:MM:SSZ', UTC); '' for none."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""
