"""The auditor's semantics, end to end: events in, GraphQL answer out, against a real Neo4j."""

from __future__ import annotations

from typing import Any

import pytest

from graph.settings import Settings
from ingest import examples as ex
from tests.conftest import api, load

REPO = "acme/web"
QUERY = """
query($repo: String!, $number: Int!) {
  change(repo: $repo, number: $number) {
    id state riskArea headSha mergeCommitSha
    author { login isBot }
    sessions { id tool model promptSummary operator { login } }
    commits { sha }
    approvals { reviewer { login isBot } commitSha stale independent }
    evidence { kind name conclusion commitSha source }
    deployments { id environment service status }
    verdict { status gaps }
  }
}
"""


def ask(settings: Settings, number: int) -> dict[str, Any]:
    with api(settings) as client:
        response = client.post("/graphql", json={"query": QUERY, "variables": {"repo": REPO, "number": number}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["change"]


def opened(
    number: int,
    head: str,
    *,
    author: str = "alice",
    labels: list[str] | None = None,
    at: str = "2026-02-01T10:00:00Z",
) -> dict[str, Any]:
    return ex.pull_request(REPO, number, action="opened", author=author, head=head, labels=labels, at=at)


def merged(number: int, head: str, *, author: str = "alice", labels: list[str] | None = None) -> dict[str, Any]:
    return ex.pull_request(
        REPO,
        number,
        action="closed",
        merged=True,
        merge_sha=ex.sha(f"merge-{number}"),
        author=author,
        head=head,
        labels=labels,
        at="2026-02-01T15:00:00Z",
    )


def approve(
    number: int, reviewer: str, commit: str, review_id: int, at: str = "2026-02-01T12:00:00Z"
) -> dict[str, Any]:
    return ex.review(
        REPO,
        number,
        reviewer=reviewer,
        state="approved",
        commit=commit,
        review_id=review_id,
        at=at,
        pr_author="alice",
    )


def green(head: str, run_id: int, name: str = "unit-tests") -> dict[str, Any]:
    return ex.check_run(REPO, name=name, head=head, conclusion="success", run_id=run_id)


def test_fully_verified_change(settings: Settings) -> None:
    head = ex.sha("v-1")
    load(
        settings,
        [
            ex.push(REPO, before=ex.sha("base"), commits=[ex.commit(head, message="Tidy", author="alice")]),
            opened(1, head),
            green(head, 11),
            approve(1, "bob", head, 111),
            merged(1, head),
        ],
    )
    change = ask(settings, 1)
    assert change["verdict"] == {"status": "VERIFIED", "gaps": []}
    assert change["state"] == "merged"
    assert change["mergeCommitSha"] == ex.sha("merge-1")
    assert change["approvals"] == [
        {"reviewer": {"login": "bob", "isBot": False}, "commitSha": head, "stale": False, "independent": True}
    ]
    assert [e["kind"] for e in change["evidence"]] == ["tests"]


def test_approval_before_a_later_push_is_stale(settings: Settings) -> None:
    first, second = ex.sha("s-1"), ex.sha("s-2")
    load(
        settings,
        [
            opened(2, first),
            approve(2, "bob", first, 211, at="2026-02-01T11:00:00Z"),
            ex.pull_request(REPO, 2, action="synchronize", author="alice", head=second, at="2026-02-01T11:30:00Z"),
            green(second, 21),
            merged(2, second),
        ],
    )
    change = ask(settings, 2)
    assert change["headSha"] == second
    assert change["approvals"][0]["stale"] is True
    assert change["approvals"][0]["independent"] is True
    assert change["verdict"]["status"] == "UNVERIFIED"
    [gap] = change["verdict"]["gaps"]
    assert "has 0" in gap and "bob" in gap and "final head" in gap


def test_author_bot_and_agent_operator_approvals_are_not_independent(settings: Settings) -> None:
    head = ex.sha("i-1")
    load(
        settings,
        [
            ex.provenance(
                REPO,
                3,
                session_id="sess-i",
                tool="cursor",
                model="gpt-5",
                prompt_summary="Refactor",
                operator="carol",
            ),
            opened(3, head),
            green(head, 31),
            approve(3, "alice", head, 311),
            approve(3, "renovate[bot]", head, 312),
            approve(3, "carol", head, 313),
            merged(3, head),
        ],
    )
    change = ask(settings, 3)
    flags = {a["reviewer"]["login"]: a["independent"] for a in change["approvals"]}
    assert flags == {"alice": False, "renovate[bot]": False, "carol": False}
    assert change["sessions"][0]["operator"]["login"] == "carol"
    assert change["verdict"]["status"] == "UNVERIFIED"
    assert "has 0" in change["verdict"]["gaps"][0]


def test_green_checks_only_on_an_older_commit_leave_a_gap_naming_the_evidence(settings: Settings) -> None:
    first, second = ex.sha("o-1"), ex.sha("o-2")
    load(
        settings,
        [
            opened(4, first),
            green(first, 41),
            ex.pull_request(REPO, 4, action="synchronize", author="alice", head=second, at="2026-02-01T11:30:00Z"),
            approve(4, "bob", second, 411),
            merged(4, second),
        ],
    )
    change = ask(settings, 4)
    assert change["evidence"] == []
    [gap] = change["verdict"]["gaps"]
    assert "`tests`" in gap and second[:7] in gap and first[:7] in gap


def test_payments_change_with_one_approval_where_policy_wants_two(settings: Settings) -> None:
    head = ex.sha("p-1")
    load(
        settings,
        [
            opened(5, head, labels=["payments"]),
            green(head, 51),
            green(head, 52, name="codeql-scan"),
            approve(5, "bob", head, 511),
            merged(5, head, labels=["payments"]),
        ],
    )
    change = ask(settings, 5)
    assert change["riskArea"] == "payments"
    assert change["verdict"]["status"] == "UNVERIFIED"
    gap, scan = change["verdict"]["gaps"]
    assert "needs 2" in gap and "has 1" in gap and "payments" in gap
    # The scan came from a file: payments wants a security scan from the provider or signed (policy.default.yaml).
    assert "`security-scan`" in scan and "does not count: codeql-scan: it is unverified" in scan
    assert scan.endswith("payments needs provider or signed")


def test_a_failed_check_on_the_shipped_commit_is_a_gap(settings: Settings) -> None:
    head = ex.sha("f-1")
    load(
        settings,
        [
            opened(6, head),
            ex.check_run(REPO, name="unit-tests", head=head, conclusion="failure", run_id=61),
            approve(6, "bob", head, 611),
            merged(6, head),
        ],
    )
    change = ask(settings, 6)
    assert change["verdict"]["status"] == "UNVERIFIED"
    assert "unit-tests is failure" in change["verdict"]["gaps"][0]


@pytest.mark.parametrize("later_state", ["changes_requested", "dismissed"])
def test_an_approval_withdrawn_later_does_not_count(settings: Settings, later_state: str) -> None:
    head = ex.sha("w-1")
    later = ex.review(
        REPO,
        7,
        reviewer="bob",
        state=later_state,
        commit=head,
        review_id=712,
        at="2026-02-01T13:00:00Z",
        pr_author="alice",
    )
    load(settings, [opened(7, head), green(head, 71), approve(7, "bob", head, 711), later, merged(7, head)])
    assert ask(settings, 7)["verdict"]["status"] == "UNVERIFIED"


def test_ai_session_from_commit_trailers_is_linked_to_the_change(settings: Settings) -> None:
    head = ex.sha("t-1")
    message = "Add cache\n\nAI-Session: sess-trailer\nCo-authored-by: Claude <noreply@anthropic.com>"
    load(
        settings,
        [
            ex.push(REPO, before=ex.sha("base"), commits=[ex.commit(head, message=message, author="alice")]),
            opened(8, head),
        ],
    )
    change = ask(settings, 8)
    assert [s["id"] for s in change["sessions"]] == ["sess-trailer"]
    assert change["sessions"][0]["tool"] == "claude-code"


def test_unknown_change_is_null(settings: Settings) -> None:
    with api(settings) as client:
        body = client.post("/graphql", json={"query": QUERY, "variables": {"repo": REPO, "number": 999}}).json()
    assert body["data"]["change"] is None
