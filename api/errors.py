"""What a GraphQL client sees of an error: what it asked wrong, in words; never the server's internals.

Parse, validation and limit errors, and the errors resolvers raise on purpose (QueryError, the metrics'
MetricsError), reach the client as they are. Anything else (a bug, an overflow deep in a computation,
Neo4j going away) is answered with a short message and a reference; the exception itself, with its
traceback, goes to the server log under that reference.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

from graphql import GraphQLError
from neo4j.exceptions import DriverError, Neo4jError
from strawberry.extensions import SchemaExtension

from graph.driver import GraphUnavailable
from graph.metrics import MetricsError

log = logging.getLogger("uvicorn.error")  # shows among the serve process's own lines


class QueryError(ValueError):
    """A GraphQL argument the client got wrong; the message says what to ask instead."""


CLIENT_ERRORS: tuple[type[Exception], ...] = (QueryError, MetricsError)
UNAVAILABLE = (Neo4jError, DriverError, GraphUnavailable, OSError)


def client_message(error: GraphQLError, ref: str) -> str | None:
    """The message a client gets instead of `error`, or None when `error` may be shown as it is."""
    cause = error.original_error
    if cause is None or isinstance(cause, (*CLIENT_ERRORS, GraphQLError)):
        return None
    if isinstance(cause, UNAVAILABLE):
        return f"the graph database did not answer; try again (ref {ref})"
    return f"internal error (ref {ref}): the server log has the details"


class ClientErrors(SchemaExtension):
    """Replace every unexpected error in a result by a message without internals; log the original."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return
        shown = []
        for error in errors:
            ref = secrets.token_hex(4)
            message = client_message(error, ref)
            if message is None:
                shown.append(error)
                continue
            log.error("GraphQL error ref %s at %s: %s", ref, error.path, error.message, exc_info=error.original_error)
            where = {"nodes": error.nodes, "source": error.source, "positions": error.positions, "path": error.path}
            shown.append(GraphQLError(message, **where))
        result.errors = shown  # type: ignore[union-attr]
