"""GraphiQL served from this server: the page is a template, its scripts are the vendored GraphiQL and
React builds in /static/vendor and a boot script in /static (no CDN, no inline script)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter

from web.render import templates


class GraphQLPageRouter(GraphQLRouter[Any, Any]):
    """strawberry's GraphQL router, whose in-browser IDE page is ours."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "graphiql.html", {})
