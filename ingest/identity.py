"""One person, many handles: commit e-mails, GitHub and GitLab logins, PagerDuty and Opsgenie users.

Handles merge into one `Person` (keyed by a canonical login) only on evidence that is safe: an
aliases file the organisation maintains, and GitHub noreply e-mails (GitHub verified them: the login
is part of the address). Display names never merge anyone, and bots stay bots.

Aliases file (YAML; path from --aliases or TRACEGRAPH_ALIASES):

    people:
      - login: alice                 # the canonical Person key (usually the GitHub login)
        emails: [alice@example.com, alice@users.example.org]
        github: alice-gh             # each handle may also be a list
        gitlab: alice.smith
        pagerduty: PABC123
        opsgenie: alice@example.com
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from graph.batch import Batch, EdgeRow, NodeRow
from graph.settings import get_settings
from graph.vocabulary import ORIGIN_PROPERTIES, Label, Rel

EMAIL = "email"
# Person properties some sources set besides the key, and the kind of handle each one holds.
HANDLE_PROPERTIES = {"gitlabUsername": "gitlab", "pagerdutyId": "pagerduty", "opsgenieId": "opsgenie"}
# Person keys of these providers carry their name as a prefix (`gitlab:bob`); GitHub logins are bare.
PREFIXED_KINDS = frozenset({"gitlab", "pagerduty", "opsgenie"})

# GitHub's noreply addresses: `12345+login@…` (since 2017) and `login@…` (older accounts).
_GH_NOREPLY = re.compile(r"(?:\d+\+)?(?P<login>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\[bot\])?)")
_GH_NOREPLY_DOMAIN = "users.noreply.github.com"
# Apps that commit or comment under an account of their own (GitHub, GitLab, PagerDuty integrations).
KNOWN_BOTS = frozenset(
    {
        "dependabot",
        "dependabot-preview",
        "renovate",
        "renovate-bot",
        "github-actions",
        "web-flow",
        "copilot",
        "copilot-swe-agent",
        "greenkeeper",
        "snyk-bot",
        "imgbot",
        "mergify",
        "codecov",
        "pre-commit-ci",
        "semantic-release-bot",
        "allcontributors",
        "gitlab-bot",
    }
)
# Addresses that stand for a system, never a person (GitHub's web-flow committer, bot mailboxes).
BOT_EMAILS = frozenset({"noreply@github.com", "bot@renovateapp.com", "support@dependabot.com"})


class IdentityError(ValueError):
    """The aliases file cannot be used; the message says where and why."""


def is_bot(handle: str) -> bool:
    """Whether a login names an app or bot account rather than a person."""
    lowered = handle.strip().lower()
    return lowered.endswith("[bot]") or lowered.endswith("-bot") or lowered in KNOWN_BOTS


def noreply_login(email: str) -> str | None:
    """The GitHub login in a GitHub noreply address, or None for any other address."""
    local, _, domain = email.strip().rpartition("@")
    if domain.lower() != _GH_NOREPLY_DOMAIN:
        return None
    match = _GH_NOREPLY.fullmatch(local)
    return match["login"] if match else None


def _handles(value: Any) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip() for v in values):
        raise ValueError("handles must be non-empty strings")
    return [str(v).strip() for v in values]


class PersonEntry(BaseModel):
    """One person of the aliases file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str
    name: str | None = None
    emails: list[str] = []
    github: list[str] = []
    gitlab: list[str] = []
    pagerduty: list[str] = []
    opsgenie: list[str] = []

    @field_validator("emails", "github", "gitlab", "pagerduty", "opsgenie", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> list[str]:
        return _handles(value)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if "@" not in email:
                raise ValueError(f"{email!r} is not an e-mail address")
        return value

    @field_validator("login")
    @classmethod
    def _login(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("login must not be empty")
        if is_bot(value):
            raise ValueError(f"{value!r} is a bot account; bots stay bots and are never aliased")
        return value.strip()

    def handles(self) -> dict[str, list[str]]:
        return {"github": self.github, "gitlab": self.gitlab, "pagerduty": self.pagerduty, "opsgenie": self.opsgenie}


class AliasesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[PersonEntry] = []


@dataclass
class Identities:
    """Who is who: handles and e-mails by kind, each pointing at one canonical login."""

    people: dict[str, PersonEntry] = field(default_factory=dict)
    _by_kind: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    # Canonical logins lower-cased: GitHub logins differing only in case are the same account.
    _logins: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Identities:
        """The aliases file at `path`, else at $TRACEGRAPH_ALIASES, else no aliases (automatic rules only)."""
        chosen = path or get_settings().aliases_file or None
        if chosen is None:
            return cls()
        file = Path(chosen)
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise IdentityError(f"cannot read aliases file {file}: {exc.strerror or exc}") from exc
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise IdentityError(f"aliases file {file} is not valid YAML: {str(exc).splitlines()[0]}") from exc
        return cls.from_data(data or {}, where=str(file))

    @classmethod
    def from_data(cls, data: Any, *, where: str = "aliases") -> Identities:
        """Identities from the parsed aliases document (a mapping with a `people` list)."""
        try:
            parsed = AliasesFile.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            at = ".".join(str(p) for p in first["loc"])
            raise IdentityError(f"{where}: {at}: {first['msg']}") from exc
        identities = cls()
        for entry in parsed.people:
            identities._add(entry, where)
        return identities

    def _add(self, entry: PersonEntry, where: str) -> None:
        if entry.login.lower() in {p.lower() for p in self.people}:
            raise IdentityError(f"{where}: login {entry.login!r} is listed twice")
        self.people[entry.login] = entry
        self._logins[entry.login.lower()] = entry.login
        claims = [(EMAIL, e) for e in entry.emails]
        claims += [(kind, h) for kind, hs in entry.handles().items() for h in hs]
        for kind, handle in claims:
            if kind != EMAIL and is_bot(handle):
                raise IdentityError(f"{where}: {kind} handle {handle!r} of {entry.login} is a bot; bots stay bots")
            owner = self._by_kind[kind].setdefault(handle.lower(), entry.login)
            if owner != entry.login:
                raise IdentityError(f"{where}: {kind} {handle!r} is claimed by both {owner} and {entry.login}")

    def login_for_email(self, email: str | None) -> str | None:
        """The login an e-mail belongs to (aliases file, then GitHub noreply), or None when unknown."""
        if not email or not email.strip():
            return None
        address = email.strip().lower()
        if address in BOT_EMAILS:
            return None
        listed = self._by_kind[EMAIL].get(address)
        if listed:
            return listed
        login = noreply_login(address)
        if login is None:
            return None
        # `123+dependabot[bot]@users.noreply.github.com` is the bot's own GitHub login: keep it as is.
        return login if is_bot(login) else self.canonical(login, "github")

    def canonical(self, handle: str, kind: str) -> str:
        """The canonical login of a handle of a kind (github, gitlab, pagerduty, opsgenie, email), else the handle."""
        if is_bot(handle):
            return handle
        if kind == EMAIL:
            return self.login_for_email(handle) or handle
        found = self._by_kind[kind].get(handle.strip().lower())
        if found:
            return found
        if kind == "github":
            return self._logins.get(handle.strip().lower(), handle)
        return handle

    def person(self, login: str) -> PersonEntry | None:
        """The aliases-file entry of a canonical login, if any."""
        return self.people.get(login)


# --- rewriting batches -------------------------------------------------------------------------


def handle_of(key: str) -> tuple[str, str]:
    """(handle, kind) of a Person key: `gitlab:bob` is GitLab's bob, an address an e-mail, and a bare
    login GitHub's (ingest.sources.base.person_key), whichever source named the person."""
    provider, sep, handle = key.partition(":")
    if sep and provider in PREFIXED_KINDS and handle:
        return handle, provider
    return (key, EMAIL) if "@" in key else (key, "github")


def _resolve_person(identities: Identities, key: str, props: dict[str, Any]) -> str | None:
    """The canonical login of a Person row, or None when nothing safe says who it is."""
    candidates = [handle_of(key)]
    candidates += [(str(props[p]), k) for p, k in HANDLE_PROPERTIES.items() if props.get(p)]
    candidates += [(str(e), EMAIL) for e in props.get("emails") or [] if isinstance(e, str)]
    for handle, handle_kind in candidates:
        login = identities.canonical(handle, handle_kind)
        if login != handle or identities.person(login) is not None:
            return login
    return None


def _endpoint(identities: Identities, mapping: dict[str, str], key: str, props: dict[str, Any]) -> str:
    if key in mapping:
        return mapping[key]
    return _resolve_person(identities, key, props) or key


def _authors(batch: Batch, identities: Identities) -> dict[str, tuple[str, NodeRow]]:
    """Commits whose author e-mail resolves to a login and that name no author yet: sha -> (login, row)."""
    authored = {e.dst_key for e in batch.edges if e.rel == Rel.AUTHORED and e.src_label == Label.PERSON}
    found: dict[str, tuple[str, NodeRow]] = {}
    for row in batch.nodes:
        if row.label != Label.COMMIT or row.key in authored or row.key in found:
            continue
        login = identities.login_for_email(row.props.get("authorEmail"))
        if login is not None:
            found[row.key] = (login, row)
    return found


def resolve(batch: Batch, identities: Identities) -> Batch:
    """The batch with Person keys (and edge ends) rewritten to canonical logins, and their lists merged.

    Commits whose author e-mail resolves, and that no Person AUTHORED yet, gain that edge. The input
    batch is left as it was.
    """
    mapping: dict[str, str] = {}
    for row in batch.nodes:
        if row.label == Label.PERSON:
            login = _resolve_person(identities, row.key, row.props)
            if login is not None:
                mapping[row.key] = login
    authors = _authors(batch, identities)
    if not mapping and not authors:
        return batch
    nodes: list[NodeRow] = []
    for n in batch.nodes:
        if n.label == Label.PERSON:
            n = NodeRow(n.label, mapping.get(n.key, n.key), n.version, n.props)
        elif n.label == Label.COMMIT and n.key in authors and "authorLogin" not in n.props:
            n = NodeRow(n.label, n.key, n.version, {**n.props, "authorLogin": authors[n.key][0]})
        nodes.append(n)
    edges = [
        EdgeRow(
            e.rel,
            e.src_label,
            _endpoint(identities, mapping, e.src_key, e.props) if e.src_label == Label.PERSON else e.src_key,
            e.dst_label,
            _endpoint(identities, mapping, e.dst_key, e.props) if e.dst_label == Label.PERSON else e.dst_key,
            e.version,
            e.props,
        )
        for e in batch.edges
    ]
    for sha, (login, row) in authors.items():
        origin = {k: v for k, v in row.props.items() if k in ORIGIN_PROPERTIES}
        nodes.append(NodeRow(Label.PERSON, login, row.version, {"isBot": is_bot(login), **origin}))
        edges.append(EdgeRow(Rel.AUTHORED, Label.PERSON, login, Label.COMMIT, sha, row.version, origin))
        mapping.setdefault(login, login)
    return Batch(nodes=_merge_lists(nodes, identities, mapping), edges=edges)


def _merge_lists(nodes: list[NodeRow], identities: Identities, mapping: dict[str, str]) -> list[NodeRow]:
    """Give every row of a resolved person the same (union) e-mails and aliases, whichever row wins.

    The writer keeps a list property whole from the row with the highest version, so the union has
    to be on every row; handles from the aliases file are always in it, so batches agree.
    """
    resolved = set(mapping.values())
    emails: dict[str, set[str]] = defaultdict(set)
    aliases: dict[str, set[str]] = defaultdict(set)
    for old, login in mapping.items():
        if old != login:
            aliases[login].add(old)
    for login in resolved:
        if entry := identities.person(login):
            emails[login].update(e.lower() for e in entry.emails)
            aliases[login].update(h for hs in entry.handles().values() for h in hs if h != login)
    for n in nodes:
        if n.label == Label.PERSON and n.key in resolved:
            emails[n.key].update(e.lower() for e in n.props.get("emails") or [] if isinstance(e, str))
            aliases[n.key].update(a for a in n.props.get("aliases") or [] if isinstance(a, str) and a != n.key)
    merged = []
    for n in nodes:
        if n.label == Label.PERSON and n.key in resolved:
            props = dict(n.props)
            entry = identities.person(n.key)
            if entry is not None and entry.name:
                props["name"] = entry.name
            if emails[n.key]:
                props["emails"] = sorted(emails[n.key])
            if aliases[n.key]:
                props["aliases"] = sorted(aliases[n.key])
            n = NodeRow(n.label, n.key, n.version, props)
        merged.append(n)
    return merged
