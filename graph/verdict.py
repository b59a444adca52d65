"""The semantics auditors rely on: independent and stale approvals, evidence on the shipped commit,
and the verdict. Pure functions over what CHANGE_ANSWER read; no database here.

A wrong VERIFIED is the worst bug this product can have, so every unknown counts against the change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graph.models import (
    AgentSession,
    Approval,
    Change,
    Commit,
    Deployment,
    Evidence,
    Incident,
    Person,
    Review,
    Verdict,
    VerdictStatus,
)
from graph.policy import Area, Policy

DECISIVE = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}
EPOCH = datetime.min.replace(tzinfo=UTC)


def short(sha: str | None) -> str:
    return sha[:7] if sha else "unknown"


def _independence(reviewer: Person, *, authors: set[str], operators: set[str], committers: set[str]) -> list[str]:
    """Why a reviewer is not independent of the change (empty when independent)."""
    login = reviewer.login.lower()
    reasons = []
    if reviewer.is_bot or login.endswith("[bot]"):
        reasons.append("reviewer is a bot")
    if login in authors:
        reasons.append("reviewer is the change's author")
    if login in operators:
        reasons.append("reviewer operated an agent session that produced the change")
    if login in committers and login not in authors:
        reasons.append("reviewer authored commits in the change")
    return reasons


def approvals(
    reviews: list[Review], *, head: str | None, authors: set[str], operators: set[str], committers: set[str]
) -> tuple[list[Approval], set[str]]:
    """Every approving review with its flags, and the logins whose approval counts."""
    ordered = sorted(reviews, key=lambda r: (r.submitted_at or EPOCH, r.id))
    latest: dict[str, str] = {}
    for review in ordered:
        if review.reviewer and review.state in DECISIVE:
            latest[review.reviewer.login.lower()] = review.state or ""
    result: list[Approval] = []
    counted: set[str] = set()
    for review in ordered:
        if review.state != "APPROVED" or review.reviewer is None:
            continue
        reasons = _independence(review.reviewer, authors=authors, operators=operators, committers=committers)
        stale = head is None or review.commit_sha != head
        if stale:
            reasons.append(f"approved {short(review.commit_sha)}, but the final head is {short(head)}")
        superseded = latest.get(review.reviewer.login.lower()) != "APPROVED"
        if superseded:
            reasons.append("the reviewer's latest review is not an approval")
        independent = not _independence(review.reviewer, authors=authors, operators=operators, committers=committers)
        result.append(
            Approval(
                reviewer=review.reviewer,
                at=review.submitted_at,
                commit_sha=review.commit_sha,
                stale=stale,
                independent=independent,
                reasons=reasons,
            )
        )
        if independent and not stale and not superseded:
            counted.add(review.reviewer.login)
    return result, counted


def to_evidence(raw: dict[str, Any], policy: Policy) -> Evidence:
    name = raw.get("name") or raw.get("type") or "unnamed"
    return Evidence(
        id=raw["id"],
        kind=policy.evidence_kind(name, fallback=raw.get("kind") or raw.get("type") or "check"),
        name=name,
        conclusion=(raw.get("conclusion") or raw.get("status") or "unknown").lower(),
        commit_sha=raw.get("commitSha"),
        url=raw.get("url"),
        at=raw.get("completedAt") or raw.get("startedAt"),
        source=raw.get("source") or "unknown",
        type=raw.get("type"),
    )


def _latest_per_name(items: list[Evidence]) -> list[Evidence]:
    """The latest run of each check name, by name: a gap reads the same whatever order runs arrived in."""
    latest: dict[str, Evidence] = {}
    for item in sorted(items, key=lambda e: (e.at or EPOCH, e.id)):
        latest[item.name] = item
    return [latest[name] for name in sorted(latest)]


def evidence_gaps(kinds: list[str], *, shipped: list[str], evidence: list[Evidence]) -> list[str]:
    """One gap per required evidence kind that is not present and successful on the shipped commit."""
    where = " / ".join(short(s) for s in shipped) or "unknown"
    gaps = []
    for kind in kinds:
        on_shipped = _latest_per_name([e for e in evidence if e.kind == kind and e.commit_sha in shipped])
        failed = [e for e in on_shipped if e.conclusion != "success"]
        if on_shipped and not failed:
            continue
        if failed:
            detail = ", ".join(f"{e.name} is {e.conclusion}" for e in failed)
            gaps.append(f"`{kind}` evidence on the shipped commit {where} is not successful: {detail}")
            continue
        older = [e for e in evidence if e.kind == kind and e.conclusion == "success" and e.commit_sha not in shipped]
        gap = f"no successful `{kind}` evidence on the shipped commit {where}"
        if older:
            shas = ", ".join(sorted({short(e.commit_sha) for e in older}))
            gap += f" (it passed only on older commit {shas}, which proves nothing about the shipped code)"
        gaps.append(gap)
    return gaps


def approval_gaps(
    area_name: str, area: Area, *, head: str | None, counted: set[str], flagged: list[Approval]
) -> list[str]:
    """One gap for too few counted approvals, one for a missing code-owner approval."""
    gaps = []
    if len(counted) < area.required_approvals:
        gap = (
            f"needs {area.required_approvals} independent, non-stale approval(s) on the final head "
            f"{short(head)} ({area_name} policy); has {len(counted)}"
        )
        ignored = [f"{a.reviewer.login}: {'; '.join(a.reasons)}" for a in flagged if a.reasons]
        if ignored:
            gap += " — not counted: " + " | ".join(ignored)
        gaps.append(gap)
    if area.code_owners and not counted & set(area.code_owners):
        gaps.append(f"needs an approval from a code owner of {area_name} ({', '.join(area.code_owners)})")
    return gaps


def build_change(raw: dict[str, Any], policy: Policy) -> Change:
    """Assemble the five-minute answer (approvals, evidence, verdict) from one CHANGE_ANSWER row."""
    c = raw["change"]
    # Normally one author; should sources disagree, every one of them is excluded from independence.
    authors = [Person.model_validate(p) for p in raw.get("authors") or []]
    author = authors[0] if authors else None
    commits = [Commit.model_validate(k) for k in raw.get("commits") or []]
    sessions = [AgentSession.model_validate(s) for s in raw.get("sessions") or []]
    reviews = [Review.model_validate(r) for r in raw.get("reviews") or []]
    head, merge = c.get("headSha"), c.get("mergeCommitSha")
    shipped = [s for s in (merge, head) if s]

    risk = policy.risk_area(
        labels=c.get("labels") or [],
        files=[f for k in commits for f in k.files] + list(c.get("files") or []),
        declared=[s.risk_area for s in sessions if s.risk_area],
    )
    area = policy.areas[risk]
    operators = {s.operator.login.lower() for s in sessions if s.operator}
    committers = {k.author.login.lower() for k in commits if k.author}
    flagged, counted = approvals(
        reviews,
        head=head,
        authors={p.login.lower() for p in authors},
        operators=operators,
        committers=committers,
    )
    evidence = [to_evidence(e, policy) for e in raw.get("evidence") or []]

    gaps = [] if head else ["the final head commit is unknown: no pull request event for this change was ingested"]
    gaps += approval_gaps(risk, area, head=head, counted=counted, flagged=flagged)
    gaps += evidence_gaps(area.required_evidence, shipped=shipped, evidence=evidence)

    deployments = sorted(
        (Deployment.model_validate(d) for d in raw.get("deployments") or []),
        key=lambda d: (d.at or EPOCH, d.id),
    )
    incidents = {i["id"]: Incident.model_validate(i) for i in raw.get("incidents") or []}
    return Change(
        id=c["id"],
        repo=c.get("repo") or raw.get("repo") or "",
        number=c.get("number") or 0,
        title=c.get("title"),
        url=c.get("url"),
        state=c.get("state"),
        risk_area=risk,
        head_sha=head,
        merge_commit_sha=merge,
        created_at=c.get("createdAt"),
        merged_at=c.get("mergedAt"),
        author=author,
        sessions=sorted(sessions, key=lambda s: s.id),
        commits=sorted(commits, key=lambda k: (k.authored_at or EPOCH, k.sha)),
        approvals=flagged,
        evidence=sorted((e for e in evidence if e.commit_sha in shipped), key=lambda e: (e.kind, e.name, e.id)),
        deployments=deployments,
        incidents=sorted(incidents.values(), key=lambda i: (i.triggered_at or EPOCH, i.id)),
        verdict=Verdict(status=VerdictStatus.UNVERIFIED if gaps else VerdictStatus.VERIFIED, gaps=gaps),
    )
