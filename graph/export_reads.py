"""Reads for evidence exports: the changes a scope holds and the subgraph (with raw documents) behind them.

Raw documents come from the document store, by the digest their SourceEvent keeps (a graph written
before the store existed still has them inline, as a SourceEvent's `body`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from graph.batch import split_version
from graph.driver import Graph
from graph.queries import export as q
from graph.reads import read_all, read_one
from graph.vocabulary import KEYS, ORIGIN_PROPERTIES, Label
from graph.writer import VERSION, is_bookkeeping, versions


class ExportModel(BaseModel):
    # Dumped by alias, the export speaks the graph's camelCase (receivedAt), like its properties do.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Assertion(ExportModel):
    """Which source event set a property's current value, and as of when (from its version)."""

    event: str
    at: str


class GraphNode(ExportModel):
    id: str  # "<Label>:<key>", unique across the export
    label: str
    key: str
    properties: dict[str, Any]
    # The SourceEvent ("{source}:{sourceEventId}") that last wrote the node's origin properties.
    event: str | None = None
    asserted: dict[str, Assertion] = Field(default_factory=dict)


class GraphEdge(ExportModel):
    type: str
    start: str  # GraphNode.id
    end: str
    properties: dict[str, Any]
    event: str | None = None
    asserted: Assertion | None = None


class SourceDocument(ExportModel):
    """A raw document a source sent (secrets redacted on the way in)."""

    id: str
    source: str | None = None
    type: str | None = None
    digest: str | None = None
    location: str | None = None
    received_at: str | None = None
    body: str = ""


class Subgraph(ExportModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    sources: list[SourceDocument]
    # Event ids named by versions that have no stored SourceEvent (ingested with keep_raw off, or
    # before raw documents were kept), or whose document the store lacks: listed so an auditor sees
    # the gap instead of a silent hole.
    missing_sources: list[str] = Field(default_factory=list)


async def change_ids_merged_between(graph: Graph, *, start: str, end: str) -> list[str]:
    """Ids of changes merged in [start, end) (ISO-8601 UTC strings), oldest first."""
    return [r["id"] for r in await read_all(graph, q.CHANGE_IDS_MERGED_BETWEEN, start=start, end=end)]


async def change_ids_deployed_to(graph: Graph, *, service: str, start: str, end: str) -> list[str]:
    """Ids of changes shipped by deployments to the service that started in [start, end)."""
    rows = await read_all(graph, q.CHANGE_IDS_DEPLOYED_TO, service=service, start=start, end=end)
    return [r["id"] for r in rows]


async def service_known(graph: Graph, service: str) -> bool:
    """Whether the graph knows the service (a Service node or a deployment naming it)."""
    row = await read_one(graph, q.SERVICE_KNOWN, service=service)
    return bool(row and row["known"])


def _split_version(version: Any) -> tuple[str, str] | None:
    """(at, event id) from a version 'ISO#rank#event-id' (see graph.batch); None when not one."""
    if not isinstance(version, str) or version.count("#") < 2:
        return None
    at, _, event_id = split_version(version)
    return (at, event_id) if event_id else None


def _label(labels: list[str]) -> Label:
    known = [Label(name) for name in labels if name in Label._value2member_map_]
    return known[0] if known else Label(labels[0])


def _origin(props: dict[str, Any]) -> str | None:
    if props.get("source") and props.get("sourceEventId"):
        return f"{props['source']}:{props['sourceEventId']}"
    return None


class _EventIndex:
    """Maps the bare event ids inside versions to SourceEvent ids, once the stored ones are known."""

    def __init__(self) -> None:
        self.seen: set[str] = set()  # sources named on the nodes and edges themselves
        self.event_ids: set[str] = set()
        self.found: dict[str, str] = {}

    def want(self, props: dict[str, Any], versions: Iterable[Any]) -> None:
        if props.get("source"):
            self.seen.add(str(props["source"]))
        self.event_ids |= {split[1] for v in versions if (split := _split_version(v))}

    def candidates(self, sources: Iterable[str]) -> list[str]:
        """SourceEvent ids to look up: each still unresolved event id under each of the sources."""
        missing = self.event_ids - set(self.found)
        return sorted(f"{s}:{e}" for s in set(sources) for e in missing)

    def resolve(self, stored: Iterable[str]) -> None:
        for sid in sorted(stored):
            self.found.setdefault(sid.split(":", 1)[1], sid)

    def assertion(self, version: Any, origin: str | None) -> Assertion | None:
        split = _split_version(version)
        if split is None:
            return None
        at, event_id = split
        # The origin's own source wins when two sources happen to share an event id.
        if origin and origin.split(":", 1)[1] == event_id:
            return Assertion(event=origin, at=at)
        return Assertion(event=self.found.get(event_id, f"?:{event_id}"), at=at)


async def subgraph(graph: Graph, change_ids: list[str], *, sources: Iterable[str] = ()) -> Subgraph:
    """Every node and edge the answers of `change_ids` rest on, and the raw documents that asserted them.

    `sources` names the ingest sources to look raw documents up under (the ones seen on nodes and
    edges are always tried): a property's version records only the bare event id, not its source.
    """
    row = await read_one(graph, q.SUBGRAPH, ids=change_ids)
    raw_nodes = row["nodes"] if row else []
    raw_edges = row["edges"] if row else []
    index = _EventIndex()
    for n in raw_nodes:
        index.want(n["props"], versions(n["props"], _label(n["labels"])).values())
    for e in raw_edges:
        index.want(e["props"], [e["props"].get(VERSION)])
    stored: dict[str, dict[str, Any]] = {}
    # Most events belong to a source seen on the nodes; only what is left is tried under the others.
    for names in (index.seen, set(sources) - index.seen):
        found = await read_all(graph, q.SOURCE_EVENTS, ids=index.candidates(names))
        stored.update({r["event"]["id"]: r["event"] for r in found})
        index.resolve(stored)

    ids_by_element: dict[str, str] = {}
    nodes = []
    for n in raw_nodes:
        label = _label(n["labels"])
        props = n["props"]
        key = str(props.get(KEYS.get(label, "id"), n["element"]))
        node_id = f"{label}:{key}"
        ids_by_element[n["element"]] = node_id
        origin = _origin(props)
        # The origin properties are bookkeeping of the same writes: who asserted them is `event`.
        asserted = {
            p: a
            for p, v in versions(props, label).items()
            if p not in ORIGIN_PROPERTIES and (a := index.assertion(v, origin))
        }
        public = {k: v for k, v in props.items() if not is_bookkeeping(k)}
        nodes.append(GraphNode(id=node_id, label=label, key=key, properties=public, event=origin, asserted=asserted))
    edges = [
        GraphEdge(
            type=e["type"],
            start=ids_by_element[e["from"]],
            end=ids_by_element[e["to"]],
            properties={k: v for k, v in e["props"].items() if not is_bookkeeping(k)},
            event=_origin(e["props"]),
            asserted=index.assertion(e["props"].get(VERSION), _origin(e["props"])),
        )
        for e in raw_edges
    ]
    named = {n.event for n in nodes} | {e.event for e in edges}
    named |= {a.event for n in nodes for a in n.asserted.values()} | {e.asserted.event for e in edges if e.asserted}
    named.discard(None)
    wanted = {sid: doc for sid, doc in sorted(stored.items()) if sid in named}
    texts = await document_texts(graph, [doc["digest"] for doc in wanted.values() if doc.get("digest")])
    documents = []
    for sid, doc in wanted.items():
        body = texts.get(doc.get("digest") or "", doc.get("body"))
        if body is None:
            continue  # its digest names a document the store lacks: listed as missing below
        documents.append(
            SourceDocument(
                id=sid,
                source=doc.get("source"),
                type=doc.get("type"),
                digest=doc.get("digest"),
                location=doc.get("location"),
                received_at=doc.get("receivedAt"),
                body=body,
            )
        )
    kept = {d.id for d in documents}
    return Subgraph(
        nodes=sorted(nodes, key=lambda n: n.id),
        edges=sorted(edges, key=lambda e: (e.start, e.type, e.end)),
        sources=documents,
        missing_sources=sorted(str(sid) for sid in named if sid not in kept),
    )


async def document_texts(graph: Graph, digests: list[str]) -> dict[str, str]:
    """The texts of documents in the graph's document store, by digest (none without a store)."""
    if not digests or graph.documents is None:
        return {}
    return await asyncio.to_thread(graph.documents.get, digests)
