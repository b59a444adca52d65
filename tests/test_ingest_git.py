"""`tracegraph ingest-git` against a real repository built here with git, checked against `git log`."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.git import ingest_git
from graph import git_reads, repository
from graph.batch import Batch, BatchError
from graph.settings import Settings
from ingest.git_repo import (
    LogParser,
    git_since,
    log_format,
    open_repository,
    repo_name_from_url,
    web_url,
)
from ingest.sources.git import is_test_file
from tests.conftest import run_graph

REPO = "acme/widgets"
TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
ALICE = ("Alice Smith", "alice@example.com")
BOB = ("Bob", "12345+bob-gh@users.noreply.github.com")
CAROL = ("Carol", "carol@example.com")
DEPENDABOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")
WEB_FLOW = ("GitHub", "noreply@github.com")
ALIASES = {
    "people": [
        {"login": "alice", "emails": ["alice@example.com", "alice@old.example.com"], "gitlab": "alice.smith"},
        {"login": "bob", "github": "bob-gh"},
    ]
}
IDENT = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
IDENT |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


# --- building a repository ----------------------------------------------------------------------


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Isolated from the machine's git config (signing, hooks, default branch).
    base = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return {**base, **(extra or {})}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=_env(env), check=True)
    return done.stdout


def commit(
    repo: Path,
    message: str,
    day: int,
    author: tuple[str, str],
    files: dict[str, str] | None = None,
    committer: tuple[str, str] | None = None,
) -> str:
    for name, content in (files or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
        git(repo, "add", name)
    who = committer or author
    date = f"2024-01-{day:02d}T10:00:00+02:00"
    env = {"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": date}
    env |= {"GIT_COMMITTER_NAME": who[0], "GIT_COMMITTER_EMAIL": who[1], "GIT_COMMITTER_DATE": date}
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """main: initial, flag (Claude co-author), readme (web-flow), bump (dependabot), merge of feature (AI-Session)."""
    repo = tmp_path / "widgets"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {}
    files = {"README.md": "# widgets\n", "app.py": "print(1)\n", "tests/test_app.py": "def test(): pass\n"}
    shas["initial"] = commit(repo, "Initial commit", 1, ALICE, files)
    shas["flag"] = commit(
        repo,
        "Add a feature flag\n\nCo-authored-by: Claude <noreply@anthropic.com>",
        2,
        BOB,
        {"app.py": "print(1)\nFLAG = True\n"},
    )
    git(repo, "checkout", "-q", "-b", "feature")
    shas["client"] = commit(
        repo,
        f"Use the new client\n\nThe old token {TOKEN} leaked here.\n\nAI-Session: s-1\nAI-Model: claude-opus-4",
        3,
        ALICE,
        {"lib/client.py": "A = 1\nB = 2\n", "lib/client_test.py": "def test_a(): pass\n"},
    )
    git(repo, "checkout", "-q", "main")
    shas["readme"] = commit(repo, "Tidy the README", 4, CAROL, {"README.md": "# Widgets\n"}, committer=WEB_FLOW)
    shas["bump"] = commit(repo, "Bump requests", 5, DEPENDABOT, {"requirements.txt": "requests==2\n"})
    merge_env = {"GIT_AUTHOR_NAME": ALICE[0], "GIT_AUTHOR_EMAIL": ALICE[1], "GIT_AUTHOR_DATE": "2024-01-06T10:00:00Z"}
    merge_env |= {"GIT_COMMITTER_NAME": ALICE[0], "GIT_COMMITTER_EMAIL": ALICE[1]}
    merge_env["GIT_COMMITTER_DATE"] = "2024-01-06T10:00:00Z"
    git(repo, "merge", "-q", "--no-ff", "feature", "-m", "Merge branch 'feature'", env=merge_env)
    shas["merge"] = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "tag", "v1.0")
    git(repo, "remote", "add", "origin", f"https://ci:{TOKEN}@github.com/{REPO}.git")
    return repo, shas


def git_log(repo: Path, *args: str) -> dict[str, list[str]]:
    """sha -> parents, as git itself sees the same range."""
    out = git(repo, "log", "--branches", "--tags", "--remotes", *args, "--format=%H %P")
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()}


# --- running the command ------------------------------------------------------------------------


def cli(settings: Settings | None, *args: str, env: dict[str, str] | None = None) -> Any:
    base = {"TRACEGRAPH_ALIASES": ""}
    if settings is not None:
        base |= {
            "NEO4J_URI": settings.neo4j_uri or "",
            "NEO4J_PASSWORD": settings.neo4j_password or "",
            "TRACEGRAPH_HOME": str(settings.home),
        }
    return CliRunner().invoke(ingest_git, list(args), env={**base, **(env or {})}, catch_exceptions=False)


@pytest.fixture
def aliases(tmp_path: Path) -> Path:
    path = tmp_path / "aliases.yaml"
    path.write_text(json.dumps(ALIASES))  # JSON is YAML
    return path


def commits(settings: Settings) -> dict[str, git_reads.RepoCommit]:
    return {c.sha: c for c in run_graph(settings, lambda g: git_reads.repo_commits(g, REPO))}


def test_the_graph_matches_git_log(settings: Settings, history: tuple[Path, dict[str, str]], aliases: Path) -> None:
    repo, shas = history
    result = cli(settings, str(repo), "--aliases", str(aliases))
    assert result.exit_code == 0, result.output
    assert f"read 6 commits of {REPO} (1 merges)" in result.stdout

    expected = git_log(repo)
    graph = commits(settings)
    assert set(graph) == set(expected) and len(graph) == 6
    for sha, parents in expected.items():
        assert graph[sha].parents == parents, sha
        assert sorted(graph[sha].parent_shas) == sorted(parents), sha
    merge = graph[shas["merge"]]
    assert len(merge.parent_shas) == 2 and set(merge.parent_shas) == {shas["bump"], shas["client"]}

    client = graph[shas["client"]]
    assert client.trailers == ["AI-Session: s-1", "AI-Model: claude-opus-4"]
    assert client.session_ids == ["s-1"]
    assert TOKEN not in (client.message or "") and "[REDACTED:github-token]" in (client.message or "")
    assert client.authored_at is not None and client.authored_at.isoformat() == "2024-01-03T08:00:00+00:00"
    assert client.verified is False
    flag = graph[shas["flag"]]
    assert flag.ai_tools == ["claude-code"] and flag.session_ids == [f"commit:{shas['flag']}:claude-code"]
    assert sorted(flag.files) == ["app.py"]

    # Identity: the aliases file, a GitHub noreply address aliased to bob, a bot; Carol is nobody known.
    assert graph[shas["initial"]].author is not None and graph[shas["initial"]].author.login == "alice"
    assert graph[shas["flag"]].author is not None and graph[shas["flag"]].author.login == "bob"
    bump = graph[shas["bump"]].author
    assert bump is not None and bump.login == "dependabot[bot]" and bump.is_bot
    assert graph[shas["readme"]].author is None and graph[shas["readme"]].author_email == CAROL[1]
    session = run_graph(settings, lambda g: repository.session(g, "s-1"))
    assert session is not None and [k.sha for k in session.commits] == [shas["client"]]
    counts = run_graph(settings, repository.counts)
    # Five commits, the repository, and the git-ai note (an event of its own, source git-ai).
    assert counts["Person"] == 3 and counts["SourceEvent"] == 7 and counts["Repository"] == 1
    commit = run_graph(settings, lambda g: repository.commit(g, _policy(), shas["client"]))
    assert commit is not None and TOKEN not in commit.model_dump_json()


def _policy() -> Any:
    from graph.policy import load_policy

    return load_policy()


def test_commits_carry_committer_signature_and_diff_size(
    settings: Settings, history: tuple[Path, dict[str, str]]
) -> None:
    repo, shas = history
    assert cli(settings, str(repo)).exit_code == 0
    graph = commits(settings)
    initial, readme, client = graph[shas["initial"]], graph[shas["readme"]], graph[shas["client"]]
    assert (initial.additions, initial.deletions, initial.test_files) == (3, 0, 1)
    assert (client.additions, client.test_files) == (3, 1)
    assert readme.committer_email == WEB_FLOW[1] and readme.signature == "N"
    assert graph[shas["merge"]].additions is None  # git lists no files for a merge


def test_a_second_run_changes_nothing(settings: Settings, history: tuple[Path, dict[str, str]], aliases: Path) -> None:
    repo, _ = history
    assert cli(settings, str(repo), "--aliases", str(aliases)).exit_code == 0
    before = run_graph(settings, repository.counts)
    again = cli(settings, str(repo), "--aliases", str(aliases))
    assert again.exit_code == 0
    assert "0 nodes and 0 edges created" in again.stdout
    assert run_graph(settings, repository.counts) == before


def test_since_reads_only_recent_commits(settings: Settings, history: tuple[Path, dict[str, str]]) -> None:
    repo, shas = history
    result = cli(settings, str(repo), "--since", "2024-01-04", "--repo", REPO)
    assert result.exit_code == 0, result.output
    expected = git_log(repo, "--since=2024-01-04T00:00:00Z")
    assert set(commits(settings)) == set(expected) == {shas["readme"], shas["bump"], shas["merge"]}


def test_the_repository_is_named_after_its_origin_without_credentials(history: tuple[Path, dict[str, str]]) -> None:
    repo, _ = history
    found = open_repository(repo)
    assert (found.name, found.url) == (REPO, f"https://github.com/{REPO}")
    assert open_repository(repo, name="other/name").name == "other/name"


def _note(base: str) -> str:
    return "\n".join(
        [
            "lib/client.py",
            "  s_c9883b05a2487d::t_9f8e7d6c5b4a32 1-2",
            "---",
            json.dumps(
                {
                    "schema_version": "authorship/3.0.0",
                    "base_commit_sha": base,
                    "prompts": {},
                    "humans": {},
                    "sessions": {"s_c9883b05a2487d": {"agent_id": {"tool": "claude", "model": "claude-opus-4"}}},
                }
            ),
        ]
    )


def _notes_can_be_written() -> bool:
    """Whether ingest.git_ai_notes exists and the vocabulary already holds what its notes add."""
    if importlib.util.find_spec("ingest.git_ai_notes") is None:
        return False
    from ingest.git_ai_notes import add_note, parse_note
    from ingest.sources.base import Event

    try:
        add_note(Batch(), Event("git", "commit", "x", "", "2024-01-01T00:00:00Z"), "0" * 40, parse_note(_note("x")))
    except BatchError:
        return False
    return True


@pytest.mark.skipif(not _notes_can_be_written(), reason="ingest.git_ai_notes or its vocabulary is not there yet")
def test_git_ai_notes_are_read(settings: Settings, history: tuple[Path, dict[str, str]]) -> None:
    repo, shas = history
    git(repo, "notes", "--ref=ai", "add", "-m", _note(shas["client"]), shas["client"], env=IDENT)
    result = cli(settings, str(repo))
    assert result.exit_code == 0, result.output
    assert "1 git-ai notes" in result.stdout
    session = run_graph(settings, lambda g: repository.session(g, "s_c9883b05a2487d"))
    assert session is not None and [k.sha for k in session.commits] == [shas["client"]]


def test_a_note_that_cannot_be_read_is_parked_and_the_commits_still_land(
    settings: Settings, history: tuple[Path, dict[str, str]]
) -> None:
    repo, shas = history
    git(repo, "notes", "--ref=ai", "add", "-m", "not an authorship log", shas["flag"], env=IDENT)
    result = cli(settings, str(repo))
    assert result.exit_code == 1
    assert f"rejected {repo}@{shas['flag']} (refs/notes/ai): not a git-ai authorship note" in result.stderr
    assert len(list((settings.home / "quarantine").glob("*.json"))) == 1
    assert len(commits(settings)) == 6


# --- bad input: a clear one-line error, exit 2 -------------------------------------------------


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("plain-folder", "is not a git repository"),
        ("inside-a-repository", "is not a git repository"),
        ("bad-since", "is not an ISO-8601 date"),
        ("bad-repo", "is not a repository name"),
        ("bad-aliases", "aliases.yaml: people.0.login"),
        ("missing-aliases", "cannot read aliases file"),
        ("no-git", "git is not installed"),
    ],
)
def test_bad_input_is_one_clear_error(
    tmp_path: Path, history: tuple[Path, dict[str, str]], case: str, message: str
) -> None:
    repo, _ = history
    bad_aliases = tmp_path / "aliases.yaml"
    bad_aliases.write_text("people:\n  - emails: [x@example.com]\n")
    plain = tmp_path / "plain"
    plain.mkdir()
    args = {
        "plain-folder": [str(plain)],
        "inside-a-repository": [str(repo / "tests")],
        "bad-since": [str(repo), "--since", "last tuesday"],
        "bad-repo": [str(repo), "--repo", "not a name"],
        "bad-aliases": [str(repo), "--aliases", str(bad_aliases)],
        "missing-aliases": [str(repo), "--aliases", str(tmp_path / "nope.yaml")],
        "no-git": [str(repo)],
    }[case]
    result = cli(None, *args, env={"PATH": str(tmp_path / "empty")} if case == "no-git" else None)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


# --- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name", "web"),
    [
        ("https://github.com/acme/widgets.git", "acme/widgets", "https://github.com/acme/widgets"),
        ("https://user:secret@github.com/acme/widgets", "acme/widgets", "https://github.com/acme/widgets"),
        ("git@github.com:acme/widgets.git", "acme/widgets", None),
        ("ssh://git@gitlab.example.com:2222/group/sub/proj.git", "group/sub/proj", None),
        (
            "https://gitlab.example.com:8443/group/sub/proj/",
            "group/sub/proj",
            "https://gitlab.example.com:8443/group/sub/proj/",
        ),
        ("/srv/git/widgets.git", None, None),
        ("file:///srv/git/widgets.git", None, None),
        ("https://github.com/widgets", None, "https://github.com/widgets"),
        ("", None, None),
    ],
)
def test_repository_names_from_remote_urls(url: str, name: str | None, web: str | None) -> None:
    assert repo_name_from_url(url) == name
    assert web_url(url) == web


@pytest.mark.parametrize(
    ("path", "is_test"),
    [
        ("tests/test_app.py", True),
        ("test_app.py", True),
        ("pkg/app_test.go", True),
        ("web/src/button.test.tsx", True),
        ("web/src/button.spec.js", True),
        ("src/test/java/com/acme/AppTest.java", True),
        ("src/FooTests.cs", True),
        ("__tests__/a.js", True),
        ("latest.txt", False),
        ("contest.py", False),
        ("src/attestation.py", False),
        ("README.md", False),
    ],
)
def test_test_files_are_told_by_folder_or_name(path: str, is_test: bool) -> None:
    assert is_test_file(path) is is_test


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (None, None),
        ("2024-01-31", "2024-01-31T00:00:00Z"),
        ("2024-01-31T12:00:00+02:00", "2024-01-31T10:00:00Z"),
        ("2024-01-31T12:00Z", "2024-01-31T12:00:00Z"),
    ],
)
def test_since_is_iso_8601(since: str | None, expected: str | None) -> None:
    assert git_since(since) == expected


def _log_bytes(repo: Path) -> bytes:
    args = ["log", "--branches", "--notes=refs/notes/ai", "--format=" + log_format(True), "-z", "--numstat", "--root"]
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, env=_env(), check=True).stdout


def _parse(data: bytes, size: int) -> Iterator[Any]:
    parser = LogParser(with_notes=True)
    for i in range(0, len(data), size):
        yield from parser.feed(data[i : i + size])
    yield from parser.close()


def test_the_log_parser_gives_the_same_commits_whatever_the_chunk_size(tmp_path: Path) -> None:
    repo = tmp_path / "odd"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "root\n\n\x1e not a record start", 1, ALICE, {"a.txt": "a\n", "bin.dat": "x\0y"})
    git(repo, "mv", "a.txt", "we\tird\nname.txt")
    sha = commit(repo, "rename with an odd name", 2, BOB)
    commit(repo, "empty", 3, CAROL)
    git(repo, "notes", "--ref=ai", "add", "-m", "a note\n\nwith lines", sha, env=IDENT)
    data = _log_bytes(repo)
    whole = list(_parse(data, len(data)))
    assert [c.message.splitlines()[0] for c in whole] == ["empty", "rename with an odd name", "root"]
    assert whole[1].files == ["a.txt", "we\tird\nname.txt"] and whole[1].note == "a note\n\nwith lines\n"
    assert whole[2].files == ["a.txt", "bin.dat"] and whole[2].additions == 1 and whole[2].parents == []
    assert whole[0].files == [] and whole[0].parents == [whole[1].sha]
    for size in (1, 2, 3, 7, 64):
        assert list(_parse(data, size)) == whole, size


def test_a_bare_clone_reads_the_same_history(tmp_path: Path, history: tuple[Path, dict[str, str]]) -> None:
    repo, _ = history
    bare = tmp_path / "widgets-mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    found = open_repository(bare)
    # The clone's origin is a local path: the name falls back to the folder.
    assert (found.name, found.url, found.root) == ("widgets-mirror", None, bare)

    async def read() -> list[str]:
        from ingest.git_repo import read_commits

        return [c.sha async for c in read_commits(found, None)]

    assert sorted(asyncio.run(read())) == sorted(git_log(repo))


def test_reading_does_not_block_on_a_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    found = open_repository(repo)
    assert not found.has_head and not found.has_notes

    async def read() -> list[Any]:
        from ingest.git_repo import count_commits, read_commits

        return [await count_commits(found, None), [c async for c in read_commits(found, None)]]

    assert asyncio.run(read()) == [0, []]


# --- clones that are not whole: partial, damaged, shallow -------------------------------------------


def _read(repo: Path) -> dict[str, Any]:
    """What read_commits gives for each commit of the repository at `repo`."""
    found = open_repository(repo)

    async def read() -> dict[str, Any]:
        from ingest.git_repo import read_commits

        return {c.sha: c async for c in read_commits(found, None)}

    return asyncio.run(read())


def _loose(repo: Path, sha: str) -> Path:
    return repo / ".git" / "objects" / sha[:2] / sha[2:]


def _in_pack_objects(repo: Path) -> dict[str, str]:
    return dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())


def _clone(source: Path, target: Path, *options: str) -> Path:
    git(source, "config", "uploadpack.allowFilter", "true")
    git(target.parent, "clone", "-q", "--no-local", *options, f"file://{source}", str(target))
    return target


def test_one_missing_blob_costs_only_the_line_counts_of_the_commits_that_need_it(
    history: tuple[Path, dict[str, str]],
) -> None:
    repo, shas = history
    whole = _read(repo)
    # app.py as the first commit wrote it: the initial commit adds it and the flag commit changes it.
    _loose(repo, git(repo, "rev-parse", f"{shas['initial']}:app.py").strip()).unlink()
    found = _read(repo)
    assert set(found) == set(whole) and len(found) == 6
    for sha, commit in found.items():
        if sha in (shas["initial"], shas["flag"]):
            assert not commit.lines_known and "is missing" in (commit.problem or "")
            assert commit.files == whole[sha].files  # the trees still say which files changed
        else:
            assert (commit.lines_known, commit.problem) == (True, None), sha
            assert (commit.files, commit.additions, commit.deletions) == (
                whole[sha].files,
                whole[sha].additions,
                whole[sha].deletions,
            )
        assert (commit.parents, commit.message) == (whole[sha].parents, whole[sha].message)


def test_a_corrupt_object_is_found_by_trying_its_commit_alone(history: tuple[Path, dict[str, str]]) -> None:
    repo, shas = history
    whole = _read(repo)
    damaged = _loose(repo, git(repo, "rev-parse", f"{shas['readme']}:README.md").strip())
    damaged.chmod(0o644)
    damaged.write_bytes(b"\x78\x01not zlib at all")  # there, so `rev-list --missing` cannot see it
    found = _read(repo)
    assert set(found) == set(whole)
    assert [sha for sha, c in found.items() if not c.lines_known] == [shas["readme"]]
    assert found[shas["readme"]].files == ["README.md"]
    assert "could not read its diff" in (found[shas["readme"]].problem or "")
    assert found[shas["bump"]].additions == whole[shas["bump"]].additions


def test_a_shallow_clone_keeps_the_real_parents_of_where_it_ends(
    tmp_path: Path, history: tuple[Path, dict[str, str]]
) -> None:
    repo, shas = history
    shallow = _clone(repo, tmp_path / "shallow", "--depth", "2")
    found = _read(shallow)
    # Depth 2 from the merge: the merge, then bump and client, whose parents the clone does not hold.
    assert set(found) == {shas["merge"], shas["bump"], shas["client"]}
    for edge, parent in (("bump", "readme"), ("client", "flag")):
        commit = found[shas[edge]]
        assert commit.parents == [shas[parent]]  # what the object says, not the graft's "no parents"
        assert not commit.files_known and not commit.lines_known
        assert "shallow clone ends here" in (commit.problem or "")
    assert found[shas["merge"]].problem is None


def test_a_treeless_clone_still_gives_every_commit(tmp_path: Path, history: tuple[Path, dict[str, str]]) -> None:
    repo, shas = history
    treeless = _clone(repo, tmp_path / "treeless", "--filter=tree:0")
    before = _in_pack_objects(treeless)
    found = _read(treeless)
    assert set(found) == set(git_log(repo)) and len(found) == 6
    assert all(c.parents == git_log(repo)[sha] for sha, c in found.items())
    assert any(not c.files_known for c in found.values())
    assert _in_pack_objects(treeless) == before  # nothing was fetched from the promisor remote


def test_a_blobless_clone_is_ingested_without_fetching_and_a_full_one_fills_the_counts(
    settings: Settings, tmp_path: Path, history: tuple[Path, dict[str, str]]
) -> None:
    repo, shas = history
    blobless = _clone(repo, tmp_path / "blobless", "--filter=blob:none")
    before = _in_pack_objects(blobless)
    result = cli(settings, str(blobless), "--repo", REPO)
    assert result.exit_code == 0, result.output
    assert f"read 6 commits of {REPO} (1 merges)" in result.stdout
    # Nothing was fetched: the promisor remote (a file:// URL that answers) was never asked.
    assert _in_pack_objects(blobless) == before
    incomplete = [line for line in result.stderr.splitlines() if line.startswith("warning: commit ")]
    assert incomplete and all("recorded without line counts" in line for line in incomplete)
    named = {line.split()[2] for line in incomplete}
    assert f"warning: {len(named)} commits recorded without line counts" in result.stderr
    graph = commits(settings)
    assert set(graph) == set(git_log(repo))
    for sha in named:
        assert graph[sha].additions is None and graph[sha].files, sha
    # The same commits from a whole clone: the counts arrive, nothing else changes.
    assert cli(settings, str(repo)).exit_code == 0
    whole = commits(settings)
    assert all(whole[sha].additions is not None for sha in named if sha != shas["merge"])
    assert (whole[shas["client"]].additions, whole[shas["client"]].test_files) == (3, 1)
