"""The collectors' HTTP client (collect/http.py) against real HTTP on 127.0.0.1: limits, retries, scopes.

No database: these are the rules every collector inherits. The GitHub responses are the ones hub4j
recorded from api.github.com (corpus/github-api/hub4j-recorded/*.mapping.json: status, headers, body),
served as recorded when the corpus is there, and their documented shape otherwise.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from collect import github
from collect.http import CollectError, MissingScope, ServerBusy
from tests.conftest import CORPUS
from tests.fakes.harness import FakeClock
from tests.fakes.server import Answer, FakeApi, Fault, Request

TOKEN = "tok-http-0a9b8c7d6e"
RECORDED = CORPUS / "github-api" / "hub4j-recorded"


class Scripted(FakeApi):
    """Answers 200 {"ok": n} with GitHub's headers, after whatever faults a test queued."""

    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.headers: dict[str, str] = {"X-OAuth-Scopes": "repo, read:org"}

    def limit_headers(self, request: Request) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(int(time.time()) + 3600),
            "X-RateLimit-Resource": "core",
            **self.headers,
        }

    def route(self, request: Request) -> Answer:
        return Answer(200, {"ok": len(self.log)})


def get(fake: Scripted, clock: FakeClock, path: str = "/repos/acme/shop", **kwargs: Any) -> Any:
    async def main() -> Any:
        async with github.client(TOKEN, api_url=fake.url, clock=clock) as api:
            reply = await api.request("GET", path, **kwargs)
            return reply, api

    return asyncio.run(main())


def recorded(name: str, reset_in: int = 3) -> Fault:
    """A hub4j WireMock mapping as a fault (its templated reset set `reset_in` seconds ahead)."""
    mapping = json.loads((RECORDED / name).read_text())["response"]
    headers = {k: v for k, v in mapping["headers"].items() if isinstance(v, str) and "{{" not in v}
    if "X-RateLimit-Reset" in mapping["headers"]:
        headers["X-RateLimit-Reset"] = str(int(time.time()) + reset_in)
    headers.pop("Content-Length", None)
    return Fault("GET", mapping["status"], json.loads(mapping["body"]), headers)


needs_corpus = pytest.mark.skipif(not RECORDED.is_dir(), reason="the shared corpus is not on this machine")


def test_link_headers_are_followed_to_the_last_page() -> None:
    with Scripted() as fake:
        link = (
            f'<{fake.url}/repos/acme/shop/check-runs?per_page=2&page=2>; rel="next", <{fake.url}/x?page=4>; rel="last"'
        )
        fake.faults.append(Fault("GET", 200, [1, 2], {"Link": link}))
        reply, _ = get(fake, FakeClock())
        assert reply.next_link() == f"{fake.url}/repos/acme/shop/check-runs?per_page=2&page=2"
        last, _ = get(fake, FakeClock())
    assert last.next_link() is None


@needs_corpus
def test_a_spent_primary_budget_waits_for_its_reset_as_recorded() -> None:
    clock = FakeClock()
    with Scripted() as fake:
        fake.faults.append(recorded("rate-limit-exceeded_403_primary.mapping.json", reset_in=30))
        reply, api = get(fake, clock)
    assert reply.body == {"ok": 1}
    assert len(clock.slept) == 1 and 29 <= clock.slept[0] <= 32
    assert fake.count() == 2  # the refusal, then one request after the reset


@needs_corpus
def test_a_secondary_limit_without_retry_after_waits_a_minute_then_longer() -> None:
    clock = FakeClock()
    with Scripted() as fake:
        fault = recorded("secondary-rate-limit_403.mapping.json")
        fault.times = 2
        fake.faults.append(fault)
        reply, _ = get(fake, clock)
    assert reply.status == 200
    assert clock.slept == [60.0, 120.0]


@needs_corpus
def test_a_429_waits_as_its_retry_after_says() -> None:
    clock = FakeClock()
    with Scripted() as fake:
        fake.faults.append(recorded("secondary-rate-limit_429_retry-after.mapping.json"))
        get(fake, clock)
    assert clock.slept == [8.0]


def test_a_budget_spent_by_a_successful_answer_waits_before_the_next_request() -> None:
    clock = FakeClock()
    with Scripted() as fake:
        fake.remaining = 1  # this answer spends the last request of the hour

        async def main() -> None:
            async with github.client(TOKEN, api_url=fake.url, clock=clock) as api:
                await api.request("GET", "/repos/acme/shop")
                assert clock.slept == []
                assert api.budget("core").remaining == 0
                await api.request("GET", "/repos/acme/shop")

        asyncio.run(main())
    assert len(clock.slept) == 1 and clock.slept[0] > 3000  # until the reset, an hour away


def test_502_bursts_back_off_and_too_many_give_up_clearly() -> None:
    clock = FakeClock()
    with Scripted() as fake:
        fake.faults.append(Fault("GET", 502, None, times=3))
        reply, api = get(fake, clock)
        assert reply.status == 200 and api.stats.retries == 3
        assert [int(s) for s in clock.slept] == [1, 2, 4]
        fake.faults.append(Fault("GET", 503, {"message": "Service Unavailable"}, times=50))
        with pytest.raises(ServerBusy) as raised:
            get(fake, FakeClock())
    assert "503" in str(raised.value) and "resumes" in str(raised.value)


def test_an_etag_that_still_matches_is_a_free_304() -> None:
    class Tagged(Scripted):
        def route(self, request: Request) -> Answer:
            return Answer(200, {"same": True}, etag=True)

    with Tagged() as fake:
        first, _ = get(fake, FakeClock())
        second, api = get(fake, FakeClock(), etag=first.etag)
    assert first.etag and second.not_modified and api.stats.not_modified == 1


def test_a_token_without_the_scope_is_told_which_one() -> None:
    with Scripted() as fake:
        fake.headers = {"X-OAuth-Scopes": "public_repo, read:org", "X-Accepted-OAuth-Scopes": "repo"}
        fake.faults.append(Fault("GET", 404, {"message": "Not Found"}, dict(fake.headers)))
        with pytest.raises(MissingScope) as raised:
            get(fake, FakeClock(), allow=frozenset({404}))
    message = str(raised.value)
    assert "lacks the `repo` scope" in message and "public_repo, read:org" in message and TOKEN not in message


def test_a_scope_implied_by_a_broader_one_is_enough() -> None:
    with Scripted() as fake:
        fake.headers = {"X-OAuth-Scopes": "repo", "X-Accepted-OAuth-Scopes": "repo:status"}
        reply, api = get(fake, FakeClock())
    assert reply.status == 200 and api.has_scope("repo:status") and not api.has_scope("admin:org")


def test_a_refused_token_and_a_moved_repository_are_errors_a_person_can_act_on() -> None:
    with Scripted() as fake:
        fake.faults.append(Fault("GET", 401, {"message": "Bad credentials"}))
        with pytest.raises(CollectError) as refused:
            get(fake, FakeClock())
        fake.faults.append(
            Fault("GET", 301, {"message": "Moved Permanently"}, {"Location": f"{fake.url}/repos/acme/store"})
        )
        with pytest.raises(CollectError) as moved:
            get(fake, FakeClock())
    assert "refused GITHUB_TOKEN" in str(refused.value) and TOKEN not in str(refused.value)
    assert "/repos/acme/store" in str(moved.value)
    assert fake.count() == 2  # a redirect is not followed: the token would travel with it


def test_an_api_that_does_not_answer_is_retried_then_named() -> None:
    clock = FakeClock()

    async def main() -> None:
        async with github.client(TOKEN, api_url="http://127.0.0.1:9", clock=clock) as api:
            await api.request("GET", "/repos/acme/shop")

    with pytest.raises(ServerBusy) as raised:
        asyncio.run(main())
    assert "127.0.0.1:9" in str(raised.value) and len(clock.slept) == 6 and TOKEN not in str(raised.value)


def test_graphql_rate_limited_with_its_reset_already_past_waits_a_minute_not_zero() -> None:
    """GitHub's GraphQL answers 200 with a RATE_LIMITED error; a reset it names that is already past
    (clocks differ) must still be a wait, or the next request would follow at once, and again."""
    clock = FakeClock()
    limited = {"data": None, "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}
    past = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) - 5)}

    class GraphQL(Scripted):
        def route(self, request: Request) -> Answer:
            return Answer(200, {"data": {"viewer": {"login": "carol"}}})

    async def main(fake: GraphQL) -> dict[str, Any]:
        async with github.client(TOKEN, api_url=fake.url, clock=clock) as api:
            collector = github.GitHubCollector(None, api, github.Options(api_url=fake.url))  # type: ignore[arg-type]
            return await collector.graphql("query Viewer { viewer { login } }")

    with GraphQL() as fake:
        fake.faults.append(Fault("POST", 200, limited, past, times=2))
        data = asyncio.run(main(fake))
        fake.faults.append(Fault("POST", 200, limited, past, times=1000))
        with pytest.raises(CollectError) as raised:
            asyncio.run(main(fake))
    assert data == {"viewer": {"login": "carol"}}
    assert clock.slept[:2] == [60.0, 60.0]
    assert "RATE_LIMITED" in str(raised.value) and "resumes" in str(raised.value)
