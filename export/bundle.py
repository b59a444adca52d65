"""The JSON evidence bundle: every file by path (answers, the subgraph with the events that asserted each
value, raw documents, the CSV and HTML reports, a README) and manifest.json with their SHA-256 digests.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from export.html import html_text
from export.intoto import statement
from export.manifest import (
    FORMAT_URI,
    MANIFEST,
    SIGNATURE,
    SOURCE_EVENTS,
    STATEMENT,
    WHOLE_DEFINITION,
    file_digest,
    generator,
    sha256_hex,
    stamp,
    whole_digest,
)
from export.scope import ExportSet, safe_name
from export.sign import MANIFEST_TYPE, envelope_bytes
from export.table import csv_text
from graph.export_reads import Subgraph
from graph.models import Change
from graph.policy import Policy
from ingest.redact import redact
from trust.dsse import IN_TOTO
from trust.keys import SigningKey


@lru_cache(maxsize=65536)
def _redacted(text: str) -> str:
    # Bundles repeat the same strings (event ids, times, shas) thousands of times: redact each once.
    return redact(text) or ""


def scrub(value: Any) -> Any:
    """Redact every string in a JSON-like value (belt and braces: text was redacted on the way in)."""
    if isinstance(value, str):
        return _redacted(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def json_bytes(value: Any) -> bytes:
    """A JSON file of the bundle: scrubbed, indented, keys sorted, so the same answer gives the same bytes."""
    return (json.dumps(scrub(value), indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode()


README = """tracegraph evidence bundle
==========================

{title}

manifest.json          the SHA-256 of every other file ("files") and of the whole bundle ("whole")
manifest.sig.json      (when the organisation set an export key) a DSSE envelope over manifest.json, signed
                       with its Ed25519 key; manifest.json names the key id ("signingKey")
answers/*.json         the five-minute answer per change: verdict, gaps, approvals, evidence, sessions,
                       deployments, incidents (what `tracegraph ask change --json` prints)
graph/nodes.json       every node the answers rest on, with its properties and, per property, the
graph/edges.json       source event that asserted the current value; every edge between those nodes
source-events.json     the source events named above, and the file holding each raw document
sources/<sha256>.*     the raw documents as received (secrets redacted); the name is the file's SHA-256
report.csv             one row per change, for auditors
report.html            the printable report
statement.intoto.json  (when asked for) a DSSE envelope (signed like the manifest) of an in-toto Statement
                       whose subjects are the merge commits and whose predicate holds the manifest's
                       SHA-256, the bundle digest and the verdicts

Check it:   tracegraph verify-export <this folder or archive> --key <the organisation's public key .pem>
Or by hand: jq -r '.files | to_entries[] | "\\(.value | ltrimstr("sha256:"))  \\(.key)"' manifest.json | sha256sum -c
The whole:  jq -r '.files | to_entries[] | "\\(.value | ltrimstr("sha256:"))  \\(.key)"' manifest.json | sha256sum
            equals manifest.json "whole" (sha256 over the sorted '<hex>  <path>' lines).
"""


def _source_files(sub: Subgraph) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    files: dict[str, bytes] = {}
    index = []
    for doc in sub.sources:
        body = (redact(doc.body) or "").encode()
        try:
            json.loads(body)
            suffix = "json"
        except ValueError:
            suffix = "txt"  # text sources (postmortems in Markdown) keep their text as it came
        path = f"sources/{sha256_hex(body)}.{suffix}"
        files[path] = body
        meta = doc.model_dump(exclude={"body"}, by_alias=True)
        index.append({**meta, "file": path})
    return files, index


def _answer_paths(answers: list[Change]) -> dict[str, str]:
    paths: dict[str, str] = {}
    used: set[str] = set()
    for change in sorted(answers, key=lambda c: c.id):
        base = safe_name(change.id)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        paths[change.id] = f"answers/{name}.json"
    return paths


def bundle_files(
    export: ExportSet,
    policy: Policy,
    *,
    generated_at: datetime,
    in_toto: bool = False,
    signer: SigningKey | None = None,
) -> dict[str, bytes]:
    """Every file of the evidence bundle by path: manifest.json, its signature when there is a `signer`, and
    statement.intoto.json (a DSSE envelope, signed by `signer` when there is one) when asked for."""
    when = stamp(generated_at)
    answer_paths = _answer_paths(export.answers)
    files: dict[str, bytes] = {
        answer_paths[c.id]: json_bytes(c.model_dump(mode="json", by_alias=True)) for c in export.answers
    }
    sources, index = _source_files(export.subgraph)
    files.update(sources)
    files["graph/nodes.json"] = json_bytes([n.model_dump(mode="json", by_alias=True) for n in export.subgraph.nodes])
    files["graph/edges.json"] = json_bytes([e.model_dump(mode="json", by_alias=True) for e in export.subgraph.edges])
    files[SOURCE_EVENTS] = json_bytes({"documents": index, "missing": export.subgraph.missing_sources})
    files["report.csv"] = csv_text(export.answers, policy).encode()
    files["report.html"] = html_text(export, generated_at=generated_at).encode()
    files["README.txt"] = README.format(title=export.scope.title()).encode()
    digests = {path: file_digest(data) for path, data in sorted(files.items())}
    whole = whole_digest(digests)
    manifest = json_bytes(
        {
            "format": FORMAT_URI,
            "generatedAt": when,
            "generator": generator(),
            "scope": export.scope.model_dump(exclude_none=True),
            "changes": [
                {
                    "id": c.id,
                    "verdict": c.verdict.status.value,
                    "gaps": len(c.verdict.gaps),
                    "answer": answer_paths[c.id],
                }
                for c in export.answers
            ],
            "files": digests,
            "whole": whole,
            "wholeDefinition": WHOLE_DEFINITION,
            **({"signingKey": signer.id} if signer else {}),
        }
    )
    files[MANIFEST] = manifest
    if signer:
        files[SIGNATURE] = envelope_bytes(MANIFEST_TYPE, manifest, signer)
    if in_toto:
        files[STATEMENT] = envelope_bytes(IN_TOTO, json_bytes(statement(export, manifest, whole, when)), signer)
    return files
