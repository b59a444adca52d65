"""Raw source documents out of the graph: a content-addressed store (zstd, named by SHA-256).

The default is one SQLite file under TRACEGRAPH_HOME/documents (documents.local); any S3-compatible
bucket is the option for several machines (documents.s3), chosen with TRACEGRAPH_DOCUMENTS=s3://….
Neo4j keeps each SourceEvent's digest; the store keeps the text and what a replay needs
(`tracegraph rebuild`). This package imports nothing else of tracegraph: graph/ opens it.
"""

from __future__ import annotations

from pathlib import Path

from documents.store import Document, DocumentStore, Record, Stats, StoreError, digest_of

__all__ = ["Document", "DocumentStore", "Record", "Stats", "StoreError", "digest_of", "open_store"]


def open_store(location: str | None, *, default_folder: Path, s3_endpoint: str | None = None) -> DocumentStore:
    """The store at `location` (a folder, or s3://bucket/prefix); `default_folder` when it is unset."""
    if location and location.startswith("s3://"):
        from documents.s3 import S3Store

        return S3Store(location, endpoint=s3_endpoint)
    if location and "://" in location:
        raise StoreError(f"TRACEGRAPH_DOCUMENTS {location!r}: use a folder or s3://bucket/prefix")
    from documents.local import LocalStore

    return LocalStore(Path(location) if location else default_folder)
