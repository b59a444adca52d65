"""Mounting the web app on the API's FastAPI app: pages at /, assets at /static, security headers on
every response. The API's lifespan provides what pages use (graph, policy, settings, audit, token cache)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from web import auth_routes, lists, manage, more, pages
from web.render import STATIC
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
