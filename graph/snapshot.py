"""A whole graph as plain, sorted data: what two ingests of the same events must agree on.

Writer bookkeeping (`_v`, `_v_<prop>`) is left out, and so, unless asked, is how each fact travelled
(`receivedAt`, a document's `location` and `via`, and the trust that follows from them): the same event
received as a webhook today and from a file tomorrow is the same fact, vouched for differently. Every
SourceEvent's document is read from the document store and compared too: a path that lost one differs
("missing"), however equal its nodes are.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from graph.driver import Graph
from graph.queries.core import SNAPSHOT_EDGES, SNAPSHOT_NODES
from graph.reads import read_all
from graph.vocabulary import KEYS, TRUST_FLOOR, TRUST_PROPERTIES, Label
from graph.writer import is_bookkeeping

TRAVEL = frozenset({"receivedAt", "location", "via", TRUST_FLOOR}) | TRUST_PROPERTIES
VOCABULARY = frozenset(label.value for label in Label)


@dataclass(frozen=True)
class Snapshot:
    nodes: list[str]
    edges: list[str]
    # "<SourceEvent key> <digest> <text>" per SourceEvent with a digest, its text from the document store.
    documents: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.nodes) + len(self.edges)


def _key(labels: list[str], props: dict[str, Any]) -> str:
    label = next(x for x in sorted(labels) if x in VOCABULARY)
    return f"{label}:{props.get(KEYS[Label(label)])}"


def _clean(props: dict[str, Any], drop: frozenset[str]) -> str:
    kept = {k: v for k, v in props.items() if not is_bookkeeping(k) and k not in drop}
    return json.dumps(kept, sort_keys=True, default=str)


async def snapshot(graph: Graph, *, with_travel: bool = False) -> Snapshot:
    """Every node and edge of the graph, canonical and sorted."""
    drop = frozenset() if with_travel else TRAVEL
    # The traceability graph only: tokens and the audit log are the API's own records.
    labels = [label.value for label in Label]
    nodes = await read_all(graph, SNAPSHOT_NODES, labels=labels)
    edges = await read_all(graph, SNAPSHOT_EDGES, labels=labels)
    events = {
        str(r["props"][KEYS[Label.SOURCE_EVENT]]): str(r["props"]["digest"])
        for r in nodes
        if Label.SOURCE_EVENT.value in r["labels"] and r["props"].get("digest")
    }
    texts = await asyncio.to_thread(graph.documents.get, set(events.values())) if graph.documents and events else {}
    return Snapshot(
        nodes=sorted(f"{_key(r['labels'], r['props'])} {_clean(r['props'], drop)}" for r in nodes),
        edges=sorted(
            f"{_key(r['fromLabels'], r['from'])} -[{r['type']} {_clean(r['props'], drop)}]-> "
            f"{_key(r['toLabels'], r['to'])}"
            for r in edges
        ),
        documents=sorted(
            f"{key} {digest} {json.dumps(texts.get(digest, 'missing'))}" for key, digest in events.items()
        ),
    )
