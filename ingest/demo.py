"""The built-in demo: a small org with AI and human changes, one stale approval, one missing check
and one deployment. `tracegraph demo` loads it and prints the five-minute answer for acme/shop#42."""

from __future__ import annotations

from ingest import examples as ex
from ingest.examples import Envelope

REPO = "acme/shop"
DEMO_CHANGE = (REPO, 42)


def envelopes() -> list[Envelope]:
    """Every demo event, in the order a webhook stream might deliver them."""
    human_head = ex.sha("demo-41-1")
    ai_first, ai_head = ex.sha("demo-42-1"), ex.sha("demo-42-2")
    merge_41, merge_42 = ex.sha("demo-41-merge"), ex.sha("demo-42-merge")
    claude = "Co-authored-by: Claude <noreply@anthropic.com>"
    return [
        # acme/shop#41: a human change, approved by an independent reviewer on its head, tests green.
        ex.push(
            REPO,
            before=ex.sha("base"),
            commits=[
                ex.commit(
                    human_head,
                    message="Fix rounding in cart totals",
                    author="alice",
                    files=["src/cart/totals.py"],
                )
            ],
        ),
        ex.pull_request(
            REPO,
            41,
            action="opened",
            author="alice",
            head=human_head,
            title="Fix rounding in cart totals",
            at="2026-01-04T09:00:00Z",
            created_at="2026-01-04T09:00:00Z",
        ),
        ex.check_run(REPO, name="unit-tests", head=human_head, conclusion="success", run_id=4101),
        ex.review(
            REPO,
            41,
            reviewer="bob",
            state="approved",
            commit=human_head,
            review_id=4111,
            pr_author="alice",
            at="2026-01-04T10:30:00Z",
        ),
        ex.pull_request(
            REPO,
            41,
            action="closed",
            merged=True,
            merge_sha=merge_41,
            author="alice",
            head=human_head,
            title="Fix rounding in cart totals",
            at="2026-01-04T12:00:00Z",
            created_at="2026-01-04T09:00:00Z",
        ),
        # acme/shop#42: an AI-assisted payments change. dave approved before the last push (stale);
        # tests ran on the head but the security scan payments policy requires never ran.
        ex.provenance(
            REPO,
            42,
            session_id="sess-claude-7f3a",
            tool="claude-code",
            model="claude-sonnet-4.5",
            prompt_summary="Add idempotency keys to the refund endpoint",
            operator="carol",
            risk_area="payments",
        ),
        ex.push(
            REPO,
            before=ex.sha("base"),
            commits=[
                ex.commit(
                    ai_first,
                    message=f"Add idempotency keys to refunds\n\nAI-Session: sess-claude-7f3a\n{claude}",
                    author="carol",
                    files=["src/payments/refunds.py"],
                    at="2026-01-05T09:10:00Z",
                )
            ],
        ),
        ex.pull_request(
            REPO,
            42,
            action="opened",
            author="carol",
            head=ai_first,
            labels=["payments"],
            title="Add idempotency keys to refunds",
            at="2026-01-05T09:15:00Z",
        ),
        ex.review(
            REPO,
            42,
            reviewer="dave",
            state="approved",
            commit=ai_first,
            review_id=4211,
            at="2026-01-05T09:40:00Z",
            pr_author="carol",
        ),
        ex.check_run(REPO, name="unit-tests", head=ai_first, conclusion="success", run_id=4201),
        ex.push(
            REPO,
            before=ai_first,
            commits=[
                ex.commit(
                    ai_head,
                    message=f"Handle replayed refund requests\n\nAI-Session: sess-claude-7f3a\n{claude}",
                    author="carol",
                    files=["src/payments/refunds.py", "tests/test_refunds.py"],
                    at="2026-01-05T10:05:00Z",
                )
            ],
        ),
        ex.pull_request(
            REPO,
            42,
            action="synchronize",
            author="carol",
            head=ai_head,
            labels=["payments"],
            title="Add idempotency keys to refunds",
            at="2026-01-05T10:06:00Z",
        ),
        ex.check_run(
            REPO,
            name="unit-tests",
            head=ai_head,
            conclusion="success",
            run_id=4202,
            at="2026-01-05T10:40:00Z",
        ),
        ex.review(
            REPO,
            42,
            reviewer="erin",
            state="approved",
            commit=ai_head,
            review_id=4212,
            at="2026-01-05T11:00:00Z",
            pr_author="carol",
        ),
        ex.pull_request(
            REPO,
            42,
            action="closed",
            merged=True,
            merge_sha=merge_42,
            author="carol",
            head=ai_head,
            labels=["payments"],
            title="Add idempotency keys to refunds",
            at="2026-01-05T12:00:00Z",
        ),
        ex.deployment(REPO, deployment_id=9001, sha_=merge_42, service="shop-api", at="2026-01-06T09:00:00Z"),
        ex.deployment_status(
            REPO,
            deployment_id=9001,
            sha_=merge_42,
            state="success",
            status_id=90011,
            service="shop-api",
            at="2026-01-06T09:12:00Z",
            started_at="2026-01-06T09:00:00Z",
        ),
    ]
