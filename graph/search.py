"""Search: what a person types (owner/repo#42 or its URL, a commit sha prefix, an incident, session or
deployment id, words of a title) to the changes, commits, incidents, sessions and deployments it names.

Two reads at most: exact keys and sha prefixes in one, words of titles through the full-text index.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field

from graph.driver import Graph
from graph.models import Model
from graph.queries import web as q
from graph.reads import read_all, read_one

MAX_TEXT = 300  # characters of a search text that are read
MAX_WORDS = 8
LIMIT = 25  # hits per kind

# owner/repo#42 (GitHub) or group/sub/project!17 (GitLab); either mark for either provider.
CHANGE_REF = re.compile(r"^(?P<repo>[\w.-]+(?:/[\w.-]+)+)\s*[#!](?P<number>\d{1,9})$")
# A pull or merge request's page: https://github.com/o/r/pull/42, https://gitlab.host/g/p/-/merge_requests/17.
CHANGE_URL = re.compile(
    r"^https?://[^/\s]+/(?P<repo>[\w.-]+(?:/[\w.-]+)+?)(?:/-)?/(?:pull|pulls|merge_requests)/(?P<number>\d{1,9})"
    r"(?:[/?#].*)?$",
    re.IGNORECASE,
)
SHA_PREFIX = re.compile(r"^[0-9a-fA-F]{4,40}$")
WORD = re.compile(r"\w+", re.UNICODE)
INCIDENT_PREFIXES = ("pagerduty:", "opsgenie:")

Kind = Literal["change", "commit", "incident", "session", "deployment"]


class Hit(Model):
    """One thing a search found: its kind, its key, a title and a line of detail."""

    kind: Kind
    key: str
    title: str | None = None
    detail: str | None = None
    at: datetime | None = None
    change_ids: list[str] = Field(default_factory=list)  # a commit's changes


class Query(Model):
    """A search text read: the change ids, sha prefix, exact ids and title words it may mean."""

    text: str
    change_ids: list[str] = Field(default_factory=list)
    sha: str | None = None
    ids: list[str] = Field(default_factory=list)
    words: list[str] = Field(default_factory=list)


def parse(text: str) -> Query:
    """What a search text may name; a change reference or URL names only that change."""
    text = " ".join(text.split())[:MAX_TEXT]
    found = CHANGE_REF.match(text) or CHANGE_URL.match(text)
    if found:
        repo, number = found["repo"].lower(), int(found["number"])
        return Query(text=text, change_ids=[f"github:{repo}#{number}", f"gitlab:{repo}!{number}"])
    ids = [text] if text else []
    if text and ":" not in text:
        ids += [prefix + text for prefix in INCIDENT_PREFIXES]
    words = WORD.findall(text)[:MAX_WORDS]
    return Query(
        text=text,
        sha=text.lower() if SHA_PREFIX.match(text) else None,
        ids=ids,
        words=[w[:50] for w in words],
    )


def lucene(words: list[str]) -> str:
    """A full-text query that wants every word; words are \\w+ runs, so they hold no Lucene syntax."""
    return " AND ".join(words)


async def search(graph: Graph, text: str) -> list[Hit]:
    """Everything the text names: exact matches first, then changes and incidents by title words."""
    query = parse(text)
    if not query.text:
        return []
    row = await read_one(graph, q.SEARCH_EXACT, changeIds=query.change_ids, sha=query.sha, ids=query.ids, limit=LIMIT)
    assert row is not None  # a RETURN without MATCH always returns its one row
    hits = [_change(c) for c in row["changes"]]
    hits += [
        Hit(
            kind="commit",
            key=k["sha"],
            title=(k.get("message") or "").split("\n", 1)[0] or None,
            detail=k.get("repo"),
            at=k.get("authoredAt"),
            change_ids=sorted(k["changeIds"]),
        )
        for k in row["commits"]
    ]
    hits += [_incident(i) for i in row["incidents"]]
    hits += [
        Hit(
            kind="session",
            key=s["id"],
            title=s.get("promptSummary"),
            detail=" / ".join(x for x in (s.get("tool"), s.get("model")) if x) or None,
            at=s.get("startedAt"),
        )
        for s in row["sessions"]
    ]
    hits += [
        Hit(
            kind="deployment",
            key=d["id"],
            title=" ".join(x for x in (d.get("service"), d.get("environment")) if x) or None,
            detail=d.get("status"),
            at=d.get("startedAt"),
        )
        for d in row["deployments"]
    ]
    if query.words and not query.change_ids:
        seen = {(h.kind, h.key) for h in hits}
        for found in await read_all(graph, q.SEARCH_TITLES, words=lucene(query.words), limit=LIMIT):
            hit = _change(found["hit"]) if found["kind"] == "change" else _incident(found["hit"])
            if (hit.kind, hit.key) not in seen:
                hits.append(hit)
    return hits


def _change(c: dict[str, object]) -> Hit:
    detail = " · ".join(str(x) for x in (c.get("state"),) if x)
    return Hit.model_validate(
        {"kind": "change", "key": c["id"], "title": c.get("title"), "detail": detail or None, "at": c.get("mergedAt")}
    )


def _incident(i: dict[str, object]) -> Hit:
    detail = " · ".join(str(x) for x in (i.get("severity"), i.get("status")) if x)
    return Hit.model_validate(
        {
            "kind": "incident",
            "key": i["id"],
            "title": i.get("title"),
            "detail": detail or None,
            "at": i.get("triggeredAt"),
        }
    )
