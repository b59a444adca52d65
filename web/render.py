"""Templates (Jinja2, autoescape always on), the helpers they use, and PageRoute: every page answers with
a page — the sign-in form, a clear 403/404/400/503 page, never a stack trace — and every page view a
signed-in person makes goes to the audit log like a GraphQL query.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode, urlparse

import jinja2
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from neo4j.exceptions import DriverError, Neo4jError

from graph.driver import GraphUnavailable
from graph.verdict import short
from ingest.redact import redact
from web.sessions import Forbidden, SignInNeeded

log = logging.getLogger("uvicorn.error")
STATIC = resources.files("web") / "static"


class PageError(Exception):
    """A page that cannot be shown: the status, a title and what to do."""

    def __init__(self, status: int, title: str, detail: str = ""):
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _web_url(url: str | None) -> str | None:
    """An http(s) link from the data, else None: a `javascript:` URL from a payload stays inert text."""
    return url if url and urlparse(url).scheme in ("http", "https") else None


def change_path(change_id: str) -> str:
    """The page of a change by its id: github:o/r#42 → /changes/o/r/42; gitlab:g/p!7 → …/7?provider=gitlab."""
    provider, _, rest = change_id.partition(":")
    mark = "!" if provider == "gitlab" else "#"
    repo, _, number = rest.rpartition(mark)
    if not repo or not number.isdigit():
        return "/search?" + urlencode({"q": change_id})
    path = f"/changes/{quote(repo)}/{number}"
    return path if provider == "github" else f"{path}?provider={quote(provider)}"


def change_label(change_id: str) -> str:
    """owner/repo#42 (or group/project!7) from a change id."""
    return change_id.partition(":")[2] or change_id


def item_path(kind: str, key: str) -> str:
    """The page of a commit, session, deployment, incident, service or stored document."""
    if kind == "change":
        return change_path(key)
    folder = {
        "commit": "commits",
        "session": "sessions",
        "deployment": "deployments",
        "incident": "incidents",
        "service": "services",
        "source": "sources",
    }[kind]
    return f"/{folder}/{quote(key, safe='')}"


@cache
def static_version(name: str) -> str:
    """A short digest of a static file, so a changed file gets a new URL (assets are cached for long)."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={static_version(name)}"


def _ticks(text: str | None) -> Markup:
    """Text with `quoted` parts as <code>, every part escaped (gaps quote evidence kinds so)."""
    parts = (text or "").split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: plain text
        return Markup("") + (text or "")
    return Markup("").join(escape(p) if i % 2 == 0 else Markup("<code>%s</code>") % p for i, p in enumerate(parts))


def _first_line(text: str | None) -> str:
    return (text or "").split("\n", 1)[0]


def environment() -> jinja2.Environment:
    """The template environment: autoescape on for every template, whatever its name."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when,
        short=short,
        web_url=_web_url,
        first_line=_first_line,
        ticks=_ticks,
        redact=lambda text: redact(text) if isinstance(text, str) else text,
    )
    env.globals.update(
        change_path=change_path,
        change_label=change_label,
        item_path=item_path,
        static_url=static_url,
        urlencode=urlencode,
    )
    return env


templates = Jinja2Templates(env=environment())


def page(request: Request, name: str, context: dict[str, Any], *, status: int = 200, records: int = 0) -> HTMLResponse:
    """Render a page; `records` is what the audit log counts for this view."""
    request.state.records = records
    full = {
        "viewer": getattr(request.state, "viewer", None),
        "csrf": getattr(request.state, "csrf", ""),
        "path": request.url.path,
        **context,
    }
    return templates.TemplateResponse(request, name, full, status_code=status)


def error_page(request: Request, status: int, title: str, detail: str = "") -> HTMLResponse:
    return page(request, "error.html", {"status": status, "title": title, "detail": detail}, status=status)


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/sign-in?" + urlencode({"next": target}), status_code=303)


def _audit(request: Request, response: Response) -> None:
    who = getattr(request.state, "viewer", None)
    audit = getattr(request.app.state, "audit", None)
    if who is None or audit is None or getattr(request.state, "audited", False):
        return
    what = f"{request.method} {request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
    audit.add(
        who,
        action="page",
        what=redact(what) or "",
        records=getattr(request.state, "records", 0),
        status=response.status_code,
    )


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class PageRoute(APIRoute):
    """A route whose every outcome is a page, and whose every view by a signed-in person is audited."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except SignInNeeded:
                return sign_in_redirect(request)
            except Forbidden as exc:
                response = error_page(request, 403, "You cannot open this page", exc.detail)
            except PageError as exc:
                response = error_page(request, exc.status, exc.title, exc.detail)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'value'}: {e.get('msg')}" for e in exc.errors()
                )
                response = error_page(request, 400, "This address has a value the page cannot read", problems)
            except HTTPException as exc:
                response = error_page(request, exc.status_code, "This request cannot be answered", str(exc.detail))
            except (GraphUnavailable, Neo4jError, DriverError, OSError) as exc:
                log.warning("web: %s on %s: %r", exc.__class__.__name__, request.url.path, exc)
                response = error_page(
                    request, 503, "The graph did not answer", "Neo4j is unavailable or busy; try again in a moment."
                )
            except Exception:  # noqa: BLE001 - a page, never a stack trace; the trace goes to the server log
                log.exception("web: error on %s", request.url.path)
                response = error_page(
                    request,
                    500,
                    "Something went wrong",
                    "The error was logged on the server; try again or tell an admin.",
                )
            response.headers.setdefault("cache-control", "no-store")
            # The page's time in the server (reads and rendering), for bench/web.py and browsers' dev tools.
            response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            _audit(request, response)
            return response

        return run
