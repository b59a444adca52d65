"""How each fact arrived: the trust of every evidence and review an event writes.

    signed      a signature the trust file (TRACEGRAPH_TRUST) bears out, naming the signer
    provider    a webhook whose signature or token was checked (`webhook:<source>`), or a record the
                collectors pulled from the provider's API (`collect:<provider>`)
    uploaded    POST /events with an ingester token (`api:events:<token id>`)
    unverified  anything else: a file handed to `tracegraph ingest`, the spool folder, a git repository,
                and any document whose signature was rejected (it then never counts, whatever the policy)

The event's `via` is set by the driver that read it, never by the document, so a document cannot raise
its own trust; only a verified signature can.

Two arrivals of one fact: versions of evidence and reviews carry the trust rank after the source time and
rank (`<time>#<rank>#T<trust>#<event id>`), so at the same source time the stronger arrival wins and a
weaker replay writes nothing; a later source time still wins, as for every fact, and the writer records
the weakest arrival any stored value came from (graph.queries.core, `trustFloor`), which is the trust the
node counts at.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from graph.batch import Batch, with_trust
from graph.vocabulary import TRUSTED_LABELS, Trust
from ingest.pipeline.events import Event
from ingest.redact import redact
from trust.check import Check

UNVERIFIED_PATHS = {
    "file": "a file given to tracegraph ingest",
    "git": "a local git repository",
    "demo": "the demo data",
}


def arrival(via: str) -> tuple[Trust, str]:
    """The trust a delivery path gives, and who it names."""
    kind, _, rest = via.partition(":")
    if kind == "webhook" and rest:
        return Trust.PROVIDER, f"{rest} webhook, signature checked"
    if kind == "collect" and rest:
        return Trust.PROVIDER, f"{rest} API, read with the organisation's credentials"
    if kind == "api" and rest.startswith("events"):
        token = rest.removeprefix("events").lstrip(":")
        return Trust.UPLOADED, f"POST /events with ingester token {token}" if token else "POST /events"
    if kind == "spool":
        return Trust.UNVERIFIED, f"spool file {rest}"
    return Trust.UNVERIFIED, UNVERIFIED_PATHS.get(via, via or "an unknown path")


def stamp_trust(batch: Batch, event: Event, checks: Mapping[str, Check]) -> None:
    """Give every evidence and review of the batch its trust (in place); `checks` by evidence key."""
    base, by = arrival(event.via)
    for i, row in enumerate(batch.nodes):
        if row.label not in TRUSTED_LABELS:
            continue
        found = checks.get(row.key)
        trust, who, problem = base, by, ""
        if found is not None and found.problem:
            # Text from the document (a key id, a certificate's subject) is in the reason: redact it.
            trust, problem = Trust.UNVERIFIED, redact(found.problem) or ""
        elif found is not None and found.signer:
            trust, who = Trust.SIGNED, found.signer
        # Every row states all three, so a stronger arrival also clears a weaker one's signatureProblem.
        row.props.update(trust=trust.value, trustBy=who, signatureProblem=problem)
        batch.nodes[i] = dataclasses.replace(row, version=with_trust(row.version, trust.rank))
