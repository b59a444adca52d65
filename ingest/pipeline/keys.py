"""Keys that mean one thing: the same repository, change or commit is one node whatever case an event used.

GitHub and GitLab treat `Acme/Shop` and `acme/shop` as one repository, and a SHA is hex whatever its
case; the pipeline lower-cases those keys (and the `repo` property that names a repository) so
that two events naming one thing never make two nodes. Sources build keys lower-cased already
where they can; this is the net under every source.
"""

from __future__ import annotations

from graph.batch import Batch, EdgeRow, NodeRow
from graph.vocabulary import Label

CASELESS = frozenset({Label.REPOSITORY, Label.CHANGE, Label.COMMIT})
# Properties that name a caseless key of another node.
CASELESS_PROPERTIES = ("repo",)


def _props(props: dict[str, object]) -> dict[str, object] | None:
    changed = None
    for name in CASELESS_PROPERTIES:
        value = props.get(name)
        if isinstance(value, str) and not value.islower() and value != value.lower():
            changed = changed or dict(props)
            changed[name] = value.lower()
    return changed


def canonical(batch: Batch) -> Batch:
    """The batch with caseless keys (and the properties naming them) lower-cased; the input is left as it was."""
    nodes: list[NodeRow] | None = None
    for i, n in enumerate(batch.nodes):
        key = n.key.lower() if n.label in CASELESS else n.key
        props = _props(n.props)
        if key != n.key or props is not None:
            nodes = nodes if nodes is not None else list(batch.nodes)
            nodes[i] = NodeRow(n.label, key, n.version, props if props is not None else n.props)
    edges: list[EdgeRow] | None = None
    for i, e in enumerate(batch.edges):
        src = e.src_key.lower() if e.src_label in CASELESS else e.src_key
        dst = e.dst_key.lower() if e.dst_label in CASELESS else e.dst_key
        if src != e.src_key or dst != e.dst_key:
            edges = edges if edges is not None else list(batch.edges)
            edges[i] = EdgeRow(e.rel, e.src_label, src, e.dst_label, dst, e.version, e.props)
    if nodes is None and edges is None:
        return batch
    return Batch(nodes=nodes if nodes is not None else batch.nodes, edges=edges if edges is not None else batch.edges)
