"""Mounting the web app on the API's FastAPI app: pages at /, assets at /static, security headers on
every response. The API's lifespan provides what pages use (graph, policy, settings, audit, token cache)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from web import auth_routes, lists, manage, more, pages
from web.render import STATIC, error_page
from web.security import SecurityHeaders


class Assets(StaticFiles):
    """Static files, cached for a day (their URLs carry a digest of the content: see web.render.static_url)."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "public, max-age=86400"
        return response


def mount(app: FastAPI) -> None:
    """Add the pages, /static and the security headers to the app."""
    app.add_middleware(SecurityHeaders)
    app.mount("/static", Assets(directory=str(STATIC)), name="static")
    for module in (auth_routes, pages, lists, more, manage):
        app.include_router(module.router)
    app.add_exception_handler(HTTPException, _not_found_page)


API_PREFIXES = ("/graphql", "/admin", "/export", "/webhooks", "/events", "/healthz", "/static", "/docs", "/openapi")


async def _not_found_page(request: Request, exc: Exception) -> Response:
    """A browser asking for an address no route serves gets a page; the API keeps its JSON answers."""
    assert isinstance(exc, HTTPException)
    browser = "text/html" in request.headers.get("accept", "")
    if exc.status_code == 404 and browser and not request.url.path.startswith(API_PREFIXES):
        return error_page(request, 404, "No such page", "Check the address, or search for what you were looking for.")
    return await http_exception_handler(request, exc)
