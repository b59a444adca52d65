"""What runs in an environment, per service, and whether it is compliant.

- *Running*: the service's latest successful deployment to the environment.
- *Changes it carries*: those whose final head or merge commit is in the running commit's git ancestry
  (as far as the gates walk it); how many are not VERIFIED, and how many of those an active exception
  covers (they stay UNVERIFIED).
- *Drift*: the running commit belongs to no merged change (shipped outside the reviewed flow, or from
  a branch). A drifted service is never compliant.
- *Compliant since*: walking the service's successful deployments back from the running one (at most
  LOOKBACK), each must have added only VERIFIED changes, shipped a commit of a merged change, and kept
  its ancestry known; the service has been compliant since the oldest deployment of that unbroken
  streak (None when the running one breaks it). The first deployment the graph knows of is the baseline:
  only its own commit and the changes it carries count, not the history before it.
- *Drill*: the last rollback drill in the environment against the policy's rule for the service's tier.
"""

from __future__ import annotations

from datetime import UTC, datetime

from governance import exceptions as xs
from governance import ranges
from governance.drills import drill_status
from governance.models import ServiceStatus
from graph import governance as records
from graph import repository
from graph.driver import Graph
from graph.governance import CommitFacts
from graph.models import Change, Deployment, VerdictStatus
from graph.policy import Policy

LOOKBACK = 50


def _tied(facts: dict[str, CommitFacts], sha: str | None) -> bool:
    found = facts.get(sha or "")
    return found is not None and any(tie.merged for tie in found.ties)


def _compliant(r: ranges.Range, answers: dict[str, Change], facts: dict[str, CommitFacts]) -> bool:
    # The first deployment the graph knows of is the baseline: the history before it (an initial commit,
    # pushes from before review was required) is what the service started from, not something it shipped.
    outside = [sha for sha in r.outside if sha == r.target] if r.base is None else r.outside
    if outside or (r.base is not None and (r.blind or r.truncated)) or not _tied(facts, r.target):
        return False
    return all(i in answers and answers[i].verdict.status == VerdictStatus.VERIFIED for i in r.change_ids)


def _since(deployment: Deployment) -> datetime | None:
    return deployment.finished_at or deployment.started_at


async def status(
    graph: Graph,
    policy: Policy,
    *,
    environment: str,
    service: str | None = None,
    now: datetime | None = None,
) -> list[ServiceStatus]:
    """Per service (one, or every service with a successful deployment to the environment), its status."""
    now = now or datetime.now(UTC)
    tiers = dict(await records.services(graph))
    names = [service] if service else sorted(tiers)
    history = await records.deployment_history(graph, services=names, environment=environment, limit=LOOKBACK + 1)
    shas = sorted({d.sha for deps in history.values() for d in deps if d.sha})
    walks = await records.ancestry(graph, shas)
    facts = await records.commit_facts(graph, set().union(*(set(w.reached) for w in walks.values())))

    plans: dict[str, list[ranges.Range]] = {}
    carried: dict[str, list[str]] = {}
    for name in names:
        deps = [d for d in history.get(name, []) if d.sha]
        plans[name] = [
            ranges.compute(d.sha or "", deps[i + 1].sha if i + 1 < len(deps) else None, walks=walks, facts=facts)
            for i, d in enumerate(deps[:LOOKBACK])
        ]
        reached = walks[deps[0].sha].reached if deps and deps[0].sha in walks else []
        carried[name] = sorted({t.id for sha in reached if sha in facts for t in facts[sha].ties if t.ships})
    added = {i for shipments in plans.values() for r in shipments for i in r.change_ids}
    ids = sorted({i for name in names for i in carried[name]} | added)
    answers = await repository.changes_by_ids(graph, policy, ids)
    drills = await records.drills(graph, names)

    found = []
    for name in names:
        deps = [d for d in history.get(name, []) if d.sha]
        if not deps and service is None:
            continue  # a service never deployed to this environment has no status here
        found.append(
            _one(
                policy,
                name=name,
                tier=tiers.get(name),
                environment=environment,
                deps=deps,
                plans=plans[name],
                carried=[answers[i] for i in carried[name] if i in answers],
                answers=answers,
                facts=facts,
                drills=drills.get(name, []),
                now=now,
            )
        )
    return found


def _one(
    policy: Policy,
    *,
    name: str,
    tier: str | None,
    environment: str,
    deps: list[Deployment],
    plans: list[ranges.Range],
    carried: list[Change],
    answers: dict[str, Change],
    facts: dict[str, CommitFacts],
    drills: list[records.Drill],
    now: datetime,
) -> ServiceStatus:
    result = ServiceStatus(service=name, environment=environment)
    result.drill = drill_status(policy, service=name, tier=tier, environment=environment, drills=drills, now=now)
    if not deps:
        result.gaps.append(f"{name} has no successful deployment to {environment} in the graph")
        return result
    result.running = deps[0]
    result.changes = len(carried)
    unverified = [c for c in carried if c.verdict.status != VerdictStatus.VERIFIED]
    result.not_verified = len(unverified)
    result.not_verified_ids = [c.id for c in unverified]
    result.covered = sum(1 for c in unverified if xs.covering(c.exceptions, now) is not None)
    result.drift = not _tied(facts, deps[0].sha)
    if result.drift:
        result.gaps.append(
            f"the running deployment {deps[0].id} shipped {(deps[0].sha or '')[:7]}, which belongs to no merged "
            "change: shipped outside the reviewed flow, or from a branch"
        )
    if plans[0].base is not None:
        result.gaps += [g for g in plans[0].gaps(environment) if "belongs to no merged change" not in g]
    result.gaps += [gap for c in carried for x in c.exceptions for gap in xs.gaps(x, now, verdict=c.verdict.status)]
    if result.drill.gap:
        result.gaps.append(result.drill.gap)
    streak = 0
    for shipment in plans:
        if not _compliant(shipment, answers, facts):
            break
        streak += 1
    result.compliant = streak > 0 and not result.drift and result.not_verified == 0
    if result.compliant:
        result.compliant_since = _since(deps[streak - 1])
        result.compliant_since_bounded = streak == len(plans) and len(deps) > len(plans)
    return result
