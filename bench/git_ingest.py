"""`tracegraph ingest-git` on a generated repository: commits per second and peak memory.

    python -m bench.git_ingest --commits 100000            # generate (git fast-import), ingest, report
    python -m bench.git_ingest --commits 100000 --no-graph  # git + parse + normalise only, no Neo4j
    python -m bench.git_ingest --shape real --baseline main  # a real-shaped repository, main's code, then ours

The synthetic repository has a merge every --merge-every commits, AI trailers and git-ai notes on
some commits, and a few authors. The real-shaped one (--shape real, see generate_real) is modelled on
a real repository: pull requests merged with merge commits, AI co-author trailers naming models, and
10,000 git-ai notes of real sizes, many of them on commits rewriting left unreachable.

Ingest runs in a child process; its peak RSS (getrusage) and its RSS sampled as it goes show whether
memory stays flat. --baseline REF ingests the same repository with the code of REF first (exported
with git archive), each on a fresh store, so the two figures come from one run. The bench boots its
own Neo4j (graph.local_neo4j) in --home on a free port and stops it afterwards, unless NEO4J_URI
names a server to use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any

from graph import local_neo4j, repository
from graph.driver import connected
from graph.settings import Settings
from ingest.git_repo import (
    GitCommit,
    GitIngestor,
    commit_event,
    count_commits,
    note_event,
    open_repository,
    read_commits,
)
from ingest.identity import Identities
from ingest.pipeline.events import Rejected
from ingest.pipeline.prepare import Pipeline

AUTHORS = [
    ("Alice Smith", "alice@example.com"),
    ("Bob", "12345+bob@users.noreply.github.com"),
    ("Carol", "carol@example.com"),
    ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com"),
]
EPOCH = 1_600_000_000


def _note(i: int) -> str:
    meta = {
        "schema_version": "authorship/3.0.0",
        "base_commit_sha": "0" * 40,
        "prompts": {},
        "sessions": {f"s_{i:014x}": {"agent_id": {"tool": "claude", "id": f"conv-{i}", "model": "claude-opus-4"}}},
    }
    return f"src/m{i % 97}.py\n  s_{i:014x}::t_{i:014x} 1-3\n---\n{json.dumps(meta)}\n"


def _data(out: IO[bytes], text: str) -> None:
    raw = text.encode()
    out.write(b"data %d\n" % len(raw) + raw + b"\n")


def generate(path: Path, commits: int, *, merge_every: int, notes_every: int) -> None:
    """A repository of `commits` commits written through `git fast-import` (streamed, not held)."""
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE)
    out = proc.stdin
    assert out is not None
    main_mark = 0
    for i in range(1, commits + 1):
        mark = i
        name, email = AUTHORS[i % len(AUTHORS)]
        when = EPOCH + i * 60
        side = merge_every and i % merge_every == 0 and main_mark
        ref = "refs/heads/side" if side else "refs/heads/main"
        message = f"Change {i}\n\nTouches module {i % 97}."
        if i % 7 == 0:
            message += f"\n\nAI-Session: bench-{i}\nCo-authored-by: Claude <noreply@anthropic.com>"
        out.write(f"commit {ref}\nmark :{mark}\n".encode())
        out.write(f"author {name} <{email}> {when} +0000\ncommitter {name} <{email}> {when} +0000\n".encode())
        _data(out, message)
        if main_mark:
            out.write(f"from :{main_mark}\n".encode())
        for path_name in (f"src/m{i % 97}.py", f"tests/test_m{i % 89}.py")[: 1 + i % 2]:
            out.write(f"M 100644 inline {path_name}\n".encode())
            _data(out, f"VALUE = {i}\n")
        if side:
            # The side commit is merged back into main right away: a merge commit with two parents.
            merge = commits + i
            out.write(f"commit refs/heads/main\nmark :{merge}\n".encode())
            out.write(
                f"author {name} <{email}> {when + 1} +0000\ncommitter {name} <{email}> {when + 1} +0000\n".encode()
            )
            _data(out, f"Merge side {i}")
            out.write(f"from :{main_mark}\nmerge :{mark}\n".encode())
            main_mark = merge
        else:
            main_mark = mark
        if notes_every and i % notes_every == 0:
            out.write(b"commit refs/notes/ai\n")
            out.write(f"committer Bench <bench@example.com> {when} +0000\n".encode())
            _data(out, f"note {i}")
            out.write(f"N inline :{mark}\n".encode())
            _data(out, _note(i))
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")


# --- a real-shaped repository -------------------------------------------------------------------
#
# Modelled on the repository of issue 15 (about 5,000 commits, many co-authored by Claude and Codex,
# 10,000 git-ai notes) and on real git-ai notes (the shared corpus, git-ai's own refs/notes/ai):
# pull requests merged with merge commits, files of a few hundred lines edited a few lines at a
# time, AI co-author trailers that name their model, and notes of every size: small sessions-format
# notes, and older legacy notes that embed the whole transcript (tens to hundreds of kilobytes).
# Half the notes hang on commits that history rewriting left unreachable, as git-ai's do after
# rebases: they sit in the notes tree but no branch reaches them.

PEOPLE = [(f"Engineer {i}", f"engineer{i}@example.com") for i in range(24)]
CO_AUTHORS = [
    ("Claude Opus 4.6 <noreply@anthropic.com>", "claude", "claude-opus-4-6"),
    ("Claude Sonnet 4.5 <noreply@anthropic.com>", "claude", "claude-sonnet-4-5"),
    ("Claude <noreply@anthropic.com>", "claude", "claude-opus-4-1"),
    ("Codex <noreply@openai.com>", "codex", "gpt-5.5"),
    ("Codex gpt-5.5 <noreply@openai.com>", "codex", "gpt-5.5"),
    ("Copilot <198982749+Copilot@users.noreply.github.com>", "github-copilot", "gpt-4.1"),
    ("Cursor Agent <cursoragent@cursor.com>", "cursor", "claude-4-sonnet"),
]
WORDS = [
    "refund",
    "payment",
    "retry",
    "idempotency",
    "key",
    "ledger",
    "webhook",
    "signature",
    "cache",
    "token",
    "session",
    "queue",
    "worker",
    "timeout",
    "backoff",
    "schema",
    "migration",
    "index",
    "query",
    "handler",
    "router",
    "client",
    "server",
    "config",
    "flag",
    "metric",
    "trace",
    "span",
    "error",
    "budget",
    "rollout",
    "canary",
    "deploy",
    "release",
    "build",
    "test",
    "fixture",
    "mock",
    "parser",
    "encoder",
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n)).capitalize() + "."


def _code_line(rng: random.Random, i: int) -> str:
    a, b = rng.choice(WORDS), rng.choice(WORDS)
    return f"    {a}_{i} = {b}({rng.randint(0, 999)})  # {rng.choice(WORDS)} {rng.choice(WORDS)}"


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _ranges(rng: random.Random, length: int) -> str:
    parts, line = [], rng.randint(1, 20)
    for _ in range(rng.randint(1, 12)):
        if line > length:
            break
        end = min(length, line + rng.randint(0, 30))
        parts.append(str(line) if end == line else f"{line}-{end}")
        line = end + rng.randint(2, 40)
    return ",".join(parts) or "1"


def real_note(rng: random.Random, base: str, files: list[tuple[str, int]], operator: str, legacy: bool) -> str:
    """A git-ai authorship/3.0.0 note shaped like the real ones: sessions (or legacy prompts with an
    embedded transcript), their traces over the changed files, sometimes a known human, sometimes
    lines of an agent git-ai could not name (`ai_agent`)."""
    _, tool, model = rng.choice(CO_AUTHORS)
    sessions = [f"s_{_hex(rng, 14)}" for _ in range(rng.choice([1, 1, 1, 2, 3]))]
    prompts = [_hex(rng, 16) for _ in range(rng.choice([1, 1, 2]))] if legacy else []
    human = f"h_{_hex(rng, 14)}" if rng.random() < 0.2 else None
    lines: list[str] = []
    for path, length in files:
        lines.append(path)
        for _ in range(rng.randint(1, 6)):
            key = rng.choice(prompts) if legacy else f"{rng.choice(sessions)}::t_{_hex(rng, 14)}"
            lines.append(f"  {key} {_ranges(rng, length)}")
        if human:
            lines.append(f"  {human} {_ranges(rng, length)}")
        if rng.random() < 0.03:
            lines.append(f"  ai_agent {_ranges(rng, length)}")
    agent = lambda: {"tool": tool, "id": str(uuid.UUID(int=rng.getrandbits(128))), "model": model}  # noqa: E731
    metadata: dict[str, Any] = {
        "schema_version": "authorship/3.0.0",
        "git_ai_version": "1.5.10" if not legacy else "1.2.4",
        "base_commit_sha": base,
        "prompts": {},
        "humans": {human: {"author": operator}} if human else {},
        "sessions": {},
    }
    if legacy:
        for key in prompts:
            # Notes before git-ai 1.3.4 embed the transcript: tens to hundreds of kilobytes.
            turns = int(rng.lognormvariate(3.0, 1.0)) + 2
            messages = [
                {"type": "user" if t % 2 == 0 else "assistant", "text": _sentence(rng, rng.randint(8, 160))}
                for t in range(turns)
            ]
            metadata["prompts"][key] = {
                "agent_id": agent(),
                "human_author": operator,
                "messages": messages,
                "total_additions": rng.randint(0, 400),
                "total_deletions": rng.randint(0, 200),
                "accepted_lines": rng.randint(0, 300),
                "overriden_lines": rng.randint(0, 20),
            }
    else:
        for key in sessions:
            metadata["sessions"][key] = {"agent_id": agent(), "human_author": operator}
    return "\n".join(lines) + "\n---\n" + json.dumps(metadata, indent=2)


def generate_real(path: Path, commits: int, notes: int, *, seed: int = 15) -> dict[str, int]:
    """A real-shaped repository of about `commits` reachable commits and `notes` git-ai notes."""
    rng = random.Random(seed)
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet"], stdin=subprocess.PIPE)
    out = proc.stdin
    assert out is not None
    tree: dict[str, list[str]] = {}
    for i in range(300):
        folder = rng.choice(["src/payments", "src/api", "src/core", "src/web", "tests", "docs", "src/jobs"])
        name = f"{folder}/{rng.choice(WORDS)}_{i}.{'md' if folder == 'docs' else 'py'}"
        tree[name] = [_code_line(rng, j) for j in range(int(rng.lognormvariate(4.8, 0.7)) + 10)]
    paths = sorted(tree)
    mark = 0
    when = EPOCH
    main_mark = 0
    made = {"commits": 0, "merges": 0, "notes": 0, "ai": 0}
    noted: list[tuple[int, str]] = []  # (mark, note text)
    legacy_until = commits * 3 // 10  # the oldest 30 % of history was noted by git-ai before 1.3.4

    def commit(
        ref: str, parent: int, message: str, author: tuple[str, str], edits: int, merge: int = 0
    ) -> tuple[int, list[tuple[str, int]]]:
        nonlocal mark, when
        mark += 1
        when += rng.randint(60, 7200)
        name, email = author
        out.write(f"commit {ref}\nmark :{mark}\n".encode())
        out.write(f"author {name} <{email}> {when} +0000\ncommitter {name} <{email}> {when} +0000\n".encode())
        _data(out, message)
        if parent:
            out.write(f"from :{parent}\n".encode())
        if merge:
            out.write(f"merge :{merge}\n".encode())
        changed: list[tuple[str, int]] = []
        for _ in range(edits):
            target = rng.choice(paths)
            lines = tree[target]
            at = rng.randrange(len(lines))
            added = [_code_line(rng, mark * 10 + k) for k in range(rng.randint(1, 25))]
            lines[at : at + rng.randint(0, 10)] = added
            if not lines:
                lines.append(_code_line(rng, mark))
            out.write(f"M 100644 inline {target}\n".encode())
            _data(out, "\n".join(lines) + "\n")
            changed.append((target, len(lines)))
        return mark, changed

    pr = 0
    while made["commits"] < commits:
        author = rng.choice(PEOPLE)
        if not main_mark or rng.random() < 0.15:
            # A direct commit on main (release bumps, hotfixes).
            message = f"{_sentence(rng, 6)}\n\n{_sentence(rng, 20)}"
            main_mark, _ = commit("refs/heads/main", main_mark, message, author, rng.randint(1, 3))
            made["commits"] += 1
            continue
        pr += 1
        co_author = rng.choice(CO_AUTHORS) if rng.random() < 0.6 else None
        tip = main_mark
        for _ in range(max(1, min(12, int(rng.lognormvariate(0.8, 0.7))))):
            body = "\n\n".join(_sentence(rng, rng.randint(10, 40)) for _ in range(rng.randint(1, 4)))
            message = f"{_sentence(rng, rng.randint(3, 9))}\n\n{body}"
            if co_author:
                trailer = f"Co-Authored-By: {co_author[0]}"
                if rng.random() < 0.15:
                    trailer = f"AI-Session: {uuid.UUID(int=rng.getrandbits(128))}\n{trailer}"
                message += f"\n\n{trailer}"
                made["ai"] += 1
            tip, changed = commit(f"refs/heads/pr-{pr}", tip, message, author, rng.randint(1, 6))
            made["commits"] += 1
            if rng.random() < (0.9 if co_author else 0.1):
                operator = f"{author[0]} <{author[1]}>"
                noted.append((tip, real_note(rng, "0" * 40, changed, operator, made["commits"] < legacy_until)))
        merge_message = f"Merge pull request #{pr} from acme/pr-{pr}\n\n{_sentence(rng, 8)}"
        main_mark, _ = commit("refs/heads/main", main_mark, merge_message, rng.choice(PEOPLE), 0, merge=tip)
        made["commits"] += 1
        made["merges"] += 1
        if rng.random() > 0.05:  # most branches are deleted once merged
            out.write(f"reset refs/heads/pr-{pr}\n\n".encode())
    # Commits history rewriting left behind (rebased or amended away), noted by git-ai before that.
    orphans = max(0, notes - len(noted))
    for _ in range(orphans):
        # No edits: their trees are main's, so they cost the repository nothing but the commit.
        tip, _ = commit("refs/heads/rewritten", main_mark, _sentence(rng, 6), rng.choice(PEOPLE), 0)
        files = [(f, len(tree[f])) for f in rng.sample(paths, rng.randint(1, 4))]
        noted.append((tip, real_note(rng, "0" * 40, files, "Someone <someone@example.com>", rng.random() < 0.3)))
    for tip, text in noted[:notes]:
        out.write(b"commit refs/notes/ai\n")
        out.write(f"committer git-ai <git-ai@example.com> {when} +0000\n".encode())
        _data(out, "git-ai note")
        out.write(f"N inline :{tip}\n".encode())
        _data(out, text)
        made["notes"] += 1
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "update-ref", "-d", "refs/heads/rewritten"], check=True)
    return made


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(repo_path: Path, to_graph: bool) -> dict[str, Any]:
    """Ingest (or only read and normalise) the repository; what it took."""
    repo = open_repository(repo_path, name="bench/generated")
    samples: list[tuple[int, float]] = []
    seen = 0

    def sample(_: GitCommit) -> None:
        nonlocal seen
        seen += 1
        if seen % 1_000 == 0:
            samples.append((seen, round(_rss_mb(), 1)))

    async def ingest() -> dict[str, Any]:
        total = await count_commits(repo, None)
        if not to_graph:
            # Read and prepare every commit (and note) through the pipeline, without writing.
            pipeline = Pipeline(identities=Identities())
            notes = rejected = 0
            started = time.monotonic()
            async for commit in read_commits(repo, None):
                events = [commit_event(repo, commit, "2024-01-01T00:00:00Z")]
                if commit.note:
                    events.append(note_event(repo, commit, "2024-01-01T00:00:00Z"))
                    notes += 1
                for event in events:
                    try:
                        pipeline.prepare(event)
                    except Rejected:
                        rejected += 1
                sample(commit)
            return {
                "total": total,
                "commits": seen,
                "seconds": time.monotonic() - started,
                "notes": notes,
                "rejected": rejected,
            }
        settings = Settings()  # the parent names the server in NEO4J_URI
        async with connected(settings, ensure=True) as graph:
            ingestor = GitIngestor(graph, repo, Identities(), settings.quarantine_dir, on_commit=sample)
            summary = await ingestor.run(None)
            counts = await repository.counts(graph)
        return {
            "total": total,
            "commits": summary.commits,
            "merges": summary.merges,
            "notes": summary.notes,
            "rejected": len(summary.rejected),
            "seconds": summary.seconds,
            "counts": counts,
        }

    result = asyncio.run(ingest())
    result["rss_samples_mb"] = samples
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["git_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _code(ref: str, home: Path) -> Path:
    """The project's code at `ref`, exported (git archive) into `home`: the baseline of a comparison."""
    root = Path(__file__).resolve().parent.parent
    target = home / "baseline" / ref.replace("/", "_")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(root), "archive", ref], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def _server(home: Path) -> tuple[Settings, Settings | None]:
    """A Neo4j on an empty store: NEO4J_URI's (emptied by the caller's care), or one of the bench's own."""
    if os.environ.get("NEO4J_URI"):
        return Settings(), None
    local = Settings(  # type: ignore[call-arg]
        TRACEGRAPH_HOME=home / "server",
        TRACEGRAPH_BOLT_PORT=_free_port(),
        TRACEGRAPH_NEO4J_HEAP=os.environ.get("TRACEGRAPH_NEO4J_HEAP", "1g"),
        TRACEGRAPH_NEO4J_PAGECACHE_MB=int(os.environ.get("TRACEGRAPH_NEO4J_PAGECACHE_MB", "512")),
    )
    local_neo4j.stop(local)
    shutil.rmtree(home / "server" / "neo4j" / "data", ignore_errors=True)
    (home / "server" / "neo4j" / "neo4j.log").unlink(missing_ok=True)
    server = local_neo4j.start(local, log=lambda line: None)
    return Settings(NEO4J_URI=server.uri, NEO4J_PASSWORD=server.password), local  # type: ignore[call-arg]


def _ingest(repo: Path, home: Path, *, graph: bool, code: Path | None) -> dict[str, Any]:
    """One measured ingest in a child process, on a fresh store; `code` is another version's tree."""
    server, local = _server(home) if graph else (None, None)
    try:
        command = [sys.executable, "-m", "bench.git_ingest", "--child", str(repo)]
        env = dict(os.environ)
        if code is not None:
            env["PYTHONPATH"] = str(code)
        if server is not None:
            command.append("--graph")
            env |= {"NEO4J_URI": server.neo4j_uri or "", "NEO4J_PASSWORD": server.neo4j_password or ""}
            env["NEO4J_USER"] = server.neo4j_user
            env["TRACEGRAPH_HOME"] = str(home / "client")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env, cwd=code)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"ingest failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout)
        # CPU time of the ingest process and the git it ran (not Neo4j's): on a shared machine, wall
        # time moves with everyone else's load, CPU seconds much less.
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        result["cpu_seconds"] = round(cpu, 2)
        return result
    finally:
        if local is not None:
            local_neo4j.stop(local)


def _report(name: str, result: dict[str, Any], no_graph: bool) -> None:
    rate = result["commits"] / result["seconds"] if result["seconds"] else 0
    mode = "read + parse + normalise (no graph)" if no_graph else "ingest into Neo4j"
    print(f"[{name}] {mode}: {result['commits']} commits, {result['notes']} notes in {result['seconds']:.1f} s")
    cpu = result["cpu_seconds"]
    per_cpu = result["commits"] / cpu if cpu else 0
    print(f"[{name}]   = {rate:.0f} commits/s; {cpu:.1f} CPU s (ingest + git) = {per_cpu:.0f} commits per CPU s")
    print(f"[{name}]   {result['rejected']} rejected")
    print(f"[{name}]   peak RSS: ingest process {result['peak_rss_mb']} MB, git {result['git_peak_rss_mb']} MB")
    samples = ", ".join(f"{n}: {mb}" for n, mb in result["rss_samples_mb"])
    print(f"[{name}]   RSS as it went (commits, MB): {samples}")
    print(json.dumps({"code": name, **result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["synthetic", "real"], default="synthetic")
    parser.add_argument("--commits", type=int, default=None, help="[100,000 synthetic; 5,000 real-shaped]")
    parser.add_argument("--merge-every", type=int, default=50, help="synthetic shape")
    parser.add_argument("--notes-every", type=int, default=10, help="synthetic shape")
    parser.add_argument("--notes", type=int, default=10_000, help="real shape: git-ai notes in refs/notes/ai")
    parser.add_argument("--home", type=Path, default=Path("/tmp/tracegraph-bench-git"))
    parser.add_argument("--reuse", action="store_true", help="Keep the repository generated by an earlier run.")
    parser.add_argument("--no-graph", action="store_true", help="Read, parse and normalise only.")
    parser.add_argument(
        "--baseline", metavar="REF", help="Also ingest with the code of REF (e.g. main) first, in the same run."
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--graph", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.graph)))
        return

    repo = args.home / f"repo-{args.shape}"
    if not (args.reuse and (repo / ".git").exists()):
        started = time.monotonic()
        if args.shape == "real":
            made = generate_real(repo, args.commits or 5_000, args.notes)
        else:
            commits = args.commits or 100_000
            generate(repo, commits, merge_every=args.merge_every, notes_every=args.notes_every)
            made = {"commits": commits}
        print(f"generated {made} in {time.monotonic() - started:.1f} s", file=sys.stderr)

    runs = [(args.baseline, _code(args.baseline, args.home))] if args.baseline else []
    for name, code in [*runs, ("this tree", None)]:
        _report(name, _ingest(repo, args.home, graph=not args.no_graph, code=code), args.no_graph)


if __name__ == "__main__":
    main()
