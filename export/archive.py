"""A bundle on disk: written as a folder, .zip or .tar.gz (byte-for-byte reproducible), and read back."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

from export.scope import ExportError

ARCHIVES = (".zip", ".tar.gz", ".tgz")


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """The bundle as a zip (fixed timestamps, sorted entries: the same files give the same bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(files.items()):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def tar_gz_bytes(files: dict[str, bytes]) -> bytes:
    """The bundle as a .tar.gz (fixed timestamps, sorted entries)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def write_bundle(files: dict[str, bytes], out: Path) -> Path:
    """Write the bundle as a folder, or as an archive when `out` ends in .zip, .tar.gz or .tgz."""
    name = out.name.lower()
    if name.endswith(ARCHIVES):
        if out.exists():
            raise ExportError(f"{out} already exists; choose another name or remove it")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(zip_bytes(files) if name.endswith(".zip") else tar_gz_bytes(files))
        return out
    # Old files left in the folder would make the bundle fail verification as "unexpected".
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder; choose another --out or remove it")
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return out


class Unreadable(ValueError):
    """The path is not a bundle folder or archive that can be read."""


def read_bundle(path: Path) -> dict[str, bytes]:
    """Every regular file of a bundle folder, .zip or .tar.gz, by its path inside the bundle."""
    try:
        if path.is_dir():
            return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
        found = path.is_file()
    except OSError as exc:  # a folder or file the user may not read
        raise Unreadable(str(exc)) from exc
    if not found:
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
