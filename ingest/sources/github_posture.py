"""The protection of a GitHub repository's default branch, as `tracegraph collect github` read it.

Not a webhook: the collector reads `GET /repos/{o}/{r}/branches/{branch}/protection` (classic branch
protection), `GET /repos/{o}/{r}/rules/branches/{branch}` (the rules of every active ruleset) and each
ruleset named there (for who may bypass it), and hands them over as one `branch_protection` event.
They become properties of the Repository: evidence of its posture when it was observed. Every
property is asserted (False, 0, [] when nothing requires it), so a protection that was removed
shows as removed rather than leaving the old values in place.
"""

from __future__ import annotations

from typing import Any

from graph.batch import Batch
from graph.vocabulary import Label
from ingest.sources.base import Event, Rejected, flag, get, integer, items, text
from ingest.sources.github_payloads import add_repository, require_repo

# Ruleset bypass actors name repository roles by id (GitHub's built-in roles).
ROLES = {1: "read", 2: "triage", 3: "write", 4: "maintain", 5: "admin"}


def _enabled(value: Any) -> bool | None:
    found = get(value, "enabled")
    return flag(found) if found is not None else flag(value)


def _allowances(reviews: Any) -> list[str]:
    allowed = get(reviews, "bypass_pull_request_allowances")
    found = [f"user:{u}" for u in (text(get(x, "login")) for x in items(get(allowed, "users"))) if u]
    found += [f"team:{t}" for t in (text(get(x, "slug")) for x in items(get(allowed, "teams"))) if t]
    found += [f"app:{a}" for a in (text(get(x, "slug")) for x in items(get(allowed, "apps"))) if a]
    return found


def _actor(actor: Any) -> str | None:
    kind = text(get(actor, "actor_type"))
    ident = get(actor, "actor_id")
    if kind == "OrganizationAdmin":
        return "org-admin"
    if kind == "RepositoryRole" and integer(ident) in ROLES:
        return f"role:{ROLES[ident]}"
    if kind == "DeployKey":
        return "deploy-key"
    if kind:
        return f"{kind.lower()}:{ident}" if ident is not None else kind.lower()
    return None


def branch_protection(event: Event) -> Batch:
    """A collected `branch_protection` observation -> the Repository's posture properties."""
    payload = event.payload
    repo = require_repo(payload, what="branch_protection")
    branch = text(payload.get("branch"))
    observed = text(payload.get("observed_at"))
    if branch is None or observed is None:
        raise Rejected("branch_protection payload needs branch and observed_at")
    protection = payload.get("protection") if isinstance(payload.get("protection"), dict) else None
    rules = [r for r in items(payload.get("rules")) if isinstance(r, dict)]
    reviews = get(protection, "required_pull_request_reviews")
    pr_rules = [get(r, "parameters") for r in rules if get(r, "type") == "pull_request"]

    def any_of(classic: str, rule: str) -> bool:
        return flag(get(reviews, classic)) is True or any(flag(get(p, rule)) is True for p in pr_rules)

    approvals = [integer(get(reviews, "required_approving_review_count"))]
    approvals += [integer(get(p, "required_approving_review_count")) for p in pr_rules]
    if reviews is not None and approvals[0] is None:
        approvals[0] = 1  # classic protection requiring reviews without a count requires one
    checks = set(x for x in items(get(protection, "required_status_checks", "contexts")) if text(x))
    checks |= {
        c for c in (text(get(x, "context")) for x in items(get(protection, "required_status_checks", "checks"))) if c
    }
    for rule in rules:
        if get(rule, "type") == "required_status_checks":
            found = items(get(rule, "parameters", "required_status_checks"))
            checks |= {c for c in (text(get(x, "context")) for x in found) if c}
    enforce_admins = _enabled(get(protection, "enforce_admins")) if protection else None
    bypass = set(_allowances(reviews))
    if protection is not None and enforce_admins is not True:
        bypass.add("role:admin")  # classic protection not enforced for administrators
    sources = ["branch_protection"] if protection is not None else []
    for ruleset in items(payload.get("rulesets")):
        bypass |= {a for a in (_actor(x) for x in items(get(ruleset, "bypass_actors"))) if a}
        name = text(get(ruleset, "name")) or str(get(ruleset, "id"))
        sources.append(f"ruleset:{name}")
    if rules and not items(payload.get("rulesets")):
        sources += sorted({f"ruleset:{get(r, 'ruleset_id')}" for r in rules})
    batch = Batch()
    version = event.version(observed)
    add_repository(batch, event, version, payload.get("repository"))
    batch.node(
        Label.REPOSITORY,
        repo,
        version=version,
        origin=event.origin,
        defaultBranch=branch,
        protected=protection is not None or bool(rules),
        requiredApprovals=max((a for a in approvals if a is not None), default=0),
        dismissStaleReviews=any_of("dismiss_stale_reviews", "dismiss_stale_reviews_on_push"),
        requireCodeOwnerReviews=any_of("require_code_owner_reviews", "require_code_owner_review"),
        requireLastPushApproval=any_of("require_last_push_approval", "require_last_push_approval"),
        enforceAdmins=bool(enforce_admins),
        bypassActors=sorted(bypass),
        requiredChecks=sorted(checks),
        postureSources=sources,
        postureAt=observed,
    )
    return batch
