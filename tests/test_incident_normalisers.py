"""PagerDuty and Opsgenie normalisers: payload in, Incident rows out, one table per case family."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.pipeline.prepare import add_source_event
from ingest.sources import opsgenie, pagerduty
from ingest.sources.base import Event, Rejected, Source
from tests.conftest import CORPUS

FIXTURES = Path(__file__).parent / "fixtures"
PD = "pagerduty:Q1ABCD2EFGHIJK"
OG = "opsgenie:70413a06-38d6-4c85-92b8-5ebc900d42e2"
TIMESTAMPS = ("triggeredAt", "acknowledgedAt", "resolvedAt")


def fixture(source: str, name: str) -> Any:
    return json.loads((FIXTURES / source / name).read_text())


def event(source: str, payload: Any, kind: str | None = None, event_id: str = "delivery-1") -> Event:
    return Event(source=source, type=kind, id=event_id, payload=payload, received_at="2026-01-10T00:00:00Z")


def run(source: Source, name: str, event_id: str | None = None) -> Batch:
    """Normalise a fixture as a bare payload: the type is inferred, as with `--source` and no `--type`."""
    return source.normalise(event(source.name, fixture(source.name, name), event_id=event_id or name))


def folded(batch: Batch, key: str) -> dict[str, Any]:
    """The properties the writer would keep for one Incident: per property, the highest version wins."""
    values: dict[str, tuple[str, Any]] = {}
    for row in batch.find_nodes(Label.INCIDENT):
        if row.key != key:
            continue
        for prop, value in row.props.items():
            if prop not in values or row.version >= values[prop][0]:
                values[prop] = (row.version, value)
    assert values, f"no Incident {key!r} in {[n.key for n in batch.nodes]}"
    return {prop: value for prop, (_, value) in values.items()}


def affects(batch: Batch) -> set[tuple[str, str]]:
    return {(e.src_key, e.dst_key) for e in batch.find_edges(Rel.AFFECTS)}


# --- PagerDuty ------------------------------------------------------------------------------

PAGERDUTY_CASES: list[tuple[str, str, dict[str, Any], set[str], str | None]] = [
    (
        "v3.incident.triggered.json",
        PD,
        {
            "title": "Refund API 5xx above 5% (api_key=[REDACTED:secret-assignment])",
            "status": "triggered",
            "severity": "P1",
            "priority": "P1",
            "urgency": "high",
            "service": "shop-api",
            "number": 1042,
            "triggeredAt": "2026-01-06T09:30:00Z",
            "url": "https://acme.pagerduty.com/incidents/Q1ABCD2EFGHIJK",
            "assignees": ["Carol Oncall"],
            "source": "pagerduty",
        },
        {"acknowledgedAt", "resolvedAt"},
        "shop-api",
    ),
    (
        "v3.incident.acknowledged.json",
        PD,
        {"status": "acknowledged", "acknowledgedAt": "2026-01-06T09:34:10Z", "triggeredAt": "2026-01-06T09:30:00Z"},
        {"resolvedAt"},
        "shop-api",
    ),
    (
        "v3.incident.resolved.json",
        PD,
        {"status": "resolved", "resolvedAt": "2026-01-06T10:05:00Z", "assignees": []},
        {"acknowledgedAt"},
        "shop-api",
    ),
    # A reopen only moves the status back: the writer never erases the earlier resolvedAt.
    ("v3.incident.reopened.json", PD, {"status": "triggered"}, {"resolvedAt", "acknowledgedAt"}, "shop-api"),
    # Nulls wherever the docs allow them: nothing is asserted about what is unknown.
    (
        "v3.incident.priority_updated.nulls.json",
        "pagerduty:PT4KHLK",
        {"status": "acknowledged"},
        {"title", "severity", "priority", "urgency", "service", "number", "url", "assignees", *TIMESTAMPS},
        None,
    ),
    # Notes carry only a reference to their incident.
    (
        "v3.incident.annotated.json",
        PD,
        {"url": "https://acme.pagerduty.com/incidents/Q1ABCD2EFGHIJK"},
        {"status", "title"},
        None,
    ),
    # An incident event type added after this code was written is a status update too.
    ("v3.incident.custom_field_values.updated.json", PD, {"status": "acknowledged"}, {"acknowledgedAt"}, "shop-api"),
    # V2: trigger and acknowledge share a second; the lifecycle rank orders them.
    (
        "v2.messages.json",
        "pagerduty:PRX9Q2M",
        {
            "title": "Checkout latency p99 > 2s",
            "status": "resolved",
            "severity": "low",
            "urgency": "low",
            "service": "checkout",
            "number": 77,
            "triggeredAt": "2026-01-08T14:00:00Z",
            "acknowledgedAt": "2026-01-08T14:00:00Z",
            "resolvedAt": "2026-01-08T14:20:00Z",
            "assignees": ["Dave Oncall"],
        },
        {"priority"},
        "checkout",
    ),
    (
        "v2.legacy_fields.json",
        "pagerduty:PIJ90N7",
        {
            "title": "Billing job failed twice",
            "status": "triggered",
            "service": "legacy-billing",
            "number": 5,
            "triggeredAt": "2015-05-12T10:00:06Z",
            "assignees": ["Erin Oncall"],
        },
        {"acknowledgedAt", "resolvedAt", "severity"},
        "legacy-billing",
    ),
]


@pytest.mark.parametrize(("name", "key", "expected", "absent", "service"), PAGERDUTY_CASES)
def test_pagerduty_event_updates_its_incident(
    name: str, key: str, expected: dict[str, Any], absent: set[str], service: str | None
) -> None:
    batch = run(pagerduty.SOURCE, name)
    props = folded(batch, key)
    assert {k: props.get(k) for k in expected} == expected
    assert not absent & set(props), f"unexpected {sorted(absent & set(props))}"
    assert affects(batch) == ({(key, service)} if service else set())


def test_v2_delivery_is_one_batch_with_a_version_per_message() -> None:
    batch = run(pagerduty.SOURCE, "v2.messages.json")
    versions = [row.version for row in batch.find_nodes(Label.INCIDENT)]
    assert len(versions) == 3 and len(set(versions)) == 3
    assert versions == sorted(versions)


LIFECYCLE = [
    "v3.incident.triggered.json",
    "v3.incident.annotated.json",
    "v3.incident.acknowledged.json",
    "v3.incident.resolved.json",
]


@pytest.mark.parametrize("order", list(itertools.permutations(LIFECYCLE)))
def test_pagerduty_events_in_any_order_leave_the_same_incident(order: tuple[str, ...]) -> None:
    batch = Batch()
    for name in order:
        batch.extend(run(pagerduty.SOURCE, name))
    props = folded(batch, PD)
    assert props["status"] == "resolved"
    assert [props.get(t) for t in TIMESTAMPS] == [
        "2026-01-06T09:30:00Z",
        "2026-01-06T09:34:10Z",
        "2026-01-06T10:05:00Z",
    ]
    assert props["title"].startswith("Refund API 5xx")


def test_reopen_after_resolve_reads_as_open_but_keeps_the_old_resolution_time() -> None:
    batch = Batch()
    for name in ("v3.incident.reopened.json", "v3.incident.resolved.json", "v3.incident.triggered.json"):
        batch.extend(run(pagerduty.SOURCE, name))
    props = folded(batch, PD)
    assert props["status"] == "triggered"
    assert props["resolvedAt"] == "2026-01-06T10:05:00Z"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("v3.incident.triggered.json", "incident.triggered"),
        ("v3.incident.annotated.json", "incident.annotated"),
        ("v2.messages.json", "messages"),
        ("v3.service.updated.json", "service.updated"),
    ],
)
def test_pagerduty_type_is_inferred_from_the_payload(name: str, expected: str) -> None:
    assert pagerduty.infer_type(fixture("pagerduty", name)) == expected


INCIDENT = fixture("pagerduty", "v3.incident.triggered.json")["event"]["data"]


@pytest.mark.parametrize(
    ("payload", "kind", "reason"),
    [
        # service.* events are read (a Service); other resources are not.
        (
            {"event": {"event_type": "escalation_policy.updated", "data": {"id": "PEP1"}}},
            None,
            "unknown pagerduty event type 'escalation_policy.updated'",
        ),
        ({"event": {"event_type": "incident.triggered", "data": None}}, None, "has no data object"),
        ({"event": {"event_type": "incident.triggered", "data": {"type": "incident"}}}, None, "has no data.id"),
        (
            {"event": {"event_type": "incident.annotated", "data": {"type": "incident_note", "content": "x"}}},
            None,
            "names no incident.id",
        ),
        ({"event": "incident.triggered"}, "incident.triggered", "has no event object"),
        ({"messages": []}, None, "has no messages"),
        ({"messages": [{"event": "incident.trigger"}]}, None, "message 0 has no event or incident"),
        ({"messages": [{"event": "incident.trigger", "incident": {"title": "x"}}]}, None, "has no incident.id"),
        ({"incident": INCIDENT}, None, "cannot tell the pagerduty event type"),
        (["not", "an", "object"], "incident.triggered", "must be a JSON object"),
    ],
)
def test_pagerduty_bad_payloads_are_rejected_with_a_reason(payload: Any, kind: str | None, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        pagerduty.SOURCE.normalise(event("pagerduty", payload, kind))


def test_an_envelope_type_and_the_payload_agree_on_the_handler() -> None:
    payload = fixture("pagerduty", "v3.incident.resolved.json")
    batch = pagerduty.SOURCE.normalise(event("pagerduty", payload, "incident.resolved"))
    assert folded(batch, PD)["status"] == "resolved"
    assert "incident.triggered" in list(pagerduty.SOURCE.handlers)


# --- Opsgenie -------------------------------------------------------------------------------

OPSGENIE_CASES: list[tuple[str, str, dict[str, Any], set[str], str | None]] = [
    (
        "create.json",
        OG,
        {
            "title": "Payment webhook backlog > 10k",
            "status": "triggered",
            "severity": "P1",
            "priority": "P1",
            "service": "payments-api",  # entity is empty: the service: tag names it
            "number": 3141,
            "triggeredAt": "2026-01-06T12:00:00Z",
            "source": "opsgenie",
        },
        {"acknowledgedAt", "resolvedAt", "assignees"},
        "payments-api",
    ),
    # 1767701099999999999 ns is 12:04:59.999999999; as a float it would round up to 12:05:00.
    (
        "acknowledge.json",
        OG,
        {"status": "acknowledged", "acknowledgedAt": "2026-01-06T12:04:59Z", "assignees": ["dave@example.com"]},
        {"resolvedAt"},
        "payments-api",
    ),
    (
        "close.json",
        OG,
        {"status": "resolved", "resolvedAt": "2026-01-06T12:45:00Z"},
        {"acknowledgedAt"},
        "payments-api",
    ),
    # Actions that are not part of the lifecycle refresh facts but leave the status alone.
    ("addnote.json", OG, {"title": "Payment webhook backlog > 10k"}, {"status", "acknowledgedAt"}, "payments-api"),
    ("custom_action.json", OG, {"severity": "P2", "priority": "P2"}, {"status"}, "payments-api"),
    (
        "create.entity.json",
        "opsgenie:c0ffee00-1111-4222-8333-944455556666",
        {"service": "ledger-db", "triggeredAt": "2026-01-06T12:00:00Z", "number": 7, "status": "triggered"},
        set(),
        "ledger-db",
    ),
]


@pytest.mark.parametrize(("name", "key", "expected", "absent", "service"), OPSGENIE_CASES)
def test_opsgenie_action_updates_its_incident(
    name: str, key: str, expected: dict[str, Any], absent: set[str], service: str | None
) -> None:
    batch = run(opsgenie.SOURCE, name)
    props = folded(batch, key)
    assert {k: props.get(k) for k in expected} == expected
    assert not absent & set(props), f"unexpected {sorted(absent & set(props))}"
    assert affects(batch) == ({(key, service)} if service else set())


def test_opsgenie_versions_come_from_the_exact_nanoseconds() -> None:
    [row] = run(opsgenie.SOURCE, "acknowledge.json").find_nodes(Label.INCIDENT)
    assert row.version.startswith("2026-01-06T12:04:59Z#02#")


def test_19_digit_integers_survive_into_the_stored_raw_document() -> None:
    raw = (FIXTURES / "opsgenie" / "acknowledge.json").read_text()
    payload = json.loads(raw)
    assert payload["alert"]["updatedAt"] == 1767701099999999999  # an exact int, never a float
    batch = Batch()
    add_source_event(batch, event("opsgenie", payload, "Acknowledge"))
    [stored] = batch.documents
    assert "1767701099999999999" in stored.body.decode()
    assert batch.find_nodes(Label.SOURCE_EVENT)[0].props["digest"] == stored.digest


def test_opsgenie_lifecycle_in_any_order_leaves_the_same_incident() -> None:
    names = ["create.json", "addnote.json", "acknowledge.json", "custom_action.json", "close.json"]
    results = []
    for order in itertools.permutations(names):
        batch = Batch()
        for name in order:
            batch.extend(run(opsgenie.SOURCE, name))
        props = folded(batch, OG)
        results.append({k: v for k, v in props.items() if k not in ("sourceEventId",)})
    assert all(result == results[0] for result in results)
    assert results[0]["status"] == "resolved"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1767700800, "2026-01-06T12:00:00Z"),  # seconds
        (1767700800123, "2026-01-06T12:00:00Z"),  # milliseconds
        (1767700800123456, "2026-01-06T12:00:00Z"),  # microseconds
        (1767700800999999999, "2026-01-06T12:00:00Z"),  # nanoseconds a float would round up
        ("1767700859999", "2026-01-06T12:00:59Z"),  # digits in a string
        (0, "1970-01-01T00:00:00Z"),
        (1767700800.5, None),  # a float may already have lost digits: refused
        (True, None),
        (-5, None),
        (10**40, None),
        ("soon", None),
        (None, None),
    ],
)
def test_epoch_timestamps_convert_with_integer_arithmetic(value: Any, expected: str | None) -> None:
    assert opsgenie.epoch_iso(value) == expected


@pytest.mark.parametrize(
    ("payload", "kind", "reason"),
    [
        (fixture("opsgenie", "no_alert.json"), None, "opsgenie Create payload has no alert object"),
        ({"action": "Close", "alert": {"message": "x"}}, None, "has no alert.alertId"),
        ({"action": "Close", "alert": {"alertId": True}}, None, "has no alert.alertId"),
        ({"alert": {"alertId": "x"}}, None, "cannot tell the opsgenie event type"),
        ({"action": "   ", "alert": {"alertId": "x"}}, None, "unknown opsgenie event type"),
    ],
)
def test_opsgenie_bad_payloads_are_rejected_with_a_reason(payload: Any, kind: str | None, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        opsgenie.SOURCE.normalise(event("opsgenie", payload, kind))


# --- the shared corpus ------------------------------------------------------------------------


@pytest.mark.parametrize("source", [pagerduty.SOURCE, opsgenie.SOURCE], ids=lambda s: s.name)
def test_every_corpus_file_is_ingested_or_rejected_with_a_reason(source: Source) -> None:
    folder = CORPUS / source.name
    if not folder.is_dir():
        pytest.skip(f"no shared corpus at {folder}")
    counts = {"ingested": 0, "rejected": 0}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix == ".json"):
        payload = json.loads(path.read_text())
        try:
            batch = source.normalise(event(source.name, payload, event_id=path.name))
        except Rejected as exc:
            assert str(exc).strip(), path
            counts["rejected"] += 1
            continue
        assert batch.find_nodes(Label.INCIDENT), path
        counts["ingested"] += 1
    print(f"corpus/{source.name}: {counts}")
    assert counts["ingested"] + counts["rejected"] > 0
