"""One HTTP client for every provider API: rate limits honoured, transient failures retried, ETags kept.

Built on httpx (see pyproject.toml for why not a provider SDK). Each provider describes its dialect in a
`Dialect` (which headers carry the budget, whether the reset is an epoch or a delay, how the token is
sent); the client then behaves the same everywhere:

- primary limits: the budget each response reports (X-RateLimit-*, RateLimit-*, GraphQL `rateLimit`) is
  kept per resource; when it is spent the client waits for the reset before it sends anything more;
- secondary limits: a 403/429 with Retry-After (or GitHub's "secondary rate limit" message) waits as
  told, at least a minute when nothing is said, longer each time it repeats; never hammer;
- bursts of 502/503/504 and dropped connections are retried with exponential backoff and jitter;
- If-None-Match: a caller that kept an ETag gets `not_modified` back (GitHub does not charge a 304);
- a token refused for lack of a scope raises `MissingScope` naming the scope it lacks.

The clock is injectable, so tests see every wait without spending it. The token travels only in the
request headers: no URL, message or exception of this module ever contains it.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

SERVER_BUSY = frozenset({500, 502, 503, 504})
# A few waits in a row are normal (a budget reset, a secondary limit); dozens mean something is wrong.
MAX_LIMIT_WAITS = 30


class CollectError(RuntimeError):
    """A collection cannot go on; the message says what happened and what to do."""


class MissingScope(CollectError):
    """The token lacks a scope (or permission) the request needs; the message names it."""


class ServerBusy(CollectError):
    """The provider kept answering 5xx (or did not answer); a smaller request may get through."""


@dataclass
class Budget:
    """What is left of one rate-limit window (a REST `core` budget, GraphQL points, ...)."""

    resource: str
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds

    def line(self) -> str:
        """`graphql 4,321/5,000 left` for a progress bar."""
        if self.remaining is None:
            return f"{self.resource} ?"
        total = f"/{self.limit:,}" if self.limit is not None else ""
        return f"{self.resource} {self.remaining:,}{total} left"


@dataclass
class Clock:
    """Time and sleep, replaceable in tests."""

    now: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass(frozen=True)
class Dialect:
    """How a provider speaks about limits and credentials."""

    provider: str
    token_variable: str
    # Header names (lower case) of the limit, what remains and when it resets.
    limit_header: str = "x-ratelimit-limit"
    remaining_header: str = "x-ratelimit-remaining"
    reset_header: str = "x-ratelimit-reset"
    # True: the reset header is an epoch time; False: a number of seconds from now.
    reset_is_epoch: bool = True
    # Which budget a response counts against (GitHub: core, graphql, search...).
    resource_header: str | None = None
    # Seconds to wait on a secondary limit that names no delay (GitHub asks for at least a minute).
    secondary_wait: float = 60.0
    # Other headers that tell a throttled client how long to wait (Opsgenie's period).
    wait_headers: tuple[str, ...] = ()
    # (granted, accepted) scope headers, when the provider sends them (GitHub classic tokens).
    scope_headers: tuple[str, str] | None = None
    implied_scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # What the token needs, for the message when it is refused outright.
    needs: str = ""


@dataclass(frozen=True)
class Provider:
    """A provider's API: its dialect, where it answers by default, and how a credential is sent."""

    dialect: Dialect
    default_url: str
    headers: Callable[[str], dict[str, str]]

    def client(
        self,
        token: str,
        *,
        api_url: str | None = None,
        clock: Clock | None = None,
        on_budget: Callable[[Budget], None] | None = None,
        on_wait: Callable[[str, float], None] | None = None,
    ) -> Api:
        """A client for this provider at `api_url` (a self-hosted server) or its public API."""
        return Api(
            api_url or self.default_url,
            dialect=self.dialect,
            headers={**self.headers(token), "User-Agent": "tracegraph-collect"},
            clock=clock,
            on_budget=on_budget,
            on_wait=on_wait,
        )


@dataclass
class Reply:
    """A response the caller reads: status, JSON body, ETag and pagination links."""

    status: int
    headers: httpx.Headers
    body: Any
    url: str
    not_modified: bool = False

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    def next_link(self) -> str | None:
        """The `rel="next"` URL of a Link header (GitHub, GitLab), or None on the last page."""
        link = self.headers.get("link")
        if not link:
            return None
        for part in link.split(","):
            section = part.split(";")
            if len(section) < 2:
                continue
            url = section[0].strip()
            if any(s.strip().replace(" ", "") in ('rel="next"', "rel=next") for s in section[1:]):
                return url[1:-1] if url.startswith("<") and url.endswith(">") else url
        return None


@dataclass
class Stats:
    """What a client did: requests by kind, 304s, waits."""

    requests: Counter[str] = field(default_factory=Counter)
    not_modified: int = 0
    retries: int = 0
    # Seconds spent waiting for answers (not for rate limits): the network's share of a run.
    seconds: float = 0.0
    waits: list[tuple[str, float]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def waited(self) -> float:
        return sum(seconds for _, seconds in self.waits)


def _seconds(value: str | None) -> float | None:
    """A Retry-After value: seconds, or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _path(url: str) -> str:
    """A URL's path for messages (no host, no query)."""
    return httpx.URL(url).path


class Api:
    """An HTTP client for one provider account, with its dialect's limits and retries."""

    def __init__(
        self,
        base_url: str,
        *,
        dialect: Dialect,
        headers: Mapping[str, str],
        clock: Clock | None = None,
        on_budget: Callable[[Budget], None] | None = None,
        on_wait: Callable[[str, float], None] | None = None,
        max_retries: int = 6,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.dialect = dialect
        self.clock = clock or Clock()
        self.on_budget = on_budget
        self.on_wait = on_wait
        self.max_retries = max_retries
        self.stats = Stats()
        self.budgets: dict[str, Budget] = {}
        self.granted_scopes: frozenset[str] | None = None
        # Redirects are not followed: a custom auth header (PRIVATE-TOKEN, GenieKey) would travel to
        # wherever the Location points.
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=dict(headers),
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
        )
        self._secondary_streak = 0

    async def close(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- budgets -------------------------------------------------------------------------------

    def budget(self, resource: str) -> Budget:
        return self.budgets.setdefault(resource, Budget(resource))

    def note_budget(self, resource: str, *, limit: int | None, remaining: int | None, reset_at: float | None) -> None:
        """Record what a response (or a GraphQL `rateLimit` object) says is left."""
        budget = self.budget(resource)
        if limit is not None:
            budget.limit = limit
        if remaining is not None:
            budget.remaining = remaining
        if reset_at is not None:
            budget.reset_at = reset_at
        if self.on_budget and remaining is not None:
            self.on_budget(budget)

    def _read_budget(self, response: httpx.Response, resource: str) -> None:
        d = self.dialect
        remaining = _int(response.headers.get(d.remaining_header))
        if remaining is None:
            return
        reset = _int(response.headers.get(d.reset_header))
        reset_at = None if reset is None else float(reset) if d.reset_is_epoch else self.clock.now() + reset
        self.note_budget(
            resource, limit=_int(response.headers.get(d.limit_header)), remaining=remaining, reset_at=reset_at
        )

    async def wait(self, reason: str, seconds: float) -> None:
        """Sleep (through the clock), telling whoever watches why and for how long."""
        seconds = max(0.0, seconds)
        self.stats.waits.append((reason, seconds))
        if self.on_wait:
            self.on_wait(reason, seconds)
        await self.clock.sleep(seconds)

    async def respect(self, resource: str, cost: int = 1) -> None:
        """Before a request: when the budget cannot pay for it, wait for the reset."""
        budget = self.budgets.get(resource)
        if budget is None or budget.remaining is None or budget.remaining >= cost or budget.reset_at is None:
            return
        delay = budget.reset_at - self.clock.now() + 1
        if delay > 0:
            await self.wait(f"{self.dialect.provider} {resource} budget spent until its reset", delay)
        budget.remaining = None  # unknown until the next response says

    # --- requests ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        etag: str | None = None,
        kind: str = "rest",
        resource: str = "core",
        allow: frozenset[int] = frozenset(),
    ) -> Reply:
        """Send a request and return its reply once it is not a limit or a transient failure.

        Statuses in `allow` (e.g. 404 for "not protected") come back as replies; other errors raise
        CollectError (MissingScope when a scope is missing) with a message a person can act on.
        """
        headers = {"If-None-Match": etag} if etag else {}
        failures = 0
        limit_waits = 0
        while True:
            await self.respect(resource)
            sent = time.monotonic()
            try:
                response = await self.client.request(method, url, params=params, json=json, headers=headers)
            except httpx.TransportError as exc:
                self.stats.seconds += time.monotonic() - sent
                failures += 1
                self.stats.requests[kind] += 1
                if failures > self.max_retries:
                    raise ServerBusy(
                        f"{self.dialect.provider} API at {self.client.base_url} did not answer "
                        f"{method} {_path(url)} after {failures} attempts ({exc.__class__.__name__}); "
                        "check --api-url and the network, then run the command again (it resumes)"
                    ) from exc
                await self._backoff(failures, f"{exc.__class__.__name__} on {_path(url)}")
                continue
            self.stats.requests[kind] += 1
            self.stats.seconds += time.monotonic() - sent
            found = self.dialect.resource_header and response.headers.get(self.dialect.resource_header)
            self._read_budget(response, found or resource)
            self._read_scopes(response)
            status = response.status_code
            if status == 304:
                self.stats.not_modified += 1
                return Reply(304, response.headers, None, str(response.url), not_modified=True)
            if status in (403, 429) and (delay := self._limit_delay(response, found or resource)) is not None:
                limit_waits += 1
                if limit_waits > MAX_LIMIT_WAITS:
                    raise CollectError(
                        f"{self.dialect.provider} kept refusing {_path(url)} for rate limits after "
                        f"{MAX_LIMIT_WAITS} waits; run the command again later (it resumes)"
                    )
                await self.wait(f"{self.dialect.provider} rate limit ({status})", delay)
                continue
            self._secondary_streak = 0
            if status in SERVER_BUSY:
                failures += 1
                if failures > self.max_retries:
                    raise ServerBusy(
                        f"{self.dialect.provider} answered {status} to {method} {_path(url)} "
                        f"{failures} times in a row; try again later (the command resumes where it stopped)"
                    )
                await self._backoff(failures, f"{status} on {_path(url)}")
                continue
            body = _json(response)
            if 200 <= status < 300:
                return Reply(status, response.headers, body, str(response.url))
            if status in allow and not self.missing_scopes(response):
                return Reply(status, response.headers, body, str(response.url))
            raise self._error(method, url, response, body)

    async def _backoff(self, failures: int, reason: str) -> None:
        self.stats.retries += 1
        delay = min(60.0, 2.0 ** (failures - 1)) * (1 + random.random() / 4)
        await self.wait(f"retrying after {reason}", delay)

    def _limit_delay(self, response: httpx.Response, resource: str) -> float | None:
        """How long a 403/429 asks us to wait, or None when it is not about rate limits."""
        d = self.dialect
        retry_after = _seconds(response.headers.get("retry-after"))
        if retry_after is not None:
            self._secondary_streak += 1
            return max(1.0, retry_after)
        for name in d.wait_headers:
            if (found := _seconds(response.headers.get(name))) is not None:
                return max(1.0, found)
        budget = self.budgets.get(resource)
        if response.headers.get(d.remaining_header) == "0" and budget and budget.reset_at is not None:
            return max(1.0, budget.reset_at - self.clock.now() + 1)
        text = response.text.lower() if response.content else ""
        if response.status_code == 429 or "secondary rate limit" in text or "abuse" in text:
            # Nothing said how long: a minute, doubling while it repeats (GitHub's guidance).
            self._secondary_streak += 1
            return min(900.0, d.secondary_wait * 2 ** (self._secondary_streak - 1))
        return None

    # --- scopes and errors ---------------------------------------------------------------------

    def _read_scopes(self, response: httpx.Response) -> None:
        if self.dialect.scope_headers is None:
            return
        granted = response.headers.get(self.dialect.scope_headers[0])
        if granted is not None:
            self.granted_scopes = frozenset(s.strip() for s in granted.split(",") if s.strip())

    def has_scope(self, scope: str) -> bool:
        """Whether the token's granted scopes (as far as the provider told) include `scope`."""
        if self.granted_scopes is None:
            return True  # fine-grained tokens and apps name no scopes: their permissions decide
        covered = set(self.granted_scopes)
        for granted in self.granted_scopes:
            covered |= self.dialect.implied_scopes.get(granted, frozenset())
        return scope in covered

    def missing_scopes(self, response: httpx.Response) -> list[str]:
        """Scopes the endpoint accepts of which the token has none (GitHub's X-Accepted-OAuth-Scopes)."""
        if self.dialect.scope_headers is None or self.granted_scopes is None:
            return []
        accepted = response.headers.get(self.dialect.scope_headers[1]) or ""
        wanted = [s.strip() for s in accepted.split(",") if s.strip()]
        if not wanted or any(self.has_scope(s) for s in wanted):
            return []
        return wanted

    def _error(self, method: str, url: str, response: httpx.Response, body: Any) -> CollectError:
        d = self.dialect
        status = response.status_code
        said = _message(body) or response.reason_phrase
        where = f"{method} {_path(url)}"
        if isinstance(body, dict) and body.get("error") == "insufficient_scope":
            # GitLab names the scope the endpoint wants in the body.
            wanted = " or ".join(f"`{s}`" for s in str(body.get("scope") or "").split()) or d.needs
            return MissingScope(f"{d.token_variable} lacks the {wanted} scope that {where} needs ({status}: {said})")
        if missing := self.missing_scopes(response):
            granted = ", ".join(sorted(self.granted_scopes or ())) or "no scopes"
            return MissingScope(
                f"{d.token_variable} lacks the `{' or '.join(missing)}` scope that {where} needs "
                f"({status}: {said}; the token has {granted}); create a token with {d.needs or missing[0]}"
            )
        if status == 401:
            return CollectError(
                f"{d.provider} refused {d.token_variable} (401: {said}); check that it is valid and not expired"
            )
        if status == 403:
            return MissingScope(
                f"{d.token_variable} may not read {where} (403: {said}); it needs {d.needs or 'read access'}"
            )
        if status == 404:
            return CollectError(
                f"{where} was not found (404: {said}): check the name, and that {d.token_variable} can see it"
            )
        if status in (301, 302, 307, 308):
            return CollectError(f"{where} moved to {response.headers.get('location')}; use the new name")
        return CollectError(f"{d.provider} answered {status} to {where}: {said}")


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _message(body: Any) -> str | None:
    """The provider's own words in an error body (`message`, `error`, `error_description`...)."""
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:300]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:300]
    return None
