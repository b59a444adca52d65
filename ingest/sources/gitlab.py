"""GitLab webhooks: merge requests and their approvals, pipelines, jobs, deployments and pushes.

One pure normaliser per event, reachable by the X-Gitlab-Event header name ("Merge Request Hook")
or by the payload's own `object_kind` ("merge_request"), which is how the type of a bare payload
is told. Merge requests are Changes keyed `gitlab:group/project!17`; versions come from GitLab's
own timestamps, so the arrival order of deliveries does not matter.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label, Rel
from ingest import signatures
from ingest.sources.base import (
    Event,
    Headers,
    Rejected,
    Source,
    Webhook,
    get,
    integer,
    items,
    lower,
    require_id,
    require_text,
    text,
)
from ingest.sources.gitlab_payloads import (
    MR,
    add_git_commit,
    add_merge_request,
    add_project,
    add_user,
    gitlab_time,
    project_path,
    project_url,
    require_project,
    require_sha,
)
from ingest.sources.shared import ZERO_SHA, add_commit_stub

# --- merge requests and approvals -------------------------------------------------------------

# "approval"/"unapproval": one user (un)approved; "approved"/"unapproved": the MR became (no longer)
# approved, which the same user's action triggered. Both name that user in `user`.
APPROVING = {"approval": "APPROVED", "approved": "APPROVED", "unapproval": "DISMISSED", "unapproved": "DISMISSED"}


def merge_request(event: Event) -> Batch:
    """A merge request hook (any action) -> the Change, its project, head commit, sessions, approvals.

    A collected merge request also lists the paths it changes (`files`, as GET …/diffs names them);
    hooks never do. They feed risk areas like the files of its commits.
    """
    payload = event.payload
    batch = Batch()
    change, repo, iid = add_merge_request(batch, event, payload)
    if isinstance(payload.get("files"), list):
        paths = {text(get(f, key)) for f in payload["files"] for key in ("new_path", "old_path")}
        version = event.version(gitlab_time(get(payload, "object_attributes", "updated_at")))
        batch.node(Label.CHANGE, change, version=version, origin=event.origin, files=sorted(p for p in paths if p))
    state = APPROVING.get(lower(get(payload, "object_attributes", "action")) or "")
    if state:
        _add_approval(batch, event, payload, state, change=change, repo=repo, iid=iid)
    return batch


def _add_approval(batch: Batch, event: Event, payload: dict[str, Any], state: str, **mr: Any) -> None:
    username = require_text(payload, "user", "username", what=MR)
    sha = require_text(payload, "object_attributes", "last_commit", "id", what=MR)
    at = gitlab_time(get(payload, "object_attributes", "updated_at"))
    # One review per reviewer and approved commit: an unapproval overrides the approval it takes
    # back (it wins a tie), and an approval of an older head stays behind as a stale one.
    version = event.version(at, 1 if state == "DISMISSED" else 0)
    node = (Label.REVIEW, f"gitlab:approval:{mr['repo']}!{mr['iid']}:{username}:{sha}")
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        state=state,
        submittedAt=at,
        commitSha=sha,
        url=text(get(payload, "object_attributes", "url")),
    )
    batch.edge(node, Rel.OF, (Label.CHANGE, mr["change"]), version=version, origin=event.origin)
    if reviewer := add_user(batch, event, version, payload.get("user")):
        batch.edge((Label.PERSON, reviewer), Rel.SUBMITTED, node, version=version, origin=event.origin)
    add_commit_stub(batch, event, version, sha, mr["repo"])
    batch.edge(node, Rel.AT, (Label.COMMIT, sha), version=version, origin=event.origin)


# --- pipelines and jobs -----------------------------------------------------------------------

CONCLUSIONS = {"success": "success", "failed": "failure", "canceled": "cancelled", "skipped": "skipped"}
# Deliveries of one pipeline or job can share a second; later stages win the tie.
STATUS_RANK = {
    "created": 0,
    "waiting_for_resource": 0,
    "waiting_for_callback": 0,
    "preparing": 0,
    "pending": 0,
    "scheduled": 0,
    "manual": 0,
    "running": 1,
    "canceling": 1,
}


def _add_evidence(batch: Batch, event: Event, key: str, sha: str, status: str | None, **props: Any) -> None:
    at = props.get("completedAt") or props.get("startedAt")
    version = event.version(at, STATUS_RANK.get(status or "", 2))
    node = (Label.EVIDENCE, key)
    batch.node(*node, version=version, origin=event.origin, commitSha=sha, status=status, app="gitlab-ci", **props)
    add_commit_stub(batch, event, version, sha, props.get("repo"))
    batch.edge(node, Rel.VERIFIES, (Label.COMMIT, sha), version=version, origin=event.origin)


def _link(base: str | None, kind: str, key: str) -> str | None:
    return f"{base.rstrip('/')}/-/{kind}/{key}" if base else None


def pipeline(event: Event) -> Batch:
    """A pipeline hook -> Evidence for the pipeline and for each of its jobs, on the pipeline's SHA."""
    payload = event.payload
    pipeline_id = require_id(payload, "object_attributes", "id", what="pipeline")
    sha = require_text(payload, "object_attributes", "sha", what="pipeline")
    run = payload["object_attributes"]
    repo, base = project_path(payload), project_url(payload)
    status = lower(run.get("status"))
    batch = Batch()
    _add_evidence(
        batch,
        event,
        f"gitlab:pipeline:{pipeline_id}",
        sha,
        status,
        type="pipeline",
        name=text(run.get("name")) or "pipeline",
        conclusion=CONCLUSIONS.get(status or ""),
        url=text(run.get("url")) or _link(base, "pipelines", pipeline_id),
        startedAt=gitlab_time(run.get("created_at")),
        completedAt=gitlab_time(run.get("finished_at")) if status in CONCLUSIONS else None,
        repo=repo,
    )
    for build in items(payload.get("builds")):
        build_id = get(build, "id")
        if isinstance(build_id, bool) or not isinstance(build_id, int | str) or build_id == "":
            continue  # a job without an id cannot be told apart from the others
        job_status = lower(get(build, "status"))
        _add_evidence(
            batch,
            event,
            f"gitlab:job:{build_id}",
            sha,
            job_status,
            type="job",
            name=text(get(build, "name")),
            conclusion=CONCLUSIONS.get(job_status or ""),
            url=_link(base, "jobs", str(build_id)),
            startedAt=gitlab_time(get(build, "started_at")) or gitlab_time(get(build, "created_at")),
            completedAt=gitlab_time(get(build, "finished_at")) if job_status in CONCLUSIONS else None,
            repo=repo,
        )
    return batch


def job(event: Event) -> Batch:
    """A job (build) hook -> Evidence named after the job, on the commit it ran against."""
    payload = event.payload
    build_id = require_id(payload, "build_id", what="build")
    sha = require_sha(payload, ("sha",), ("commit", "sha"), what="build")
    status = lower(payload.get("build_status"))
    batch = Batch()
    _add_evidence(
        batch,
        event,
        f"gitlab:job:{build_id}",
        sha,
        status,
        type="job",
        name=text(payload.get("build_name")),
        conclusion=CONCLUSIONS.get(status or ""),
        url=_link(project_url(payload), "jobs", build_id),
        startedAt=gitlab_time(payload.get("build_started_at")) or gitlab_time(payload.get("build_created_at")),
        completedAt=gitlab_time(payload.get("build_finished_at")) if status in CONCLUSIONS else None,
        repo=project_path(payload),
    )
    return batch


# --- deployments ------------------------------------------------------------------------------

DEPLOYMENT_RANK = {"created": 0, "running": 1}
FINISHED = frozenset({"success", "failed", "canceled"})
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _deployed_sha(payload: dict[str, Any]) -> str:
    # The hook names the commit by a short SHA; commit_url ends with the full one.
    tail = (text(payload.get("commit_url")) or "").rstrip("/").rsplit("/", 1)[-1]
    if _FULL_SHA.fullmatch(tail):
        return tail
    return require_sha(payload, ("sha",), ("short_sha",), what="deployment")


def deployment(event: Event) -> Batch:
    """A deployment hook -> the Deployment, the commit it ships, and the project's service."""
    payload = event.payload
    deployment_id = require_id(payload, "deployment_id", what="deployment")
    sha = _deployed_sha(payload)
    status = lower(payload.get("status"))
    at = gitlab_time(payload.get("status_changed_at"))
    version = event.version(at, DEPLOYMENT_RANK.get(status or "", 2))
    repo = project_path(payload)
    service = text(get(payload, "project", "name"))
    node = (Label.DEPLOYMENT, f"gitlab:deployment:{deployment_id}")
    batch = Batch()
    batch.node(
        *node,
        version=version,
        origin=event.origin,
        environment=text(payload.get("environment")),
        sha=sha,
        ref=text(payload.get("ref")),
        status=status,
        startedAt=at if status == "running" else None,
        finishedAt=at if status in FINISHED else None,
        service=service,
        repo=repo,
        url=text(payload.get("deployable_url")),
        creator=text(get(payload, "user", "username")),
    )
    if status in FINISHED and at:
        # Without its "running" delivery a deployment would have no start: the end stands in, at the
        # lowest version, so the real start replaces it whenever that delivery arrives.
        batch.node(*node, version=event.version(None), origin=event.origin, startedAt=at)
    add_commit_stub(batch, event, version, sha, repo)
    batch.edge(node, Rel.SHIPPED, (Label.COMMIT, sha), version=version, origin=event.origin)
    if service:
        batch.node(Label.SERVICE, service, version=version, origin=event.origin)
        batch.edge(node, Rel.TO, (Label.SERVICE, service), version=version, origin=event.origin)
        if project := add_project(batch, event, version, payload):
            batch.edge(
                (Label.REPOSITORY, project),
                Rel.DEPLOYS_AS,
                (Label.SERVICE, service),
                version=version,
                origin=event.origin,
            )
    return batch


# --- pushes -----------------------------------------------------------------------------------


def push(event: Event) -> Batch:
    """A push or tag push hook -> its commits with messages, trailers, files, authors and AI sessions."""
    payload = event.payload
    what = "tag_push" if event.type in ("tag_push", "Tag Push Hook") else "push"
    repo = require_project(payload, what=what)
    ref = require_text(payload, "ref", what=what)
    batch = Batch()
    add_project(batch, event, event.version(None), payload)
    after = text(payload.get("after"))
    if after in (None, ZERO_SHA):
        return batch  # a deleted branch or tag brings no commits
    # A tag push re-announces commits that already exist: their facts, but no push head.
    head = None if ref.startswith("refs/tags/") else text(payload.get("checkout_sha")) or after
    pusher = {
        "username": payload.get("user_username"),
        "email": payload.get("user_email"),
        "name": payload.get("user_name"),
    }
    commits = _pushed_commits(payload)
    for commit in commits:
        add_git_commit(batch, event, commit, repo=repo, head=head, pusher=pusher)
    if head and head not in {c["id"] for c in commits}:
        add_git_commit(batch, event, {"id": head}, repo=repo, head=head)
    if head and _linear(payload, commits, after):
        for parent, child in zip(commits, commits[1:], strict=False):
            version = event.version(gitlab_time(child.get("timestamp")))
            batch.edge(
                (Label.COMMIT, child["id"]),
                Rel.PARENT,
                (Label.COMMIT, parent["id"]),
                version=version,
                origin=event.origin,
            )
    return batch


def _pushed_commits(payload: dict[str, Any]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    commits = []
    for commit in items(payload.get("commits")):
        sha = text(get(commit, "id"))
        if sha and sha not in seen:
            seen.add(sha)
            commits.append(commit)
    return commits


def _linear(payload: dict[str, Any], commits: list[dict[str, Any]], after: str) -> bool:
    # GitLab lists a push's commits oldest first, ending with the new head. Each one is the parent
    # of the next only on a straight line: all of them listed (no truncation to the last 20) and
    # none a merge, whose other parent line git log interleaves by date.
    return (
        len(commits) >= 2
        and integer(payload.get("total_commits_count")) == len(commits)
        and commits[-1]["id"] == after
        and not any((text(c.get("message")) or "").startswith("Merge ") for c in commits)
    )


# --- event types ------------------------------------------------------------------------------


def infer_type(payload: Any) -> str | None:
    """The event a GitLab payload names itself: object_kind, or event_name/event_type (system hooks)."""
    if not isinstance(payload, dict):
        return None
    for key in ("object_kind", "event_name", "event_type"):
        kind = (text(payload.get(key)) or "").strip()
        if kind:
            return kind
    return None


def system_hook(event: Event) -> Batch:
    """A delivery with X-Gitlab-Event "System Hook": handled as the event its payload names."""
    kind = infer_type(event.payload)
    if kind is None or kind == "System Hook":
        raise Rejected("gitlab System Hook payload names no object_kind or event_name")
    return SOURCE.normalise(dataclasses.replace(event, type=kind))


def _event_type(headers: Headers, payload: Any) -> str | None:
    kind = headers.get("x-gitlab-event") or get(payload, "object_kind")
    return kind if isinstance(kind, str) and kind else None


def _delivery_id(headers: Headers, payload: Any) -> str | None:
    # Idempotency-Key stays the same when GitLab retries a delivery; the event UUID names the event.
    return headers.get("idempotency-key") or headers.get("x-gitlab-event-uuid") or None


SOURCE = Source(
    name="gitlab",
    handlers={
        "merge_request": merge_request,
        "pipeline": pipeline,
        "build": job,
        "job": job,
        "deployment": deployment,
        "push": push,
        "tag_push": push,
        "System Hook": system_hook,
    },
    # The X-Gitlab-Event header names events its own way.
    aliases={
        "Merge Request Hook": "merge_request",
        "Pipeline Hook": "pipeline",
        "Job Hook": "job",
        "Build Hook": "build",
        "Deployment Hook": "deployment",
        "Push Hook": "push",
        "Tag Push Hook": "tag_push",
    },
    infer_type=infer_type,
    webhook=Webhook(
        verify=lambda secret, headers, body: signatures.verify_gitlab(secret, headers.get("x-gitlab-token")),
        secret_variable="TRACEGRAPH_GITLAB_TOKEN",
        type_hint="the X-Gitlab-Event header or `object_kind`",
        event_type=_event_type,
        delivery_id=_delivery_id,
    ),
)
