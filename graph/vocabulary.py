"""The closed vocabulary of the graph: labels, keys, properties and relationship types.

Nothing outside this module decides a label, a relationship type or a property name that ends up
in Cypher. Input can only choose values, and values always travel as parameters.
"""

from __future__ import annotations

from enum import StrEnum


class Label(StrEnum):
    AGENT_SESSION = "AgentSession"
    PERSON = "Person"
    REPOSITORY = "Repository"
    SERVICE = "Service"
    CHANGE = "Change"
    COMMIT = "Commit"
    REVIEW = "Review"
    EVIDENCE = "Evidence"
    DEPLOYMENT = "Deployment"
    INCIDENT = "Incident"
    POSTMORTEM = "Postmortem"
    # One source event, once per (source, event id), so every node and edge can be traced back to what
    # asserted it (their sourceEventId points here); its `digest` names the raw document in the
    # document store (documents/).
    SOURCE_EVENT = "SourceEvent"


class Rel(StrEnum):
    OPERATED = "OPERATED"
    PROPOSED = "PROPOSED"
    AUTHORED = "AUTHORED"
    IN = "IN"
    CONTAINS = "CONTAINS"
    MERGED_AS = "MERGED_AS"
    SUBMITTED = "SUBMITTED"
    OF = "OF"
    AT = "AT"
    VERIFIES = "VERIFIES"
    SHIPPED = "SHIPPED"
    TO = "TO"
    DEPLOYS_AS = "DEPLOYS_AS"
    AFFECTS = "AFFECTS"
    CAUSED_BY = "CAUSED_BY"
    ANALYZES = "ANALYZES"
    OWNS = "OWNS"
    # Commit ancestry (git parents), needed to find every commit a deployment shipped.
    PARENT = "PARENT"


class Trust(StrEnum):
    """How a piece of evidence or an approval arrived, weakest first (DESIGN.md, "Trust").

    signed: a signature verified against the configured trust (trust/), naming the identity;
    provider: a webhook whose signature or token was verified, or a record pulled from the provider's
    API with the organisation's credentials; uploaded: POST /events with an ingester token, naming which;
    unverified: anything else (a file handed to the CLI, a spool folder, a signature that did not verify).
    """

    UNVERIFIED = "unverified"
    UPLOADED = "uploaded"
    PROVIDER = "provider"
    SIGNED = "signed"

    @property
    def rank(self) -> int:
        """0 for unverified up to 3 for signed: what minimums and the writer compare."""
        return TRUST_ORDER.index(self)


TRUST_ORDER: tuple[Trust, ...] = tuple(Trust)
# What each evidence and approval records about how it arrived: the level, who vouched for it (the
# signer's identity, the webhook's provider, the ingester token, or the path it came by), and, when the
# document carried a signature that did not verify, why (such evidence never counts).
TRUST_PROPERTIES = frozenset({"trust", "trustBy", "signatureProblem"})
# Labels whose nodes carry TRUST_PROPERTIES. The writer also keeps `trustFloor` on them: the rank of the
# weakest arrival whose value any property still holds (graph.queries.core.merge_nodes).
TRUSTED_LABELS: frozenset[Label] = frozenset({Label.EVIDENCE, Label.REVIEW})
TRUST_FLOOR = "trustFloor"

KEYS: dict[Label, str] = {
    Label.AGENT_SESSION: "id",
    Label.PERSON: "login",
    Label.REPOSITORY: "fullName",
    Label.SERVICE: "name",
    Label.CHANGE: "id",
    Label.COMMIT: "sha",
    Label.REVIEW: "id",
    Label.EVIDENCE: "id",
    Label.DEPLOYMENT: "id",
    Label.INCIDENT: "id",
    Label.POSTMORTEM: "id",
    Label.SOURCE_EVENT: "id",
}

# Every node records where its latest value of each property came from.
ORIGIN_PROPERTIES = frozenset({"source", "sourceEventId", "receivedAt"})
# How a fact travelled (when and through what it arrived), not the fact: a replay that differs only
# in these writes nothing, so the first arrival is the one kept.
TRANSPORT_PROPERTIES = ORIGIN_PROPERTIES | {"location", "via"}

# Besides its address, a repository records the protection of its default branch as a collector found
# it (classic branch protection and rulesets): evidence of its posture at that time.
REPOSITORY_POSTURE = frozenset(
    {
        "defaultBranch",
        "protected",
        "requiredApprovals",
        "dismissStaleReviews",
        "requireCodeOwnerReviews",
        "requireLastPushApproval",
        "enforceAdmins",
        "bypassActors",
        "requiredChecks",
        "postureSources",
        "postureAt",
    }
)

PROPERTIES: dict[Label, frozenset[str]] = {
    Label.AGENT_SESSION: frozenset(
        {
            "tool",
            "toolVersion",
            "model",
            "promptSummary",
            "startedAt",
            "endedAt",
            "costUsd",
            "tokens",
            "riskArea",
            "reviewer",
            "verification",
            "subject",
            "contributorType",
            "humanAuthor",
            "files",
            "url",
        }
    ),
    Label.PERSON: frozenset({"name", "emails", "isBot", "aliases", "gitlabUsername", "pagerdutyId", "opsgenieId"}),
    Label.REPOSITORY: frozenset({"url"}) | REPOSITORY_POSTURE,
    Label.SERVICE: frozenset({"tier", "owners", "url", "description"}),
    Label.CHANGE: frozenset(
        {
            "repo",
            "number",
            "title",
            "url",
            "state",
            "draft",
            "labels",
            "baseRef",
            "headRef",
            "headSha",
            "mergeCommitSha",
            "createdAt",
            "mergedAt",
            "closedAt",
            "additions",
            "deletions",
            "changedFiles",
            # The paths the pull request changes, as the provider's API lists them (webhooks carry
            # none): risk areas are matched against these as well as against each commit's files.
            "files",
            "contractIntent",
            "contractRisk",
            "contractTestEvidence",
            "contractRollout",
            "contractRollback",
        }
    ),
    Label.COMMIT: frozenset(
        {
            "repo",
            "message",
            "authoredAt",
            "committedAt",
            "authorName",
            "authorEmail",
            "authorLogin",
            "trailers",
            "verified",
            "parents",
            "files",
            "pushHead",
            "aiTools",
            "committerName",
            "committerEmail",
            "signature",
            "aiLines",
            "humanLines",
            "aiShare",
            "additions",
            "deletions",
            "testFiles",
        }
    ),
    Label.REVIEW: frozenset({"state", "submittedAt", "commitSha", "url"}) | TRUST_PROPERTIES,
    Label.EVIDENCE: frozenset(
        {
            "type",
            "name",
            "conclusion",
            "status",
            "commitSha",
            "url",
            "startedAt",
            "completedAt",
            "app",
            "repo",
            "kind",
            "digest",
            "artifact",
            "predicateType",
            "builder",
        }
    )
    | TRUST_PROPERTIES,
    Label.DEPLOYMENT: frozenset(
        {
            "environment",
            "sha",
            "ref",
            "status",
            "strategy",
            "startedAt",
            "finishedAt",
            "service",
            "repo",
            "url",
            "creator",
            # A rollback done on purpose (a rollback drill): its start-to-finish is its time to restore.
            "drill",
        }
    ),
    Label.INCIDENT: frozenset(
        {
            "title",
            "severity",
            "status",
            "service",
            "triggeredAt",
            "acknowledgedAt",
            "resolvedAt",
            "url",
            "urgency",
            "priority",
            "number",
            "assignees",
        }
    ),
    Label.POSTMORTEM: frozenset(
        {"title", "rootCause", "actionItems", "digest", "url", "incidentIds", "date", "summary"}
    ),
    # `body`: the raw document itself, as graphs written before the document store kept it (still read
    # by exports); the pipeline no longer writes it.
    Label.SOURCE_EVENT: frozenset({"type", "digest", "body", "location", "via"}),
}

EDGE_PROPERTIES: frozenset[str] = ORIGIN_PROPERTIES | {"inferred", "confidence"}

# The edges DESIGN.md allows, as (from label, type, to label).
EDGES: frozenset[tuple[Label, Rel, Label]] = frozenset(
    {
        (Label.PERSON, Rel.OPERATED, Label.AGENT_SESSION),
        (Label.AGENT_SESSION, Rel.PROPOSED, Label.CHANGE),
        (Label.AGENT_SESSION, Rel.AUTHORED, Label.COMMIT),
        (Label.PERSON, Rel.AUTHORED, Label.CHANGE),
        (Label.PERSON, Rel.AUTHORED, Label.COMMIT),
        (Label.CHANGE, Rel.IN, Label.REPOSITORY),
        (Label.CHANGE, Rel.CONTAINS, Label.COMMIT),
        (Label.CHANGE, Rel.MERGED_AS, Label.COMMIT),
        (Label.PERSON, Rel.SUBMITTED, Label.REVIEW),
        (Label.REVIEW, Rel.OF, Label.CHANGE),
        (Label.REVIEW, Rel.AT, Label.COMMIT),
        (Label.EVIDENCE, Rel.VERIFIES, Label.COMMIT),
        (Label.DEPLOYMENT, Rel.SHIPPED, Label.COMMIT),
        (Label.DEPLOYMENT, Rel.TO, Label.SERVICE),
        (Label.REPOSITORY, Rel.DEPLOYS_AS, Label.SERVICE),
        (Label.INCIDENT, Rel.AFFECTS, Label.SERVICE),
        (Label.INCIDENT, Rel.CAUSED_BY, Label.DEPLOYMENT),
        (Label.INCIDENT, Rel.CAUSED_BY, Label.CHANGE),
        (Label.POSTMORTEM, Rel.ANALYZES, Label.INCIDENT),
        (Label.PERSON, Rel.OWNS, Label.SERVICE),
        (Label.COMMIT, Rel.PARENT, Label.COMMIT),
        (Label.POSTMORTEM, Rel.ANALYZES, Label.CHANGE),
        (Label.INCIDENT, Rel.CAUSED_BY, Label.COMMIT),
        (Label.PERSON, Rel.OPERATED, Label.AGENT_SESSION),
        (Label.CHANGE, Rel.IN, Label.REPOSITORY),
    }
)

# Properties that are looked up by value (besides the keys) get an index.
INDEXED: dict[Label, tuple[str, ...]] = {
    Label.COMMIT: ("pushHead",),
    Label.DEPLOYMENT: ("service", "startedAt"),
    Label.INCIDENT: ("triggeredAt",),
    Label.CHANGE: ("repo", "mergedAt"),
    Label.EVIDENCE: ("commitSha", "digest"),
    Label.AGENT_SESSION: ("startedAt",),
}
