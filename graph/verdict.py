"""The semantics auditors rely on: independent and stale approvals, evidence on the shipped commit,
and the verdict. Pure functions over what CHANGE_ANSWER read; no database here.

A wrong VERIFIED is the worst bug this product can have, so every unknown counts against the change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graph.environments import is_production
from graph.models import (
    AgentSession,
    Approval,
    Change,
    Commit,
    Contract,
    Deployment,
    Evidence,
    ExceptionGrant,
    Incident,
    Person,
    Review,
    Verdict,
    VerdictStatus,
)
from graph.policy import Area, Policy
from graph.vocabulary import TRUST_ORDER, Trust

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


def at_least(level: Trust) -> str:
    """'provider or signed': the levels a minimum of `level` lets count."""
    names = [t.value for t in TRUST_ORDER[level.rank :]]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def trust_shortfall(item: Review | Evidence, needed: Trust, area_name: str) -> str | None:
    """Why evidence or a review does not count on trust (a rejected signature, or below `needed`), or None."""
    if item.signature_problem:
        return f"its signature was rejected: {item.signature_problem}"
    if item.trust.rank < needed.rank:
        by = f" ({item.trust_by})" if item.trust_by else ""
        return f"it is {item.trust.value}{by}; {area_name} needs {at_least(needed)}"
    return None


def approvals(
    reviews: list[Review],
    *,
    head: str | None,
    authors: set[str],
    operators: set[str],
    committers: set[str],
    minimum: Trust = Trust.UNVERIFIED,
    area_name: str = "",
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
        untrusted = trust_shortfall(review, minimum, area_name)
        if untrusted:
            reasons.append(f"the approval does not count: {untrusted}")
        independent = not _independence(review.reviewer, authors=authors, operators=operators, committers=committers)
        result.append(
            Approval(
                reviewer=review.reviewer,
                at=review.submitted_at,
                commit_sha=review.commit_sha,
                stale=stale,
                independent=independent,
                reasons=reasons,
                trust=review.trust,
                trust_by=review.trust_by,
            )
        )
        if independent and not stale and not superseded and not untrusted:
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
        trust=raw.get("trust") or Trust.UNVERIFIED,
        trust_by=raw.get("trustBy"),
        signature_problem=raw.get("signatureProblem"),
        trust_floor=raw.get("trustFloor"),
    )


def _latest_per_name(items: list[Evidence]) -> list[Evidence]:
    """The latest run of each check name, by name: a gap reads the same whatever order runs arrived in."""
    latest: dict[str, Evidence] = {}
    for item in sorted(items, key=lambda e: (e.at or EPOCH, e.id)):
        latest[item.name] = item
    return [latest[name] for name in sorted(latest)]


def evidence_gaps(
    kinds: list[str],
    *,
    shipped: list[str],
    evidence: list[Evidence],
    area: Area | None = None,
    area_name: str = "",
) -> list[str]:
    """One gap per required evidence kind that is not present, successful and trusted enough on the shipped
    commit. A failure counts against the change whatever its trust; a success counts only when its trust
    meets the area's minimum for the kind and no signature it carried was rejected."""
    where = " / ".join(short(s) for s in shipped) or "unknown"
    gaps = []
    for kind in kinds:
        on_shipped = _latest_per_name([e for e in evidence if e.kind == kind and e.commit_sha in shipped])
        failed = [e for e in on_shipped if e.conclusion != "success"]
        needed = area.trust_needed(kind) if area else Trust.UNVERIFIED
        untrusted = {e.name: why for e in on_shipped if (why := trust_shortfall(e, needed, area_name))}
        if on_shipped and not failed and len(untrusted) < len(on_shipped):
            continue
        if on_shipped and not failed:
            detail = "; ".join(f"{name}: {why}" for name, why in untrusted.items())
            gaps.append(f"`{kind}` evidence on the shipped commit {where} does not count: {detail}")
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


CONTRACT_LABELS = {
    "intent": "Intent",
    "risk": "Risk",
    "test_evidence": "Test evidence",
    "rollout": "Rollout",
    "rollback": "Rollback",
}
# Deployment states that mean the code went out (or tried to): a waiting or queued one has not.
ROLLED_OUT = frozenset({"success", "inactive", "in_progress", "failure"})


def contract_of(change: dict[str, Any]) -> Contract:
    """The contract sections a Change node carries (contractIntent, contractRisk, …)."""
    return Contract(
        intent=change.get("contractIntent"),
        risk=change.get("contractRisk"),
        test_evidence=change.get("contractTestEvidence"),
        rollout=change.get("contractRollout"),
        rollback=change.get("contractRollback"),
    )


def contract_gaps(area_name: str, area: Area, contract: Contract) -> list[str]:
    """One gap per contract section the area requires that the pull request description lacks."""
    wanted = ", ".join(CONTRACT_LABELS[s] for s in area.required_contract)
    return [
        f"the pull request description has no `{CONTRACT_LABELS[section]}` section "
        f"({area_name} policy requires: {wanted})"
        for section in area.required_contract
        if not (getattr(contract, section) or "").strip()
    ]


def staged_gap(
    area_name: str, area: Area, *, deployment: str, environment: str | None, strategy: str | None
) -> str | None:
    """The gap of one deployment when it takes the area's changes to production without a staged strategy."""
    if not area.staged_strategies or not is_production(environment):
        return None
    if (strategy or "").lower() in {s.lower() for s in area.staged_strategies}:
        return None
    how = f"strategy `{strategy}`" if strategy else "no stated strategy"
    return (
        f"{deployment} to {environment} has {how} ({area_name} policy requires a staged rollout: "
        f"{' or '.join(area.staged_strategies)})"
    )


def strategy_gaps(area_name: str, area: Area, deployments: list[Deployment]) -> list[str]:
    """One gap per production deployment that rolled the change out without a staged strategy the area requires."""
    found = (
        staged_gap(area_name, area, deployment=f"deployment {d.id}", environment=d.environment, strategy=d.strategy)
        for d in deployments
        if (d.status or "").lower() in ROLLED_OUT
    )
    return [gap for gap in found if gap]


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
        minimum=area.approval_trust,
        area_name=risk,
    )
    evidence = [to_evidence(e, policy) for e in raw.get("evidence") or []]
    deployments = sorted(
        (Deployment.model_validate(d) for d in raw.get("deployments") or []),
        key=lambda d: (d.at or EPOCH, d.id),
    )
    contract = contract_of(c)

    gaps = [] if head else ["the final head commit is unknown: no pull request event for this change was ingested"]
    gaps += approval_gaps(risk, area, head=head, counted=counted, flagged=flagged)
    gaps += evidence_gaps(area.required_evidence, shipped=shipped, evidence=evidence, area=area, area_name=risk)
    gaps += contract_gaps(risk, area, contract)
    gaps += strategy_gaps(risk, area, deployments)
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
        contract=contract,
        exceptions=[ExceptionGrant.model_validate(x) for x in raw.get("exceptions") or []],
    )
