"""The document store: the same contract on local disk (SQLite) and in an S3 bucket (a real S3 HTTP
server on 127.0.0.1), and what the graph relies on: redaction before anything is stored, documents
durable before the transaction that names them, the same document twice stored once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard

from documents import Document, DocumentStore, StoreError, codec, open_store
from documents.local import FILE, LocalStore
from documents.s3 import S3Store
from graph import repository
from graph.driver import Graph, connected, run_with_graph
from graph.settings import Settings
from graph.writer import write_batch
from ingest import examples as ex
from ingest.pipeline.events import Event
from ingest.pipeline.prepare import Pipeline
from tests.conftest import load, run_graph
from tests.test_export import CHANGE_42, demo, exported, run_export, verify

SECRET = "ghp_" + "Qm4Rt7Yx2Wv9Lk3Jh6Gf1Ds8Za5Xc0Bn7Mp2"


def doc(text: str, *, event: str = "e-1", source: str = "github", at: str = "2026-01-05T10:00:00Z") -> Document:
    return Document.of(
        text, source=source, id=event, type="push", received_at=at, subject={"repo": "acme/shop"}, via="file"
    )


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto's server mode) on a free port of 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; credentials through boto3's usual chain, as a deployment would give them."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "tracegraph-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tracegraph-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"docs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/tracegraph"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentStore]:
    if request.param == "local":
        opened = open_store(None, default_folder=tmp_path / "documents")
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        opened = open_store(request.getfixturevalue("s3_url"), default_folder=tmp_path, s3_endpoint=endpoint)
    try:
        yield opened
    finally:
        opened.close()


def test_a_document_is_named_by_its_sha256_and_stored_once(store: DocumentStore) -> None:
    first = doc('{"a": 1}')
    assert first.digest == "sha256:" + hashlib.sha256(b'{"a": 1}').hexdigest()
    store.put([first, first])
    store.put([first])
    # Another event carrying the same text: one document, two records.
    store.put([doc('{"a": 1}', event="e-2")])
    stats = store.stats()
    assert (stats.documents, stats.records) == (1, 2)
    assert store.get([first.digest, "sha256:" + "0" * 64]) == {first.digest: '{"a": 1}'}


def test_replay_gives_every_record_in_the_order_stored(store: DocumentStore) -> None:
    store.put([doc('{"n": 1}', event="e-1"), doc("# Postmortem\n\nplain text", event="pm", source="postmortem")])
    store.put([doc('{"n": 2}', event="e-2", at="2025-01-01T00:00:00Z")])
    store.put([doc('{"n": 1}', event="e-1")])  # a retried batch adds nothing
    replayed = list(store.replay())
    assert [(r.event, text) for r, text in replayed] == [
        ("github:e-1", '{"n": 1}'),
        ("postmortem:pm", "# Postmortem\n\nplain text"),
        ("github:e-2", '{"n": 2}'),
    ]
    record = replayed[0][0]
    assert (record.type, record.received_at, record.subject, record.via) == (
        "push",
        "2026-01-05T10:00:00Z",
        {"repo": "acme/shop"},
        "file",
    )


def test_a_trained_dictionary_compresses_and_every_frame_stays_readable(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codec, "SAMPLES", 300)
    monkeypatch.setattr(codec, "DICTIONARY_BYTES", 8192)

    def texts(start: int, n: int) -> list[str]:
        return [
            json.dumps({"action": "completed", "check_run": {"id": i, "name": f"unit-{i % 7}"}})
            for i in range(start, n)
        ]

    early = [doc(t, event=f"early-{i}") for i, t in enumerate(texts(0, 300))]
    store.put(early)
    late = [doc(t, event=f"late-{i}") for i, t in enumerate(texts(300, 400))]
    store.put(late)
    # Frames written before the dictionary and after it all read back.
    found = store.get(d.digest for d in early + late)
    assert len(found) == 400 and found[late[-1].digest] == texts(399, 400)[0]
    if isinstance(store, LocalStore):
        db = sqlite3.connect(store.path)
        frames = [f for (f,) in db.execute("SELECT body FROM documents")]
        assert db.execute("SELECT count(*) FROM dictionaries").fetchone() == (1,)
        with_dictionary = [f for f in frames if zstandard.get_frame_parameters(f).dict_id]
        assert with_dictionary and len(with_dictionary) < len(frames)


def test_an_unusable_store_says_what_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the document store"):
        LocalStore(blocker / "documents").put([doc("{}")])
    with pytest.raises(StoreError, match="use a folder or s3://bucket/prefix"):
        open_store("https://example.com/x", default_folder=tmp_path)
    # A store nobody wrote to is not created by reading it.
    reader = LocalStore(tmp_path / "never")
    assert reader.get(["sha256:" + "1" * 64]) == {} and list(reader.replay()) == []
    assert not (tmp_path / "never").exists()


def test_a_missing_bucket_is_a_clear_error(s3_endpoint: str, s3_url: str, tmp_path: Path) -> None:
    missing = S3Store("s3://no-such-bucket-here/x", endpoint=s3_endpoint)
    with pytest.raises(StoreError, match="does not exist: create it"):
        missing.put([doc("{}")])


# --- with the pipeline and the graph ---------------------------------------------------------------


def _stored_texts(settings: Settings) -> list[str]:
    store = LocalStore(settings.documents_dir)
    try:
        return [text for _, text in store.replay()]
    finally:
        store.close()


def test_no_secret_reaches_the_store_and_neo4j_keeps_only_the_digest(settings: Settings) -> None:
    head = ex.sha("leak")
    load(
        settings,
        [
            ex.push(
                "acme/vault", before=ex.sha("base"), commits=[ex.commit(head, message=f"use {SECRET}", author="z")]
            ),
            ex.pull_request("acme/vault", 3, action="opened", author="z", head=head, title=f"t {SECRET}", body=SECRET),
        ],
    )
    texts = _stored_texts(settings)
    assert len(texts) == 2 and all("[REDACTED:github-token]" in t for t in texts)
    assert not any(SECRET in t or SECRET[4:] in t for t in texts)
    # Nor in the file's bytes, compressed or not (WAL included).
    for path in settings.documents_dir.glob(FILE + "*"):
        raw = path.read_bytes()
        assert SECRET.encode() not in raw and SECRET[4:].encode() not in raw

    async def source_events(graph: Graph) -> list[dict[str, Any]]:
        result = await graph.driver.execute_query("MATCH (e:SourceEvent) RETURN properties(e) AS p")
        return [r["p"] for r in result.records]

    events = run_graph(settings, source_events)
    assert len(events) == 2 and all("body" not in e and e["digest"].startswith("sha256:") for e in events)


def _prepared(n: int) -> Any:
    pipeline = Pipeline()
    batch = None
    for i in range(n):
        event = Event(
            "github",
            "push",
            f"push-{i}",
            ex.push("acme/shop", before=ex.sha(f"b{i}"), commits=[])["payload"],
            "2026-01-05T00:00:00Z",
        )
        prepared = pipeline.prepare(event).batch
        if batch is None:
            batch = prepared
        else:
            batch.extend(prepared)
    return batch


def test_documents_are_stored_before_the_transaction_that_names_them(settings: Settings) -> None:
    batch = _prepared(3)
    assert len(batch.documents) == 3

    async def refused(graph: Graph) -> None:
        # Neo4j refuses the transaction (no such database): a crash after the store, before the graph.
        broken = Graph(graph.driver, "nosuchdatabase", graph.uri, graph.documents)
        with pytest.raises(Exception, match="nosuchdatabase|not found|does not exist"):
            await write_batch(broken, batch)

    run_graph(settings, refused)
    assert run_graph(settings, repository.counts).get("SourceEvent", 0) == 0
    assert len(_stored_texts(settings)) == 3  # the documents are there, and nothing in the graph is missing them

    # The same batch again (a retry): one document each, and every digest the graph names is stored.
    run_graph(settings, lambda g: write_batch(g, batch))
    store = LocalStore(settings.documents_dir)
    assert (store.stats().documents, store.stats().records) == (3, 3)

    async def digests(graph: Graph) -> list[str]:
        result = await graph.driver.execute_query("MATCH (e:SourceEvent) RETURN e.digest AS d")
        return [r["d"] for r in result.records]

    named = run_graph(settings, digests)
    assert len(named) == 3 and set(store.get(named)) == set(named)
    store.close()


def test_a_store_that_refuses_writes_nothing_to_the_graph(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    broken = settings.model_copy(update={"documents": str(blocker / "documents")})

    async def write(graph: Graph) -> None:
        await write_batch(graph, _prepared(2))

    with pytest.raises(StoreError):
        run_with_graph(broken, write)
    assert run_graph(settings, repository.counts).get("SourceEvent", 0) == 0


def test_a_graph_without_a_store_refuses_documents(settings: Settings) -> None:
    async def write(graph: Graph) -> None:
        with pytest.raises(RuntimeError, match="without a document store"):
            await write_batch(Graph(graph.driver, graph.database, graph.uri), _prepared(1))

    async def main() -> None:
        async with connected(settings) as graph:
            await write(graph)

    asyncio.run(main())


def test_exports_carry_the_store_s_documents_and_name_those_it_lost(settings: Settings, tmp_path: Path) -> None:
    demo(settings)
    out = tmp_path / "bundle"
    assert run_export(settings, "--change", "acme/shop#42", "--out", str(out)).exit_code == 0
    index = json.loads((out / "source-events.json").read_text())
    assert index["missing"] == [] and len(index["documents"]) > 5
    # Each raw document in the bundle is the store's text for the digest its SourceEvent names.
    store = LocalStore(settings.documents_dir)
    texts = store.get(d["digest"] for d in index["documents"])
    store.close()
    assert len(texts) == len(index["documents"])
    for listed in index["documents"]:
        assert (out / listed["file"]).read_text() == texts[listed["digest"]]
    checked = verify(out)
    assert checked.exit_code == 0, checked.output
    assert f"{len(index['documents'])} raw source document(s) listed" in checked.output
    assert "without a raw document" not in checked.output

    # Neo4j alone cannot give them back: with the store gone, every one is named as missing, none is empty.
    for path in settings.documents_dir.glob(FILE + "*"):
        path.unlink()
    lost = json.loads(exported(settings, CHANGE_42)["source-events.json"])
    assert lost["documents"] == [] and lost["missing"] == sorted(d["id"] for d in index["documents"])
    again = tmp_path / "without-documents"
    assert run_export(settings, "--change", "acme/shop#42", "--out", str(again)).exit_code == 0
    noted = verify(again)
    assert noted.exit_code == 0, noted.output
    assert f"{len(lost['missing'])} source event(s) named without a raw document" in noted.output


def test_the_embedded_neo4j_keeps_a_bounded_transaction_log(settings: Settings) -> None:
    # Neo4j's own default, 2 days, kept 7 GB of logs after the 100,000-change bench ingest.
    async def retention(graph: Graph) -> str:
        result = await graph.driver.execute_query(
            "SHOW SETTINGS YIELD name, value WHERE name = 'db.tx_log.rotation.retention_policy' RETURN value"
        )
        return str(result.records[0]["value"])

    assert settings.neo4j_tx_log_retention == "512M size"
    assert run_graph(settings, retention) == "512M size"
