"""Random and mutated payloads at every webhook endpoint and every normaliser (hypothesis).

The promise: no 500, no crash; either a clear 4xx or, once stored, a batch or a quarantine reason.
Seeds are the project's own fixtures (tests/fixtures/<source>/) plus the shared corpus when present;
every source in ingest.sources.SOURCES is covered as it is discovered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ingest import examples as ex
from ingest import signatures
from ingest.inbox import PENDING, Inbox, delivery_key
from ingest.pipeline.prepare import Pipeline, normalise
from ingest.sources import SOURCES
from ingest.sources.base import Event, Rejected
from ingest.worker import prepare
from tests.conftest import CORPUS
from tests.test_webhooks import GITHUB_SECRET, GITLAB_TOKEN, INGEST_TOKEN, OPSGENIE_TOKEN, PAGERDUTY_SECRET, make_app

FIXTURES = Path(__file__).with_name("fixtures")
CORPUS_DIRS = {
    "github": "github-webhooks",
    "gitlab": "gitlab-webhooks",
    "pagerduty": "pagerduty",
    "opsgenie": "opsgenie",
}
EXAMPLES = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _documents(folder: Path, text_suffixes: frozenset[str], limit: int) -> Iterator[Any]:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*"))[: limit * 4]:
        if not path.is_file() or path.stat().st_size > 200_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if path.suffix.lower() in text_suffixes:
            yield text
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict) and "source" in doc and "payload" in doc:
            doc = doc["payload"]  # an envelope: its payload is the seed
        if isinstance(doc, dict | list | str):
            yield doc


BUILT_IN = {
    "provenance": [
        ex.provenance("acme/shop", 42, session_id="s-1", tool="claude-code", model="m", prompt_summary="p")["payload"]
    ],
    "github": [ex.push("acme/shop", commits=[ex.commit(ex.sha("c"), message="m", author="a")], before="0" * 40)],
}


@cache
def seeds(source: str) -> tuple[Any, ...]:
    """Real-shaped payloads of a source: its fixtures folder, the shared corpus when present, a few built-ins."""
    found = SOURCES[source]
    folders = [FIXTURES / name for name in {source, source.replace("-", "_"), source.replace("-", "_") + "s"}]
    if source in CORPUS_DIRS and CORPUS.exists():
        folders.append(CORPUS / CORPUS_DIRS[source])
    docs = [d for folder in folders for d in _documents(folder, found.text_suffixes, limit=40)]
    docs += [d.get("payload", d) for d in BUILT_IN.get(source, [])]
    return tuple(docs[:80]) or ({},)


# --- strategies ----------------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "2026-01-05T10:00:00Z", "0" * 40, "acme/shop", "null", "[bot]", "\ud800", "🙂"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, (*prefix, index))


def _set(doc: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> Any:
    if not path:
        return value
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    elif delete and isinstance(parent, list):
        parent.pop(path[-1])
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, source: str) -> Any:
    """A seed of the source with a few fields deleted, retyped or replaced by random JSON."""
    doc = json.loads(json.dumps(draw(st.sampled_from(seeds(source)))))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        current: Any = doc
        for step in path:
            current = current[step]
        operation = draw(st.sampled_from(["delete", "random", "none", "empty", "retype", "huge", "add"]))
        if operation == "delete" and path:
            doc = _set(doc, path, None, delete=True)
        elif operation == "add" and isinstance(current, dict):
            current[draw(st.text(max_size=12))] = draw(JSON)
        elif operation == "retype":
            doc = _set(doc, path, [current] if not isinstance(current, str) else {"value": current})
        else:
            replacement = {"none": None, "empty": "", "huge": 2**64 + 1}.get(operation, draw(JSON))
            doc = _set(doc, path, replacement)
    return doc


def _kinds(source: str) -> st.SearchStrategy[str | None]:
    return st.none() | st.sampled_from(sorted(SOURCES[source].handlers)) | ASCII


# --- every normaliser ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(SOURCES))
@EXAMPLES
@given(data=st.data())
def test_every_normaliser_builds_a_batch_or_rejects_with_a_reason(source: str, data: st.DataObject) -> None:
    payload = data.draw(mutated(source) | JSON, label="payload")
    kind = data.draw(_kinds(source), label="type")
    subject = data.draw(st.none() | st.just({"repo": "acme/shop", "number": 42}) | st.dictionaries(ASCII, JSON))
    item = Event(source, kind, "fuzz-1", payload, "2026-01-05T10:00:00Z", subject=subject, location="fuzz")
    try:
        batch = normalise(item)
    except Rejected as exc:
        assert str(exc).strip(), "a rejection must say why"
        event("rejected")
        return
    event("batch")
    assert batch is not None


@pytest.mark.parametrize("source", sorted(SOURCES))
@EXAMPLES
@given(data=st.data())
def test_the_worker_turns_any_stored_envelope_into_a_batch_or_a_quarantine_reason(
    source: str, data: st.DataObject
) -> None:
    entry = {
        "source": data.draw(st.just(source) | ASCII, label="source"),
        "type": data.draw(_kinds(source), label="type"),
        "id": data.draw(ASCII | st.integers(), label="id"),
        "received_at": "2026-01-05T10:00:00Z",
        "payload": data.draw(mutated(source) | JSON, label="payload"),
    }
    if data.draw(st.booleans(), label="drop a field"):
        entry.pop(data.draw(st.sampled_from(sorted(entry))))
    batch, reason, _ = prepare(Pipeline(), entry, "00000000000000000001-" + "0" * 32 + ".json")
    event("batch" if batch else "quarantine")
    assert (batch is None) != (reason is None)
    assert reason is None or reason.strip()


# --- every webhook endpoint ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Inbox]]:
    box = Inbox(tmp_path_factory.mktemp("fuzz") / "inbox")
    with TestClient(make_app(box)) as client:
        yield client, box


AUTH = {
    "github": lambda body: {"X-Hub-Signature-256": signatures.github_signature(GITHUB_SECRET, body)},
    "gitlab": lambda body: {"X-Gitlab-Token": GITLAB_TOKEN},
    "pagerduty": lambda body: {"X-PagerDuty-Signature": signatures.pagerduty_signature(PAGERDUTY_SECRET, body)},
    "opsgenie": lambda body: {signatures.OPSGENIE_HEADER: OPSGENIE_TOKEN},
}
EVENT_HEADER = {"github": "X-GitHub-Event", "gitlab": "X-Gitlab-Event"}
ID_HEADER = {"github": "X-GitHub-Delivery", "gitlab": "X-Gitlab-Event-UUID"}


def _check_stored(box: Inbox, source: str, delivery_id: str) -> None:
    """A stored delivery becomes a batch or a quarantine reason; then it is removed to keep pending small."""
    suffix = f"-{delivery_key(source, delivery_id)}.json"
    [name] = [n for n in box.names(PENDING) if n.endswith(suffix)]
    path = box.dir(PENDING) / name
    batch, reason, _ = prepare(Pipeline(), json.loads(path.read_text()), name)
    assert (batch is None) != (reason is None)
    path.unlink()


@pytest.mark.parametrize("source", sorted(AUTH))
@EXAMPLES
@given(data=st.data())
def test_webhook_endpoints_answer_every_body_with_a_clear_status(
    endpoint: tuple[TestClient, Inbox], source: str, data: st.DataObject
) -> None:
    client, box = endpoint
    shape = data.draw(st.sampled_from(["mutated", "json", "bytes"]), label="shape")
    if shape == "bytes":
        body = data.draw(st.binary(max_size=200), label="body")
    else:
        doc = data.draw(mutated(source) if shape == "mutated" and source in SOURCES else JSON, label="doc")
        body = json.dumps(doc).encode()
    headers = {"Content-Type": "application/json"}
    if source in EVENT_HEADER and data.draw(st.sampled_from([True, True, True, False]), label="event header"):
        headers[EVENT_HEADER[source]] = data.draw(_kinds(source) if source in SOURCES else ASCII, label="event") or ""
    if source in ID_HEADER and data.draw(st.booleans(), label="id header"):
        headers[ID_HEADER[source]] = data.draw(ASCII, label="delivery id")
    signed = data.draw(st.sampled_from(["good", "good", "good", "bad", "none"]), label="signature")
    if signed == "good":
        headers |= AUTH[source](body)
    elif signed == "bad":
        headers |= {k: v + "0" for k, v in AUTH[source](body).items()}
    response = client.post(f"/webhooks/{source}", content=body, headers=headers)
    event(f"status {response.status_code}")
    assert response.status_code in (200, 202, 400, 401, 413), response.text
    assert "detail" in response.json() or "status" in response.json()
    if signed != "good":
        assert response.status_code == 401
    if response.status_code == 202:
        _check_stored(box, source, response.json()["id"])


@EXAMPLES
@given(data=st.data())
def test_the_events_endpoint_answers_every_body_with_a_clear_status(
    endpoint: tuple[TestClient, Inbox], data: st.DataObject
) -> None:
    client, box = endpoint
    source = data.draw(st.sampled_from(sorted(SOURCES)), label="source")
    envelopes = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {"source": st.just(source) | ASCII, "payload": mutated(source) | JSON},
                optional={"type": _kinds(source), "id": ASCII | st.integers() | JSON, "subject": JSON},
            )
            | JSON,
            min_size=1,
            max_size=3,
        ),
        label="envelopes",
    )
    as_lines = data.draw(st.booleans(), label="jsonl")
    body = "\n".join(json.dumps(e) for e in envelopes) if as_lines else json.dumps(envelopes)
    response = client.post("/events", content=body, headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    event(f"status {response.status_code}")
    assert response.status_code in (200, 202, 400, 422), response.text
    if response.status_code == 202:
        for envelope, delivery_id in zip(envelopes, response.json()["ids"], strict=True):
            suffix = f"-{delivery_key(envelope['source'], delivery_id)}.json"
            if any(n.endswith(suffix) for n in box.names(PENDING)):  # not a duplicate of an earlier example
                _check_stored(box, envelope["source"], delivery_id)
