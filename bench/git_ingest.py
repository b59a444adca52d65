"""`tracegraph ingest-git` on a generated repository: commits per second and peak memory.

    python -m bench.git_ingest --commits 100000            # generate (git fast-import), ingest, report
    python -m bench.git_ingest --commits 100000 --no-graph  # git + parse + normalise only, no Neo4j

The repository has a merge every --merge-every commits, AI trailers and git-ai notes on some
commits, and a few authors. Ingest runs in a child process; its peak RSS (getrusage) and its RSS
sampled as it goes show whether memory stays flat. The bench boots its own Neo4j (graph.local_neo4j)
in --home on a free port and stops it afterwards, unless NEO4J_URI names a server to use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
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
        if seen % 10_000 == 0:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--merge-every", type=int, default=50)
    parser.add_argument("--notes-every", type=int, default=10)
    parser.add_argument("--home", type=Path, default=Path("/tmp/tracegraph-bench-git"))
    parser.add_argument("--reuse", action="store_true", help="Keep the repository generated by an earlier run.")
    parser.add_argument("--no-graph", action="store_true", help="Read, parse and normalise only.")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--graph", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.graph)))
        return

    repo = args.home / "repo"
    if not (args.reuse and (repo / ".git").exists()):
        started = time.monotonic()
        generate(repo, args.commits, merge_every=args.merge_every, notes_every=args.notes_every)
        print(f"generated {args.commits} commits (+ merges) in {time.monotonic() - started:.1f} s", file=sys.stderr)

    server_settings: Settings | None = None
    local: Settings | None = None
    if not args.no_graph:
        if os.environ.get("NEO4J_URI"):
            server_settings = Settings()
        else:
            local = Settings(  # type: ignore[call-arg]
                TRACEGRAPH_HOME=args.home / "server",
                TRACEGRAPH_BOLT_PORT=_free_port(),
                TRACEGRAPH_NEO4J_HEAP=os.environ.get("TRACEGRAPH_NEO4J_HEAP", "1g"),
                TRACEGRAPH_NEO4J_PAGECACHE_MB=int(os.environ.get("TRACEGRAPH_NEO4J_PAGECACHE_MB", "512")),
            )
            local_neo4j.stop(local)
            shutil.rmtree(args.home / "server" / "neo4j" / "data", ignore_errors=True)
            (args.home / "server" / "neo4j" / "neo4j.log").unlink(missing_ok=True)
            server = local_neo4j.start(local, log=lambda line: None)
            server_settings = Settings(NEO4J_URI=server.uri, NEO4J_PASSWORD=server.password)  # type: ignore[call-arg]
    try:
        command = [sys.executable, "-m", "bench.git_ingest", "--child", str(repo)]
        env = dict(os.environ)
        if server_settings is not None:
            command.append("--graph")
            env |= {
                "NEO4J_URI": server_settings.neo4j_uri or "",
                "NEO4J_PASSWORD": server_settings.neo4j_password or "",
            }
            env["NEO4J_USER"] = server_settings.neo4j_user
            env["TRACEGRAPH_HOME"] = str(args.home / "client")
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        if done.returncode != 0:
            raise SystemExit(f"ingest failed:\n{done.stderr}")
        result = json.loads(done.stdout)
    finally:
        if local is not None:
            local_neo4j.stop(local)
    rate = result["commits"] / result["seconds"] if result["seconds"] else 0
    mode = "read + parse + normalise (no graph)" if args.no_graph else "ingest into Neo4j"
    print(f"{mode}: {result['commits']} commits in {result['seconds']:.1f} s = {rate:.0f} commits/s")
    print(f"peak RSS: ingest process {result['peak_rss_mb']} MB, git log {result['git_peak_rss_mb']} MB")
    print("RSS as it went (commits, MB): " + ", ".join(f"{n}: {mb}" for n, mb in result["rss_samples_mb"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
