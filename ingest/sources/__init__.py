"""Every source tracegraph ingests, by name. Adding a source is one module and one line here."""

from __future__ import annotations

from ingest.sources import github, provenance
from ingest.sources.base import Source

SOURCES: dict[str, Source] = {source.name: source for source in (github.SOURCE, provenance.SOURCE)}
