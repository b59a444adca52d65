"""A bundle on disk: written as a folder, .zip or .tar.gz (byte-for-byte reproducible), and read back.

Writing never goes through a symbolic link and never replaces a file unless asked to (`force`). Reading
treats the bundle as untrusted: links, devices and pipes inside it are refused (a link to /etc/passwd
must not "verify"), every file is digested as it streams by, and what is read is bounded (a 200 KB
zip bomb must not become 500 MB of memory).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from export.scope import ExportError

ARCHIVES = (".zip", ".tar.gz", ".tgz")

MAX_ENTRIES = 100_000  # files (and folders) a bundle may hold
MAX_FILE_BYTES = 512 * 1024 * 1024  # one file, as read (uncompressed)
MAX_BUNDLE_BYTES = 4 * 1024 * 1024 * 1024  # every file together, as read
MAX_EXPANSION = 200  # an archive expands to at most this many times its own size (deflated JSON: 5–50 times)…
EXPANSION_FLOOR = 64 * 1024 * 1024  # …or to this, whichever is more, so small archives of any content read
MAX_WHOLE_BYTES = 64 * 1024 * 1024  # a file read whole into memory (the manifest, the Statement)
CHUNK = 1024 * 1024


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


# --- writing -------------------------------------------------------------------------------------


def write_file(path: Path, data: bytes, *, force: bool = False) -> Path:
    """Write `data` to a new file at `path`; with `force`, replace a regular file there. Never through a link.

    Without force the file is created with O_EXCL (which also refuses a link, dangling or not, in its
    place); with force the data goes to a temporary file beside it, renamed over the name, which replaces
    the name itself and never what a link points to.
    """
    if path.is_symlink():
        raise ExportError(f"{path} is a symbolic link; tracegraph does not write through links: choose another --out")
    if path.exists():
        if not force:
            raise ExportError(f"{path} already exists; choose another --out, or pass --force to replace it")
        if not path.is_file():
            raise ExportError(f"{path} exists and is not a regular file; choose another --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not force:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError as exc:  # appeared since the check above
            raise ExportError(f"{path} already exists; choose another --out, or pass --force to replace it") from exc
        with os.fdopen(fd, "wb") as new:
            new.write(data)
        return path
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as temporary:
        temporary.write(data)
    try:
        os.chmod(temporary.name, 0o644)
        os.replace(temporary.name, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary.name)
        raise
    return path


def write_bundle(files: dict[str, bytes], out: Path, *, force: bool = False) -> Path:
    """Write the bundle as a folder (new or empty), or as an archive when `out` ends in .zip, .tar.gz or .tgz
    (replacing an existing archive only with `force`)."""
    name = out.name.lower()
    if name.endswith(ARCHIVES):
        return write_file(out, zip_bytes(files) if name.endswith(".zip") else tar_gz_bytes(files), force=force)
    if out.is_symlink():
        raise ExportError(f"{out} is a symbolic link; tracegraph does not write through links: choose another --out")
    # Old files left in the folder would make the bundle fail verification as "unexpected".
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not an empty folder; choose another --out or remove it")
    for path, data in files.items():
        write_file(out / path, data)
    return out


# --- reading -------------------------------------------------------------------------------------


class Unreadable(ValueError):
    """The path is not a bundle folder or archive that can be read (or holds what a bundle must not)."""


Opener = Callable[[str], contextlib.AbstractContextManager[IO[bytes]]]


class Bundle(Mapping[str, bytes]):
    """The files of a bundle by path: every file's digest, computed while reading it once; a file's bytes
    are read again only when asked for (bounded by MAX_WHOLE_BYTES), so a bundle is never all in memory."""

    def __init__(self, where: Path, digests: dict[str, str], opener: Opener):
        self.where = where
        self.digests = digests
        self._open = opener

    def __getitem__(self, name: str) -> bytes:
        if name not in self.digests:
            raise KeyError(name)
        with self._open(name) as handle:
            data = handle.read(MAX_WHOLE_BYTES + 1)
        if len(data) > MAX_WHOLE_BYTES:
            raise Unreadable(f"{self.where}: {name} is larger than {MAX_WHOLE_BYTES:,} bytes; it is not read whole")
        return data

    def __contains__(self, name: object) -> bool:
        return name in self.digests  # Mapping's own would read the file to find out

    def __iter__(self) -> Iterator[str]:
        return iter(self.digests)

    def __len__(self) -> int:
        return len(self.digests)


class _Budget:
    """What reading one bundle may cost: entries, bytes per file, bytes in all."""

    def __init__(self, where: Path, total: int):
        self.where = where
        self.total = total
        self.entries = 0
        self.read = 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise Unreadable(f"{self.where} holds more than {MAX_ENTRIES:,} entries; it is not a tracegraph bundle")

    def digest(self, name: str, handle: IO[bytes]) -> str:
        """'sha256:<hex>' of a file, read in chunks within the budget."""
        digest, size = hashlib.sha256(), 0
        while chunk := handle.read(CHUNK):
            size += len(chunk)
            self.read += len(chunk)
            if size > MAX_FILE_BYTES:
                raise Unreadable(f"{self.where}: {name} is larger than {MAX_FILE_BYTES:,} bytes; refused")
            if self.read > self.total:
                raise Unreadable(
                    f"{self.where} expands to more than {self.total:,} bytes (a compression bomb, or not a bundle); "
                    "refused"
                )
            digest.update(chunk)
        return "sha256:" + digest.hexdigest()


def _refuse(where: Path, name: str, what: str) -> Unreadable:
    return Unreadable(f"{where}: {name} is {what}; a bundle holds regular files only, so it is refused")


def _read_folder(root: Path) -> Bundle:
    budget = _Budget(root, MAX_BUNDLE_BYTES)
    digests: dict[str, str] = {}

    def walk(folder: Path) -> None:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                budget.entry()
                path = Path(entry.path)
                name = path.relative_to(root).as_posix()
                if entry.is_symlink():
                    raise _refuse(root, name, "a symbolic link")
                if entry.is_dir(follow_symlinks=False):
                    walk(path)
                elif entry.is_file(follow_symlinks=False):
                    with _open_regular(path) as handle:
                        digests[name] = budget.digest(name, handle)
                else:
                    raise _refuse(root, name, "not a regular file (a device, pipe or socket)")

    walk(root)
    return Bundle(root, digests, lambda name: _open_regular(root / name))


def _open_regular(path: Path) -> IO[bytes]:
    """A regular file opened for reading, refusing a link swapped in since it was listed (O_NOFOLLOW)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Unreadable(f"{path} is not a regular file; a bundle holds regular files only, so it is refused")
    return os.fdopen(fd, "rb")


def _expansion_limit(path: Path) -> int:
    return min(MAX_BUNDLE_BYTES, max(EXPANSION_FLOOR, MAX_EXPANSION * path.stat().st_size))


def _read_zip(path: Path) -> Bundle:
    budget = _Budget(path, _expansion_limit(path))
    digests: dict[str, str] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            budget.entry()
            if info.is_dir():
                continue
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind not in (0, stat.S_IFREG):
                raise _refuse(path, info.filename, "a symbolic link" if kind == stat.S_IFLNK else "not a regular file")
            if info.filename in digests:
                raise Unreadable(f"{path}: {info.filename} appears twice; refused")
            with archive.open(info) as handle:
                digests[info.filename] = budget.digest(info.filename, handle)

    @contextlib.contextmanager
    def opener(name: str) -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(path) as archive, archive.open(name) as handle:
            yield handle

    return Bundle(path, digests, opener)


def _read_tar(path: Path) -> Bundle:
    budget = _Budget(path, _expansion_limit(path))
    digests: dict[str, str] = {}
    # One pass over the stream: nothing is extracted, so member names cannot escape anywhere. gzip's reader
    # inflates at most what is asked for (tarfile's own "r|gz" inflates a whole buffer, up to 1,000 times it).
    with gzip.open(path, "rb") as inflated, tarfile.open(fileobj=inflated, mode="r|") as archive:
        for member in archive:
            budget.entry()
            name = member.name.removeprefix("./")
            if member.isdir():
                continue
            if member.issym() or member.islnk():
                raise _refuse(path, name, "a link")
            handle = archive.extractfile(member) if member.isfile() else None
            if handle is None:
                raise _refuse(path, name, "not a regular file")
            if name in digests:
                raise Unreadable(f"{path}: {name} appears twice; refused")
            digests[name] = budget.digest(name, handle)

    @contextlib.contextmanager
    def opener(name: str) -> Iterator[IO[bytes]]:
        with gzip.open(path, "rb") as inflated, tarfile.open(fileobj=inflated, mode="r|") as archive:
            for member in archive:
                if member.name.removeprefix("./") == name and (handle := archive.extractfile(member)):
                    yield handle
                    return
        raise KeyError(name)

    return Bundle(path, digests, opener)


def read_bundle(path: Path) -> Bundle:
    """The files of a bundle folder, .zip or .tar.gz by their path inside it (links and oversize refused)."""
    name = path.name.lower()
    try:
        if path.is_dir():
            return _read_folder(path)
        if not path.is_file():
            raise Unreadable(f"{path} does not exist")
        if name.endswith(".zip"):
            return _read_zip(path)
        if name.endswith(ARCHIVES):
            return _read_tar(path)
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise Unreadable(f"{path} is not a readable archive: {exc}") from exc
    except OSError as exc:  # a folder or file the user may not read
        raise Unreadable(f"{path} cannot be read: {exc}") from exc
    raise Unreadable(f"{path} is not a bundle: give the bundle's folder, or a .zip / .tar.gz of it")
