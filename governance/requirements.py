"""The policy's requirements one by one, met or not for a change, and how to supply what is missing.

The verdict (graph.verdict) is the one place the requirements are decided; this module asks the same
functions one requirement at a time, so a control or a coding agent can name which one a gap is of:

- approvals       enough independent, non-stale approvals on the final head (and a code owner's when set)
- evidence        every required evidence kind present and successful on the shipped commit
- contract        the contract sections the risk area requires, in the pull request description
- staged_rollout  production deployments of the area's changes used a staged strategy
- reviewed_flow   the change was merged (shipped through review, not from a branch)
- exceptions      no exception of the change is a gap of its own (unreviewed emergency, expired)
- verified        the verdict is VERIFIED (every requirement of the verdict at once)
"""

from __future__ import annotations

from datetime import datetime

from governance import exceptions as xs
from governance.models import Remedy
from graph.models import Change, VerdictStatus
from graph.policy import Policy
from graph.verdict import approval_gaps, contract_gaps, evidence_gaps, short, strategy_gaps

REQUIREMENTS = ("approvals", "evidence", "contract", "staged_rollout", "reviewed_flow", "exceptions", "verified")


def unmet(change: Change, policy: Policy, *, now: datetime) -> dict[str, list[str]]:
    """Each requirement the change does not meet, with its gaps (empty when all are met)."""
    area_name = change.risk_area or policy.default_area
    area = policy.areas[area_name]
    shipped = [s for s in (change.merge_commit_sha, change.head_sha) if s]
    counted = {a.reviewer.login for a in change.approvals if not a.reasons}
    found: dict[str, list[str]] = {
        "approvals": ([] if change.head_sha else ["the final head commit is unknown"])
        + approval_gaps(area_name, area, head=change.head_sha, counted=counted, flagged=change.approvals),
        "evidence": evidence_gaps(area.required_evidence, shipped=shipped, evidence=change.evidence),
        "contract": contract_gaps(area_name, area, change.contract),
        "staged_rollout": strategy_gaps(area_name, area, change.deployments),
        "reviewed_flow": []
        if change.state == "merged"
        else [f"the change is not merged (state {change.state or 'unknown'})"],
        "exceptions": [gap for x in change.exceptions for gap in xs.gaps(x, now, verdict=change.verdict.status)],
        "verified": list(change.verdict.gaps) if change.verdict.status != VerdictStatus.VERIFIED else [],
    }
    return {name: gaps for name, gaps in found.items() if gaps}


def met(change: Change, policy: Policy, *, now: datetime) -> dict[str, bool]:
    """Every requirement, and whether the change meets it."""
    missing = unmet(change, policy, now=now)
    return {name: name not in missing for name in REQUIREMENTS}


def how(requirement: str, change: Change, policy: Policy) -> str:
    """What to do so the change meets the requirement."""
    area_name = change.risk_area or policy.default_area
    area = policy.areas[area_name]
    head = short(change.head_sha)
    if requirement == "approvals":
        owners = f", one of them a code owner ({', '.join(area.code_owners)})" if area.code_owners else ""
        return (
            f"Ask {area.required_approvals} reviewer(s) who did not author the change, did not author commits in it "
            f"and did not operate its agent session to approve the final head {head}{owners}. An approval of an "
            "older commit does not count: request review again after every push."
        )
    if requirement == "evidence":
        kinds = ", ".join(f"`{k}`" for k in area.required_evidence)
        names = "; ".join(
            f"{k}: {', '.join(r.match for r in policy.evidence_kinds if r.kind == k) or k}"
            for k in area.required_evidence
        )
        return (
            f"Run the checks that give {kinds} evidence on the commit that ships ({head}, or its merge commit) and "
            f"let them pass; check names count as (shell patterns) {names}. A run on an older commit proves nothing."
        )
    if requirement == "contract":
        sections = ", ".join(f"`## {s.replace('_', ' ').capitalize()}`" for s in area.required_contract)
        return f"Add these sections to the pull request description, as Markdown headings with text: {sections}."
    if requirement == "staged_rollout":
        return (
            f"Deploy to production with a staged strategy ({' or '.join(area.staged_strategies)}): say it in the "
            'deployment (GitHub: the deployment\'s payload {"strategy": "canary"}; `--strategy` for the gate).'
        )
    if requirement == "reviewed_flow":
        return "Ship it through review: merge the pull request and deploy its merge commit, not a branch."
    if requirement == "exceptions":
        return (
            "An approver who is neither the author nor the agent's operator reviews the emergency exception "
            "(`tracegraph exception review EXC-ID --notes …`), or the change is brought to VERIFIED."
        )
    return (
        "Supply what the gaps above name; if it must ship before that, an approver who is neither the author nor "
        f"the agent's operator may grant an exception: `tracegraph exception grant {change.repo}#{change.number} "
        "--reason … --expires YYYY-MM-DD` (the change stays UNVERIFIED)."
    )


def remedies(change: Change, policy: Policy, *, now: datetime, extra: list[str] | None = None) -> list[Remedy]:
    """What is missing for the change, requirement by requirement, and how to supply it.

    `extra` are gate gaps of the change (the strategy of the deployment being gated)."""
    missing = unmet(change, policy, now=now)
    missing.pop("reviewed_flow", None)  # a gate of the shipment says so itself, for the commit it ships
    if extra:
        missing.setdefault("staged_rollout", []).extend(g for g in extra if g not in missing.get("staged_rollout", []))
    verdict_gaps = missing.pop("verified", None)
    found = [Remedy(requirement=name, gaps=gaps, how=how(name, change, policy)) for name, gaps in missing.items()]
    if verdict_gaps and not found:
        found.append(Remedy(requirement="verified", gaps=verdict_gaps, how=how("verified", change, policy)))
    if found:
        found.append(Remedy(requirement="exception", gaps=[], how=how("exception", change, policy)))
    return found
