"""A batch of nodes and edges: what a normaliser returns and what the writer MERGEs.

Every row carries a *version*: a string that sorts by when the source says the fact was true
(ISO-8601 UTC time first, then a rank and the delivery id as tie-breakers). The writer keeps, per
property, the value with the highest version, so the same events in any order, any number of
times, leave the same graph. Evidence and reviews carry their trust rank too, after the rank
(`<time>#<rank>#T<trust>#<event id>`, see with_trust): at one source time the stronger arrival wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from documents import Document
from graph.vocabulary import EDGE_PROPERTIES, EDGES, ORIGIN_PROPERTIES, PROPERTIES, Label, Rel


class BatchError(ValueError):
    """A normaliser asked for a node or edge outside the closed vocabulary."""


TRUST_MARK = "T"
_TRUST_SEGMENT = re.compile(TRUST_MARK + r"[0-9]")


def with_trust(version: str, rank: int) -> str:
    """`<time>#<rank>#<event id>` → `<time>#<rank>#T<trust rank>#<event id>`."""
    time, order, rest = (version.split("#", 2) + ["", ""])[:3]
    return f"{time}#{order}#{TRUST_MARK}{rank}#{rest}"


def split_version(version: str) -> tuple[str, int | None, str]:
    """(time, trust rank or None, event id) of a version, with or without its trust segment."""
    parts = version.split("#", 3)
    if len(parts) == 4 and _TRUST_SEGMENT.fullmatch(parts[2]):
        return parts[0], int(parts[2][1:]), parts[3]
    time, _, rest = (version.split("#", 2) + ["", ""])[:3]
    return time, None, rest


@dataclass(frozen=True)
class Origin:
    """Where a fact came from: the source system, its event id and when we received it."""

    source: str
    event_id: str
    received_at: str

    def props(self) -> dict[str, Any]:
        return {"source": self.source, "sourceEventId": self.event_id, "receivedAt": self.received_at}


@dataclass(frozen=True)
class NodeRow:
    label: Label
    key: str
    version: str
    props: dict[str, Any]


@dataclass(frozen=True)
class EdgeRow:
    rel: Rel
    src_label: Label
    src_key: str
    dst_label: Label
    dst_key: str
    version: str
    props: dict[str, Any]


def _clean(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return value


@dataclass
class Batch:
    """Nodes and edges produced from one or more source events."""

    nodes: list[NodeRow] = field(default_factory=list)
    edges: list[EdgeRow] = field(default_factory=list)
    # Raw documents for the document store, written before the nodes and edges that point at them.
    documents: list[Document] = field(default_factory=list)

    def node(self, label: Label, key: str, *, version: str, origin: Origin | None = None, **props: Any) -> str:
        """Add a node; properties that are None mean 'not known here' and are left untouched."""
        if not key:
            raise BatchError(f"{label} needs a non-empty key")
        unknown = set(props) - PROPERTIES[label]
        if unknown:
            raise BatchError(f"{label} has no properties {sorted(unknown)}")
        values = {k: _clean(v) for k, v in props.items() if v is not None}
        if origin is not None:
            values.update(origin.props())
        self.nodes.append(NodeRow(label, str(key), version, values))
        return str(key)

    def edge(
        self,
        src: tuple[Label, str],
        rel: Rel,
        dst: tuple[Label, str],
        *,
        version: str,
        origin: Origin | None = None,
        **props: Any,
    ) -> None:
        """Add an edge between two nodes given as (label, key); missing endpoints are created."""
        if (src[0], rel, dst[0]) not in EDGES:
            raise BatchError(f"({src[0]})-[:{rel}]->({dst[0]}) is not in the graph model")
        if not src[1] or not dst[1]:
            raise BatchError(f"edge {rel} needs keys on both ends")
        unknown = set(props) - EDGE_PROPERTIES
        if unknown:
            raise BatchError(f"edge {rel} has no properties {sorted(unknown)}")
        values = {k: v for k, v in props.items() if v is not None}
        if origin is not None:
            values.update(origin.props())
        self.edges.append(EdgeRow(rel, src[0], str(src[1]), dst[0], str(dst[1]), version, values))

    def document(self, document: Document) -> None:
        """Add a raw document (see graph.writer: stored before the transaction that names it)."""
        self.documents.append(document)

    def extend(self, other: Batch) -> None:
        self.nodes.extend(other.nodes)
        self.edges.extend(other.edges)
        self.documents.extend(other.documents)

    def __len__(self) -> int:
        return len(self.nodes) + len(self.edges)

    def find_nodes(self, label: Label) -> list[NodeRow]:
        """Nodes of one label, for tests and summaries."""
        return [n for n in self.nodes if n.label == label]

    def find_edges(self, rel: Rel) -> list[EdgeRow]:
        """Edges of one type, for tests and summaries."""
        return [e for e in self.edges if e.rel == rel]


assert ORIGIN_PROPERTIES <= EDGE_PROPERTIES
