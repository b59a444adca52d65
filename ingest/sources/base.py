"""The small interface every source implements, and the payload readers sources share.

A source is one module in this folder that defines `SOURCE = Source(...)`: its name, its normalisers
by event type, the aliases of its type names, and, when it receives webhooks, how a delivery is
verified and where its event type and delivery id are (`Webhook`). Sources never import each other;
what several of them read or build lives here and in `shared`.

Payloads are untrusted: every reader returns None (or an empty list) for a value of the wrong type,
so normalisers never see a KeyError, TypeError or AttributeError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graph.batch import Batch
from ingest.pipeline.events import Event, Rejected
from ingest.timestamps import iso
from trust.check import Claim

__all__ = ["Event", "Rejected", "Source", "Webhook", "iso"]

Normaliser = Callable[[Event], Batch]
Headers = Mapping[str, str]
# (secret, request headers, raw body) -> whether the delivery is genuine; never raises.
Verifier = Callable[[str, Headers, bytes], bool]


@dataclass(frozen=True)
class Webhook:
    """How a source's webhook deliveries are checked and read; one generic route serves them all.

    `event_type` and `delivery_id` read the request (headers are lower-cased, the payload is parsed);
    None from `delivery_id` means the body's digest names the delivery. Types in `ignored` are
    answered without storing anything (GitHub's `ping`).
    """

    verify: Verifier
    secret_variable: str
    event_type: Callable[[Headers, Any], str | None]
    delivery_id: Callable[[Headers, Any], str | None]
    # Where the event type should have been, for the error when it is missing.
    type_hint: str = "an event type"
    ignored: frozenset[str] = frozenset()
    # A form-encoded body carries the JSON document in this field (GitHub's `payload=`).
    form_field: str | None = None


@dataclass(frozen=True)
class Source:
    """A source: its name, normalisers by event type, type aliases, and how to tell a bare payload's type."""

    name: str
    handlers: Mapping[str, Normaliser]
    infer_type: Callable[[Any], str | None] = field(default=lambda payload: None)
    # Other spellings of a type (GitLab's `Merge Request Hook` header for `merge_request`).
    aliases: Mapping[str, str] = field(default_factory=dict)
    # Files with these suffixes (e.g. ".md") are handed to the normaliser as text, not parsed as JSON,
    # when ingested with --source NAME; folders are searched for them too.
    text_suffixes: frozenset[str] = frozenset()
    webhook: Webhook | None = None
    # What the event's documents claim about their own authenticity (signed envelopes, the subjects they
    # are about), for the pipeline to verify against the trust file; sources without signatures have none.
    claims: Callable[[Event], list[Claim]] | None = None

    def canonical_type(self, kind: str | None) -> str | None:
        """The handler name for a type as the sender spelled it (unchanged when none fits)."""
        if kind is None or kind in self.handlers:
            return kind
        return self.aliases.get(kind, kind)

    def handles(self, kind: str | None) -> bool:
        """Whether this source has a normaliser for the type (after aliases)."""
        found = self.canonical_type(kind)
        return found is not None and _has(self.handlers, found)

    def normalise(self, event: Event) -> Batch:
        """Run the normaliser for the event's type, or reject the event with a reason."""
        kind = self.canonical_type(event.type) or self.infer_type(event.payload)
        if kind is None:
            raise Rejected(f"cannot tell the {self.name} event type of this payload; pass --type")
        if not _has(self.handlers, kind):
            known = ", ".join(sorted(self.handlers))
            raise Rejected(f"unknown {self.name} event type {kind!r} (known: {known})")
        if not isinstance(event.payload, dict) and not (self.text_suffixes and isinstance(event.payload, str)):
            raise Rejected(f"{self.name} {kind} payload must be a JSON object")
        return self.handlers[kind](event.with_type(kind))


def _has(handlers: Mapping[str, Normaliser], kind: str) -> bool:
    try:
        handlers[kind]
    except KeyError:
        return False
    return True


class OpenHandlers(Mapping[str, Normaliser]):
    """Handlers for a family of event types that grows over time (`incident.*`, Opsgenie actions).

    Lists the documented types, yet also answers for any type `accepts` admits, so a new event type
    the provider adds is normalised as a status update instead of being rejected.
    """

    def __init__(self, known: tuple[str, ...], handler: Normaliser, accepts: Callable[[str], bool]) -> None:
        self._known = known
        self._handler = handler
        self._accepts = accepts

    def __getitem__(self, kind: str) -> Normaliser:
        if isinstance(kind, str) and self._accepts(kind):
            return self._handler
        raise KeyError(kind)

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)

    def __len__(self) -> int:
        return len(self._known)


# --- keys ----------------------------------------------------------------------------------------

_CHANGE_IDS: dict[str, str] = {
    "github": "github:{repo}#{number}",
    "gitlab": "gitlab:{repo}!{number}",
}


def change_id(provider: str, repo: str, number: int) -> str:
    """The Change key: `github:owner/repo#42` or `gitlab:group/project!17` (repository lower-cased:
    GitHub and GitLab treat `Acme/Shop` and `acme/shop` as one repository)."""
    template = _CHANGE_IDS.get(provider)
    if template is None:
        raise Rejected(f"unknown change provider {provider!r} (known: {', '.join(sorted(_CHANGE_IDS))})")
    return template.format(repo=repo.lower(), number=number)


def person_key(provider: str, handle: str) -> str:
    """The Person key of a provider's handle: GitHub logins as they are, others prefixed (`gitlab:bob`).

    A GitHub `bob` and a GitLab `bob` are two people until the aliases file names one login for both.
    """
    return handle if provider == "github" else f"{provider}:{handle}"


# --- payload readers -----------------------------------------------------------------------------


def get(data: Any, *path: str | int) -> Any:
    """Walk nested dicts/lists; None as soon as a step is missing or of the wrong kind."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(data, list) or step >= len(data):
                return None
            data = data[step]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(step)
    return data


def require(data: Any, *path: str, what: str) -> Any:
    """Like get(), but rejects the event naming the missing field."""
    value = get(data, *path)
    if value is None or value == "":
        raise Rejected(f"{what} payload has no {'.'.join(path)}")
    return value


def text(value: Any) -> str | None:
    """The value if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value != "" else None


def integer(value: Any) -> int | None:
    """The value if it is an integer (bools excluded), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def flag(value: Any) -> bool | None:
    """The value if it is a bool, else None."""
    return value if isinstance(value, bool) else None


def items(value: Any) -> list[Any]:
    """The value if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def strings(value: Any) -> list[str]:
    """The non-empty strings of a list (anything else dropped)."""
    return [v for v in items(value) if text(v)]


def lower(value: Any) -> str | None:
    """A string value lower-cased, else None."""
    found = text(value)
    return found.lower() if found else None


def require_text(payload: Any, *path: str, what: str) -> str:
    """A required string field, rejecting the event when it is missing or not a string."""
    value = require(payload, *path, what=what)
    if not isinstance(value, str):
        raise Rejected(f"{what} payload has no {'.'.join(path)} (expected a string)")
    return value


def require_int(payload: Any, *path: str, what: str) -> int:
    """A required integer field, rejecting the event when it is missing or not an integer."""
    value = integer(require(payload, *path, what=what))
    if value is None:
        raise Rejected(f"{what} payload has no {'.'.join(path)} (expected an integer)")
    return value


def require_id(payload: Any, *path: str, what: str) -> str:
    """A required identifier (providers send integers; strings are tolerated) as a string."""
    value = require(payload, *path, what=what)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Rejected(f"{what} payload has no {'.'.join(path)} (expected an id)")
    return str(value)
