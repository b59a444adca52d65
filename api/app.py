"""The FastAPI application: GraphQL at /graphql (GraphiQL in a browser), the web app at /, and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from neo4j.exceptions import DriverError, Neo4jError

from api import admin, export, gates, webhooks
from api.audit import AuditQueue
from api.auth import Principals, Reader, graphql_caller
from api.limits import BodyLimit, Router
from api.schema import Context, schema
from export.sign import export_signer
from graph.access import Principal
from graph.driver import Graph, connected
from graph.policy import Policy, load_policy
from graph.schema import ensure_schema
from graph.settings import Settings, get_settings
from ingest.inboxes import open_inbox
from ingest.worker import run_worker
from web.app import mount as mount_web

log = logging.getLogger("uvicorn.error")  # the serve worker's lines show among uvicorn's own
GRAPHQL_BODY_LIMIT = 64 * 1024
ADMIN_BODY_LIMIT = 16 * 1024


def create_app(
    settings: Settings | None = None,
    *,
    graph: Graph | None = None,
    policy: Policy | None = None,
    worker: bool = False,
) -> FastAPI:
    """Build the app; the driver is opened in lifespan (or handed in by tests) and closed on exit."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
        # A graph handed in stays open for its owner; one opened here closes with the app, last.
        async with contextlib.AsyncExitStack() as owned:
            app.state.graph = graph or await owned.enter_async_context(connected(config))
            app.state.policy = policy or load_policy(config.policy_file)
            # Read once: a broken export key stops the API at start rather than at its first export.
            app.state.export_signer = export_signer(config)
            await ensure_schema(app.state.graph)
            app.state.inbox = await open_inbox(config, name="tracegraph-api")
            owned.push_async_callback(app.state.inbox.close)
            app.state.settings = config
            app.state.principals = Principals(app.state.graph, ttl=config.token_cache_seconds)
            app.state.audit = AuditQueue(app.state.graph)
            app.state.audit.start()
            stop = asyncio.Event()
            drain = None
            if worker:
                drain = asyncio.create_task(run_worker(app.state.graph, app.state.inbox, stop, log=log.info))
            # What exists now (modules, the schema, the driver) lives as long as the app: kept out of the
            # collector's full passes, which otherwise walk it all and stall one request for tens of ms.
            gc.freeze()
            try:
                yield
            finally:
                gc.unfreeze()  # an app closed inside a longer-lived process (tests) leaves nothing pinned
                if drain is not None:
                    stop.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(drain, timeout=30)  # a batch in flight finishes; cancelled after
                await app.state.audit.close()  # every accepted audit entry is written before the driver closes

    async def context(
        request: Request, principal: Annotated[Principal | None, Depends(graphql_caller)]
    ) -> dict[str, Any]:
        return {
            "tracegraph": Context(request.app.state.graph, request.app.state.policy),
            "request": request,
            "principal": principal,
            "audit": request.app.state.audit,
        }

    # No /docs or /redoc pages (they would be open to anyone); the OpenAPI schema is served to readers below.
    app = FastAPI(title="tracegraph", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, limits={"/graphql": GRAPHQL_BODY_LIMIT, "/admin": ADMIN_BODY_LIMIT})
    app.include_router(Router(schema, context_getter=context), prefix="/graphql")
    app.include_router(admin.router)
    app.include_router(export.router)
    app.include_router(webhooks.router)
    app.include_router(gates.router)
    # A deployment protection rule waits for the gate's answer (see api/webhooks.py, reactions).
    app.state.reactions = {("github", "deployment_protection_rule"): gates.protection_rule}
    mount_web(app)  # the web app at / (pages, /static) and security headers on every response

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(who: Reader) -> JSONResponse:
        """The REST routes' OpenAPI schema, for readers (the GraphQL schema is GraphQL's own introspection)."""
        return JSONResponse(app.openapi())

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        """Whether the API and Neo4j answer; open to anyone, so it says nothing about where Neo4j is."""
        try:
            await request.app.state.graph.driver.verify_connectivity()
        except (Neo4jError, DriverError, OSError) as exc:
            log.warning("healthz: Neo4j at %s does not answer: %r", request.app.state.graph.uri, exc)
            return JSONResponse({"status": "unavailable", "neo4j": "unavailable"}, status_code=503)
        # Which process answered: behind one port `tracegraph serve --workers N` runs N of them.
        return JSONResponse({"status": "ok", "neo4j": "ok", "process": os.getpid()})

    return app


def create_receiver(settings: Settings | None = None) -> FastAPI:
    """The webhook receiver alone: verifies and stores deliveries in the inbox, needs no Neo4j.

    An edge process that keeps acknowledging providers while the graph is down or restarting
    (bench/faults.py runs it so); POST /events needs the graph for tokens unless
    TRACEGRAPH_INGEST_TOKEN is set.
    """
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.inbox = await open_inbox(config, name="tracegraph-receiver")
        try:
            yield
        finally:
            await app.state.inbox.close()

    app = FastAPI(title="tracegraph webhook receiver", lifespan=lifespan)
    app.include_router(webhooks.router)
    app.state.settings = config
    return app


def create_app_draining() -> FastAPI:
    """create_app with the inbox worker in each process: `tracegraph serve --worker --workers N` imports this."""
    return create_app(worker=True)
