"""Answering GitHub: the gate behind a custom deployment protection rule, and `tracegraph/verdict` commit statuses.

- A `deployment_protection_rule` webhook (action `requested`) names a deployment waiting for this rule:
  its repository, environment, commit (`deployment.sha`, or the payload's `sha`) and the callback URL.
  `review_protection_rule` gates the commit for the environment (governance.gate) and answers through the
  callback: `approved`, or `rejected` with the gaps as the comment. Anything that goes wrong while
  evaluating is a rejection saying what went wrong (fail closed); GitHub keeps the job waiting otherwise.
- `post_status` sets the `tracegraph/verdict` commit status of a pull request's head, so branch
  protection can require it.

The token (Settings.github_token) goes only to Settings.github_api_url: a callback URL elsewhere is refused,
so a payload can never send it to another host. The token is never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from governance.gate import describe, failure, gate_commit
from governance.models import GateResult
from graph.driver import Graph
from graph.policy import Policy
from graph.settings import Settings
from ingest.sources.base import get, text
from ingest.sources.github_payloads import deployment_settings

CONTEXT = "tracegraph/verdict"
COMMENT_LIMIT = 1024  # GitHub shows the comment on the run; a long one is cut with a pointer to the rest
DESCRIPTION_LIMIT = 140  # GitHub's limit for a commit status description
TIMEOUT = httpx.Timeout(10.0)


class GitHubError(RuntimeError):
    """GitHub could not be answered; the message says why (never the token)."""


@dataclass(frozen=True)
class ProtectionRequest:
    """What a deployment_protection_rule delivery asks about."""

    repo: str
    environment: str
    sha: str | None
    callback_url: str
    deployment_id: str | None
    service: str | None
    strategy: str | None


def protection_request(payload: Any) -> ProtectionRequest:
    """Read a deployment_protection_rule payload; ValueError naming what is missing."""
    repo = text(get(payload, "repository", "full_name"))
    environment = text(get(payload, "environment")) or text(get(payload, "deployment", "environment"))
    callback = text(get(payload, "deployment_callback_url"))
    if not repo or not environment or not callback:
        raise ValueError("the deployment_protection_rule payload names no repository, environment or callback URL")
    settings = deployment_settings(get(payload, "deployment", "payload"))
    deployment_id = get(payload, "deployment", "id")
    return ProtectionRequest(
        repo=repo,
        environment=environment,
        sha=text(get(payload, "deployment", "sha")) or text(get(payload, "sha")),
        callback_url=callback,
        deployment_id=str(deployment_id) if isinstance(deployment_id, int | str) else None,
        service=text(settings.get("service")) or text(get(payload, "repository", "name")),
        strategy=text(settings.get("strategy")),
    )


async def evaluate(graph: Graph, policy: Policy, request: ProtectionRequest) -> GateResult:
    """The gate's answer for a waiting deployment; a failure (never a pass) when it cannot be evaluated."""
    if request.sha is None:
        return failure("commit", request.repo, "the payload names no commit", environment=request.environment)
    try:
        return await gate_commit(
            graph,
            policy,
            request.sha,
            environment=request.environment,
            strategy=request.strategy,
            service=request.service,
        )
    except Exception as exc:  # noqa: BLE001 - fail closed: whatever went wrong, the answer is a refusal
        return failure("commit", request.sha, describe(exc), environment=request.environment)


def _api(settings: Settings) -> str:
    return settings.github_api_url.rstrip("/")


def _headers(settings: Settings) -> dict[str, str]:
    if settings.github_token is None or not settings.github_token.get_secret_value():
        raise GitHubError("TRACEGRAPH_GITHUB_TOKEN is not set, so GitHub cannot be answered")
    return {
        "Authorization": f"Bearer {settings.github_token.get_secret_value()}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "tracegraph",
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def comment(result: GateResult) -> str:
    """The callback's comment: why the deployment may go, or every gap that stops it."""
    if result.error:
        return _clip(f"tracegraph could not evaluate this deployment, so it is refused: {result.error}", COMMENT_LIMIT)
    if result.passed:
        covered = [c for c in result.changes if c.covered_by]
        text = f"tracegraph: {len(result.changes)} change(s) to {result.environment}, every one VERIFIED"
        if covered:
            text += f" or covered by an active exception ({', '.join(f'{c.id}: {c.covered_by}' for c in covered)})"
        return _clip(text + ".", COMMENT_LIMIT)
    lines = [f"tracegraph refused this deployment to {result.environment}:"]
    lines += [f"- {gap}" for gap in result.gaps]
    for change in result.changes:
        if not change.passes:
            lines.append(f"- {change.repo}#{change.number} is {change.verdict.value}:")
            lines += [f"  - {gap}" for gap in change.gaps]
    lines.append(f"Details: tracegraph gate commit {result.sha or result.target} --environment {result.environment}")
    text = "\n".join(lines)
    return text if len(text) <= COMMENT_LIMIT else text[: COMMENT_LIMIT - 80] + "\n… (cut; run the command above)"


def callback_target(settings: Settings, request: ProtectionRequest) -> str:
    """The callback URL, when it lies under the configured GitHub API (the token goes nowhere else)."""
    if not request.callback_url.startswith(_api(settings) + "/"):
        raise GitHubError(
            f"the callback URL {request.callback_url!r} is not under TRACEGRAPH_GITHUB_API_URL {_api(settings)!r}; "
            "not sending the token there"
        )
    return request.callback_url


async def answer_protection_rule(
    client: httpx.AsyncClient, settings: Settings, request: ProtectionRequest, result: GateResult
) -> str:
    """Approve or reject the waiting deployment through its callback; the state sent."""
    state = "approved" if result.passed else "rejected"
    body = {"environment_name": request.environment, "state": state, "comment": comment(result)}
    try:
        response = await client.post(callback_target(settings, request), json=body, headers=_headers(settings))
    except httpx.HTTPError as exc:
        raise GitHubError(f"GitHub did not answer the callback ({exc.__class__.__name__})") from exc
    if response.status_code != 204:
        raise GitHubError(f"GitHub answered the callback with {response.status_code}: {_message(response)}")
    return state


async def post_status(
    client: httpx.AsyncClient, settings: Settings, *, repo: str, sha: str, result: GateResult, target_url: str | None
) -> dict[str, Any]:
    """Set the `tracegraph/verdict` status of a commit from a gate's result; GitHub's status object."""
    if result.error:
        state, description = "error", f"could not evaluate: {result.error}"
    elif result.passed:
        covered = any(c.covered_by for c in result.changes)
        state, description = "success", "covered by an active exception" if covered else "VERIFIED"
    else:
        gaps = [g for c in result.changes for g in c.gaps] + result.gaps
        state, description = "failure", f"{len(gaps)} gap(s): {gaps[0]}" if gaps else "not VERIFIED"
    body: dict[str, Any] = {"state": state, "context": CONTEXT, "description": _clip(description, DESCRIPTION_LIMIT)}
    if target_url:
        body["target_url"] = target_url
    url = f"{_api(settings)}/repos/{quote(repo, safe='/')}/statuses/{quote(sha, safe='')}"
    try:
        response = await client.post(url, json=body, headers=_headers(settings))
    except httpx.HTTPError as exc:
        raise GitHubError(f"GitHub did not answer ({exc.__class__.__name__})") from exc
    if response.status_code != 201:
        raise GitHubError(f"GitHub answered the commit status with {response.status_code}: {_message(response)}")
    found: dict[str, Any] = response.json()
    return found


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return _clip(response.text, 200)
    return _clip(str(data.get("message") if isinstance(data, dict) else data), 200)


def client() -> httpx.AsyncClient:
    """An HTTP client for GitHub (bounded timeouts, no redirects: a redirect would carry the token elsewhere)."""
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
