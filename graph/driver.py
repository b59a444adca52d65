"""The one AsyncDriver of a process: where it points, a clear error when Neo4j is not there, and the one
way to open a graph for a piece of work and close it after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from neo4j import AsyncDriver, AsyncGraphDatabase
from neo4j.exceptions import AuthError, ConfigurationError, ServiceUnavailable

from documents import DocumentStore, open_store
from graph import local_neo4j
from graph.schema import ensure_schema
from graph.settings import Settings

T = TypeVar("T")


class GraphUnavailable(RuntimeError):
    """Neo4j cannot be reached; the message says what to do."""


@dataclass(frozen=True)
class Target:
    uri: str
    user: str
    password: str | None
    database: str


def resolve(settings: Settings) -> Target:
    """NEO4J_URI when set, else the local server `tracegraph db start` runs."""
    if settings.neo4j_uri:
        return Target(settings.neo4j_uri, settings.neo4j_user, settings.neo4j_password, settings.neo4j_database)
    local = local_neo4j.status(settings)
    if local is None:
        raise GraphUnavailable(
            f"no Neo4j is running for {settings.home}: run `tracegraph db start`, or set NEO4J_URI "
            "(with NEO4J_USER and NEO4J_PASSWORD) to use an existing server"
        )
    return Target(local.uri, local.user, local.password, "neo4j")


@dataclass
class Graph:
    """An open driver, the database it writes to and the store raw documents go to; handed to repositories."""

    driver: AsyncDriver
    database: str
    uri: str
    # Where SourceEvents' documents live (documents/); None refuses writes that carry documents.
    documents: DocumentStore | None = None

    async def close(self) -> None:
        try:
            await self.driver.close()
        finally:
            if self.documents is not None:
                self.documents.close()


def open_documents(settings: Settings) -> DocumentStore:
    """The document store the settings name (TRACEGRAPH_DOCUMENTS, else TRACEGRAPH_HOME/documents)."""
    return open_store(settings.documents, default_folder=settings.documents_dir, s3_endpoint=settings.s3_endpoint)


async def open_graph(settings: Settings) -> Graph:
    """Open the driver and check that Neo4j answers."""
    target = resolve(settings)
    auth = (target.user, target.password) if target.password is not None else None
    try:
        # Schema-less queries over labels not yet written are expected; the warnings would only be noise.
        driver = AsyncGraphDatabase.driver(target.uri, auth=auth, notifications_min_severity="OFF")
    except (ConfigurationError, ValueError) as exc:
        raise GraphUnavailable(f"NEO4J_URI {target.uri!r} is not a valid Neo4j URI: {exc}") from exc
    try:
        await driver.verify_connectivity()
    except AuthError as exc:
        await driver.close()
        raise GraphUnavailable(
            f"Neo4j at {target.uri} refused the credentials; check NEO4J_USER/NEO4J_PASSWORD"
        ) from exc
    except (ServiceUnavailable, OSError) as exc:
        await driver.close()
        raise GraphUnavailable(
            f"Neo4j at {target.uri} does not answer ({exc.__class__.__name__}); "
            "start it with `tracegraph db start` or fix NEO4J_URI"
        ) from exc
    try:
        documents = open_documents(settings)
    except BaseException:
        await driver.close()
        raise
    return Graph(driver, target.database, target.uri, documents)


@asynccontextmanager
async def connected(settings: Settings, *, ensure: bool = False) -> AsyncIterator[Graph]:
    """An open graph for the block (every constraint and index ensured first when `ensure`), closed after it."""
    graph = await open_graph(settings)
    try:
        if ensure:
            await ensure_schema(graph)
        yield graph
    finally:
        await graph.close()


def run_with_graph(settings: Settings, work: Callable[[Graph], Awaitable[T]], *, ensure: bool = False) -> T:
    """Run async graph work to its end in a fresh event loop with its own driver (drivers are loop-bound)."""

    async def main() -> T:
        async with connected(settings, ensure=ensure) as graph:
            return await work(graph)

    return asyncio.run(main())
