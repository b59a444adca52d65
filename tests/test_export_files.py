"""Bundles and reports on disk treated as untrusted: verify-export refuses links and devices inside a bundle
and reads archives within bounds, streaming; export never overwrites a file unless told to, and never
writes through a link."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.export import export, verify_export
from export.archive import (
    EXPANSION_FLOOR,
    Unreadable,
    read_bundle,
    tar_gz_bytes,
    write_bundle,
    write_file,
    zip_bytes,
)
from export.manifest import MANIFEST, file_digest, whole_digest
from export.scope import ExportError
from export.verify import verify_files
from graph.settings import Settings
from ingest.demo import envelopes as demo_envelopes
from tests.conftest import load

PASSWD = Path("/etc/passwd")


def bundle(files: dict[str, bytes]) -> dict[str, bytes]:
    """A minimal valid bundle of `files`: the files and a manifest with their digests."""
    digests = {path: file_digest(data) for path, data in files.items()}
    manifest = json.dumps({"files": digests, "whole": whole_digest(digests)}).encode()
    return {**files, MANIFEST: manifest}


def verify(path: Path) -> Result:
    return CliRunner().invoke(verify_export, [str(path)])


# --- verify-export: links and devices inside a bundle ---------------------------------------------


@pytest.mark.skipif(not PASSWD.is_file(), reason="needs /etc/passwd to link to")
def test_a_link_inside_a_bundle_folder_is_refused_not_verified(tmp_path: Path) -> None:
    folder = write_bundle(bundle({"answers/a.json": PASSWD.read_bytes()}), tmp_path / "b")
    assert verify(folder).exit_code == 0  # the real file verifies
    (folder / "answers" / "a.json").unlink()
    (folder / "answers" / "a.json").symlink_to(PASSWD)  # the manifest's digest is /etc/passwd's own
    refused = verify(folder)
    assert refused.exit_code == 2 and "answers/a.json is a symbolic link" in refused.stderr
    assert "verified" not in refused.stdout


def test_a_linked_folder_inside_a_bundle_is_refused(tmp_path: Path) -> None:
    elsewhere = write_bundle({"x.json": b"{}"}, tmp_path / "elsewhere")
    folder = write_bundle(bundle({"sources/x.json": b"{}"}), tmp_path / "b")
    (folder / "sources" / "x.json").unlink()
    (folder / "sources").rmdir()
    (folder / "sources").symlink_to(elsewhere, target_is_directory=True)
    refused = verify(folder)
    assert refused.exit_code == 2 and "sources is a symbolic link" in refused.stderr


def test_a_pipe_inside_a_bundle_folder_is_refused_without_waiting_for_it(tmp_path: Path) -> None:
    folder = write_bundle(bundle({"a.json": b"{}"}), tmp_path / "b")
    os.mkfifo(folder / "report.csv")  # opening it to read would wait forever for a writer
    refused = verify(folder)
    assert refused.exit_code == 2 and "report.csv is not a regular file" in refused.stderr


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_link_member_of_an_archive_is_refused(tmp_path: Path, kind: str) -> None:
    files = bundle({"a.json": b"{}"})
    path = tmp_path / f"b.{kind}"
    if kind == "zip":
        path.write_bytes(zip_bytes(files))
        with zipfile.ZipFile(path, "a") as archive:
            link = zipfile.ZipInfo("report.csv")
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(link, "/etc/passwd")
    else:
        raw = io.BytesIO(gzip.decompress(tar_gz_bytes(files)))
        with tarfile.open(fileobj=raw, mode="a") as archive:
            link = tarfile.TarInfo("report.csv")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(link)
        path.write_bytes(gzip.compress(raw.getvalue()))
    refused = verify(path)
    assert refused.exit_code == 2 and "report.csv is a" in refused.stderr and "link" in refused.stderr


# --- verify-export: bounded, streaming reads ----------------------------------------------------


def _zeros_zip(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, b"{}")
        with archive.open("sources/bomb.json", "w", force_zip64=True) as member:
            for _ in range(size // (1 << 20)):
                member.write(bytes(1 << 20))
    return path


def _zeros_tar_gz(path: Path, size: int) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("sources/bomb.json")
        info.size = size

        class Zeros:
            def read(self, size: int = -1) -> bytes:
                return bytes(size)

        archive.addfile(info, Zeros())  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize("make", [_zeros_zip, _zeros_tar_gz], ids=["zip", "tar.gz"])
def test_a_compression_bomb_is_refused_within_bounded_memory(tmp_path: Path, make: object) -> None:
    size = EXPANSION_FLOOR + (16 << 20)  # 80 MB of zeros: a few hundred KB compressed
    path = make(tmp_path / ("bomb.zip" if make is _zeros_zip else "bomb.tar.gz"), size)  # type: ignore[operator]
    assert path.stat().st_size < size // 200
    tracemalloc.start()
    try:
        with pytest.raises(Unreadable, match="compression bomb"):
            read_bundle(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"reading held {peak:,} bytes at once"
    refused = verify(path)
    assert refused.exit_code == 2 and "refused" in refused.stderr


def test_a_large_bundle_is_digested_without_holding_its_files(tmp_path: Path) -> None:
    big = os.urandom(1 << 20) * 24  # 24 MB, incompressible enough to be within the expansion bound
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in bundle({"sources/big.bin": big}).items():
            archive.writestr(name, data)
    del big
    tracemalloc.start()
    try:
        result = verify_files(read_bundle(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.problems == [] and result.files == 1
    assert peak < 8 << 20, f"verifying held {peak:,} bytes at once"


def test_a_gzip_that_is_not_a_tar_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "b.tar.gz"
    path.write_bytes(gzip.compress(b"not a tar archive at all" * 100))
    result = verify(path)
    assert result.exit_code == 2 and "not a readable archive" in result.stderr


# --- writing: never over a file unless forced, never through a link -----------------------------


def test_write_file_refuses_an_existing_file_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    write_file(target, b"first")
    with pytest.raises(ExportError, match="already exists; choose another --out, or pass --force"):
        write_file(target, b"second")
    assert target.read_bytes() == b"first"
    write_file(target, b"second", force=True)
    assert target.read_bytes() == b"second" and stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("dangling", [False, True])
def test_write_file_never_writes_through_a_link(tmp_path: Path, force: bool, dangling: bool) -> None:
    victim = tmp_path / "victim.txt"
    if not dangling:
        victim.write_text("precious")
    link = tmp_path / "report.html"
    link.symlink_to(victim)
    with pytest.raises(ExportError, match="is a symbolic link"):
        write_file(link, b"<html>", force=force)
    archive = tmp_path / "bundle.zip"
    archive.symlink_to(victim)
    with pytest.raises(ExportError, match="is a symbolic link"):
        write_bundle({"a.json": b"{}"}, archive, force=force)
    assert victim.read_text() == "precious" if not dangling else not victim.exists()


def test_a_folder_bundle_is_not_written_into_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "bundle").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ExportError, match="is a symbolic link"):
        write_bundle({"a.json": b"{}"}, tmp_path / "bundle")
    assert not any(elsewhere.iterdir())


def test_export_csv_and_html_need_force_to_replace_and_never_follow_a_link(settings: Settings, tmp_path: Path) -> None:
    assert not load(settings, demo_envelopes()).rejected
    env = {
        "NEO4J_URI": settings.neo4j_uri or "",
        "NEO4J_PASSWORD": settings.neo4j_password or "",
        "TRACEGRAPH_HOME": str(settings.home),
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(export, ["--change", "acme/shop#42", *args], env=env)

    for fmt in ("csv", "html"):
        out = tmp_path / f"report.{fmt}"
        out.write_text("keep me")
        refused = run("--format", fmt, "--out", str(out))
        assert refused.exit_code == 2 and "already exists" in refused.stderr and "--force" in refused.stderr
        assert out.read_text() == "keep me"
        forced = run("--format", fmt, "--out", str(out), "--force")
        assert forced.exit_code == 0 and out.read_text() != "keep me"
        victim = tmp_path / f"victim-{fmt}"
        victim.write_text("precious")
        link = tmp_path / f"link.{fmt}"
        link.symlink_to(victim)
        for extra in ([], ["--force"]):
            through = run("--format", fmt, "--out", str(link), *extra)
            assert through.exit_code == 2 and "symbolic link" in through.stderr
        assert victim.read_text() == "precious"
    archive = tmp_path / "bundle.zip"
    assert run("--out", str(archive)).exit_code == 0
    again = run("--out", str(archive))
    assert again.exit_code == 2 and "--force" in again.stderr
    assert run("--out", str(archive), "--force").exit_code == 0 and verify(archive).exit_code == 0
