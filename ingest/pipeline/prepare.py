"""From one source event to the batch it writes: the semantics every way in shares, in one place.

    redact the document → normalise it (the source's plugin) → redact every stored text → canonical
    keys → identities → trust (how it arrived, signatures checked) → the raw document for the document
    store, its digest on a SourceEvent → storable in Neo4j?

The source normalises the document as it will be stored (secrets redacted), so nothing derived from a
secret can reach the graph, and `tracegraph rebuild`, which replays the stored documents, gives the
graph they gave in the first place.

Pure and total: `prepare` answers a batch or raises Rejected with a reason a person can read,
whatever the event holds. It never touches the driver; callers batch and write what it returns.
Each event is prepared on its own, so the graph cannot depend on how events were grouped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from documents import Document
from graph.batch import Batch, BatchError
from graph.settings import get_settings
from graph.vocabulary import Label
from ingest.identity import Identities, resolve
from ingest.pipeline.events import Event, Rejected
from ingest.pipeline.keys import canonical
from ingest.pipeline.storable import storable_problem
from ingest.pipeline.trust import stamp_trust
from ingest.redact import (
    MARKER,
    count_redactions,
    may_hold_secrets,
    redact,
    redact_document,
    redact_payload,
    redact_value,
)
from ingest.sources import SOURCES
from ingest.sources.base import Source
from trust.check import Check, check
from trust.config import TrustConfig, load_trust


@dataclass(frozen=True)
class Prepared:
    """What one event writes, and how many secrets were redacted from what it stores."""

    event: Event
    batch: Batch
    redactions: int


def source_event_id(source: str, event_id: str) -> str:
    """The key of the SourceEvent a node's (source, sourceEventId) points at."""
    return f"{source}:{event_id}"


def text_suffixes(source: str | None) -> frozenset[str]:
    """File suffixes the named source reads as text (none for JSON sources or no source)."""
    found = SOURCES.get(source) if source else None
    return found.text_suffixes if found else frozenset()


class Pipeline:
    """Prepares events: one per process and identity set, shared by every driver."""

    def __init__(
        self,
        *,
        identities: Identities | None = None,
        keep_raw: bool = True,
        sources: Mapping[str, Source] = SOURCES,
        trust: TrustConfig | None = None,
    ):
        # One person, many handles: Person keys are rewritten to the canonical login before writing.
        self.identities = identities if identities is not None else Identities.load()
        self.keep_raw = keep_raw
        self.sources = sources
        # Who may sign evidence; a broken trust file stops the driver here (TrustError), before any write.
        self.trust = trust if trust is not None else load_trust(get_settings().trust_file)

    def prepare(self, event: Event) -> Prepared:
        """The batch one event writes (its raw document included), or Rejected with the reason."""
        text, event = redacted(typed(event, self.sources))
        batch = normalise(event, self.sources)
        try:
            redactions = redact_batch(batch)
            batch = resolve(canonical(batch), self.identities)
            stamp_trust(batch, event, self.checks(event))
            if self.keep_raw:
                add_source_event(batch, event, text)
        except Exception as exc:  # noqa: BLE001 - one odd event must never stop a driver
            raise Rejected(f"{event.source} {event.type or ''} event could not be prepared: {exc!r}") from exc
        if problem := storable_problem(batch):
            raise Rejected(f"cannot be stored in Neo4j: {problem}")
        return Prepared(event, batch, redactions)

    def checks(self, event: Event) -> dict[str, Check]:
        """What the trust file says about each signed part of the event, by the evidence key it backs."""
        claims = self.sources[event.source].claims
        found: dict[str, Check] = {}
        for claim in claims(event) if claims else []:
            result = check(claim, self.trust)
            found.update(dict.fromkeys(claim.keys, result))
        return found


def source_of(event: Event, sources: Mapping[str, Source] = SOURCES) -> Source:
    """The plugin of the event's source, or Rejected naming the known ones."""
    found = sources.get(event.source)
    if found is None:
        raise Rejected(f"unknown source {event.source!r} (known: {', '.join(sorted(sources))})")
    return found


def typed(event: Event, sources: Mapping[str, Source] = SOURCES) -> Event:
    """The event under its source's own name for its type (a webhook header's alias resolved, or inferred)."""
    source = source_of(event, sources)
    return event.with_type(source.canonical_type(event.type) or source.infer_type(event.payload))


def normalise(event: Event, sources: Mapping[str, Source] = SOURCES) -> Batch:
    """The source's batch for the event (nothing else of the pipeline), or Rejected with the reason."""
    source = source_of(event, sources)
    try:
        return source.normalise(event)
    except Rejected:
        raise
    except BatchError as exc:
        raise Rejected(f"{event.source} event does not fit the graph model: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - any normaliser failure parks the event instead of stopping the run
        # A normaliser bug must not take the rest of the input down; the event is parked with the cause.
        raise Rejected(
            f"{event.source} {event.type or ''} payload could not be read: {exc.__class__.__name__}: {exc}"
        ) from exc


def redact_batch(batch: Batch) -> int:
    """Redact every text a batch stores (keys aside), in place; the number of redacted secrets its nodes hold.

    A secret in a URL, a label or a check name is as much a secret as one in a title, whichever
    source forgot to look. All texts are scanned for hints in one pass first: most batches hold none.
    """
    texts = [v for rows in (batch.nodes, batch.edges) for row in rows for v in row.props.values() if v]
    joined = "\n".join(
        s if isinstance(s, str) else "\n".join(x for x in s if isinstance(x, str)) for s in _texts(texts)
    )
    if may_hold_secrets(joined):
        for rows in (batch.nodes, batch.edges):
            for row in rows:
                _redact_props(row.props)
    elif MARKER not in joined:
        return 0  # nothing to redact, and no normaliser redacted anything either
    return sum(count_redactions(n.props) for n in batch.nodes)


def _texts(values: list[Any]) -> list[Any]:
    return [v for v in values if isinstance(v, str) or (isinstance(v, list) and v and isinstance(v[0], str))]


def _redact_props(props: dict[str, Any]) -> None:
    for name, value in props.items():
        if isinstance(value, str):
            cleaned = redact(value)
            if cleaned is not value:
                props[name] = cleaned
        elif isinstance(value, list) and value and isinstance(value[0], str):
            props[name] = [redact(v) if isinstance(v, str) else v for v in value]


def redacted(event: Event) -> tuple[str, Event]:
    """The event's document as it is stored (its canonical text, secrets redacted), and the event
    carrying that document (the same event when it held no secret)."""
    if isinstance(event.payload, str):
        text = redact(event.payload) or ""
        return text, event if text == event.payload else replace(event, payload=text)
    text, payload = redact_payload(event.payload)
    return text, event if payload is event.payload else replace(event, payload=payload)


def add_source_event(batch: Batch, event: Event, text: str | None = None) -> None:
    """Keep the raw document (secrets redacted) for the document store, with what a replay needs, and a
    SourceEvent node keyed by source:event id that names it by digest."""
    document = Document.of(
        raw_text(event) if text is None else text,
        source=event.source,
        id=event.id,
        type=event.type,
        received_at=event.received_at,
        # Keys only (repo, number, sha…), but redacted like everything stored, whatever a sender put there.
        subject=cast("dict[str, Any]", redact_value(dict(event.subject))) if event.subject is not None else None,
        via=event.via,
        location=event.location,
        is_text=isinstance(event.payload, str),
    )
    batch.document(document)
    batch.node(
        Label.SOURCE_EVENT,
        source_event_id(event.source, event.id),
        # Every arrival of one event is the same document: no arrival outranks another.
        version=event.version(None),
        origin=event.origin,
        type=event.type or "",
        digest=document.digest,
        location=event.location,
        via=event.via or None,
    )


def raw_text(event: Event) -> str:
    """The event's document as text with secrets redacted, for quarantine."""
    payload: Any = event.payload
    return (redact(payload) or "") if isinstance(payload, str) else redact_document(payload)
