"""GitHub webhooks: pull requests, reviews, pushes, checks, statuses, workflow runs and deployments.

One pure normaliser per X-GitHub-Event name. Ids are natural keys (`github:o/r#42`,
`github:review:{id}`, `github:check_run:{id}`, ...) so every delivery of the same fact MERGEs
onto the same node, and versions come from GitHub's own timestamps so the arrival order of
deliveries does not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest import signatures
from ingest.redact import redact
from ingest.sources.base import (
    Event,
    Headers,
    Source,
    Webhook,
    flag,
    get,
    integer,
    iso,
    items,
    lower,
    require_id,
    require_text,
    strings,
    text,
)
from ingest.sources.github_payloads import (
    STATUS_RANK,
    add_change,
    add_deployment,
    add_person,
    add_repository,
    repo_name,
    require_repo,
)
from ingest.sources.github_posture import branch_protection
from ingest.sources.shared import ZERO_SHA, add_commit_stub
from ingest.trailers import ai_links, parse_trailers

# --- pull requests and reviews ----------------------------------------------------------------


def pull_request(event: Event) -> Batch:
    """A pull_request event (any action) -> the Change, its repository, author, commits, sessions.

    A collected pull request also lists the paths it changes (`files`, as GET /pulls/{n}/files names
    them); webhooks never do. They feed risk areas like the files of its commits.
    """
    batch = Batch()
    change = add_change(batch, event, event.payload, what="pull_request")
    files = event.payload.get("files")
    if isinstance(files, list):
        paths = {text(get(f, "filename")) or text(f) for f in files}
        paths |= {text(get(f, "previous_filename")) for f in files}
        version = event.version(get(event.payload, "pull_request", "updated_at"))
        batch.node(Label.CHANGE, change, version=version, origin=event.origin, files=sorted(p for p in paths if p))
    return batch


# A dismissal keeps the review's submitted_at, so the rank is what makes it win.
REVIEW_RANK = {"submitted": 0, "edited": 1, "dismissed": 2}


def pull_request_review(event: Event) -> Batch:
    """A pull_request_review event -> the Review, its reviewer, the commit it saw, and the Change."""
    payload = event.payload
    review_id = require_id(payload, "review", "id", what="pull_request_review")
    batch = Batch()
    change = add_change(batch, event, payload, what="pull_request_review")
    review = payload["review"]
    action = text(payload.get("action"))
    state = "dismissed" if action == "dismissed" else lower(review.get("state"))
    version = event.version(review.get("submitted_at"), REVIEW_RANK.get(action or "", 0))
    commit_sha = text(review.get("commit_id"))
    node = (Label.REVIEW, f"github:review:{review_id}")
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        state=state.upper() if state else None,
        submittedAt=iso(review.get("submitted_at")),
        commitSha=commit_sha,
        url=text(review.get("html_url")),
    )
    batch.edge(node, Rel.OF, (Label.CHANGE, change), version=version, origin=event.origin)
    reviewer = add_person(batch, event, version, review.get("user"))
    if reviewer:
        batch.edge((Label.PERSON, reviewer), Rel.SUBMITTED, node, version=version, origin=event.origin)
    repo = repo_name(payload.get("repository"))
    if seen := add_commit_stub(batch, event, version, commit_sha, repo):
        batch.edge(node, Rel.AT, (Label.COMMIT, seen), version=version, origin=event.origin)
    return batch


# --- pushes -----------------------------------------------------------------------------------


def push(event: Event) -> Batch:
    """A push event -> its commits with messages, trailers, files, authors and AI sessions."""
    payload = event.payload
    repo = require_repo(payload, what="push")
    ref = require_text(payload, "ref", what="push")
    batch = Batch()
    repository = payload["repository"]
    add_repository(batch, event, event.version(repository.get("pushed_at")), repository)
    head = text(payload.get("after"))
    # Deleting a branch or tag carries no new commits, and a tag push re-announces existing ones.
    if flag(payload.get("deleted")) or head in (None, ZERO_SHA) or ref.startswith("refs/tags/"):
        return batch
    for commit in _pushed_commits(payload):
        _add_pushed_commit(batch, event, commit, repo=repo, head=head)
    return batch


def _pushed_commits(payload: dict[str, Any]) -> list[dict[str, Any]]:
    # A force push that only rewinds a branch lists no commits, yet head_commit is the new head.
    candidates = [*items(payload.get("commits")), payload.get("head_commit")]
    seen: set[str] = set()
    commits = []
    for commit in candidates:
        sha = text(get(commit, "id"))
        if sha and sha not in seen:
            seen.add(sha)
            commits.append(commit)
    return commits


def _add_pushed_commit(batch: Batch, event: Event, commit: dict[str, Any], *, repo: str, head: str) -> None:
    sha = commit["id"]
    message = text(commit.get("message"))
    version = event.version(commit.get("timestamp"))
    links = ai_links(sha, message) if message else []
    author = commit.get("author")
    login = text(get(author, "username"))
    node = (Label.COMMIT, sha)
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        repo=repo,
        message=redact(message),
        authoredAt=iso(commit.get("timestamp")),
        authorName=text(get(author, "name")),
        authorEmail=text(get(author, "email")),
        authorLogin=login,
        trailers=[redact(f"{k}: {v}") for k, v in parse_trailers(message)] if message else None,
        files=_files(commit),
        pushHead=head,
        aiTools=sorted({link.tool for link in links if link.tool}) or None,
    )
    person = add_person(batch, event, version, {"login": login, "name": get(author, "name")})
    if person:
        batch.edge((Label.PERSON, person), Rel.AUTHORED, node, version=version, origin=event.origin)
    for link in links:
        session = (Label.AGENT_SESSION, link.session_id)
        batch.node(*session, version=version, origin=event.origin, tool=link.tool, model=link.model)
        batch.edge(session, Rel.AUTHORED, node, version=version, origin=event.origin)


def _files(commit: dict[str, Any]) -> list[str] | None:
    lists = [commit.get(kind) for kind in ("added", "modified", "removed")]
    if not any(isinstance(files, list) for files in lists):
        return None  # this payload does not say which files changed; keep what we knew
    return sorted({path for files in lists for path in strings(files)})


# --- checks, statuses and workflow runs -------------------------------------------------------


def _add_evidence(batch: Batch, event: Event, version: str, key: str, sha: str, **props: Any) -> Batch:
    node = (Label.EVIDENCE, key)
    batch.node(*node, version=version, origin=event.origin, commitSha=sha, **props)
    batch.edge(node, Rel.VERIFIES, (Label.COMMIT, sha), version=version, origin=event.origin)
    return batch


def _conclusion(run: dict[str, Any], status: str | None) -> str | None:
    # GitHub reports no conclusion until a run completes; ignore one sent early.
    return lower(run.get("conclusion")) if status in (None, "completed") else None


def check_run(event: Event) -> Batch:
    """A check_run event -> Evidence on the commit it ran against."""
    payload = event.payload
    run_id = require_id(payload, "check_run", "id", what="check_run")
    sha = require_text(payload, "check_run", "head_sha", what="check_run")
    run = payload["check_run"]
    status = lower(run.get("status"))
    at = run.get("completed_at") or run.get("started_at")
    return _add_evidence(
        Batch(),
        event,
        event.version(at, STATUS_RANK.get(status or "", 0)),
        f"github:check_run:{run_id}",
        sha,
        type="check_run",
        name=text(run.get("name")),
        status=status,
        conclusion=_conclusion(run, status),
        url=text(run.get("html_url")) or text(run.get("details_url")),
        startedAt=iso(run.get("started_at")),
        completedAt=iso(run.get("completed_at")),
        app=text(get(run, "app", "slug")),
        repo=repo_name(payload.get("repository")),
    )


def check_suite(event: Event) -> Batch:
    """A check_suite event -> Evidence (one per suite) on its head commit."""
    payload = event.payload
    suite_id = require_id(payload, "check_suite", "id", what="check_suite")
    sha = require_text(payload, "check_suite", "head_sha", what="check_suite")
    suite = payload["check_suite"]
    status = lower(suite.get("status"))
    return _add_evidence(
        Batch(),
        event,
        event.version(suite.get("updated_at"), STATUS_RANK.get(status or "", 0)),
        f"github:check_suite:{suite_id}",
        sha,
        type="check_suite",
        name=text(get(suite, "app", "name")) or text(get(suite, "app", "slug")),
        status=status,
        conclusion=_conclusion(suite, status),
        url=text(suite.get("html_url")),
        startedAt=iso(suite.get("created_at")),
        completedAt=iso(suite.get("updated_at")) if status == "completed" else None,
        app=text(get(suite, "app", "slug")),
        repo=repo_name(payload.get("repository")),
    )


STATE_CONCLUSION = {"success": "success", "failure": "failure", "error": "error"}


def status(event: Event) -> Batch:
    """A (commit) status event -> Evidence, one per context per commit; the latest state wins."""
    payload = event.payload
    repo = require_repo(payload, what="status")
    sha = require_text(payload, "sha", what="status")
    context = require_text(payload, "context", what="status")
    state = require_text(payload, "state", what="status").lower()
    conclusion = STATE_CONCLUSION.get(state)
    pending = conclusion is None
    return _add_evidence(
        Batch(),
        event,
        event.version(payload.get("updated_at"), 0 if pending else 2),
        f"github:status:{repo}@{sha}:{context}",
        sha,
        type="status",
        name=context,
        status=state if pending else "completed",
        conclusion=conclusion,
        url=text(payload.get("target_url")),
        startedAt=iso(payload.get("created_at")) if pending else None,
        completedAt=None if pending else iso(payload.get("updated_at")),
        repo=repo,
    )


def workflow_run(event: Event) -> Batch:
    """A workflow_run event -> Evidence per run attempt on its head commit."""
    payload = event.payload
    run_id = require_id(payload, "workflow_run", "id", what="workflow_run")
    sha = require_text(payload, "workflow_run", "head_sha", what="workflow_run")
    run = payload["workflow_run"]
    status = lower(run.get("status"))
    attempt = integer(run.get("run_attempt")) or 1
    return _add_evidence(
        Batch(),
        event,
        event.version(run.get("updated_at"), STATUS_RANK.get(status or "", 0)),
        f"github:workflow_run:{run_id}:{attempt}",
        sha,
        type="workflow_run",
        name=text(run.get("name")) or text(get(payload, "workflow", "name")),
        status=status,
        conclusion=_conclusion(run, status),
        url=text(run.get("html_url")),
        startedAt=iso(run.get("run_started_at")),
        completedAt=iso(run.get("updated_at")) if status == "completed" else None,
        repo=repo_name(payload.get("repository")),
    )


# --- deployments ------------------------------------------------------------------------------


def deployment(event: Event) -> Batch:
    """A deployment event -> the Deployment, the commit it ships and the service it targets."""
    batch = Batch()
    at = get(event.payload, "deployment", "created_at")
    add_deployment(batch, event, event.version(at), what="deployment")
    return batch


# Statuses of one deployment can share a second; later stages win the tie.
DEPLOYMENT_RANK = {"pending": 0, "queued": 0, "in_progress": 1}
# "inactive" only means a newer deployment replaced this one: it is not when this one finished.
FINISHED_STATES = frozenset({"success", "failure", "error"})


def deployment_status(event: Event) -> Batch:
    """A deployment_status event -> the Deployment with its latest state."""
    payload = event.payload
    state = require_text(payload, "deployment_status", "state", what="deployment_status").lower()
    at = get(payload, "deployment_status", "created_at")
    batch = Batch()
    add_deployment(
        batch,
        event,
        event.version(at, DEPLOYMENT_RANK.get(state, 2)),
        what="deployment_status",
        status=state,
        finishedAt=iso(at) if state in FINISHED_STATES else None,
    )
    return batch


def deployment_protection_rule(event: Event) -> Batch:
    """A deployment_protection_rule event (a deployment waiting for a custom protection rule) -> its Deployment.

    Its answer (approve or reject) is given by the API's gate, which reacts to the verified delivery;
    what the graph keeps is the deployment itself, which newer payloads name by a top-level `sha`.
    """
    payload = event.payload
    batch = Batch()
    dep = payload.get("deployment")
    sha = text(get(dep, "sha")) or text(payload.get("sha"))
    if not isinstance(dep, dict) or sha is None or get(dep, "id") is None:
        return batch
    environment = text(dep.get("environment")) or text(payload.get("environment"))
    filled = replace(event, payload={**payload, "deployment": {**dep, "sha": sha, "environment": environment}})
    add_deployment(batch, filled, event.version(dep.get("created_at")), what="deployment_protection_rule")
    return batch


# --- bare payloads ----------------------------------------------------------------------------


def _has(*keys: str) -> Callable[[dict[str, Any]], bool]:
    return lambda payload: all(key in payload for key in keys)


# Ordered: the first match wins, so payloads that embed other objects come first (a
# deployment_status carries its deployment, a deployment its workflow_run, a workflow_job may
# carry a deployment). Types we do not normalise are still named, so the rejection says what it was.
INFER_RULES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("deployment_protection_rule", _has("deployment_callback_url")),
    ("deployment_status", _has("deployment_status")),
    ("deployment_review", lambda p: "workflow_job_run" in p or ("reviewers" in p and "environment" in p)),
    ("workflow_job", _has("workflow_job")),
    ("pull_request_review", _has("review", "pull_request")),
    ("pull_request_review_comment", _has("comment", "pull_request")),
    ("pull_request_review_thread", _has("thread", "pull_request")),
    ("issue_comment", _has("comment", "issue")),
    ("merge_group", _has("merge_group")),
    ("release", _has("release")),
    ("check_run", _has("check_run")),
    ("check_suite", _has("check_suite")),
    ("deployment", _has("deployment")),
    ("workflow_run", _has("workflow_run")),
    ("workflow_dispatch", _has("workflow", "inputs", "ref")),
    ("pull_request", _has("pull_request", "number")),
    ("push", lambda p: "pusher" in p or _has("ref", "before", "after", "commits")(p)),
    ("create", lambda p: _has("ref_type", "ref")(p) and "commits" not in p and "master_branch" in p),
    ("delete", lambda p: _has("ref_type", "ref")(p) and "commits" not in p),
    ("status", _has("sha", "state", "context")),
    ("ping", _has("zen", "hook_id")),
]


def _header(name: str) -> Callable[[Headers, Any], str | None]:
    return lambda headers, payload: headers.get(name) or None


def infer_type(payload: Any) -> str | None:
    """Guess the X-GitHub-Event name of a bare webhook payload from its keys."""
    if not isinstance(payload, dict):
        return None
    return next((kind for kind, matches in INFER_RULES if matches(payload)), None)


SOURCE = Source(
    name="github",
    handlers={
        "pull_request": pull_request,
        "pull_request_review": pull_request_review,
        "push": push,
        "check_run": check_run,
        "check_suite": check_suite,
        "status": status,
        "workflow_run": workflow_run,
        "deployment": deployment,
        "deployment_status": deployment_status,
        "deployment_protection_rule": deployment_protection_rule,
        # Read by `tracegraph collect github`, not sent by webhooks (see github_posture).
        "branch_protection": branch_protection,
    },
    infer_type=infer_type,
    webhook=Webhook(
        verify=lambda secret, headers, body: signatures.verify_github(secret, body, headers.get("x-hub-signature-256")),
        secret_variable="TRACEGRAPH_GITHUB_SECRET",
        type_hint="the X-GitHub-Event header",
        event_type=_header("x-github-event"),
        delivery_id=_header("x-github-delivery"),
        # Sent once when the hook is created; there is nothing to store.
        ignored=frozenset({"ping"}),
        form_field="payload",
    ),
)
