"""A local git repository as a source: commits, parents, trailers, signatures and git-ai notes.

`git log` runs as a subprocess and its output is parsed record by record from the pipe, so a
repository of any size is read with flat memory: one commit at a time. Each commit is its own event
(source `git`, id `{repo}@{sha}`, read by ingest.sources.git) and each git-ai note one more (source
`git-ai`, the same id); both go through the one pipeline like any other event.

Real repositories are not always whole. A partial or blobless clone (`--filter=blob:none`) lacks
the file contents that line counts are computed from, a damaged one may lack a single object, and
a shallow clone (`--depth`) ends in commits whose parents it does not hold. None of that stops a
run: git never fetches (transport is switched off, so a promisor remote is never contacted), a
commit whose diff cannot be read is recorded with what can be read (its files when the trees are
there, never invented line counts) and says why in `GitCommit.problem`, and a shallow boundary
commit keeps the parents its object names, without the bogus "everything added" diff git shows
for it. See `read_commits` for how the reading degrades.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from graph.driver import Graph
from graph.writer import WriteBehind, WriteStats
from ingest.identity import Identities
from ingest.pipeline.events import Event, Rejection
from ingest.pipeline.feed import Feeder
from ingest.pipeline.prepare import Pipeline
from ingest.timestamps import iso, now

SOURCE = "git"
NOTES_REF = "refs/notes/ai"
_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%G?", "%B")
_NUMSTAT = re.compile(r"\n?(-|\d+)\t(-|\d+)\t(.*)", re.S)
# A --raw entry: ":<old mode> <new mode> <old id> <new id> <status>[score]", then its path(s).
_RAW = re.compile(r"\n?:(\d{6}) (\d{6}) ([0-9a-f]{40,64}) ([0-9a-f]{40,64}) ([A-Z])\d*")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_GITLINK = "160000"  # a submodule: its id is a commit of another repository, never read here
# Shared by every `git log` run: NUL-separated, no colour, no signature checks, no external tools.
_LOG_OPTIONS = ["-z", "--no-color", "--no-show-signature", "--encoding=UTF-8", "--no-ext-diff", "--no-textconv"]
# Line counts: what a whole repository gets. Reads the blobs of every changed file.
_NUMSTAT_DIFF = ["--numstat", "--root", "--find-renames"]
# Changed paths and the ids of their blobs from the trees alone: reads no blob at all.
_RAW_DIFF = ["--raw", "--root", "--no-renames", "--no-abbrev"]
# How many commits with unreadable diffs are named one by one before they are only counted.
WARN_EACH = 20
# Rows are handed to the writer FLUSH_ROWS at a time, or sooner once the messages and notes read
# since the last hand-over reach this many characters: git-ai notes that embed a transcript run to
# hundreds of kilobytes, and a few hundred of them in one batch (kept as the raw document, redacted,
# then packed for Bolt, with up to three batches queued behind the writer) took peak RSS past 300 MB.
FLUSH_CHARS = 4_000_000


class GitError(RuntimeError):
    """git is missing, the path is not a repository, or git failed; the message says what to do."""


# --- reading the repository ---------------------------------------------------------------------


@dataclass(frozen=True)
class GitRepo:
    """A repository on disk, what to call it in the graph, and whether it carries git-ai notes."""

    root: Path
    name: str
    url: str | None
    has_notes: bool
    has_head: bool
    # The commits a shallow clone ends at: git shows them without parents, as if they were roots.
    shallow: frozenset[str] = frozenset()

    def range_args(self, since: str | None) -> list[str]:
        """The revisions to read: every branch, tag and remote branch (not notes, not stash), and HEAD."""
        args = ["--branches", "--tags", "--remotes", *(["HEAD"] if self.has_head else [])]
        return args + ([f"--since={since}"] if since else [])


def _env() -> dict[str, str]:
    # GIT_ALLOW_PROTOCOL="" allows no transport at all, whatever the user's config says: reading
    # never fetches, so a partial clone's promisor remote is never contacted for a missing object
    # (one round trip per blob, credentials, a network that may not be there). GIT_NO_LAZY_FETCH says
    # the same to git 2.44 and later.
    return {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
        "GIT_ALLOW_PROTOCOL": "",
        "GIT_NO_LAZY_FETCH": "1",
    }


def _git_sync(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env or _env(), check=False
    )


def open_repository(path: Path, *, name: str | None = None) -> GitRepo:
    """Check that `path` is a git repository (its top folder, or a bare one) and describe it."""
    if shutil.which("git") is None:
        raise GitError("git is not installed (or not on PATH); install git to read repositories")
    path = path.resolve()
    if not path.is_dir():
        raise GitError(f"{path} is not a folder")
    # The ceiling stops git from walking up: a plain folder inside some other checkout is not a repository.
    env = {**_env(), "GIT_CEILING_DIRECTORIES": str(path.parent)}
    probe = _git_sync(path, "rev-parse", "--is-bare-repository", "--absolute-git-dir", env=env)
    if probe.returncode != 0:
        said = probe.stderr.strip().splitlines()
        reason = next((line for line in said if line.startswith("fatal: ")), said[0] if said else "")
        reason = reason.removeprefix("fatal: ")
        if not reason or reason.startswith("not a git repository"):
            raise GitError(f"{path} is not a git repository (give the folder that holds .git, or a bare repository)")
        # e.g. "detected dubious ownership": git's own words say what to do.
        raise GitError(f"{path} cannot be read as a git repository: {reason}")
    bare, git_dir = probe.stdout.split("\n")[:2]
    root = Path(git_dir) if bare == "true" else path
    if bare != "true":
        top = _git_sync(path, "rev-parse", "--show-toplevel", env=env)
        root = Path(top.stdout.strip()) if top.returncode == 0 else path
    remote = _git_sync(root, "remote", "get-url", "origin").stdout.strip()
    folder = root.name.removesuffix(".git") or root.name
    shallow_file = root / _git_sync(root, "rev-parse", "--git-path", "shallow").stdout.strip()
    shallow = frozenset(_SHA.findall(shallow_file.read_text())) if shallow_file.is_file() else frozenset()
    return GitRepo(
        root=root,
        # The graph names repositories in lower case (GitHub and GitLab ignore case).
        name=(name or repo_name_from_url(remote) or folder).lower(),
        url=web_url(remote),
        has_notes=_git_sync(root, "rev-parse", "-q", "--verify", NOTES_REF).returncode == 0,
        has_head=_git_sync(root, "rev-parse", "-q", "--verify", "HEAD^{commit}").returncode == 0,
        shallow=shallow,
    )


def _remote_path(url: str) -> tuple[str | None, str] | None:
    """(host, path) of a remote URL (https, ssh, git, scp-like `git@host:o/r.git`); None for local paths."""
    url = url.strip()
    scp = re.fullmatch(r"(?:[^@/:]+@)?(?P<host>[^/:]+):(?P<path>[^/].*)", url)
    if scp and "://" not in url:
        return scp["host"], scp["path"]
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ssh", "git", "git+ssh") and parts.hostname:
        return parts.hostname, parts.path
    return None


def repo_name_from_url(url: str) -> str | None:
    """`owner/name` (or `group/sub/name` on GitLab) from a remote URL; None for local or odd remotes."""
    found = _remote_path(url) if url else None
    if found is None:
        return None
    path = found[1].strip("/").removesuffix(".git").strip("/")
    return path if "/" in path else None


def web_url(url: str) -> str | None:
    """The https address of an https remote, without credentials; None for other remotes."""
    parts = urlsplit(url.strip()) if url else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path.removesuffix('.git')}"


def git_since(since: str | None) -> str | None:
    """An ISO-8601 date or time as git's --since wants it (UTC); ValueError for anything else."""
    if since is None:
        return None
    found = iso(since.strip())
    if found is None:
        raise ValueError(f"--since {since!r} is not an ISO-8601 date or time (e.g. 2024-01-31 or 2024-01-31T12:00Z)")
    return found


@dataclass
class GitCommit:
    """One commit as `git log` prints it."""

    sha: str
    parents: list[str]
    author_name: str
    author_email: str
    authored_at: str
    committer_name: str
    committer_email: str
    committed_at: str
    signature: str
    message: str
    note: str | None = None
    files: list[str] = field(default_factory=list)
    additions: int = 0
    deletions: int = 0
    # Read with --raw: the blobs its diff would read (new and old sides; no submodules, no zeros).
    blobs: list[str] = field(default_factory=list)
    files_known: bool = True
    lines_known: bool = True
    # Why files or line counts are missing (a missing object, a shallow boundary), for a warning.
    problem: str | None = None

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    def without_diff(self, problem: str, *, files_known: bool) -> GitCommit:
        """The commit with its line counts (and, unless `files_known`, its files) marked unknown."""
        self.lines_known, self.additions, self.deletions, self.problem = False, 0, 0, problem
        if not files_known:
            self.files_known, self.files = False, []
        return self


class LogParser:
    """Incremental parser of `git log -z [--numstat|--raw] --format=LOG_FORMAT` output, fed chunk by chunk."""

    def __init__(self, *, with_notes: bool):
        self.width = len(_FIELDS) + (1 if with_notes else 0)
        self._pending: list[bytes] = []
        self._header: list[str] = []
        self._commit: GitCommit | None = None
        self._paths_due = 0  # a rename's numstat entry is followed by its old and new paths

    def feed(self, chunk: bytes) -> list[GitCommit]:
        """Commits completed by this chunk (a commit completes when the next one starts)."""
        done: list[GitCommit] = []
        if b"\0" not in chunk:
            self._pending.append(chunk)
            return done
        *tokens, rest = b"".join([*self._pending, chunk]).split(b"\0")
        self._pending = [rest]
        for token in tokens:
            self._token(token.decode("utf-8", "replace"), done)
        return done

    def close(self) -> list[GitCommit]:
        """The last commit, once the output has ended."""
        done: list[GitCommit] = []
        tail = b"".join(self._pending)
        if tail:
            self._token(tail.decode("utf-8", "replace"), done)
        self._pending = []
        if self._commit is not None:
            done.append(self._commit)
            self._commit = None
        return done

    def _token(self, token: str, done: list[GitCommit]) -> None:
        if self._header or (token.startswith("\x1e") and not self._paths_due):
            if not self._header and self._commit is not None:
                done.append(self._commit)
                self._commit = None
            self._header.append(token.removeprefix("\x1e") if not self._header else token)
            if len(self._header) == self.width:
                self._commit, self._header = _commit(self._header), []
            return
        if self._commit is None:
            return  # noise before the first record (or after a record we could not read)
        if self._paths_due:
            self._paths_due -= 1
            self._commit.files.append(token)
            return
        match = _NUMSTAT.fullmatch(token)
        if match is None:
            if raw := _RAW.fullmatch(token):
                self._raw(self._commit, *raw.groups())
            return  # otherwise git's own separator between a commit's header and its file list
        added, deleted, path = match.groups()
        self._commit.additions += int(added) if added != "-" else 0
        self._commit.deletions += int(deleted) if deleted != "-" else 0
        if path:
            self._commit.files.append(path)
        else:
            self._paths_due = 2

    def _raw(self, commit: GitCommit, old_mode: str, new_mode: str, old: str, new: str, status: str) -> None:
        for mode, blob in ((old_mode, old), (new_mode, new)):
            if mode != _GITLINK and blob.strip("0"):
                commit.blobs.append(blob)
        self._paths_due = 2 if status in "RC" else 1


def _commit(fields: list[str]) -> GitCommit | None:
    sha, parents, an, ae, at, cn, ce, ct, sig, message, *note = fields
    if not _SHA.fullmatch(sha):
        return None
    return GitCommit(
        sha=sha,
        parents=parents.split(),
        author_name=an,
        author_email=ae,
        authored_at=at,
        committer_name=cn,
        committer_email=ce,
        committed_at=ct,
        signature=sig or "N",
        message=message,
        note=(note[0] or None) if note else None,
    )


def log_format(with_notes: bool) -> str:
    """The --format of the log: a record separator, then NUL-terminated fields."""
    return "%x1e" + "".join(f"{f}%x00" for f in (*_FIELDS, *(["%N"] if with_notes else [])))


async def _git_out(repo: GitRepo, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git", "-C", str(repo.root), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env()
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed in {repo.root}: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


async def count_commits(repo: GitRepo, since: str | None) -> int:
    """How many commits `read_commits` will yield (for the progress bar)."""
    return int((await _git_out(repo, "rev-list", "--count", *repo.range_args(since))).strip() or 0)


class _Broken(Exception):
    """git stopped with an error after `done` complete commits (the one it was on is not among them)."""

    def __init__(self, done: int, message: str):
        super().__init__(message)
        self.done = done
        self.message = message


async def _log(
    repo: GitRepo, args: list[str], *, stdin: IO[bytes] | None = None, notes: bool = True
) -> AsyncGenerator[GitCommit, None]:
    """One `git log` run: its commits as they come; _Broken when git fails part way.

    A commit is complete once the next one starts, so the one git was on when it failed is dropped,
    never yielded half read."""
    with_notes = notes and repo.has_notes
    command = ["--no-replace-objects", "log", *(["--notes=" + NOTES_REF] if with_notes else [])]
    command += ["--format=" + log_format(with_notes), *_LOG_OPTIONS, *args]
    parser = LogParser(with_notes=with_notes)
    done = 0
    # stderr goes to a file: a pipe nobody reads could fill up and stall git.
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "-C",
            str(repo.root),
            *command,
            stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
            env=_env(),
        )
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(1 << 16):
                for commit in parser.feed(chunk):
                    done += 1
                    yield commit
            if await proc.wait() != 0:
                errors.seek(0)
                said = [line for line in errors.read().decode(errors="replace").splitlines() if line.strip()]
                raise _Broken(done, said[-1].removeprefix("fatal: ") if said else f"exit status {proc.returncode}")
            for commit in parser.close():
                yield commit
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _missing_objects(repo: GitRepo, range_args: list[str]) -> set[str]:
    """Ids of the objects the commits in range reach but the repository lacks (never fetched)."""
    out = await _git_out(repo, "rev-list", "--objects", "--missing=print", "--no-object-names", *range_args)
    return {line[1:] for line in out.splitlines() if line.startswith("?")}


async def _parents(repo: GitRepo, shas: Iterable[str]) -> dict[str, list[str]]:
    """The parents each commit object names (a shallow clone's grafts hide them from `git log`)."""
    wanted = "".join(f"{sha}\n" for sha in shas).encode()
    if not wanted:
        return {}
    proc = await asyncio.create_subprocess_exec(
        "git",
        "-C",
        str(repo.root),
        "cat-file",
        "--batch",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=_env(),
    )
    out, _ = await proc.communicate(wanted)
    found: dict[str, list[str]] = {}
    position = 0
    while position < len(out):
        header_end = out.index(b"\n", position)
        header = out[position:header_end].decode().split()
        position = header_end + 1
        if len(header) != 3:
            continue  # "<sha> missing"
        body = out[position : position + int(header[2])]
        position += int(header[2]) + 1
        head = body.split(b"\n\n", 1)[0].decode(errors="replace").splitlines()
        found[header[0]] = [line.split()[1] for line in head if line.startswith("parent ")]
    return found


async def read_commits(repo: GitRepo, since: str | None) -> AsyncGenerator[GitCommit, None]:
    """Stream the repository's commits from `git log`, one at a time, whatever state the clone is in.

    One `git log --numstat` reads a whole repository. If git fails part way (an object it cannot
    read), the commits after the last complete one are read again more carefully: the objects the
    range lacks are listed (`rev-list --missing=print`, which never fetches), the remaining commits
    are listed with their blob ids from the trees alone (`--raw`), those missing a blob are yielded
    at once with their files but no line counts, and the rest get their line counts from one more
    `git log --numstat` over exactly those commits. A commit whose diff still cannot be read is
    tried alone and, failing that, kept without it; when even the trees are gone (a treeless
    clone), the remaining commits are read without any diff. Order is git's, except in that careful
    reading, where commits without line counts come first: nothing downstream depends on order.
    """
    range_args = repo.range_args(since)
    parents = await _parents(repo, repo.shallow)
    async with aclosing(_read(repo, range_args)) as commits:
        async for commit in commits:
            if commit.sha in repo.shallow:
                commit.parents = parents.get(commit.sha, commit.parents)
                commit.without_diff(
                    "this shallow clone ends here: its parents are not in it, so git shows it as a root "
                    "with every file added; recorded with the parents it names, without files or line counts",
                    files_known=False,
                )
            yield commit


async def _read(repo: GitRepo, range_args: list[str]) -> AsyncGenerator[GitCommit, None]:
    done = 0
    try:
        async with aclosing(_log(repo, [*range_args, *_NUMSTAT_DIFF])) as commits:
            async for commit in commits:
                done += 1
                yield commit
        return
    except _Broken as broken:
        reason = broken.message
    async with aclosing(_careful(repo, range_args, done, reason)) as commits:
        async for commit in commits:
            yield commit


async def _careful(repo: GitRepo, range_args: list[str], skip: int, reason: str) -> AsyncGenerator[GitCommit, None]:
    """The commits after the first `skip`, when reading their diffs in one go failed with `reason`."""
    try:
        missing = await _missing_objects(repo, range_args)
    except GitError:
        missing = set()  # every diff is then tried, and the ones that fail are tried alone
    done = 0
    # Unbuffered, so that a seek moves the descriptor git reads its list from (a buffered file may
    # only move its own buffer).
    with tempfile.TemporaryFile(buffering=0) as readable:
        try:
            async with aclosing(_log(repo, [*range_args, f"--skip={skip}", *_RAW_DIFF])) as commits:
                async for commit in commits:
                    done += 1
                    absent = next((blob for blob in commit.blobs if blob in missing), None)
                    if absent is not None:
                        yield commit.without_diff(
                            f"object {absent} is missing (a partial or blobless clone?): recorded without line counts",
                            files_known=True,
                        )
                    elif commit.is_merge or commit.sha in repo.shallow:
                        yield commit  # git prints no diff for a merge; a shallow boundary keeps none
                    else:
                        # Its blobs are all here: its line counts come from the second pass below.
                        readable.write(f"{commit.sha}\n".encode())
        except _Broken as broken:
            # Not even the trees can be read (a treeless clone): what is left is read without diffs.
            trees = f"git could not read the trees ({broken.message}): recorded without files or line counts"
            try:
                async with aclosing(_log(repo, [*range_args, f"--skip={skip + done}"])) as commits:
                    async for commit in commits:
                        yield commit.without_diff(trees, files_known=False)
            except _Broken as again:
                raise GitError(f"git log failed in {repo.root}: {again.message}") from None
        async with aclosing(_each(repo, readable, reason)) as commits:
            async for commit in commits:
                yield commit


async def _each(repo: GitRepo, shas: IO[bytes], reason: str) -> AsyncGenerator[GitCommit, None]:
    """`git log --numstat` over the commits listed one per line in `shas`; any that git cannot diff
    after all (an object that is there but unreadable) is tried alone, then kept without its diff."""
    shas.seek(0)
    width = len(shas.readline())
    total = shas.seek(0, os.SEEK_END) // width if width else 0
    start = 0
    # Never with an empty list: `git log --stdin` given no commit would read HEAD instead.
    while start < total:
        shas.seek(start * width)
        try:
            args = ["--no-walk=unsorted", "--stdin", *_NUMSTAT_DIFF]
            async with aclosing(_log(repo, args, stdin=shas)) as commits:
                async for commit in commits:
                    # pread leaves the offset git shares alone.
                    expected = os.pread(shas.fileno(), width, start * width).decode().strip()
                    if commit.sha != expected:
                        raise GitError(f"git log --stdin gave {commit.sha} where {expected} was asked for")
                    start += 1
                    yield commit
            return
        except _Broken as broken:
            shas.seek(start * width)
            suspect = shas.read(width).decode().strip()
            start += 1
            yield await _alone(repo, suspect, broken.message or reason)


async def _alone(repo: GitRepo, sha: str, reason: str) -> GitCommit:
    """One commit read by itself: with line counts if git can, else with its files, else bare."""
    attempts = [
        (_NUMSTAT_DIFF, None),
        (_RAW_DIFF, f"git could not read its diff ({reason}): recorded without line counts"),
        ([], f"git could not read its diff or trees ({reason}): recorded without files or line counts"),
    ]
    for diff, problem in attempts:
        try:
            async with aclosing(_log(repo, ["--no-walk", sha, *diff])) as commits:
                found = [commit async for commit in commits]
        except _Broken:
            continue
        if found:
            return found[0] if problem is None else found[0].without_diff(problem, files_known=bool(diff))
    raise GitError(f"git cannot read commit {sha} in {repo.root}: {reason}")


# --- events --------------------------------------------------------------------------------------


def commit_event(repo: GitRepo, commit: GitCommit, received_at: str) -> Event:
    """The event a commit stands for: source git, id `{repo}@{sha}` (see ingest.sources.git)."""
    payload: dict[str, Any] = {
        "repo": repo.name,
        "sha": commit.sha,
        "parents": commit.parents,
        "author": {"name": commit.author_name, "email": commit.author_email, "at": commit.authored_at},
        "committer": {"name": commit.committer_name, "email": commit.committer_email, "at": commit.committed_at},
        "signature": commit.signature,
        "message": commit.message.rstrip("\n"),
        # git prints no file list for merges, and none can be read for some commits of a partial or
        # shallow clone: null keeps what the graph knew.
        "files": commit.files if commit.files_known and not commit.is_merge else None,
        "additions": commit.additions if commit.lines_known and not commit.is_merge else None,
        "deletions": commit.deletions if commit.lines_known and not commit.is_merge else None,
    }
    event_id = f"{repo.name}@{commit.sha}"
    return Event(SOURCE, "commit", event_id, payload, received_at, location=f"{repo.root}@{commit.sha}", via=SOURCE)


def note_event(repo: GitRepo, commit: GitCommit, received_at: str) -> Event:
    """The git-ai note on a commit as the git-ai source reads it, versioned by the commit's time."""
    payload = {"commit": commit.sha, "note": commit.note, "at": commit.committed_at}
    location = f"{repo.root}@{commit.sha} ({NOTES_REF})"
    return Event(
        "git-ai", "note", f"{repo.name}@{commit.sha}:note", payload, received_at, location=location, via=SOURCE
    )


def repository_event(repo: GitRepo, received_at: str) -> Event:
    """The repository itself: its name and web address."""
    return Event(SOURCE, "repository", repo.name, {"name": repo.name, "url": repo.url}, received_at, via=SOURCE)


# --- the driver ----------------------------------------------------------------------------------


@dataclass
class GitSummary:
    repo: str = ""
    commits: int = 0
    merges: int = 0
    notes: int = 0
    # Commits recorded without their line counts (or files): a missing object, a shallow boundary.
    incomplete: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    written: WriteStats = field(default_factory=WriteStats)
    redactions: int = 0
    seconds: float = 0.0


@dataclass
class GitIngestor:
    """Reads a repository's commits (and their git-ai notes) and drives them through the pipeline."""

    graph: Graph
    repo: GitRepo
    identities: Identities
    quarantine_dir: Path
    keep_raw: bool = True
    on_commit: Callable[[GitCommit], None] | None = None
    on_reject: Callable[[Rejection], None] | None = None
    # Called for each commit recorded without its line counts, with what to say about it.
    on_incomplete: Callable[[GitCommit], None] | None = None
    summary: GitSummary = field(default_factory=GitSummary)

    async def run(self, since: str | None) -> GitSummary:
        """Ingest every commit in range (and its git-ai note); the summary of what was written."""
        started = time.monotonic()
        self.summary.repo = self.repo.name
        received_at = now()
        writer = WriteBehind(self.graph)
        pipeline = Pipeline(identities=self.identities, keep_raw=self.keep_raw)
        feeder = Feeder(
            pipeline,
            writer.submit,
            quarantine_dir=self.quarantine_dir,
            on_reject=self.on_reject,
            busy=lambda: writer.busy,
        )
        pending_chars = 0
        # Each event allocates a few hundred short-lived containers and almost none form cycles: at
        # the default threshold the cycle collector keeps walking the live heap (as in ingest.parallel).
        thresholds = gc.get_threshold()
        gc.set_threshold(50_000, 20, 100)
        try:
            await feeder.feed(repository_event(self.repo, received_at))
            # aclosing: if a write fails, git is stopped now rather than when the loop shuts down.
            async with aclosing(read_commits(self.repo, since)) as commits:
                async for commit in commits:
                    pending_chars += len(commit.message) + len(commit.note or "")
                    await feeder.feed(commit_event(self.repo, commit, received_at))
                    self.summary.commits += 1
                    self.summary.merges += commit.is_merge
                    if commit.problem is not None:
                        self.summary.incomplete += 1
                        if self.on_incomplete:
                            self.on_incomplete(commit)
                    if commit.note:
                        refused = len(feeder.summary.rejected)
                        await feeder.feed(note_event(self.repo, commit, received_at))
                        self.summary.notes += len(feeder.summary.rejected) == refused
                    if self.on_commit:
                        self.on_commit(commit)
                    if pending_chars >= FLUSH_CHARS:
                        await feeder.flush()
                        pending_chars = 0
            await feeder.flush()
            self.summary.written = await writer.drain()
        except BaseException:
            writer.cancel()
            raise
        finally:
            gc.set_threshold(*thresholds)
        self.summary.rejected = feeder.summary.rejected
        self.summary.redactions = sum(feeder.summary.redactions.values())
        self.summary.seconds = time.monotonic() - started
        return self.summary
