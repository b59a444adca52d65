"""A repository's history for the governance tests, as the sources send it: git commits (with parents),
pull requests, reviews, checks and deployments of acme/shop, deployed as the service `shop`.

    R ── M1 ── M2 ── M3 ── X            main (first parents); X is a direct push, no pull request
     \\   /  \\   /  \\   /
      h1     h2     h3                  PR #1, #2 (approved, tested) and #3 (not approved), merge commits M1-M3
             \\
              h4                        PR #4, open, never merged

D1 ships M1 to production (success): it is what runs there until a test deploys something else.
"""

from __future__ import annotations

from typing import Any

from ingest import examples as ex

REPO = "acme/shop"
SERVICE = "shop"
Envelope = dict[str, Any]


def sha(name: str) -> str:
    return ex.sha(f"governance-{name}")


R, H1, M1, H2, M2, H3, M3, X, H4 = (sha(n) for n in ("R", "h1", "M1", "h2", "M2", "h3", "M3", "X", "h4"))


def git_commit(
    commit: str, parents: list[str], *, message: str, author: str = "alice", at: str = "2026-03-01T09:00:00Z"
) -> Envelope:
    """A commit as `tracegraph ingest-git` reads it (source git), parents in git's order."""
    person = {"name": author.title(), "email": f"{author}@example.com", "at": at}
    return {
        "source": "git",
        "type": "commit",
        "id": f"{REPO}@{commit}",
        "payload": {
            "repo": REPO,
            "sha": commit,
            "parents": parents,
            "author": person,
            "committer": person,
            "signature": "N",
            "message": message,
            "files": ["src/app.py"],
            "additions": 3,
            "deletions": 1,
        },
    }


def pull_request(
    number: int,
    head: str,
    merge: str | None,
    *,
    approved_by: tuple[str, ...] = ("bob",),
    checks: tuple[str, ...] = ("unit-tests",),
    author: str = "alice",
    labels: list[str] | None = None,
    body: str | None = None,
    day: int = 2,
) -> list[Envelope]:
    """A pull request opened, reviewed, checked on its head and (when `merge`) merged as `merge`."""
    at = f"2026-03-{day:02d}T"
    found = [
        ex.pull_request(
            REPO, number, action="opened", author=author, head=head, labels=labels, body=body, at=at + "08:00:00Z"
        )
    ]
    found += [
        ex.review(
            REPO,
            number,
            reviewer=reviewer,
            state="approved",
            commit=head,
            review_id=number * 100 + i,
            at=at + "09:00:00Z",
            pr_author=author,
        )
        for i, reviewer in enumerate(approved_by)
    ]
    found += [
        ex.check_run(REPO, name=name, head=head, conclusion="success", run_id=number * 100 + i, at=at + "08:30:00Z")
        for i, name in enumerate(checks)
    ]
    if merge:
        found.append(
            ex.pull_request(
                REPO,
                number,
                action="closed",
                merged=True,
                merge_sha=merge,
                author=author,
                head=head,
                labels=labels,
                body=body,
                at=at + "10:00:00Z",
            )
        )
    return found


def deploy(
    deployment_id: int,
    commit: str,
    *,
    at: str,
    finished: str | None = None,
    state: str = "success",
    strategy: str | None = "canary",
    environment: str = "production",
    service: str = SERVICE,
    drill: bool = False,
) -> list[Envelope]:
    """A deployment and its final status."""
    return [
        ex.deployment_status(
            REPO,
            deployment_id=deployment_id,
            sha_=commit,
            state=state,
            status_id=deployment_id * 10,
            environment=environment,
            service=service,
            started_at=at,
            at=finished or at,
            strategy=strategy,
            drill=drill,
        )
    ]


def history() -> list[Envelope]:
    """The history drawn in the module docstring, D1 included."""
    return [
        git_commit(R, [], message="Initial commit"),
        git_commit(H1, [R], message="Add health check"),
        git_commit(M1, [R, H1], message="Merge pull request #1"),
        git_commit(H2, [M1], message="Add cart"),
        git_commit(M2, [M1, H2], message="Merge pull request #2"),
        git_commit(H3, [M2], message="Add coupons"),
        git_commit(M3, [M2, H3], message="Merge pull request #3"),
        git_commit(X, [M3], message="Fix typo straight on main", author="mallory"),
        git_commit(H4, [M2], message="Try a new layout"),
        *pull_request(1, H1, M1, day=1),
        *pull_request(2, H2, M2, day=2),
        *pull_request(3, H3, M3, approved_by=(), day=3),
        *pull_request(4, H4, None, day=4),
        *deploy(101, M1, at="2026-03-01T12:00:00Z"),
    ]
