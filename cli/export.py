"""`tracegraph export` (JSON bundle, CSV, HTML) and `tracegraph verify-export` (recompute every digest)."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from api.export import (
    ARCHIVES,
    MANIFEST,
    STATEMENT,
    UNLISTED,
    ExportError,
    ExportNotFound,
    ExportSet,
    Scope,
    bundle_files,
    collect,
    csv_text,
    html_text,
    period_scope,
    whole_digest,
    write_bundle,
)
from graph.driver import GraphUnavailable, run_with_graph
from graph.policy import PolicyError, load_policy
from graph.settings import get_settings

CHANGE_REF = re.compile(r"^(?P<repo>[^/\s]+/[^#!\s]+)[#!](?P<number>\d+)$")


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def scope_from_options(change: str | None, service: str | None, start: str | None, end: str | None) -> Scope:
    """The scope the options name: --change alone, or --from/--to with an optional --service."""
    if change:
        if service or start or end:
            raise ExportError("--change exports one change; leave out --service, --from and --to")
        match = CHANGE_REF.match(change)
        if not match:
            raise ExportError(f"{change!r} is not a change reference; write it as owner/repo#42")
        return Scope(kind="change", repo=match["repo"], number=int(match["number"]))
    if not (start and end):
        raise ExportError("say what to export: --change owner/repo#42, or --from DATE --to DATE (with --service NAME)")
    return period_scope(start=start, end=end, service=service)


def _counts(export: ExportSet) -> str:
    verified = sum(1 for c in export.answers if c.verdict.status.value == "VERIFIED")
    return f"{len(export.answers)} change(s): {verified} VERIFIED, {len(export.answers) - verified} UNVERIFIED"


@click.command("export")
@click.option("--change", "change", metavar="OWNER/REPO#N", help="One change.")
@click.option("--service", help="Changes shipped by deployments to this service in the period.")
@click.option("--from", "start", metavar="DATE", help="Start of the period, included (2026-01-01 or ISO-8601).")
@click.option("--to", "end", metavar="DATE", help="End of the period, excluded.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "html"]),
    default="json",
    show_default=True,
    help="json: the evidence bundle (a folder, or .zip/.tar.gz by --out's name); csv; html.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="Where to write [json: ./evidence-<scope>; csv/html: stdout]."
)
@click.option("--in-toto", "in_toto", is_flag=True, help="Add an in-toto Statement over the merge commits (json).")
def export(
    change: str | None,
    service: str | None,
    start: str | None,
    end: str | None,
    fmt: str,
    out: Path | None,
    in_toto: bool,
) -> None:
    """Export the evidence of one change, one service over a period, or every change merged in a period."""
    settings = get_settings()
    try:
        scope = scope_from_options(change, service, start, end)
        policy = load_policy(settings.policy_file)
        exported = run_with_graph(settings, lambda g: collect(g, policy, scope))
        now = datetime.now(UTC)
        if fmt == "json":
            target = out or Path(f"evidence-{scope.slug()}")
            files = bundle_files(exported, policy, generated_at=now, in_toto=in_toto)
            write_bundle(files, target)
            whole = json.loads(files[MANIFEST])["whole"]
            click.echo(f"wrote {len(files)} files to {target} ({_counts(exported)}); whole {whole}")
            click.echo(f"check it with: tracegraph verify-export {target}")
            return
        text = csv_text(exported.answers, policy) if fmt == "csv" else html_text(exported, generated_at=now)
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            click.echo(f"wrote {out} ({_counts(exported)})", err=True)
    except ExportNotFound as exc:
        _fail(str(exc), code=1)
    except (ExportError, GraphUnavailable, PolicyError) as exc:
        _fail(str(exc))


# --- verify-export ------------------------------------------------------------------------------


class Unreadable(ValueError):
    """The path is not a bundle folder or archive that can be read."""


def read_bundle(path: Path) -> dict[str, bytes]:
    """Every regular file of a bundle folder, .zip or .tar.gz, by its path inside the bundle."""
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    if not path.is_file():
        raise Unreadable(f"{path} does not exist")
    name = path.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                return {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}
        if name.endswith(ARCHIVES):
            # Read members into memory; nothing is extracted, so member names cannot escape anywhere.
            with tarfile.open(path, "r:gz") as archive:
                files = {}
                for member in archive.getmembers():
                    handle = archive.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        files[member.name.removeprefix("./")] = handle.read()
                return files
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise Unreadable(f"{path} is not a readable archive: {exc}") from exc
    raise Unreadable(f"{path} is not a bundle: give the bundle's folder, or a .zip / .tar.gz of it")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Verification:
    """The outcome of checking a bundle: how many files matched, and one line per problem."""

    files: int = 0
    whole: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _statement(files: dict[str, bytes], result: Verification) -> None:
    try:
        predicate: dict[str, Any] = json.loads(files[STATEMENT])["predicate"]
        pinned = "sha256:" + predicate["manifest"]["digest"]["sha256"]
        whole = "sha256:" + predicate["bundle"]["digest"]["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"changed: {STATEMENT} (not a tracegraph in-toto Statement: {exc.__class__.__name__})")
        return
    actual = _sha256(files[MANIFEST])
    if pinned != actual:
        result.problems.append(
            f"changed: {MANIFEST} or {STATEMENT} (the Statement pins {pinned}, {MANIFEST} is {actual})"
        )
    elif whole != result.whole:
        result.problems.append(f"changed: {STATEMENT} (its bundle digest {whole} is not the manifest's {result.whole})")
    else:
        result.notes.append(f"{STATEMENT} pins this manifest")


def verify_files(files: dict[str, bytes], *, expect: str | None = None) -> Verification:
    """Recompute every digest of a bundle and name each file that changed, is missing, or was added."""
    result = Verification()
    if MANIFEST not in files:
        result.problems.append(f"missing: {MANIFEST} (this is not an evidence bundle, or its manifest was removed)")
        return result
    try:
        manifest = json.loads(files[MANIFEST])
        listed: dict[str, str] = manifest["files"]
        if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
            raise TypeError("files is not a map of path to digest")
    except (ValueError, KeyError, TypeError) as exc:
        result.problems.append(f"changed: {MANIFEST} (it no longer reads as a manifest: {exc})")
        return result
    result.whole = whole_digest(listed)
    if manifest.get("whole") != result.whole:
        result.problems.append(
            f"changed: {MANIFEST} (its file digests add up to {result.whole}, but it records {manifest.get('whole')})"
        )
    for path, digest in sorted(listed.items()):
        if path not in files:
            result.problems.append(f"missing: {path}")
        elif (actual := _sha256(files[path])) != digest:
            result.problems.append(f"changed: {path} (manifest {digest}, file {actual})")
        else:
            result.files += 1
    result.problems += [f"unexpected: {p} (not in the manifest)" for p in sorted(set(files) - set(listed) - UNLISTED)]
    if STATEMENT in files:
        _statement(files, result)
    if expect and expect.removeprefix("sha256:") != (result.whole or "").removeprefix("sha256:"):
        result.problems.append(f"changed: the bundle's whole digest is {result.whole}, not the expected {expect}")
    return result


@click.command("verify-export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--expect", metavar="SHA256", help="The whole-bundle digest published elsewhere, to compare with.")
def verify_export(path: Path, expect: str | None) -> None:
    """Recompute every digest of the bundle at PATH (folder, .zip or .tar.gz); exit 1 naming what changed."""
    try:
        files = read_bundle(path)
    except (Unreadable, OSError) as exc:
        _fail(str(exc))
        return
    result = verify_files(files, expect=expect)
    for note in result.notes:
        click.echo(note)
    if result.problems:
        for problem in result.problems:
            click.echo(problem, err=True)
        click.echo(f"{path}: verification FAILED ({len(result.problems)} problem(s))", err=True)
        sys.exit(1)
    click.echo(f"verified {result.files} files (whole {result.whole})")
