"""Reads over git history as pydantic models: a repository's commits and their ancestry."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from graph.driver import Graph
from graph.models import Commit
from graph.queries import git as queries
from graph.reads import read_all, read_one


class RepoCommit(Commit):
    """A commit as `tracegraph ingest-git` knows it: committer, signature, parents and diff size too."""

    repo: str | None = None
    committed_at: datetime | None = None
    committer_name: str | None = None
    committer_email: str | None = None
    author_login: str | None = None
    verified: bool | None = None
    signature: str | None = None
    parents: list[str] = Field(default_factory=list)
    parent_shas: list[str] = Field(default_factory=list)
    additions: int | None = None
    deletions: int | None = None
    test_files: int | None = None


async def repo_commits(graph: Graph, repo: str, *, skip: int = 0, limit: int = 1000) -> list[RepoCommit]:
    """A repository's commits, newest first, with author, agent sessions and PARENT edges."""
    rows = await read_all(graph, queries.REPO_COMMITS, repo=repo, skip=skip, limit=limit)
    return [RepoCommit.model_validate(row["commit"]) for row in rows]


async def repo_commit_count(graph: Graph, repo: str) -> int:
    """How many commits of a repository the graph holds (stubs known only as a parent excluded)."""
    row = await read_one(graph, queries.REPO_COMMIT_COUNT, repo=repo)
    return int(row["n"]) if row else 0
