"""Markdown postmortems: text in, Postmortem + ANALYZES + explicit CAUSED_BY rows out."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.sources.base import Event, Rejected
from ingest.sources.postmortem import SOURCE, references
from ingest.sources.postmortem_parse import action_items, blocks, heading_key, parse, split_front_matter
from tests.conftest import CORPUS

FIXTURES = Path(__file__).parent / "fixtures" / "postmortems"
SHA = "1f0a2b3c4d5e6f708192a3b4c5d6e7f801234567"
PD = "pagerduty:Q1ABCD2EFGHIJK"
OG = "opsgenie:70413a06-38d6-4c85-92b8-5ebc900d42e2"


def run(payload: Any, *, location: str = "", event_id: str = "doc-1") -> Batch:
    event = Event("postmortem", None, event_id, payload, "2026-01-10T00:00:00Z", location=location)
    return SOURCE.normalise(event)


def document(name: str) -> str:
    return (FIXTURES / name).read_text()


def postmortem(batch: Batch) -> tuple[str, dict[str, Any]]:
    [row] = batch.find_nodes(Label.POSTMORTEM)
    return row.key, row.props


def edges(batch: Batch, rel: Rel) -> set[tuple[str, str, str]]:
    return {(e.src_key, str(e.dst_label), e.dst_key) for e in batch.find_edges(rel)}


# name -> (expected postmortem properties, incidents analyzed, (incident, label, target) blamed, changes analyzed)
CASES: list[tuple[str, dict[str, Any], list[str], set[tuple[str, str, str]], set[str]]] = [
    (
        "full.md",
        {
            "title": "Refunds double-charged after idempotency rollout",
            "date": "2026-01-06",
            "url": "https://wiki.example.com/postmortems/pm-2026-001",
            "summary": "Between 09:30 and 10:05 UTC refunds were charged twice. Also tracked as INC-2211.",
            "actionItems": [
                "Alert on duplicate refund ids (owner: carol)",
                "Add an idempotency-key expiry test covering retries after 24 h",
                "Review every retry wrapper in payments",
                "Add a canary stage for payments | dave | 2026-02-01",
            ],
        },
        [PD, "pagerduty:PRX9Q2M", OG, "INC-2211"],
        {
            (incident, label, target)
            for incident in (PD, "pagerduty:PRX9Q2M", OG, "INC-2211")
            for label, target in (
                ("Change", "github:acme/shop#42"),
                ("Commit", SHA),  # named in full, and as `1f0a2b3`
                ("Deployment", "github:deployment:9001"),
            )
        },
        set(),
    ),
    (
        "no_front_matter.md",
        {
            "title": "Checkout latency regression",
            "date": "2026-01-08",
            "actionItems": ["Add a query-count budget to CI"],
        },
        ["pagerduty:PRX9Q2M"],  # PD-PRX9Q2M
        {
            ("pagerduty:PRX9Q2M", "Change", "gitlab:acme/platform/checkout!17"),
            ("pagerduty:PRX9Q2M", "Change", "gitlab:acme/platform/checkout!18"),
        },
        set(),
    ),
    (
        "broken_front_matter.md",
        {"title": "Ledger replication lag"},  # the broken YAML is ignored, the body still read
        ["pagerduty:PT4KHLK"],
        set(),  # `a1b2c3d4e5` is only a short SHA: no Commit key to point at
        set(),
    ),
    (
        "no_incident.md",
        {"title": "Search outage on 2026-02-02", "date": "2026-02-02"},
        [],
        set(),
        {"github:acme/search#7"},  # #8 is the fix, named in "Lessons learned"
    ),
    (
        "bold_labels.md",
        {
            "title": "API gateway 502s",
            "summary": "Gateway returned 502 for 12 minutes (INC-77).",
            "rootCause": "The config push in group/infra/gateway!5 removed the upstream pool.",
            "actionItems": ["Validate upstream pools before push"],
        },
        ["INC-77"],
        {("INC-77", "Change", "gitlab:group/infra/gateway!5")},
        set(),
    ),
    (
        "postmortem-2026-03-outage",  # no suffix: the text is a postmortem all the same
        {"title": "Outage without a file suffix"},
        ["INC-9", "opsgenie:c0ffee00-1111-4222-8333-944455556666"],
        {
            ("INC-9", "Commit", "5d41402abc4b2a76b9719d911017c592aabbccdd"),
            ("opsgenie:c0ffee00-1111-4222-8333-944455556666", "Commit", "5d41402abc4b2a76b9719d911017c592aabbccdd"),
        },
        set(),
    ),
]


@pytest.mark.parametrize(("name", "expected", "incidents", "blamed", "analyzed_changes"), CASES)
def test_postmortem_document_becomes_rows(
    name: str,
    expected: dict[str, Any],
    incidents: list[str],
    blamed: set[tuple[str, str, str]],
    analyzed_changes: set[str],
) -> None:
    text = document(name)
    batch = run(text, location=name)
    key, props = postmortem(batch)
    assert {k: props.get(k) for k in expected} == expected
    assert props["digest"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert props.get("incidentIds", []) == incidents
    # Where the document was read from is how it travelled: its SourceEvent keeps that, not the node.
    assert "path" not in props
    analyzes = edges(batch, Rel.ANALYZES)
    assert analyzes == {(key, "Incident", i) for i in incidents} | {(key, "Change", c) for c in analyzed_changes}
    assert edges(batch, Rel.CAUSED_BY) == blamed
    for edge in batch.find_edges(Rel.CAUSED_BY):
        assert edge.props["inferred"] is False and edge.props["confidence"] == 1.0


def test_secrets_in_a_postmortem_are_redacted() -> None:
    _, props = postmortem(run(document("full.md")))
    assert "s3cr3t" not in props["rootCause"]
    assert "[REDACTED:secret-assignment]" in props["rootCause"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty.md", "postmortem document is empty"),
        ("not_a_postmortem.txt", "does not look like a postmortem"),
    ],
)
def test_documents_that_are_not_postmortems_are_rejected(name: str, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        run(document(name))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("# Title\n\x00binary", "not a text document"),
        ({"title": "no text"}, "cannot tell the postmortem event type"),
        (42, "cannot tell the postmortem event type"),
    ],
)
def test_bad_postmortem_payloads_are_rejected(payload: Any, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        run(payload)


def test_an_object_payload_carries_markdown_and_its_url() -> None:
    batch = run({"markdown": "# Short outage\n\nRoot cause: acme/shop#42", "url": "https://wiki/pm/1"})
    _, props = postmortem(batch)
    assert props["title"] == "Short outage" and props["url"] == "https://wiki/pm/1"
    assert props["rootCause"] == "acme/shop#42"


def test_ids_come_from_front_matter_or_the_document_digest() -> None:
    text = document("no_front_matter.md")
    assert postmortem(run(text))[0] == "postmortem:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    assert postmortem(run(text, event_id="another delivery"))[0] == postmortem(run(text))[0]
    assert postmortem(run(document("full.md")))[0] == "postmortem:PM-2026-001"


def test_the_latest_edit_of_a_postmortem_wins_by_its_updated_date() -> None:
    older = document("full.md").replace("updated: 2026-01-09T10:00:00Z", "updated: 2026-01-08T10:00:00Z")
    [new_row] = run(document("full.md")).find_nodes(Label.POSTMORTEM)
    [old_row] = run(older).find_nodes(Label.POSTMORTEM)
    assert new_row.key == old_row.key and new_row.version > old_row.version


# --- references -------------------------------------------------------------------------------


def refs_of(text: str) -> Any:
    return references(parse(text))


def test_short_shas_are_found_only_where_they_read_as_commits() -> None:
    refs = refs_of(document("short_shas.md"))
    assert list(refs.short_shas) == ["deadbee5", "abc1234", "cafe123", "0badc0de1"]
    assert not refs.commits and not refs.changes


@pytest.mark.parametrize(
    ("line", "changes", "blamed"),
    [
        ("Caused by acme/shop#42.", ["github:acme/shop#42"], True),
        ("See https://github.com/acme/shop/pull/42/files", ["github:acme/shop#42"], True),
        ("Fixed by acme/shop#43", ["github:acme/shop#43"], False),
        ("We rolled forward in https://github.com/acme/shop/pull/44", ["github:acme/shop#44"], False),
        ("MR https://gitlab.com/g/sub/p/-/merge_requests/9 broke it", ["gitlab:g/sub/p!9"], True),
        ("docs at https://example.com/a/b#42 and src/app.py#L42", [], False),
        ("a bare #42 names no repository", [], False),
    ],
)
def test_change_references_and_fix_cues(line: str, changes: list[str], blamed: bool) -> None:
    refs = refs_of(f"# Outage\n\n{line}\n")
    assert list(refs.changes) == changes
    assert all(blame is blamed for blame in refs.changes.values())


@pytest.mark.parametrize(
    ("text", "incidents"),
    [
        ("# X\nPaged by https://acme.pagerduty.com/incidents/PABC123 (pagerduty:PABC123)", ["pagerduty:PABC123"]),
        ("# X\nPD-PQRS789 and PD-1234", ["pagerduty:PQRS789", "PD-1234"]),
        ("# X\nhttps://acme.app.opsgenie.com/alert/detail/5f1e-77aa/details", ["opsgenie:5f1e-77aa"]),
        ("---\npagerduty: [PABC123, Q1ABCD2EFGHIJK]\n---\n# X", ["pagerduty:PABC123", "pagerduty:Q1ABCD2EFGHIJK"]),
        ("---\nincident: {source: opsgenie, id: 7a7a-1}\n---\n# X", ["opsgenie:7a7a-1"]),
        ("---\nincidents: [PROD123]\n---\n# X", ["PROD123"]),  # a bare id is not guessed to be PagerDuty's
        ("# X\nthe INCIDENT-5 of INC-12345", ["INC-12345"]),
    ],
)
def test_incident_ids_map_onto_the_ids_their_sources_use(text: str, incidents: list[str]) -> None:
    assert list(refs_of(text).incidents) == incidents


def test_reference_links_are_read_where_they_are_used() -> None:
    text = (
        "# Outage\n\n## Summary\n\nThe chart used [a new naming][pr].\n\n"
        "## Action items\n\n- Pin the chart\n\n[pr]: https://github.com/up/stream/pull/427\n"
    )
    assert refs_of(text).changes == {"github:up/stream#427": True}


def test_deployments_are_named_explicitly() -> None:
    refs = refs_of("# X\nShipped by github:deployment:77 and gitlab:deployment:5; not deployment 9.")
    assert refs.deployments == {"github:deployment:77": True, "gitlab:deployment:5": True}


# --- Markdown reading -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "front", "body_start", "problem"),
    [
        ("# No front matter", {}, "# No front matter", None),
        ("---\ntitle: T\nincident: INC-1\n---\n# Body", {"title": "T", "incident": "INC-1"}, "# Body", None),
        ("---\ntitle: [broken\n---\n# Body", {}, "# Body", "not valid YAML"),
        ("---\n- a list\n---\n# Body", {}, "# Body", "not a mapping"),
        ("---\ntitle: never closed\n# Body", {}, "---", "never closed"),
        ("---\n---\n# Empty front matter", {}, "# Empty", None),
    ],
)
def test_front_matter_is_optional_and_never_fatal(
    text: str, front: dict[str, Any], body_start: str, problem: str | None
) -> None:
    found, body, issue = split_front_matter(text)
    assert found == front
    assert body.startswith(body_start)
    assert (issue is None) if problem is None else (problem in (issue or ""))


@pytest.mark.parametrize(
    ("title", "key"),
    [("2. Root Cause(s):", "root cause s"), ("Follow-ups", "follow ups"), ("TL;DR", "tl dr")],
)
def test_heading_keys(title: str, key: str) -> None:
    assert heading_key(title) == key


def test_headings_inside_code_fences_are_text() -> None:
    lines = blocks("# Real\n```\n# not a heading\n```\nTitle\n=====\n")
    assert [(line.text, line.heading) for line in lines if line.heading] == [("Real", 1), ("Title", 1)]


def test_action_items_from_lists_checkboxes_and_tables() -> None:
    section = [
        "- [ ] first",
        "  continued",
        "* second",
        "3) third",
        "",
        "| What | Who |",
        "|------|-----|",
        "| fourth | erin |",
        "| | |",
        "prose is not an item",
    ]
    assert action_items(section) == ["first continued", "second", "third", "fourth | erin"]


# --- the shared corpus ------------------------------------------------------------------------


def test_every_corpus_postmortem_is_ingested_or_rejected_with_a_reason() -> None:
    folder = CORPUS / "postmortems"
    if not folder.is_dir():
        pytest.skip(f"no shared corpus at {folder}")
    counts = {"ingested": 0, "rejected": 0}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            batch = run(path.read_text(encoding="utf-8"), location=str(path), event_id=path.name)
        except Rejected as exc:
            assert str(exc).strip(), path
            counts["rejected"] += 1
            continue
        _, props = postmortem(batch)
        assert props["title"] and props["digest"].startswith("sha256:"), path
        counts["ingested"] += 1
    print(f"corpus/postmortems: {counts}")
    assert counts["ingested"] > 0
