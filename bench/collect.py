"""`tracegraph collect github` on a generated organisation served at a realistic latency: requests and time.

    python -m bench.collect                       # 10,000 pull requests in 20 repositories, 100 ms a request
    python -m bench.collect --changes 2000 --latency 0.05

The organisation is served by the GitHub fake of the tests (tests/fakes/github.py: GraphQL and REST in
GitHub's shapes, X-RateLimit-* and rateLimit points) in a child process, each answer held back
`--latency` seconds. Every pull request has two commits, two reviews, a check run and a status on its
head; most are merged with a check on the merge commit; one in ten is deployed; each has a workflow
run; every repository has branch protection. The collector runs here, through the one pipeline into
the bench's own Neo4j (bench/common.py), then once more to show what an incremental run costs.

Prints requests per pull request for the pull request / review / commit / check data (GraphQL
PullRequests pages and their follow-ups) against the target of 0.1, all requests, GraphQL points,
wall time, and what a 50,000-change organisation would need of GitHub's hourly budgets.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections import Counter
from typing import Any

from bench.common import fresh_database, machine, neo4j_memory
from collect import github
from collect.run import drive
from graph.driver import Graph, run_with_graph
from graph.settings import Settings
from ingest import examples as ex

TOKEN = "bench-collect-token"
PR_DATA = (
    "graphql PullRequests",
    "graphql PullRequestLabels",
    "graphql PullRequestFiles",
    "graphql PullRequestReviews",
)
PR_DATA += ("graphql PullRequestCommits", "graphql CommitChecks")


def organisation(fake: Any, *, changes: int, repos: int) -> None:
    """Fill the fake with `changes` pull requests spread over `repos` repositories."""
    from tests.fakes import github as gh

    per_repo = changes // repos
    for r in range(repos):
        name = f"Acme/service-{r:02d}"
        repo = fake.repo(name)
        repo.protection = {
            "required_pull_request_reviews": {"required_approving_review_count": 2, "dismiss_stale_reviews": True},
            "enforce_admins": {"enabled": True},
        }
        for n in range(1, per_repo + 1):
            day, minute = 1 + n % 28, n % 1440
            at = f"2026-{1 + (n // 28) % 12:02d}-{day:02d}T{minute // 60:02d}:{minute % 60:02d}:00Z"
            first, head, merge = ex.sha(f"{name}-{n}-a"), ex.sha(f"{name}-{n}-b"), ex.sha(f"{name}-{n}-m")
            merged = n % 5 != 0
            repo.prs[n] = gh.pull_request(
                name,
                n,
                author=f"dev{n % 40}",
                title=f"Change {n} of {name}",
                body="Refactor the thing.\n\n## Risk\nlow",
                updated=at,
                commits=[
                    gh.commit(first, message=f"change {n}", author=f"dev{n % 40}", at=at),
                    gh.commit(
                        head,
                        message=f"change {n}, tests\n\nCo-Authored-By: Claude <noreply@anthropic.com>",
                        author=f"dev{n % 40}",
                        at=at,
                    ),
                ],
                files=[f"src/module_{n % 50}.py", f"tests/test_module_{n % 50}.py"],
                labels=["backend"],
                reviews=[
                    gh.review(
                        r * 10**6 + n * 10 + k,
                        repo=name,
                        number=n,
                        reviewer=f"dev{(n + k) % 40}",
                        state="APPROVED",
                        oid=head,
                        at=at,
                    )
                    for k in (1, 2)
                ],
                head_contexts=[
                    gh.check_run(
                        r * 10**6 + n,
                        repo=name,
                        name="unit-tests",
                        conclusion="success",
                        suite=r * 10**6 + n,
                        started=at,
                        completed=at,
                    ),
                    gh.status_context("ci/lint", state="success", at=at),
                ],
                merge={
                    "oid": merge,
                    "contexts": [
                        gh.check_run(
                            r * 10**6 + 500_000 + n,
                            repo=name,
                            name="security-scan",
                            conclusion="success",
                            suite=r * 10**6 + 500_000 + n,
                            started=at,
                            completed=at,
                        )
                    ],
                }
                if merged
                else None,
            )
            repo.runs.append(gh.workflow_run(r * 10**6 + n, repo=name, name="CI", sha=head, created=at))
            if merged and n % 10 == 1:
                repo.deployments.append(
                    gh.deployment(
                        r * 10**6 + n, sha=merge, created=at, states=[("success", at)], service=f"service-{r:02d}"
                    )
                )


def serve(queue: Any, changes: int, repos: int, latency: float) -> None:
    """The child process: the fake GitHub with the organisation, until it is terminated."""
    from tests.fakes import github as gh

    fake = gh.FakeGitHub(TOKEN, delay=latency)
    organisation(fake, changes=changes, repos=repos)
    fake.start()
    queue.put((fake.url, [r.full_name for r in fake.repos.values()]))
    while True:
        time.sleep(3600)


async def collect_once(graph: Graph, url: str, repos: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    async with github.client(TOKEN, api_url=url) as api:
        collector = github.GitHubCollector(graph, api, github.Options(org="acme", api_url=url))
        summary, records = await drive(graph, collector.pages(), quarantine_dir=None)
        seconds = time.monotonic() - started
        return {
            "seconds": seconds,
            "records": records,
            "requests": Counter(api.stats.requests),
            "not_modified": api.stats.not_modified,
            "network": api.stats.seconds,
            "points": collector.points,
            "events": summary.read,
            "rejected": len(summary.rejected),
            "written": summary.written,
        }


def report(label: str, run: dict[str, Any], prs: int, latency: float) -> None:
    requests = run["requests"]
    pr_data = sum(requests[k] for k in PR_DATA)
    total = sum(requests.values())
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(requests.items()))
    written = run["written"]
    lines = [
        f"{label}: {run['seconds']:.1f} s wall, {run['events']:,} events ({run['rejected']} rejected)",
        f"  waiting for answers {run['network']:.1f} s (the latency alone: {total * latency:.1f} s);"
        f" reading, the pipeline and writing {run['seconds'] - run['network']:.1f} s",
        f"  records: {dict(run['records'])}",
        f"  requests: {total:,} ({kinds}; {run['not_modified']} were 304)",
        f"  pull request / review / commit / check data: {pr_data:,} requests"
        f" = {pr_data / prs:.4f} per pull request (target 0.1)",
        f"  all requests per pull request: {total / prs:.4f};"
        f" GraphQL cost {run['points']:,} points = {run['points'] / prs:.4f} per pull request",
        f"  written: {written.nodes_created:,} nodes, {written.edges_created:,} edges,"
        f" {written.properties_set:,} properties",
    ]
    print("\n" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each answer is held back")
    args = parser.parse_args()
    print(f"machine: {machine()}\n{neo4j_memory()}")
    settings: Settings = fresh_database()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    server = context.Process(target=serve, args=(queue, args.changes, args.repos, args.latency), daemon=True)
    server.start()
    try:
        url, repos = queue.get(timeout=600)
        prs = args.changes // args.repos * args.repos
        print(
            f"organisation: {prs:,} pull requests in {len(repos)} repositories, {args.latency * 1000:.0f} ms a request"
        )
        first = run_with_graph(settings, lambda g: collect_once(g, url, repos))
        report("first run (everything)", first, prs, args.latency)
        second = run_with_graph(settings, lambda g: collect_once(g, url, repos))
        report("second run (nothing changed)", second, prs, args.latency)
        scale = 50_000 / prs
        pr_data = sum(first["requests"][k] for k in PR_DATA) * scale
        rest = sum(v for k, v in first["requests"].items() if k.startswith("rest")) * scale
        print(
            f"\n50,000 changes at this rate: {pr_data:,.0f} GraphQL requests of pull request data, "
            f"{first['points'] * scale:,.0f} GraphQL points (GitHub allows 5,000 points an hour), "
            f"{rest:,.0f} REST requests (5,000 an hour)"
        )
    finally:
        server.terminate()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
