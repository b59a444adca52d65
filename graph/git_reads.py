"""Reads over git history as pydantic models: a repository's commits and their ancestry."""

from __future__ import annotations

from datetime import datetime

from neo4j import RoutingControl
from pydantic import Field

from graph.driver import Graph
from graph.models import Commit
from graph.queries import git as queries


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
    records, _, _ = await graph.driver.execute_query(
        queries.REPO_COMMITS,
        parameters_={"repo": repo, "skip": skip, "limit": limit},
        routing_=RoutingControl.READ,
        database_=graph.database,
    )
    return [RepoCommit.model_validate(r["commit"]) for r in records]


async def repo_commit_count(graph: Graph, repo: str) -> int:
    """How many commits of a repository the graph holds (stubs known only as a parent excluded)."""
    records, _, _ = await graph.driver.execute_query(
        queries.REPO_COMMIT_COUNT, parameters_={"repo": repo}, routing_=RoutingControl.READ, database_=graph.database
    )
    return int(records[0]["n"])
