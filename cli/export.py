"""`tracegraph export` (JSON bundle, CSV, HTML) and `tracegraph verify-export` (recompute every digest)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from cli.common import CHANGE_REF, echo, line, user_errors
from export.archive import read_bundle, write_bundle, write_file
from export.bundle import bundle_files
from export.html import html_text
from export.manifest import MANIFEST
from export.scope import ExportError, ExportSet, Scope, collect, period_scope
from export.sign import export_signer, verifying_key
from export.table import csv_text
from export.verify import verify_files
from graph.driver import run_with_graph
from graph.policy import load_policy
from graph.settings import get_settings


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
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing --out file (csv, html, .zip, .tar.gz); a link is never written through.",
)
@user_errors
def export(
    change: str | None,
    service: str | None,
    start: str | None,
    end: str | None,
    fmt: str,
    out: Path | None,
    in_toto: bool,
    force: bool,
) -> None:
    """Export the evidence of one change, one service over a period, or every change merged in a period."""
    settings = get_settings()
    scope = scope_from_options(change, service, start, end)
    policy = load_policy(settings.policy_file)
    exported = run_with_graph(settings, lambda g: collect(g, policy, scope))
    now = datetime.now(UTC)
    if fmt == "json":
        target = out or Path(f"evidence-{scope.slug()}")
        signer = export_signer(settings)
        files = bundle_files(exported, policy, generated_at=now, in_toto=in_toto, signer=signer)
        write_bundle(files, target, force=force)
        whole = json.loads(files[MANIFEST])["whole"]
        echo(f"wrote {len(files)} files to {target} ({_counts(exported)}); whole {whole}")
        if signer is None:
            echo(
                "warning: the bundle is not signed (set TRACEGRAPH_EXPORT_KEY_FILE to the organisation's Ed25519 "
                "key): its digests prove it is intact, not who made it",
                err=True,
            )
            echo(f"check it with: tracegraph verify-export {target}")
        else:
            echo(f"signed with export key {signer.id}")
            echo(f"check it with: tracegraph verify-export {target} --key <the public key .pem>")
        return
    text = csv_text(exported.answers, policy) if fmt == "csv" else html_text(exported, generated_at=now)
    if out is None:
        echo(text, nl=False)
    else:
        write_file(out, text.encode("utf-8"), force=force)
        echo(f"wrote {out} ({_counts(exported)})", err=True)


# --- verify-export ------------------------------------------------------------------------------


@click.command("verify-export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--expect", metavar="SHA256", help="The whole-bundle digest published elsewhere, to compare with.")
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The organisation's public key (PEM): the manifest's signature must verify with it.",
)
@user_errors
def verify_export(path: Path, expect: str | None, key_file: Path | None) -> None:
    """Recompute every digest of the bundle at PATH (folder, .zip or .tar.gz) and, with --key, check its
    signature; exit 1 naming what changed."""
    key = None
    if key_file is not None:
        try:
            key = verifying_key(key_file.read_bytes(), where=str(key_file))
        except OSError as exc:
            raise ExportError(f"cannot read the key {key_file}: {exc.strerror}") from None
    result = verify_files(read_bundle(path), expect=expect, key=key)
    # Notes and problems name files of the bundle, whatever their names hold: one line each.
    for note in result.notes:
        echo(line(note))
    if result.problems:
        for problem in result.problems:
            echo(line(problem), err=True)
        echo(f"{path}: verification FAILED ({len(result.problems)} problem(s))", err=True)
        sys.exit(1)
    echo(f"verified {result.files} files (whole {result.whole})")
