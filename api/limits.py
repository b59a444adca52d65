"""Request limits: body size per path prefix, JSON nesting, and the GraphQL depth/alias/token/cost limits
and audit."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import Any

from cross_web import HTTPException  # what strawberry's HTTP views answer as a status and message
from graphql import DocumentNode, GraphQLError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension

from api.cost import CostLimit
from api.errors import ClientErrors
from web.graphiql import GraphQLPageRouter

MAX_DEPTH, MAX_ALIASES, MAX_TOKENS = 10, 20, 3000


class BodyLimit:
    """413 for bodies over `limit` bytes on the given path prefixes (checked while streaming)."""

    def __init__(self, app: ASGIApp, *, limits: dict[str, int]):
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = next((n for prefix, n in self.limits.items() if scope.get("path", "").startswith(prefix)), None)
        if scope["type"] != "http" or limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(send, limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"detail": "request body over {limit} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Router(GraphQLPageRouter):
    """strawberry's router with our GraphiQL page (web/graphiql.py), answering 400 (not 500) to a JSON body
    or variables nested too deeply to parse."""

    def decode_json(self, data: str | bytes) -> object:
        try:
            return super().decode_json(data)
        except RecursionError as exc:
            raise HTTPException(400, "request JSON is nested too deeply") from exc


def count_records(data: Any) -> int:
    """Objects in a GraphQL result: what the audit log counts as records read."""
    if isinstance(data, dict):
        return 1 + sum(count_records(v) for v in data.values())
    if isinstance(data, list):
        return sum(count_records(v) for v in data)
    return 0


class Audit(SchemaExtension):
    """Record every GraphQL operation: who, when, the query, how many records it returned."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        context = self.execution_context.context
        who = context.get("principal") if isinstance(context, dict) else None
        if who is None:
            return
        result = self.execution_context.result
        data = getattr(result, "data", None)
        errors = getattr(result, "errors", None)
        records = max(0, count_records(data) - 1) if data else 0
        # Queued, not awaited: the answer does not wait for its own audit write (see api.audit).
        context["audit"].add(
            who,
            action="graphql",
            what=self.execution_context.query or "",
            records=records,
            status=400 if errors else 200,
        )


# Built once: the depth and alias rules are classes made per limiter instance, and checking a document
# against them depends on nothing but the document, so a query text seen before reuses its verdict.
_LIMIT_RULES = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    CostLimit,
)
CHECKED_QUERIES = 128  # distinct query texts whose parsed document and validation errors are kept
CHECKED_QUERY_CHARS = 8192  # longer texts are parsed and validated every time, so the cache stays small


class _Checked:
    """A query text's parsed document and, once validated, its validation errors."""

    __slots__ = ("document", "errors")

    def __init__(self, document: DocumentNode):
        self.document = document
        self.errors: list[GraphQLError] | None = None


# (schema, query text) -> _Checked, least recently used first; bounded so unique query texts cannot grow it.
_checked: OrderedDict[tuple[object, str], _Checked] = OrderedDict()


class Limits(SchemaExtension):
    """Depth, alias and token limits; a query text seen before skips parsing and validation."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = MAX_TOKENS
        context.validation_rules = (*context.validation_rules, *_LIMIT_RULES)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        key = (context.schema, context.query or "")
        known = _checked.get(key)
        if known is not None:
            _checked.move_to_end(key)
            context.graphql_document = known.document  # strawberry parses only when no document is set
        yield
        # A text that failed to parse (syntax, too many tokens) is never kept, so it fails the same way again.
        keep = context.query and len(context.query) <= CHECKED_QUERY_CHARS
        if known is None and context.graphql_document is not None and keep:
            _checked[key] = _Checked(context.graphql_document)
            if len(_checked) > CHECKED_QUERIES:
                _checked.popitem(last=False)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        known = _checked.get((context.schema, context.query or ""))
        if known is not None and known.document is not context.graphql_document:
            known = None
        if known is not None and known.errors is not None:
            context.pre_execution_errors = list(known.errors)  # strawberry validates only when this is unset
        yield
        if known is not None and known.errors is None and context.pre_execution_errors is not None:
            known.errors = list(context.pre_execution_errors)


def graphql_extensions() -> list[Any]:
    # Factories, so every request gets fresh extension instances.
    return [Limits, Audit, ClientErrors]
