"""The answers repositories return: pydantic models, the single source of truth for API shapes.

Node properties are camelCase in Neo4j; models read them by alias and expose snake_case fields
(strawberry turns those back into the camelCase names of the GraphQL contract).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from graph.vocabulary import TRUST_ORDER, Trust


class Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # Reads project the properties a label may have (not `n {.*}`, which drags every property's
        # version along), so an absent property arrives as null: it means "not known", like a
        # missing key, and leaves the field's default in place.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Trusted(Model):
    """How a stored evidence or review arrived (graph.vocabulary.Trust), as the graph holds it.

    `trust` is the weakest arrival any of its stored values came from (`trustFloor`, kept by the writer),
    so a fact that mixes a provider's run with a later uploaded conclusion counts as uploaded; `trust_by`
    names who vouched for it (a signer's identity, a webhook, an ingester token, or the path it came by);
    `signature_problem` says why a signature the document carried was rejected: such evidence never counts.
    """

    trust: Trust = Trust.UNVERIFIED
    trust_by: str | None = None
    signature_problem: str | None = None
    trust_floor: int | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _weakest_arrival(self) -> Trusted:
        if self.signature_problem == "":
            self.signature_problem = None
        floor = self.trust_floor
        if floor is None:
            # Written without the pipeline's trust (or never written): nothing vouches for it.
            floor = 0 if self.trust_by is None else self.trust.rank
        if floor < self.trust.rank:
            weaker = TRUST_ORDER[max(floor, 0)]
            self.trust_by = (
                f"{weaker.value} in part: some of its values came from a weaker arrival than {self.trust_by}"
            )
            self.trust = weaker
        return self


class Person(Model):
    login: str
    name: str | None = None
    is_bot: bool = False


class AgentSession(Model):
    id: str
    tool: str | None = None
    tool_version: str | None = None
    model: str | None = None
    prompt_summary: str | None = None
    operator: Person | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cost_usd: float | None = None
    risk_area: str | None = None
    reviewer: str | None = None
    source: str | None = None


class Commit(Model):
    sha: str
    message: str | None = None
    authored_at: datetime | None = None
    author: Person | None = None
    author_name: str | None = None
    author_email: str | None = None
    trailers: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    ai_tools: list[str] = Field(default_factory=list)
    session_ids: list[str] = Field(default_factory=list)


class Review(Trusted):
    """A raw review as stored; approvals are derived from these."""

    id: str
    state: str | None = None
    submitted_at: datetime | None = None
    commit_sha: str | None = None
    reviewer: Person | None = None


class Approval(Model):
    reviewer: Person
    at: datetime | None = None
    commit_sha: str | None = None
    stale: bool
    independent: bool
    reasons: list[str] = Field(default_factory=list)
    trust: Trust = Trust.UNVERIFIED
    trust_by: str | None = None


class Evidence(Trusted):
    id: str
    kind: str
    name: str
    conclusion: str
    commit_sha: str | None = None
    url: str | None = None
    at: datetime | None = None
    source: str
    type: str | None = None


class Deployment(Model):
    id: str
    environment: str = "unknown"
    status: str | None = None
    sha: str | None = None
    service: str | None = None
    strategy: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # A rollback done on purpose (a drill), as the deployment event said.
    drill: bool = False

    @property
    def at(self) -> datetime | None:
        return self.finished_at or self.started_at


class Incident(Model):
    id: str
    title: str | None = None
    severity: str | None = None
    status: str | None = None
    service: str | None = None
    triggered_at: datetime | None = None
    resolved_at: datetime | None = None
    source: str | None = None


class Postmortem(Model):
    id: str
    title: str | None = None
    root_cause: str | None = None
    action_items: list[str] = Field(default_factory=list)
    digest: str | None = None


class VerdictStatus(StrEnum):
    VERIFIED = "VERIFIED"
    UNVERIFIED = "UNVERIFIED"


class Verdict(Model):
    status: VerdictStatus
    gaps: list[str] = Field(default_factory=list)


class Contract(Model):
    """The pull request's contract: the sections of its description (ingest.sources.shared.CONTRACT_HEADINGS)."""

    intent: str | None = None
    risk: str | None = None
    test_evidence: str | None = None
    rollout: str | None = None
    rollback: str | None = None


class ExceptionGrant(Model):
    """A break-glass exception for one change: who granted it, when, why and until when.

    It never makes a verdict VERIFIED; while active it lets a gate pass (governance.exceptions says
    when it is active, and the gaps it is of its own).
    """

    id: str
    change_id: str
    granted_by: str
    granted_at: datetime
    reason: str
    expires_at: datetime
    emergency: bool = False
    # Emergency exceptions are reviewed after the fact, by this time (the policy's review_within_days).
    review_due_at: datetime | None = None
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    review_notes: str | None = None
    revoked_by: str | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None


class Change(Model):
    """The five-minute answer for one change."""

    id: str
    repo: str
    number: int
    title: str | None = None
    url: str | None = None
    state: str | None = None
    risk_area: str | None = None
    head_sha: str | None = None
    merge_commit_sha: str | None = None
    created_at: datetime | None = None
    merged_at: datetime | None = None
    author: Person | None = None
    sessions: list[AgentSession] = Field(default_factory=list)
    commits: list[Commit] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    deployments: list[Deployment] = Field(default_factory=list)
    incidents: list[Incident] = Field(default_factory=list)
    verdict: Verdict
    contract: Contract = Field(default_factory=Contract)
    # Shown with the answer; an exception never changes the verdict.
    exceptions: list[ExceptionGrant] = Field(default_factory=list)


# --- what the top-level reads answer ------------------------------------------------------------
# Each extends its node with what the same read brings along, so a GraphQL field nested under a
# top-level query is served from it instead of reading the node again. They are their node too:
# the GraphQL types derived from the node accept them as they are.


class SessionAnswer(AgentSession):
    """`session(id)`: the session and the commits it authored."""

    commits: list[Commit] = Field(default_factory=list)


class CommitAnswer(Commit):
    """`commit(sha)`: the commit, the changes that contain it or were merged as it, and its evidence."""

    change_ids: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)


class DeploymentAnswer(Deployment):
    """`deployment(id)`: the deployment, the changes it shipped, and the incidents caused by it."""

    change_ids: list[str] = Field(default_factory=list)
    incidents: list[Incident] = Field(default_factory=list)


class IncidentAnswer(Incident):
    """`incident(id)`: the incident and its postmortems (its suspects come from graph.trace)."""

    postmortems: list[Postmortem] = Field(default_factory=list)


class RepositoryPosture(Model):
    """How a repository's default branch was protected when a collector last looked (None: not known)."""

    full_name: str
    url: str | None = None
    default_branch: str | None = None
    protected: bool | None = None
    required_approvals: int | None = None
    dismiss_stale_reviews: bool | None = None
    require_code_owner_reviews: bool | None = None
    require_last_push_approval: bool | None = None
    enforce_admins: bool | None = None
    bypass_actors: list[str] = Field(default_factory=list)
    required_checks: list[str] = Field(default_factory=list)
    posture_sources: list[str] = Field(default_factory=list)
    posture_at: datetime | None = None
