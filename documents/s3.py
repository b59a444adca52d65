"""The store in any S3-compatible bucket (AWS S3, MinIO, Ceph, R2…), for several machines sharing one.

Layout under the prefix of `s3://bucket/prefix`:
    documents/<first two hex>/<sha256 hex>   one zstd frame per document, named by its SHA-256
    dictionaries/<id>                        every zstd dictionary a frame may name
    records/<nanoseconds>-<hash>.jsonl.zst   the records of one put(), newest last when listed

A put writes its documents before the object of its records, and returns only when S3 has
acknowledged both, before the Neo4j transaction that points at them. A document put twice is the
same object; a record put twice (a retried batch) is read once by replay. Credentials, region and
the like come from boto3's usual chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ~/.aws, roles);
TRACEGRAPH_S3_ENDPOINT points at a server that is not AWS.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from documents import codec
from documents.local import record_key
from documents.store import Document, DocumentStore, Record, Stats, StoreError

# Requests in flight at once: S3 latency, not bandwidth, bounds a put of a few hundred small objects.
PARALLEL = 16
# Digests this process has already put, so a replay or a repeated batch does not send them again.
REMEMBERED = 200_000


def parse(url: str) -> tuple[str, str]:
    """(bucket, prefix ending in '/' or empty) of 's3://bucket/some/prefix'."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise StoreError(f"TRACEGRAPH_DOCUMENTS {url!r} is not s3://bucket[/prefix]")
    bucket, _, prefix = url[5:].partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3Store(DocumentStore):
    """Documents as objects of a bucket, through boto3."""

    def __init__(self, url: str, *, endpoint: str | None = None, client: Any = None):
        self.bucket, self.prefix = parse(url)
        self.where = url
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise StoreError(
                    f"TRACEGRAPH_DOCUMENTS is {url}, which needs boto3: pip install 'tracegraph[s3]'"
                ) from exc
            config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=PARALLEL)
            client = boto3.client("s3", endpoint_url=endpoint, config=config)
        self._client = client
        self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="tracegraph-s3")
        self._lock = threading.Lock()
        self._codec = codec.Codec()
        self._sample: list[bytes] = []
        self._stored: dict[str, None] = {}
        self._dictionaries_read = False

    # --- S3 calls, with errors a person can act on ---------------------------------------------

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404") and method == "get_object":
                return None
            if code == "NoSuchBucket":
                raise StoreError(
                    f"the bucket {self.bucket!r} (TRACEGRAPH_DOCUMENTS) does not exist: create it"
                ) from exc
            raise StoreError(f"S3 refused to {what} in {self.where}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"cannot {what} in {self.where}: {exc}") from exc

    def _key(self, digest: str) -> str:
        hexdigest = digest.removeprefix("sha256:")
        return f"{self.prefix}documents/{hexdigest[:2]}/{hexdigest}"

    def _read(self, key: str) -> bytes | None:
        found = self._call("read an object", "get_object", Key=key)
        return None if found is None else bytes(found["Body"].read())

    def _keys(self, under: str) -> Iterator[str]:
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list objects", "list_objects_v2", Prefix=self.prefix + under, **extra)
            yield from (item["Key"] for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    # --- dictionaries ---------------------------------------------------------------------------

    def _dictionary(self, dictionary_id: int) -> bytes | None:
        return self._read(f"{self.prefix}dictionaries/{dictionary_id}")

    def _choose_dictionary(self) -> None:
        """Use the bucket's first dictionary, or train one on this process's first documents."""
        if not self._dictionaries_read:
            self._dictionaries_read = True
            found = sorted(self._keys("dictionaries/"))
            if found:
                dictionary_id = int(found[0].rsplit("/", 1)[1])
                data = self._dictionary(dictionary_id)
                if data is not None:
                    self._codec.use(dictionary_id, data)
                    return
        if len(self._sample) < codec.SAMPLES:
            return
        dictionary_id, data = codec.train(self._sample)
        self._call("write a dictionary", "put_object", Key=f"{self.prefix}dictionaries/{dictionary_id}", Body=data)
        self._codec.use(dictionary_id, data)
        self._sample = []

    # --- the interface --------------------------------------------------------------------------

    def put(self, documents: Sequence[Document]) -> None:
        """Put the documents, then the object of their records; durable when it returns."""
        if not documents:
            return
        with self._lock:
            if self._codec.dictionary_id is None:
                self._choose_dictionary()
            unique = {d.digest: d.body for d in documents if d.digest not in self._stored}
            frames = self._codec.compress(list(unique.values()))
            if self._codec.dictionary_id is None:
                self._sample += list(unique.values())[: codec.SAMPLES - len(self._sample)]
        puts = [
            self._pool.submit(self._call, "write a document", "put_object", Key=self._key(digest), Body=frame)
            for digest, frame in zip(unique, frames, strict=True)
        ]
        for done in puts:
            done.result()
        lines = "".join(json.dumps(d.record.to_json(), sort_keys=True) + "\n" for d in documents).encode()
        name = f"{time.time_ns():020d}-{hashlib.sha256(lines).hexdigest()[:16]}.jsonl.zst"
        self._call("write records", "put_object", Key=f"{self.prefix}records/{name}", Body=codec.plain(lines))
        with self._lock:
            self._stored.update(dict.fromkeys(unique))
            while len(self._stored) > REMEMBERED:
                del self._stored[next(iter(self._stored))]

    def get(self, digests: Iterable[str]) -> dict[str, str]:
        """The texts of the documents named, by digest."""
        wanted = sorted(set(digests))
        frames = self._pool.map(lambda d: self._read(self._key(d)), wanted)
        return {d: self._text(frame) for d, frame in zip(wanted, frames, strict=True) if frame is not None}

    def _text(self, frame: bytes) -> str:
        return self._codec.decompress(frame, self._dictionary).decode("utf-8", "surrogatepass")

    def _records(self) -> Iterator[Record]:
        seen: set[bytes] = set()
        for key in sorted(self._keys("records/")):
            frame = self._read(key)
            if frame is None:
                continue
            for line in self._codec.decompress(frame, self._dictionary).decode().splitlines():
                record = Record.from_json(json.loads(line))
                if (marker := record_key(record)) not in seen:
                    seen.add(marker)
                    yield record

    def replay(self) -> Iterator[tuple[Record, str]]:
        """Every record and its text, in the order their objects were written."""
        pending: list[Record] = []
        for record in self._records():
            pending.append(record)
            if len(pending) >= PARALLEL * 8:
                yield from self._with_texts(pending)
                pending = []
        yield from self._with_texts(pending)

    def _with_texts(self, records: list[Record]) -> Iterator[tuple[Record, str]]:
        texts = self.get(r.digest for r in records)
        for record in records:
            if record.digest not in texts:
                raise StoreError(f"{self.where} lacks the document {record.digest} of {record.event}")
            yield record, texts[record.digest]

    def stats(self) -> Stats:
        """Counts and bytes of the objects under the prefix."""
        documents = records = size = 0
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list objects", "list_objects_v2", Prefix=self.prefix, **extra)
            for item in page.get("Contents", []):
                size += int(item.get("Size", 0))
                documents += item["Key"].startswith(self.prefix + "documents/")
            if not page.get("IsTruncated"):
                break
            token = page.get("NextContinuationToken")
        records = sum(1 for _ in self._records())
        return Stats(documents, records, size)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
