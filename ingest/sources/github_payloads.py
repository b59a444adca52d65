"""Shape helpers for GitHub payloads: people, repositories, pull requests and deployments (for `github.py`)."""

from __future__ import annotations

import json
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest.redact import redact
from ingest.sources.base import (
    Event,
    Rejected,
    change_id,
    flag,
    get,
    integer,
    iso,
    lower,
    require_id,
    require_int,
    require_text,
    text,
)
from ingest.sources.shared import add_body_sessions, add_commit_stub, contract_sections

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


def repo_name(repository: Any) -> str | None:
    """A repository object's `owner/name` (trimmed payloads sometimes carry only owner and name)."""
    full_name = text(get(repository, "full_name"))
    owner, name = text(get(repository, "owner", "login")), text(get(repository, "name"))
    found = full_name or (f"{owner}/{name}" if owner and name else None)
    # GitHub treats `Acme/Shop` and `acme/shop` as one repository: one key whatever case an event used.
    return found.lower() if found else None


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


# --- builders shared by several event types ---------------------------------------------------


def add_change(batch: Batch, event: Event, payload: dict[str, Any], *, what: str) -> str:
    """Add the Change described by `payload.pull_request` (only the fields present); its id."""
    number = require_int(payload, "pull_request", "number", what=what)
    repo = require_repo(payload, what=what)
    pr = payload["pull_request"]
    version = event.version(pr.get("updated_at"))
    change = change_id("github", repo, number)
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
    if head := add_commit_stub(batch, event, version, head_sha, repo):
        batch.edge(node, Rel.CONTAINS, (Label.COMMIT, head), version=version, origin=event.origin)
    if merge := add_commit_stub(batch, event, version, merge_sha, repo):
        batch.edge(node, Rel.MERGED_AS, (Label.COMMIT, merge), version=version, origin=event.origin)
    add_body_sessions(batch, event, pr.get("body"), change)
    return change


def add_deployment(batch: Batch, event: Event, version: str, *, what: str, **extra: Any) -> str:
    """Add the Deployment of `payload.deployment` with its SHIPPED/TO edges; its id."""
    payload = event.payload
    deployment_id = require_id(payload, "deployment", "id", what=what)
    sha = require_text(payload, "deployment", "sha", what=what)
    dep = payload["deployment"]
    settings = deployment_settings(dep.get("payload"))
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
        drill=flag(settings.get("drill")),
        **extra,
    )
    add_commit_stub(batch, event, version, sha, repo)
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


def deployment_settings(value: Any) -> dict[str, Any]:
    """A deployment's `payload` (service, strategy, drill) as a dict: the API takes an object or a JSON string."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}
