"""Gates that fail closed: may this commit, change or deployment ship?

- `gate_commit(sha, environment)`: every change that shipping the commit to the environment would add
  (governance.ranges: git ancestry since what runs there now, per service the repository deploys as)
  must be VERIFIED or covered by an active exception, and the shipment itself must stay in the reviewed
  flow with its ancestry known. A production deployment of a change whose risk area requires a staged
  strategy must state one (`strategy`).
- `gate_change(repo, number)`: the change alone (an agent checking its own pull request).
- `gate_deployment(id)`: the commit a deployment ships, over what ran before it, with its strategy.

The answer's `exit_code` is what the CLI exits with: 0 passed, 1 gaps, 2 could not evaluate. Anything
that goes wrong is a 2 (`failure`), never a pass: an unknown commit, an unreadable policy, Neo4j down.
"""

from __future__ import annotations

from datetime import UTC, datetime

from neo4j.exceptions import DriverError, Neo4jError

from governance import exceptions as xs
from governance import ranges
from governance.models import GateChange, GateKind, GateResult, Remedy, RunningDeployment
from governance.requirements import remedies
from graph import governance as records
from graph import repository
from graph.driver import Graph, GraphUnavailable
from graph.models import Change, VerdictStatus
from graph.policy import Policy, PolicyError
from graph.verdict import staged_gap

SHA_PREFIX = 7


class GateError(RuntimeError):
    """The gate cannot be evaluated as asked; it never passes."""


class UnknownTarget(GateError):
    """The commit, change or deployment is not in the graph."""


def failure(gate: GateKind, target: str, error: str, *, environment: str | None = None) -> GateResult:
    """The answer of a gate that could not be evaluated: exit 2, never a pass."""
    return GateResult(
        gate=gate,
        target=target,
        environment=environment,
        passed=False,
        exit_code=2,
        error=error,
        evaluated_at=datetime.now(UTC),
    )


def describe(exc: BaseException) -> str:
    """What went wrong while evaluating a gate, for its answer (one line, no traceback)."""
    if isinstance(exc, GateError | PolicyError | GraphUnavailable):
        return str(exc)
    if isinstance(exc, Neo4jError | DriverError | OSError):
        return f"Neo4j did not answer ({exc.__class__.__name__}); nothing can pass until it does"
    return f"{exc.__class__.__name__}: {exc}"


def judge(
    change: Change,
    policy: Policy,
    *,
    environment: str | None,
    strategy: str | None,
    now: datetime,
) -> GateChange:
    """One change at a gate: its verdict's gaps, the gated deployment's strategy, and its exceptions."""
    area_name = change.risk_area or policy.default_area
    extra = staged_gap(
        area_name,
        policy.areas[area_name],
        deployment="the deployment being gated",
        environment=environment,
        strategy=strategy,
    )
    gaps = [*change.verdict.gaps, *([extra] if extra else [])]
    cover = xs.covering(change.exceptions, now)
    clean = change.verdict.status == VerdictStatus.VERIFIED and not extra
    return GateChange(
        id=change.id,
        repo=change.repo,
        number=change.number,
        title=change.title,
        url=change.url,
        state=change.state,
        risk_area=change.risk_area,
        verdict=change.verdict.status,
        gaps=gaps,
        covered_by=None if clean or cover is None else cover.id,
        exceptions=[xs.view(x, now, verdict=change.verdict.status) for x in change.exceptions],
        passes=clean or cover is not None,
        missing=[] if clean else remedies(change, policy, now=now, extra=[extra] if extra else None),
    )


def _result(
    gate: GateKind,
    target: str,
    *,
    environment: str | None,
    changes: list[GateChange],
    repo: str | None,
    sha: str | None,
    strategy: str | None,
    running: list[RunningDeployment] | None = None,
    gaps: list[str] | None = None,
    missing: list[Remedy] | None = None,
) -> GateResult:
    passed = not gaps and all(c.passes for c in changes)
    return GateResult(
        gate=gate,
        target=target,
        environment=environment,
        repo=repo,
        sha=sha,
        strategy=strategy,
        passed=passed,
        exit_code=0 if passed else 1,
        running=running or [],
        changes=changes,
        gaps=gaps or [],
        missing=missing or [],
        evaluated_at=datetime.now(UTC),
    )


async def resolve_commit(graph: Graph, sha: str) -> tuple[str, str | None]:
    """The full sha and repository of a commit named by its sha or a unique prefix (at least 7 hex digits)."""
    wanted = sha.strip().lower()
    if len(wanted) < SHA_PREFIX or any(ch not in "0123456789abcdef" for ch in wanted):
        raise GateError(f"{sha!r} is not a commit sha: give at least {SHA_PREFIX} hex digits")
    found = await records.commits_by_prefix(graph, wanted)
    if not found:
        raise UnknownTarget(
            f"commit {sha} is not in the graph: ingest the repository (`tracegraph ingest-git`) or its push events "
            "first; an unknown commit never passes"
        )
    if len(found) > 1:
        raise GateError(
            f"{sha} names more than one commit ({found[0][0][:12]}, {found[1][0][:12]}, …): give more digits"
        )
    return found[0]


async def _shipment(
    graph: Graph,
    policy: Policy,
    gate: GateKind,
    target: str,
    *,
    sha: str,
    environment: str,
    strategy: str | None,
    service: str | None,
    before: datetime | None = None,
    exclude: str | None = None,
    now: datetime | None,
) -> GateResult:
    """Gate a shipment of `sha` to `environment` over what runs there (before `before`, other than `exclude`)."""
    full, repo = await resolve_commit(graph, sha)
    base = await records.running(
        graph,
        environment=environment,
        repos=[repo] if repo else [],
        services=[service] if service else [],
        before=before,
        exclude=exclude,
    )
    running = [RunningDeployment(service=s, deployment=d) for s, d in sorted(base.items())]
    shas = sorted({r.deployment.sha for r in running if r.deployment and r.deployment.sha})
    walks = await records.ancestry(graph, [full, *shas])
    known = set().union(*(set(w.reached) for w in walks.values()))
    facts = await records.commit_facts(graph, known)
    # A service where nothing runs yet receives the commit's whole (walked) history.
    fresh = not running or any(r.deployment is None or not r.deployment.sha for r in running)
    bases: list[str | None] = [*shas, *([None] if fresh else [])]
    shipments = [ranges.compute(full, b, walks=walks, facts=facts) for b in bases]
    gaps = list(dict.fromkeys(g for r in shipments for g in r.gaps(environment)))
    ids = sorted({i for r in shipments for i in r.change_ids})
    answers = await repository.changes_by_ids(graph, policy, ids)
    when = now or datetime.now(UTC)
    changes = [
        judge(answers[i], policy, environment=environment, strategy=strategy, now=when) for i in ids if i in answers
    ]
    missing = []
    if any(r.outside for r in shipments):
        missing.append(
            Remedy(
                requirement="reviewed_flow",
                gaps=[g for g in gaps if "belongs to no merged change" in g],
                how="Ship only what was merged through review: open a pull request for these commits, get it "
                "reviewed and merged, and deploy its merge commit.",
            )
        )
    if any(r.blind or r.truncated for r in shipments):
        missing.append(
            Remedy(
                requirement="ancestry",
                gaps=[g for g in gaps if "belongs to no merged change" not in g],
                how="Ingest the repository's history (`tracegraph ingest-git PATH --since …`) so the gate can see "
                f"every commit between what runs in {environment} and {full[:7]}.",
            )
        )
    return _result(
        gate,
        target,
        environment=environment,
        changes=changes,
        gaps=gaps,
        missing=missing,
        repo=repo,
        sha=full,
        strategy=strategy,
        running=running,
    )


async def gate_commit(
    graph: Graph,
    policy: Policy,
    sha: str,
    *,
    environment: str,
    strategy: str | None = None,
    service: str | None = None,
    now: datetime | None = None,
) -> GateResult:
    """May `sha` ship to `environment` now? (see the module docstring)."""
    return await _shipment(
        graph, policy, "commit", sha, sha=sha, environment=environment, strategy=strategy, service=service, now=now
    )


async def gate_deployment(graph: Graph, policy: Policy, id: str, *, now: datetime | None = None) -> GateResult:
    """Was (or is) deployment `id` allowed to ship what it ships over the deployment before it?"""
    found = await repository.deployment(graph, id)
    if found is None:
        raise UnknownTarget(f"deployment {id!r} is not in the graph; ingest its deployment event first")
    if not found.sha:
        raise GateError(f"deployment {id} names no commit, so what it ships cannot be known")
    return await _shipment(
        graph,
        policy,
        "deployment",
        id,
        sha=found.sha,
        environment=found.environment,
        strategy=found.strategy,
        service=found.service,
        before=found.started_at,
        exclude=found.id,
        now=now,
    )


async def gate_change(
    graph: Graph,
    policy: Policy,
    repo: str,
    number: int,
    *,
    environment: str | None = None,
    strategy: str | None = None,
    now: datetime | None = None,
) -> GateResult:
    """Is this change, on its own, VERIFIED or covered by an active exception?"""
    found = await repository.change(graph, policy, repo=repo, number=number)
    if found is None:
        raise UnknownTarget(f"no change {repo}#{number} in the graph; ingest its pull request events first")
    judged = judge(found, policy, environment=environment, strategy=strategy, now=now or datetime.now(UTC))
    return _result(
        "change",
        f"{repo}#{number}",
        environment=environment,
        changes=[judged],
        repo=found.repo,
        sha=found.head_sha,
        strategy=strategy,
    )
