"""Shape helpers for GitLab webhook payloads: times, projects, users, merge requests and commits.

GitLab names users by `username`, projects by `path_with_namespace` (nested groups allowed) and
writes times as "2024-01-02 10:11:12 UTC" as often as ISO-8601. Webhook JSON is untrusted: every
reader returns None (or an empty list) for a value of the wrong type, so no KeyError or TypeError.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

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
    person_key,
    require_int,
    require_text,
    strings,
    text,
)
from ingest.sources.shared import add_body_sessions, add_commit_stub, contract_sections
from ingest.trailers import ai_links, parse_trailers

MR = "merge_request"


def gitlab_time(value: Any) -> str | None:
    """A GitLab timestamp ("2024-01-02 10:11:12 UTC", "... +0200", ISO-8601) as ISO-8601 UTC, or None."""
    if isinstance(value, str) and value.rstrip().endswith(" UTC"):
        value = value.rstrip()[:-4] + "+00:00"
    return iso(value)


# --- projects and people ----------------------------------------------------------------------

_PROJECT_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)+")


def project_path(payload: Any) -> str | None:
    """The project's `group/…/name`: project.path_with_namespace, else the path of repository.homepage."""
    homepage = text(get(payload, "repository", "homepage"))
    candidates = (
        get(payload, "project", "path_with_namespace"),
        get(payload, "object_attributes", "target", "path_with_namespace"),
        # Job hooks of older GitLab versions carry only a `repository` object.
        urlsplit(homepage).path.strip("/") if homepage else None,
    )
    found = next((path for path in candidates if isinstance(path, str) and _PROJECT_PATH.fullmatch(path)), None)
    # GitLab paths are case-insensitive: one key whatever case an event used.
    return found.lower() if found else None


def require_project(payload: Any, *, what: str) -> str:
    """The event's project path, rejecting the event when there is none."""
    found = project_path(payload)
    if found is None:
        raise Rejected(f"{what} payload has no project.path_with_namespace")
    return found


def project_url(payload: Any) -> str | None:
    """The project's web URL (for links to pipelines and jobs)."""
    return text(get(payload, "project", "web_url")) or text(get(payload, "repository", "homepage"))


def add_project(batch: Batch, event: Event, version: str, payload: Any) -> str | None:
    """Add the Repository node of the payload's project; its fullName, or None."""
    path = project_path(payload)
    if path is None:
        return None
    return batch.node(Label.REPOSITORY, path, version=version, origin=event.origin, url=project_url(payload))


# GitLab's own bot users: project/group access tokens (project_123_bot, project_123_bot_4f1c…),
# service accounts, and the usual "-bot"/"[bot]" names. A human taken for a bot only costs an
# approval; a bot taken for a human could make a verdict wrongly VERIFIED.
_BOT = re.compile(r"(?:project|group)_\d+_bot(?:_\w+)?|service_account_\w+|.*[-_.]bot(?:[-_.]?\d+)?|.*\[bot\]", re.I)
# "ghost" stands in for deleted users: nobody who can vouch for a change.
KNOWN_BOTS = frozenset({"dependabot", "renovate", "ghost"})


def is_bot(username: str, user: Any = None) -> bool:
    """Whether a GitLab username belongs to a bot account."""
    return bool(
        _BOT.fullmatch(username)
        or username.lower() in KNOWN_BOTS
        or flag(get(user, "bot")) is True
        or lower(get(user, "user_type")) in {"project_bot", "service_account", "bot"}
    )


def add_user(batch: Batch, event: Event, version: str, user: Any) -> str | None:
    """Add a Person from a GitLab user object (keyed `gitlab:<username>`); its key, or None."""
    username = text(get(user, "username"))
    if username is None:
        return None
    return batch.node(
        Label.PERSON,
        person_key("gitlab", username),
        version=version,
        origin=event.origin,
        isBot=is_bot(username, user),
        name=text(get(user, "name")),
        gitlabUsername=username,
    )


# --- commits ----------------------------------------------------------------------------------


def _files(commit: dict[str, Any]) -> list[str] | None:
    lists = [commit.get(kind) for kind in ("added", "modified", "removed")]
    if not any(isinstance(files, list) for files in lists):
        return None  # this payload does not say which files changed; keep what we knew
    return sorted({path for files in lists for path in strings(files)})


def add_git_commit(
    batch: Batch,
    event: Event,
    commit: Any,
    *,
    repo: str | None,
    head: str | None = None,
    pusher: Any = None,
) -> str | None:
    """Add a Commit from a GitLab commit object (push `commits[]`, MR `last_commit`); its sha, or None."""
    sha = text(get(commit, "id"))
    if sha is None:
        return None
    message = text(get(commit, "message"))
    at = gitlab_time(get(commit, "timestamp"))
    version = event.version(at)
    links = ai_links(sha, message) if message else []
    author_email = text(get(commit, "author", "email"))
    # Push commits name their author by e-mail only: the pusher is the author when the e-mails agree.
    login = text(get(pusher, "username"))
    pusher_email = text(get(pusher, "email"))
    if not (login and author_email and pusher_email and author_email.lower() == pusher_email.lower()):
        login = None
    node = (Label.COMMIT, sha)
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        repo=repo,
        message=redact(message),
        authoredAt=at,
        authorName=text(get(commit, "author", "name")),
        authorEmail=author_email,
        authorLogin=login,
        trailers=[redact(f"{k}: {v}") for k, v in parse_trailers(message)] if message else None,
        files=_files(commit),
        pushHead=head,
        aiTools=sorted({link.tool for link in links if link.tool}) or None,
    )
    if login:
        person = add_user(batch, event, version, {"username": login, "name": get(pusher, "name")})
        if person:
            batch.edge((Label.PERSON, person), Rel.AUTHORED, node, version=version, origin=event.origin)
    for link in links:
        session = (Label.AGENT_SESSION, link.session_id)
        batch.node(*session, version=version, origin=event.origin, tool=link.tool, model=link.model)
        batch.edge(session, Rel.AUTHORED, node, version=version, origin=event.origin)
    return sha


# --- merge requests ---------------------------------------------------------------------------

STATES = {"opened": "open", "reopened": "open", "locked": "open", "merged": "merged", "closed": "closed"}


def _labels(payload: dict[str, Any], mr: dict[str, Any]) -> list[str | None] | None:
    labels = mr.get("labels") if isinstance(mr.get("labels"), list) else payload.get("labels")
    if not isinstance(labels, list):
        return None
    return [text(get(label, "title")) or text(get(label, "name")) for label in labels]


def _is_author(payload: dict[str, Any], mr: dict[str, Any], action: str | None) -> bool:
    # `user` is whoever triggered the hook (an approver, the merger), not the MR's author: only
    # author_id says who wrote it. Without ids, only the opening event is the author's.
    author_id, user_id = integer(mr.get("author_id")), integer(get(payload, "user", "id"))
    if author_id is not None and user_id is not None:
        return author_id == user_id
    return action == "open"


def add_merge_request(batch: Batch, event: Event, payload: dict[str, Any]) -> tuple[str, str, int]:
    """Add the Change of a merge request hook (only the fields present); (change id, project, iid)."""
    iid = require_int(payload, "object_attributes", "iid", what=MR)
    repo = require_project(payload, what=MR)
    mr = payload["object_attributes"]
    action = lower(mr.get("action"))
    updated = gitlab_time(mr.get("updated_at"))
    merged = lower(mr.get("state")) == "merged" or action == "merge"
    # A merge is final: it wins a tie with an update stamped in the same second.
    version = event.version(updated, 2 if merged else 0)
    change = change_id("gitlab", repo, iid)
    head_sha = text(get(mr, "last_commit", "id"))
    # Fast-forward merges have no merge commit; a squash merge's commit is squash_commit_sha.
    merge_sha = (text(mr.get("merge_commit_sha")) or text(mr.get("squash_commit_sha"))) if merged else None
    state = "merged" if merged else STATES.get(lower(mr.get("state")) or "", lower(mr.get("state")))
    draft = flag(mr.get("draft"))
    batch.node(
        Label.CHANGE,
        change,
        version=version,
        origin=event.origin,
        repo=repo,
        number=iid,
        title=redact(text(mr.get("title"))),
        url=text(mr.get("url")),
        state=state,
        draft=draft if draft is not None else flag(mr.get("work_in_progress")),
        labels=_labels(payload, mr),
        baseRef=text(mr.get("target_branch")),
        headRef=text(mr.get("source_branch")),
        headSha=head_sha,
        mergeCommitSha=merge_sha,
        createdAt=gitlab_time(mr.get("created_at")),
        # Hooks carry no merged_at/closed_at: the merging (closing) event's updated_at is when.
        mergedAt=gitlab_time(mr.get("merged_at")) or (updated if action == "merge" else None),
        closedAt=gitlab_time(mr.get("closed_at")) or (updated if action in ("close", "merge") else None),
        **{prop: redact(section) for prop, section in contract_sections(mr.get("description")).items()},
    )
    node = (Label.CHANGE, change)
    if repository := add_project(batch, event, version, payload):
        batch.edge(node, Rel.IN, (Label.REPOSITORY, repository), version=version, origin=event.origin)
    if _is_author(payload, mr, action) and (author := add_user(batch, event, version, payload.get("user"))):
        batch.edge((Label.PERSON, author), Rel.AUTHORED, node, version=version, origin=event.origin)
    if head := add_git_commit(batch, event, mr.get("last_commit"), repo=repo):
        batch.edge(node, Rel.CONTAINS, (Label.COMMIT, head), version=version, origin=event.origin)
    if merge := add_commit_stub(batch, event, version, merge_sha, repo):
        batch.edge(node, Rel.MERGED_AS, (Label.COMMIT, merge), version=version, origin=event.origin)
    add_body_sessions(batch, event, mr.get("description"), change)
    return change, repo, iid


def require_sha(payload: Any, *paths: tuple[str, ...], what: str) -> str:
    """The first string found at one of the paths, rejecting the event naming the first path."""
    for path in paths:
        if found := text(get(payload, *path)):
            return found
    return require_text(payload, *paths[0], what=what)
