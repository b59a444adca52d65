"""Request limits: body size per path prefix, and the GraphQL depth/alias/token limits and audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension

from graph import access

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
        await access.record(
            context["tracegraph"].graph,
            who,
            action="graphql",
            what=self.execution_context.query or "",
            records=records,
            status=400 if errors else 200,
        )


def graphql_extensions() -> list[Any]:
    # Factories, so every request gets fresh extension instances.
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        Audit,
    ]
