"""A local git repository as a source: commits, parents, trailers, signatures and git-ai notes.

`git log` runs as a subprocess and its output is parsed record by record from the pipe, so a
repository of any size is read with flat memory: one commit at a time. Each commit is its own event
(source `git`, id `{repo}@{sha}`, read by ingest.sources.git) and each git-ai note one more (source
`git-ai`, the same id); both go through the one pipeline like any other event.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
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
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


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

    def range_args(self, since: str | None) -> list[str]:
        """The revisions to read: every branch, tag and remote branch (not notes, not stash), and HEAD."""
        args = ["--branches", "--tags", "--remotes", *(["HEAD"] if self.has_head else [])]
        return args + ([f"--since={since}"] if since else [])


def _env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


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
    return GitRepo(
        root=root,
        # The graph names repositories in lower case (GitHub and GitLab ignore case).
        name=(name or repo_name_from_url(remote) or folder).lower(),
        url=web_url(remote),
        has_notes=_git_sync(root, "rev-parse", "-q", "--verify", NOTES_REF).returncode == 0,
        has_head=_git_sync(root, "rev-parse", "-q", "--verify", "HEAD^{commit}").returncode == 0,
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

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


class LogParser:
    """Incremental parser of `git log -z --numstat --format=LOG_FORMAT` output, fed chunk by chunk."""

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
            return  # git's own separator between a commit's header and its file list
        added, deleted, path = match.groups()
        self._commit.additions += int(added) if added != "-" else 0
        self._commit.deletions += int(deleted) if deleted != "-" else 0
        if path:
            self._commit.files.append(path)
        else:
            self._paths_due = 2


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


async def read_commits(repo: GitRepo, since: str | None) -> AsyncGenerator[GitCommit, None]:
    """Stream the repository's commits from `git log`, one at a time."""
    notes = ["--notes=" + NOTES_REF] if repo.has_notes else []
    args = ["--no-replace-objects", "log", *repo.range_args(since), *notes, "--format=" + log_format(repo.has_notes)]
    args += ["-z", "--numstat", "--root", "--find-renames", "--no-color", "--no-show-signature", "--encoding=UTF-8"]
    args += ["--no-ext-diff", "--no-textconv"]
    parser = LogParser(with_notes=repo.has_notes)
    # stderr goes to a file: a pipe nobody reads could fill up and stall git.
    with tempfile.TemporaryFile() as errors:
        proc = await asyncio.create_subprocess_exec(
            "git", "-C", str(repo.root), *args, stdout=asyncio.subprocess.PIPE, stderr=errors, env=_env()
        )
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(1 << 16):
                for commit in parser.feed(chunk):
                    yield commit
            for commit in parser.close():
                yield commit
            if await proc.wait() != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip().splitlines()
                raise GitError(f"git log failed in {repo.root}: {message[-1] if message else 'no message'}")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


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
        # git prints no file list for merges: null keeps what the graph knew.
        "files": None if commit.is_merge else commit.files,
        "additions": None if commit.is_merge else commit.additions,
        "deletions": None if commit.is_merge else commit.deletions,
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
        try:
            await feeder.feed(repository_event(self.repo, received_at))
            # aclosing: if a write fails, git is stopped now rather than when the loop shuts down.
            async with aclosing(read_commits(self.repo, since)) as commits:
                async for commit in commits:
                    await feeder.feed(commit_event(self.repo, commit, received_at))
                    self.summary.commits += 1
                    self.summary.merges += commit.is_merge
                    if commit.note:
                        refused = len(feeder.summary.rejected)
                        await feeder.feed(note_event(self.repo, commit, received_at))
                        self.summary.notes += len(feeder.summary.rejected) == refused
                    if self.on_commit:
                        self.on_commit(commit)
            await feeder.flush()
            self.summary.written = await writer.drain()
        except BaseException:
            writer.cancel()
            raise
        self.summary.rejected = feeder.summary.rejected
        self.summary.redactions = sum(feeder.summary.redactions.values())
        self.summary.seconds = time.monotonic() - started
        return self.summary
