"""The batched incident trace against a straightforward per-deployment computation on a git history.

The history has merges whose branches fork from older main-line commits (so several paths reach the
same commit), failed and staging deployments that are nobody's predecessor of a production one, a
second service named by the incident, and a main line deeper than the 200-generation walk. The
expected trace is computed here in Python from the scenario itself: each deployment's predecessor
by a scan of the deployments, shipped commits by a breadth-first walk over the parents, then the
same ranking (graph.trace.score over the single-change answer of graph.repository.change_by_id).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph import repository
from graph.batch import Batch, Origin
from graph.driver import Graph
from graph.models import Change, Deployment
from graph.policy import Policy, load_policy
from graph.queries.trace import ANCESTRY_DEPTH
from graph.settings import Settings
from graph.trace import Trace, score, trace_incident
from graph.vocabulary import Label, Rel
from graph.writer import write_batch
from ingest import examples as ex
from tests.conftest import run_graph

ORIGIN = Origin("test", "trace-batched", "2026-03-01T00:00:00Z")
V = "2026-03-01T00:00:00Z#00#batched"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Dep:
    id: str
    service: str
    environment: str
    status: str
    sha: str
    started_at: str


@dataclass
class Org:
    """What the scenario wrote, in plain Python: the oracle's only input besides the answers."""

    batch: Batch = field(default_factory=Batch)
    parents: dict[str, list[str]] = field(default_factory=dict)
    commits_of: dict[str, set[str]] = field(default_factory=dict)  # change id -> CONTAINS and MERGED_AS
    sizes: dict[str, int] = field(default_factory=dict)
    deployments: list[Dep] = field(default_factory=list)

    def commit(self, seed: str, parents: list[str]) -> str:
        sha = ex.sha(seed)
        self.batch.node(Label.COMMIT, sha, version=V, origin=ORIGIN, message=seed)
        for parent in parents:
            self.batch.edge((Label.COMMIT, sha), Rel.PARENT, (Label.COMMIT, parent), version=V, origin=ORIGIN)
        self.parents[sha] = parents
        return sha

    def change(self, repo: str, number: int, *, contains: list[str], merged_as: str | None, **props: Any) -> str:
        id = f"github:{repo}#{number}"
        head = contains[-1] if contains else merged_as
        self.batch.node(
            Label.CHANGE,
            id,
            version=V,
            origin=ORIGIN,
            repo=repo,
            number=number,
            title=f"change {number}",
            state="closed",
            headSha=head,
            mergeCommitSha=merged_as,
            **props,
        )
        for sha in contains:
            self.batch.edge((Label.CHANGE, id), Rel.CONTAINS, (Label.COMMIT, sha), version=V, origin=ORIGIN)
        if merged_as:
            self.batch.edge((Label.CHANGE, id), Rel.MERGED_AS, (Label.COMMIT, merged_as), version=V, origin=ORIGIN)
        self.commits_of[id] = set(contains) | ({merged_as} if merged_as else set())
        self.sizes[id] = (props.get("additions") or 0) + (props.get("deletions") or 0)
        return id

    def deploy(self, id: str, *, service: str, environment: str, status: str, sha: str, at: datetime) -> None:
        self.batch.node(
            Label.DEPLOYMENT,
            id,
            version=V,
            origin=ORIGIN,
            environment=environment,
            status=status,
            sha=sha,
            startedAt=iso(at),
            service=service,
        )
        self.batch.edge((Label.DEPLOYMENT, id), Rel.TO, (Label.SERVICE, service), version=V, origin=ORIGIN)
        self.batch.edge((Label.DEPLOYMENT, id), Rel.SHIPPED, (Label.COMMIT, sha), version=V, origin=ORIGIN)
        self.deployments.append(Dep(id, service, environment, status, sha, iso(at)))

    def incident(self, id: str, *, service: str | None, at: datetime | None, causes: list[tuple[Label, str]]) -> None:
        props = {"service": service, "triggeredAt": iso(at) if at else None}
        self.batch.node(Label.INCIDENT, id, version=V, origin=ORIGIN, title=id, **props)
        if service:
            self.batch.edge((Label.INCIDENT, id), Rel.AFFECTS, (Label.SERVICE, service), version=V, origin=ORIGIN)
        for n, cause in enumerate(causes):
            self.batch.edge(
                (Label.INCIDENT, id),
                Rel.CAUSED_BY,
                cause,
                version=V,
                origin=ORIGIN,
                inferred=n % 2 == 1,
                confidence=0.5,
            )


def build_org(*, merges: int, deep: int, seed: int = 7) -> tuple[Org, list[str]]:
    """shop-api's main line (merges of forked branches over a `deep` linear root) and a small billing service.

    Returns the org and the main line's merge commits (oldest first).
    """
    rng = random.Random(seed)
    org = Org()
    root = [org.commit("root-0", [])]
    for n in range(1, deep):
        root.append(org.commit(f"root-{n}", [root[-1]]))
    # The root's first two commits belong to one old change: beyond 200 generations of most heads.
    org.change("acme/shop", 1000, contains=root[:2], merged_as=None, additions=7, deletions=1)
    # The first deployment (at m2, two generations above the root's tip) reaches exactly 200 generations.
    if deep > ANCESTRY_DEPTH:
        org.change("acme/shop", 1001, contains=[root[deep - ANCESTRY_DEPTH + 1]], merged_as=None, additions=3)
        org.change("acme/shop", 1002, contains=[root[deep - ANCESTRY_DEPTH]], merged_as=None, additions=3)
    main = [root[-1]]
    for i in range(1, merges + 1):
        # A branch forks from an older main-line commit, so the merge reaches it by two paths; the last
        # one forks from the root's second commit (deeper than 200 generations of the previous head).
        fork = root[1] if i == merges else main[max(0, len(main) - rng.randint(1, 4))]
        branch = [org.commit(f"b{i}-0", [fork])]
        for k in range(1, rng.randint(1, 4)):
            branch.append(org.commit(f"b{i}-{k}", [branch[-1]]))
        main.append(org.commit(f"m{i}", [main[-1], branch[-1]]))
        labels = ["payments"] if i % 5 == 0 else None
        org.change(
            "acme/shop",
            i,
            contains=branch,
            merged_as=main[-1],
            additions=rng.randint(1, 900),
            deletions=rng.randint(0, 50),
            labels=labels,
        )
        at = T0 + timedelta(hours=3 * i)
        if i % 2 == 0 or i == merges:
            status = "failure" if i % 6 == 0 else "success"
            org.deploy(f"prod-{i}", service="shop-api", environment="production", status=status, sha=main[-1], at=at)
        if i % 3 == 0 or i == merges:  # the last one ties with a production deployment
            org.deploy(f"stage-{i}", service="shop-api", environment="staging", status="success", sha=main[-1], at=at)
    # A failing check on one change's head: the reason names it.
    org.batch.node(
        Label.EVIDENCE,
        "check-1",
        version=V,
        origin=ORIGIN,
        name="unit-tests",
        conclusion="failure",
        commitSha=ex.sha(f"b{merges - 1}-0"),
    )
    org.batch.edge(
        (Label.EVIDENCE, "check-1"), Rel.VERIFIES, (Label.COMMIT, ex.sha(f"b{merges - 1}-0")), version=V, origin=ORIGIN
    )
    billing = [org.commit("billing-0", [])]
    for n in range(1, 4):
        billing.append(org.commit(f"billing-{n}", [billing[-1]]))
        org.change("acme/billing", n, contains=[billing[-1]], merged_as=None, additions=n, deletions=0)
    org.deploy("bill-1", service="billing", environment="production", status="success", sha=billing[1], at=T0)
    org.deploy("bill-2", service="billing", environment="production", status="failure", sha=billing[2], at=T0)
    org.deploy(
        "bill-3",
        service="billing",
        environment="production",
        status="success",
        sha=billing[3],
        at=T0 + timedelta(hours=1),
    )
    return org, main


def ancestors(org: Org, sha: str | None) -> set[str]:
    """Commits within ANCESTRY_DEPTH generations of sha (itself included), breadth first."""
    if not sha or sha not in org.parents:
        return set()
    depth = {sha: 0}
    queue = deque([sha])
    while queue:
        current = queue.popleft()
        for parent in org.parents.get(current, []):
            if parent not in depth and depth[current] < ANCESTRY_DEPTH:
                depth[parent] = depth[current] + 1
                queue.append(parent)
    return set(depth)


def previous(org: Org, dep: Dep) -> Dep | None:
    """The last successful deployment of the same service and environment started before dep."""
    earlier = [
        d
        for d in org.deployments
        if d.service == dep.service
        and d.environment == dep.environment
        and d.status == "success"
        and d.started_at < dep.started_at
        and d.id != dep.id
    ]
    return max(earlier, key=lambda d: (d.started_at, d.id), default=None)


def model(dep: Dep) -> Deployment:
    return Deployment.model_validate(
        {"id": dep.id, "environment": dep.environment, "status": dep.status, "sha": dep.sha, "service": dep.service}
        | {"startedAt": dep.started_at}
    )


def expected(
    org: Org,
    answers: dict[str, Change],
    policy: Policy,
    *,
    service: str | None,
    at: datetime | None,
    window: timedelta,
    named: dict[str, list[str]],
    named_deployments: dict[str, list[str]],
) -> tuple[list[tuple[str, str | None, float, str]], list[str]]:
    """The trace computed one deployment at a time: (change, deployment, score, reason) ranked, and notes."""
    notes: list[str] = []
    deployments: list[Dep] = []
    if service is None:
        notes.append(
            "the incident names no service, so no deployments could be searched; only changes "
            "linked explicitly (e.g. by a postmortem) are listed"
        )
    elif at is None:
        notes.append("the incident has no trigger time, so no deployment window could be searched")
    else:
        deployments = sorted(
            (d for d in org.deployments if d.service == service and iso(at - window) <= d.started_at <= iso(at)),
            key=lambda d: (-datetime.fromisoformat(d.started_at).timestamp(), d.id),
        )
        if not deployments:
            notes.append(f"no deployment to {service} in the {window} before the incident")
    by_id = {d.id: d for d in org.deployments}
    deployments += [by_id[id] for id in named_deployments if id in by_id and by_id[id] not in deployments]
    candidates: dict[str, tuple[Dep | None, list[str]]] = {cid: (None, by) for cid, by in named.items()}
    for dep in deployments:
        prev = previous(org, dep)
        if prev is None:
            notes.append(
                f"{dep.id} has no earlier successful deployment of its service: "
                "every ancestor commit within 200 generations counts as shipped"
            )
        shipped = ancestors(org, dep.sha) - ancestors(org, prev.sha if prev else None)
        for cid in sorted(c for c, commits in org.commits_of.items() if commits & shipped):
            current, reasons = candidates.get(cid, (None, []))
            if current is None or dep.started_at > current.started_at:
                current = dep
            candidates[cid] = (current, reasons + named_deployments.get(dep.id, []))
    ranked = []
    for cid, (latest, by) in candidates.items():
        shipped_by = model(latest) if latest else None
        value, reason = score(
            answers[cid],
            named_by=by,
            deployment=shipped_by,
            triggered_at=at,
            window=window,
            default_area=policy.default_area,
            size=org.sizes[cid],
        )
        ranked.append((cid, latest.id if latest else None, value, reason))
    return sorted(ranked, key=lambda r: (-r[2], r[0])), notes


def summary(trace: Trace) -> tuple[list[tuple[str, str | None, float, str]], list[str]]:
    ranked = [(s.change.id, s.deployment.id if s.deployment else None, s.score, s.reason) for s in trace.suspects]
    return ranked, trace.notes


def incidents(main: list[str]) -> list[dict[str, Any]]:
    """A busy window, links of every kind, a first deployment, a quiet window, no service, no trigger time."""
    last = T0 + timedelta(hours=3 * (len(main) - 1), minutes=30)
    return [
        {"id": "inc-busy", "service": "shop-api", "at": last, "causes": []},
        {
            "id": "inc-named",
            "service": "shop-api",
            "at": last - timedelta(hours=20),
            "causes": [
                (Label.CHANGE, "github:acme/shop#3"),
                (Label.DEPLOYMENT, "bill-3"),  # another service's deployment
                (Label.COMMIT, main[5]),
                (Label.DEPLOYMENT, "prod-28"),  # in the window
                (Label.DEPLOYMENT, "prod-34"),  # after the incident
            ],
        },
        {
            "id": "inc-first",
            "service": "shop-api",
            "at": T0 + timedelta(hours=7),
            "causes": [(Label.DEPLOYMENT, "prod-2")],
        },
        {"id": "inc-quiet", "service": "shop-api", "at": T0 - timedelta(days=30), "causes": []},
        {"id": "inc-nowhere", "service": None, "at": last, "causes": [(Label.DEPLOYMENT, "bill-3")]},
        {"id": "inc-untimed", "service": "shop-api", "at": None, "causes": [(Label.CHANGE, "github:acme/shop#2")]},
    ]


def links(org: Org, causes: list[tuple[Label, str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Changes and deployments the incident names, each with who named it (as graph.trace words it)."""
    named: dict[str, list[str]] = {}
    named_deployments: dict[str, list[str]] = {}
    for n, (label, key) in enumerate(causes):
        by = f"{'an inferred link' if n % 2 == 1 else 'an explicit link'} from test"
        if label == Label.DEPLOYMENT:
            named_deployments.setdefault(key, []).append(by)
        for cid, commits in org.commits_of.items():
            if (label == Label.CHANGE and key == cid) or (label == Label.COMMIT and key in commits):
                named.setdefault(cid, []).append(by)
    return named, named_deployments


@pytest.mark.parametrize("hours", [72, 24, 2160])
def test_the_trace_matches_a_per_deployment_computation(settings: Settings, hours: int) -> None:
    org, main = build_org(merges=40, deep=ANCESTRY_DEPTH + 6)
    cases = incidents(main)
    for case in cases:
        org.incident(case["id"], service=case["service"], at=case["at"], causes=case["causes"])
    policy = load_policy()
    window = timedelta(hours=hours)

    async def run(graph: Graph) -> tuple[list[Trace | None], dict[str, Change | None]]:
        await write_batch(graph, org.batch)
        traces = [await trace_incident(graph, policy, case["id"], window=window) for case in cases]
        return traces, {cid: await repository.change_by_id(graph, policy, cid) for cid in org.commits_of}

    traces, single = run_graph(settings, run)
    answers = {cid: answer for cid, answer in single.items() if answer is not None}
    first = {s.change.id for s in traces[[c["id"] for c in cases].index("inc-first")].suspects}  # type: ignore[union-attr]
    assert "github:acme/shop#1001" in first and "github:acme/shop#1002" not in first  # the depth bound
    shipped_somewhere = set()
    for case, trace in zip(cases, traces, strict=True):
        assert trace is not None
        named, named_deployments = links(org, case["causes"])
        want = expected(
            org,
            answers,
            policy,
            service=case["service"],
            at=case["at"],
            window=window,
            named=named,
            named_deployments=named_deployments,
        )
        assert summary(trace) == want, case["id"]
        # The batched answers are the single-change answers.
        assert all(s.change == answers[s.change.id] for s in trace.suspects)
        shipped_somewhere |= {s.change.id for s in trace.suspects if s.deployment}
    # The scenario does exercise what it is for: merges, the depth bound, the second service.
    assert "github:acme/billing#3" in shipped_somewhere
    assert "github:acme/shop#1000" in shipped_somewhere  # beyond 200 generations of the predecessor's head


def test_many_deployments_cost_a_fixed_number_of_reads(settings: Settings) -> None:
    org, main = build_org(merges=40, deep=10)
    org.incident("inc", service="shop-api", at=T0 + timedelta(hours=3 * 40 + 1), causes=[])
    policy = load_policy()
    reads: list[str] = []

    async def run(graph: Graph) -> Trace | None:
        await write_batch(graph, org.batch)
        execute = graph.driver.execute_query

        async def counted(query: str, *args: Any, **kwargs: Any) -> Any:
            reads.append(query)
            return await execute(query, *args, **kwargs)

        graph.driver.execute_query = counted  # type: ignore[method-assign,assignment]
        return await trace_incident(graph, policy, "inc", window=timedelta(days=30))

    trace = run_graph(settings, run)
    assert trace is not None and len(trace.suspects) >= 30
    assert len({s.deployment.id for s in trace.suspects if s.deployment}) >= 10
    assert len(reads) == 4


def test_changes_by_ids_answers_each_known_id_once(settings: Settings) -> None:
    org, _ = build_org(merges=6, deep=3)
    policy = load_policy()
    ids = ["github:acme/shop#2", "github:acme/shop#5", "github:acme/shop#2", "github:acme/shop#404"]

    async def run(graph: Graph) -> tuple[dict[str, Change], list[Change | None]]:
        await write_batch(graph, org.batch)
        many = await repository.changes_by_ids(graph, policy, ids)
        return many, [await repository.change_by_id(graph, policy, i) for i in ids[:2]]

    many, single = run_graph(settings, run)
    assert sorted(many) == ["github:acme/shop#2", "github:acme/shop#5"]
    assert [many["github:acme/shop#2"], many["github:acme/shop#5"]] == single
    assert run_graph(settings, lambda g: repository.changes_by_ids(g, policy, [])) == {}
