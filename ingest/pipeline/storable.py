"""Whether Neo4j can store a batch: checked before writing, so one bad value never spoils a transaction."""

from __future__ import annotations

from typing import Any

from graph.batch import Batch
from graph.vocabulary import INDEXED

MAX_INDEXED_BYTES = 4000  # Neo4j's range indexes refuse values above about 8 kB; stay well clear
INT64 = (-(2**63), 2**63 - 1)


def storable_problem(batch: Batch) -> str | None:
    """Why Neo4j would refuse to store this batch (a map, a 65-bit integer, a lone surrogate...), or None."""
    for node in batch.nodes:
        indexed = INDEXED.get(node.label, ())
        if problem := _key_problem(node.key):
            return f"{node.label} key {problem}"
        for prop, value in node.props.items():
            # Nearly every value is short ASCII text, a bool or a float: those are fine wherever they go.
            if value.__class__ is str and value.isascii() and len(value) <= MAX_INDEXED_BYTES:
                continue
            if problem := _value_problem(value, indexed=prop in indexed):
                return f"{node.label} {node.key[:80]!r} property {prop} is {problem}"
    for edge in batch.edges:
        if problem := _key_problem(edge.src_key) or _key_problem(edge.dst_key):
            return f"{edge.rel} edge key {problem}"
        for prop, value in edge.props.items():
            if value.__class__ is str and value.isascii():
                continue
            if problem := _value_problem(value, indexed=False):
                return f"{edge.rel} edge property {prop} is {problem}"
    return None


def _key_problem(key: str) -> str | None:
    if key.isascii() and len(key) <= MAX_INDEXED_BYTES:
        return None
    problem = _value_problem(key, indexed=True)
    return problem and problem.removeprefix("text ")


def _value_problem(value: Any, *, indexed: bool) -> str | None:
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else "an integer beyond Neo4j's 64-bit range"
    if isinstance(value, str):
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            return "text with a lone surrogate (not valid Unicode)"
        return (
            f"text longer than {MAX_INDEXED_BYTES} bytes in an index" if indexed and size > MAX_INDEXED_BYTES else None
        )
    if isinstance(value, list):
        kinds = {
            "number" if isinstance(v, int | float) and not isinstance(v, bool) else type(v).__name__ for v in value
        }
        if len(kinds) > 1 or kinds & {"list", "dict"}:
            return "a list mixing kinds or nesting lists and maps (Neo4j stores flat lists of one kind)"
        return next((p for v in value if (p := _value_problem(v, indexed=False))), None)
    if isinstance(value, dict):
        return "a map (Neo4j stores primitives and flat lists of them)"
    return f"a {type(value).__name__}"
