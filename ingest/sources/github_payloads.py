"""Shape helpers for GitHub webhook payloads: typed reads, people, repositories, PR contract sections.

Webhook JSON is untrusted: every reader here returns None (or an empty list) for a value of the
wrong type, so the normalisers in `github.py` never see a KeyError, TypeError or AttributeError.
"""

from __future__ import annotations

import json
import re
from typing import Any

from graph.batch import Batch, BatchError
from graph.vocabulary import Label, Rel
from ingest.redact import redact
from ingest.sources import provenance
from ingest.sources.base import Event, Rejected, get, iso, require

ZERO_SHA = "0" * 40

# Check runs, check suites and workflow runs move queued -> in_progress -> completed; the rank
# breaks ties between deliveries stamped with the same second so the later state wins.
STATUS_RANK: dict[str, int] = {
    "requested": 0,
    "queued": 0,
    "pending": 0,
    "waiting": 0,
    "in_progress": 1,
    "completed": 2,
}


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
    """A required identifier (GitHub sends integers; strings are tolerated) as a string."""
    value = require(payload, *path, what=what)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Rejected(f"{what} payload has no {'.'.join(path)} (expected an id)")
    return str(value)


def repo_name(repository: Any) -> str | None:
    """A repository object's `owner/name` (trimmed payloads sometimes carry only owner and name)."""
    full_name = text(get(repository, "full_name"))
    owner, name = text(get(repository, "owner", "login")), text(get(repository, "name"))
    return full_name or (f"{owner}/{name}" if owner and name else None)


def require_repo(payload: Any, *, what: str) -> str:
    """The event's repository `owner/name`, rejecting the event when there is none."""
    found = repo_name(get(payload, "repository"))
    if found is None:
        raise Rejected(f"{what} payload has no repository.full_name")
    return found


def add_repository(batch: Batch, event: Event, version: str, repository: Any) -> str | None:
    """Add the Repository node of a payload's `repository` object; its fullName, or None."""
    full_name = repo_name(repository)
    if full_name is None:
        return None
    url = text(get(repository, "html_url"))
    return batch.node(Label.REPOSITORY, full_name, version=version, origin=event.origin, url=url)


def add_person(batch: Batch, event: Event, version: str, user: Any) -> str | None:
    """Add a Person from a GitHub user object; their login, or None when the user is unknown."""
    login = text(get(user, "login"))
    if login is None:
        return None
    is_bot = get(user, "type") == "Bot" or login.endswith("[bot]")
    return batch.node(
        Label.PERSON, login, version=version, origin=event.origin, isBot=is_bot, name=text(get(user, "name"))
    )


def add_commit(batch: Batch, event: Event, version: str, sha: str | None, repo: str | None) -> str | None:
    """Add a Commit stub known to belong to `repo` (its other facts come from pushes); its sha."""
    if sha is None:
        return None
    return batch.node(Label.COMMIT, sha, version=version, origin=event.origin, repo=repo)


# PR templates name the same section several ways; all map onto one contract property.
CONTRACT_HEADINGS: dict[str, str] = {
    "intent": "contractIntent",
    "risk": "contractRisk",
    "risks": "contractRisk",
    "risk assessment": "contractRisk",
    "test evidence": "contractTestEvidence",
    "testing": "contractTestEvidence",
    "tests": "contractTestEvidence",
    "test plan": "contractTestEvidence",
    "rollout": "contractRollout",
    "rollout plan": "contractRollout",
    "rollback": "contractRollback",
    "rollback plan": "contractRollback",
}

# Linear-time patterns only: PR bodies are attacker-controlled text up to 65k characters.
_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_FENCE = re.compile(r"^ {0,3}(```|~~~)\s*(\S*)")


def _heading_key(title: str | None) -> str:
    # "Test evidence:" / "**Rollback**" / "Risk 🔥" / "## Rollout ##" all mean the same section.
    return " ".join(re.sub(r"[^a-z ]+", " ", (title or "").lower()).split())


def _strip_comments(section: str) -> str:
    # Template placeholders are HTML comments; an unclosed one hides the rest, as when rendered.
    kept: list[str] = []
    start = 0
    while (opening := section.find("<!--", start)) != -1:
        kept.append(section[start:opening])
        closing = section.find("-->", opening + 4)
        if closing == -1:
            return "".join(kept)
        start = closing + 3
    kept.append(section[start:])
    return "".join(kept)


def contract_sections(body: Any) -> dict[str, str]:
    """Contract properties from the Markdown headings of a PR body (section text, trimmed)."""
    found: dict[str, str] = {}
    if not isinstance(body, str):
        return found
    current: tuple[str, int] | None = None
    lines: list[str] = []
    fence: str | None = None  # the info string of the open fence, "" for a plain one
    for line in body.splitlines():
        opened = fence
        if fence_match := _FENCE.match(line):
            fence = fence_match.group(2).lower() if fence is None else None
        # Provenance blocks are machine records, read by provenance.find_blocks, not contract prose.
        if "ai-provenance" in (fence, opened):
            continue
        match = None if fence is not None or opened is not None else _HEADING.fullmatch(line)
        if match is None:
            lines.append(line)
            continue
        level = len(match.group(1))
        if current is not None and level > current[1]:
            lines.append(line)  # a sub-heading belongs to the section it sits in
            continue
        if current is not None:
            _store(found, current[0], lines)
        prop = CONTRACT_HEADINGS.get(_heading_key(match.group(2)))
        current = (prop, level) if prop else None
        lines = []
    if current is not None:
        _store(found, current[0], lines)
    return found


def _store(found: dict[str, str], prop: str, lines: list[str]) -> None:
    # An untouched template section (only placeholder comments) is not a contract.
    section = _strip_comments("\n".join(lines)).strip()
    if section and prop not in found:
        found[prop] = section


# --- builders shared by several event types ---------------------------------------------------


def add_change(batch: Batch, event: Event, payload: dict[str, Any], *, what: str) -> str:
    """Add the Change described by `payload.pull_request` (only the fields present); its id."""
    number = require_int(payload, "pull_request", "number", what=what)
    repo = require_repo(payload, what=what)
    pr = payload["pull_request"]
    version = event.version(pr.get("updated_at"))
    change = provenance.change_id("github", repo, number)
    merged = flag(pr.get("merged")) is True or iso(pr.get("merged_at")) is not None
    head_sha = text(get(pr, "head", "sha"))
    # For open PRs GitHub fills merge_commit_sha with a throwaway test-merge commit.
    merge_sha = text(pr.get("merge_commit_sha")) if merged else None
    labels = pr.get("labels")
    batch.node(
        Label.CHANGE,
        change,
        version=version,
        origin=event.origin,
        repo=repo,
        number=number,
        title=redact(text(pr.get("title"))),
        url=text(pr.get("html_url")),
        state="merged" if merged else lower(pr.get("state")),
        draft=flag(pr.get("draft")),
        labels=[text(get(label, "name")) for label in labels] if isinstance(labels, list) else None,
        baseRef=text(get(pr, "base", "ref")),
        headRef=text(get(pr, "head", "ref")),
        headSha=head_sha,
        mergeCommitSha=merge_sha,
        createdAt=iso(pr.get("created_at")),
        mergedAt=iso(pr.get("merged_at")),
        closedAt=iso(pr.get("closed_at")),
        additions=integer(pr.get("additions")),
        deletions=integer(pr.get("deletions")),
        changedFiles=integer(pr.get("changed_files")),
        **{prop: redact(section) for prop, section in contract_sections(pr.get("body")).items()},
    )
    node = (Label.CHANGE, change)
    repository = add_repository(batch, event, version, payload.get("repository"))
    if repository:
        batch.edge(node, Rel.IN, (Label.REPOSITORY, repository), version=version, origin=event.origin)
    author = add_person(batch, event, version, pr.get("user"))
    if author:
        batch.edge((Label.PERSON, author), Rel.AUTHORED, node, version=version, origin=event.origin)
    if head := add_commit(batch, event, version, head_sha, repo):
        batch.edge(node, Rel.CONTAINS, (Label.COMMIT, head), version=version, origin=event.origin)
    if merge := add_commit(batch, event, version, merge_sha, repo):
        batch.edge(node, Rel.MERGED_AS, (Label.COMMIT, merge), version=version, origin=event.origin)
    _add_sessions(batch, event, pr.get("body"), change)
    return change


def _add_sessions(batch: Batch, event: Event, body: Any, change: str) -> None:
    if not isinstance(body, str):
        return
    for record in provenance.find_blocks(body):
        scratch = Batch()  # so a record rejected halfway leaves nothing behind
        try:
            provenance.add_session(scratch, event, record, change_id=change, operator=None)
        except (Rejected, BatchError):
            continue  # a broken provenance block must not cost us the pull request itself
        batch.extend(scratch)


def add_deployment(batch: Batch, event: Event, version: str, *, what: str, **extra: Any) -> str:
    """Add the Deployment of `payload.deployment` with its SHIPPED/TO edges; its id."""
    payload = event.payload
    deployment_id = require_id(payload, "deployment", "id", what=what)
    sha = require_text(payload, "deployment", "sha", what=what)
    dep = payload["deployment"]
    settings = _deployment_settings(dep.get("payload"))
    repository = payload.get("repository")
    repo = repo_name(repository)
    service = text(settings.get("service")) or text(get(repository, "name"))
    node = (Label.DEPLOYMENT, f"github:deployment:{deployment_id}")
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        environment=text(dep.get("environment")),
        sha=sha,
        ref=text(dep.get("ref")),
        strategy=text(settings.get("strategy")),
        startedAt=iso(dep.get("created_at")),
        service=service,
        repo=repo,
        url=text(dep.get("url")),
        creator=text(get(dep, "creator", "login")),
        **extra,
    )
    add_commit(batch, event, version, sha, repo)
    batch.edge(node, Rel.SHIPPED, (Label.COMMIT, sha), version=version, origin=event.origin)
    if service:
        batch.node(Label.SERVICE, service, version=version, origin=event.origin)
        batch.edge(node, Rel.TO, (Label.SERVICE, service), version=version, origin=event.origin)
        if owner := add_repository(batch, event, version, repository):
            batch.edge(
                (Label.REPOSITORY, owner),
                Rel.DEPLOYS_AS,
                (Label.SERVICE, service),
                version=version,
                origin=event.origin,
            )
    return node[1]


def _deployment_settings(value: Any) -> dict[str, Any]:
    # The API lets callers send `payload` as an object or as a JSON-encoded string.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}
