"""The gates over HTTP, for deploy pipelines and admission webhooks, and GitHub's deployment protection rule.

`GET /gate/commit/{sha}?environment=…` (also /gate/change/{owner}/{repo}/{n}, /gate/deployment/{id}) with
a reader token answers the JSON `tracegraph gate … --json` prints: 200 when it may ship, 412 with the gaps
when it may not, and, never passing, 404 for an unknown commit, change or deployment, 400 for a bad
question, 503 when Neo4j does not answer, 500 otherwise. Every answer is written to the audit log.

A verified `deployment_protection_rule` delivery (POST /webhooks/github) is stored like any other and,
after the response, answered through GitHub's callback: approved, or rejected with the gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from neo4j.exceptions import DriverError, Neo4jError

from api.auth import Reader
from governance import github
from governance.gate import GateError, UnknownTarget, describe, failure, gate_change, gate_commit, gate_deployment
from governance.models import GateKind, GateResult
from graph.access import Principal, Role
from graph.driver import Graph
from graph.policy import Policy

log = logging.getLogger("tracegraph.gates")
router = APIRouter(prefix="/gate", tags=["gate"])
Work = Callable[[Graph, Policy], Awaitable[GateResult]]
# Who the audit log names for answers given to GitHub's deployment protection rule.
GITHUB_RULE = Principal(token_id="webhook:github", name="GitHub deployment protection rule", role=Role.READER)
Text = Annotated[str | None, Query(max_length=200)]


async def _run(
    request: Request, who: Principal, kind: GateKind, target: str, environment: str | None, work: Work
) -> JSONResponse:
    code = 200
    try:
        result = await work(request.app.state.graph, request.app.state.policy)
        code = 200 if result.passed else 412
    except Exception as exc:  # noqa: BLE001 - fail closed: every error is an answer that does not pass
        code = (
            404
            if isinstance(exc, UnknownTarget)
            else 400
            if isinstance(exc, GateError)
            else 503
            if isinstance(exc, Neo4jError | DriverError | OSError)
            else 500
        )
        if code == 500:
            log.exception("gate %s %s could not be evaluated", kind, target)
        result = failure(kind, target, describe(exc), environment=environment)
    request.app.state.audit.add(
        who,
        action="gate",
        what=f"{kind} {target} environment={environment} passed={result.passed} exit={result.exit_code}",
        records=len(result.changes),
        status=code,
    )
    return JSONResponse(result.model_dump(mode="json", by_alias=True), status_code=code)


@router.get("/commit/{sha}")
async def commit(
    request: Request,
    who: Reader,
    sha: str,
    environment: Annotated[str, Query(min_length=1, max_length=200, description="where it would ship")],
    strategy: Text = None,
    service: Text = None,
) -> JSONResponse:
    """May the commit ship to the environment? Every change it would add must be VERIFIED or covered."""
    return await _run(
        request,
        who,
        "commit",
        sha,
        environment,
        lambda g, p: gate_commit(g, p, sha, environment=environment, strategy=strategy, service=service),
    )


@router.get("/change/{owner}/{repo}/{number}")
async def change(
    request: Request,
    who: Reader,
    owner: str,
    repo: str,
    number: int,
    environment: Text = None,
    strategy: Text = None,
) -> JSONResponse:
    """Is the change VERIFIED, or covered by an active exception?"""
    name = f"{owner}/{repo}"
    return await _run(
        request,
        who,
        "change",
        f"{name}#{number}",
        environment,
        lambda g, p: gate_change(g, p, name, number, environment=environment, strategy=strategy),
    )


@router.get("/deployment/{deployment_id:path}")
async def deployment(request: Request, who: Reader, deployment_id: str) -> JSONResponse:
    """Was the deployment allowed to ship what it ships over the one before it?"""
    return await _run(
        request, who, "deployment", deployment_id, None, lambda g, p: gate_deployment(g, p, deployment_id)
    )


async def protection_rule(app: FastAPI, payload: dict[str, Any]) -> None:
    """Answer a deployment protection rule through GitHub's callback (a reaction of the webhook route)."""
    if payload.get("action") not in (None, "requested"):
        return
    try:
        asked = github.protection_request(payload)
    except ValueError as exc:
        log.warning("deployment_protection_rule delivery not answered: %s", exc)
        return
    result = await github.evaluate(app.state.graph, app.state.policy, asked)
    status = 200
    try:
        async with github.client() as client:
            answered = await github.answer_protection_rule(client, app.state.settings, asked, result)
    except github.GitHubError as exc:
        log.error("deployment protection rule for %s (%s) not answered: %s", asked.repo, asked.environment, exc)
        answered, status = f"not answered: {exc}", 502
    app.state.audit.add(
        GITHUB_RULE,
        action="gate",
        what=f"deployment_protection_rule {asked.repo} {asked.sha} environment={asked.environment} "
        f"passed={result.passed} exit={result.exit_code} github={answered}",
        records=len(result.changes),
        status=status,
    )
