"""Break-glass exceptions: who may grant, revoke and review one; when it lets a gate pass; the gaps it is of its own.

- Granting takes a token of the `approver` role (graph.access.Role), whose name is the person's login,
  and that person may not be the change's author (of the change or of a commit in it) nor the operator
  of an agent session that produced it. An exception names why and until when (at most the policy's
  `exceptions.max_days`); an emergency one must be reviewed after the fact within
  `exceptions.review_within_days` days, by another approver who is neither the change's author nor its
  operator nor the one who granted it.
- An exception never makes a verdict VERIFIED. It covers its change (lets a gate pass) while it is
  *active*: not revoked, not expired, and, when it is an emergency one, not past its review's due date
  unreviewed.
- Gaps of its own, listed for auditors and counted in the status: an emergency exception not yet
  reviewed (overdue or not), and an exception that expired while its change is still not VERIFIED.

Every grant, revoke and review, and every refused attempt, is written to the audit log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from governance.models import ExceptionCounts, ExceptionState, ExceptionView
from graph import access, repository
from graph import governance as records
from graph.access import Principal, Role
from graph.driver import Graph
from graph.models import ExceptionGrant, VerdictStatus
from graph.policy import Policy
from ingest.redact import redact

MAX_TEXT = 2000


class ExceptionRefused(PermissionError):
    """The caller may not do this to an exception (role, independence, dates); the message says why."""


class ExceptionNotFound(LookupError):
    """No such change or exception in the graph."""


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def state(x: ExceptionGrant, now: datetime) -> ExceptionState:
    """Where an exception stands at `now`."""
    if x.revoked_at is not None:
        return "revoked"
    if now >= x.expires_at:
        return "expired"
    if x.emergency and x.reviewed_at is None and x.review_due_at is not None and now > x.review_due_at:
        return "review overdue"
    return "active"


def gaps(x: ExceptionGrant, now: datetime, *, verdict: VerdictStatus | None) -> list[str]:
    """The gaps an exception is of its own at `now` (the change's verdict decides whether an expired one is)."""
    found = []
    if x.emergency and x.reviewed_at is None and x.revoked_at is None:
        due = x.review_due_at
        if due is not None and now > due:
            found.append(
                f"emergency exception {x.id} for {x.change_id} was not reviewed by {_day(due)} as policy requires"
            )
        else:
            found.append(
                f"emergency exception {x.id} for {x.change_id} awaits its review after the fact (due {_day(due)})"
            )
    if x.revoked_at is None and now >= x.expires_at and verdict != VerdictStatus.VERIFIED:
        found.append(
            f"exception {x.id} for {x.change_id} expired on {_day(x.expires_at)} and the change is not VERIFIED"
        )
    return found


def view(x: ExceptionGrant, now: datetime, *, verdict: VerdictStatus | None) -> ExceptionView:
    """An exception with its state and gaps at `now`."""
    return ExceptionView(exception=x, state=state(x, now), gaps=gaps(x, now, verdict=verdict))


def covering(exceptions: list[ExceptionGrant], now: datetime) -> ExceptionGrant | None:
    """The active exception that lets the change through (the one expiring last), or None."""
    active = [x for x in exceptions if state(x, now) == "active"]
    return max(active, key=lambda x: (x.expires_at, x.id)) if active else None


async def counts(
    graph: Graph, policy: Policy, *, start: datetime, end: datetime, service: str | None, now: datetime
) -> ExceptionCounts:
    """The exceptions in force in [start, end) (of one service's changes), and their gaps as of `now`."""
    found = await records.exceptions_between(graph, start=start, end=end, service=service)
    answers = await repository.changes_by_ids(graph, policy, sorted({x.change_id for x in found}))
    result = ExceptionCounts(in_force=len(found))
    for x in found:
        verdict = answers[x.change_id].verdict.status if x.change_id in answers else None
        own = gaps(x, now, verdict=verdict)
        result.granted += start <= x.granted_at < end
        result.emergency += x.emergency
        result.with_gaps += bool(own)
        result.unreviewed += x.emergency and x.reviewed_at is None and x.revoked_at is None
        result.expired_unverified += state(x, now) == "expired" and verdict != VerdictStatus.VERIFIED
    return result


def _text(value: str, what: str) -> str:
    cleaned = (redact(value.strip()) or "").strip()
    if not cleaned:
        raise ExceptionRefused(f"{what} is required: say why, in words an auditor will read")
    if len(cleaned) > MAX_TEXT:
        raise ExceptionRefused(f"{what} is longer than {MAX_TEXT} characters")
    return cleaned


async def _audit(graph: Graph, who: Principal, action: str, what: str, status: int) -> None:
    await access.write_audit(graph, [access.audit_entry(who, action=action, what=what, records=1, status=status)])


async def _independent(graph: Graph, who: Principal, change_id: str, *, verb: str) -> None:
    people = await records.change_people(graph, change_id)
    if people is None:
        raise ExceptionNotFound(f"no change {change_id} in the graph; ingest its pull request first")
    authors, operators = people
    login = who.name.lower()
    if login in authors:
        raise ExceptionRefused(f"{who.name} is an author of {change_id} and may not {verb} an exception for it")
    if login in operators:
        raise ExceptionRefused(
            f"{who.name} operated an agent session that produced {change_id} and may not {verb} an exception for it"
        )


def _approver(who: Principal, verb: str) -> None:
    # An admin token manages tokens; an exception is a person's accountable decision, so only approvers.
    if who.role != Role.APPROVER:
        raise ExceptionRefused(
            f"only an approver may {verb} exceptions; this token's role is {who.role.value} "
            "(an admin creates one with `tracegraph token create --role approver --name <your login>`)"
        )


@asynccontextmanager
async def _attempt(graph: Graph, who: Principal, action: str, what: str) -> AsyncIterator[None]:
    """Audit a refused attempt (and let its error through); the caller audits the success."""
    try:
        yield
    except (ExceptionRefused, ExceptionNotFound) as exc:
        await _audit(graph, who, action, f"{what} refused: {exc}", 403)
        raise


async def _existing(graph: Graph, id: str) -> ExceptionGrant:
    found = await records.exception(graph, id)
    if found is None:
        raise ExceptionNotFound(f"no exception {id!r}; `tracegraph exception list` shows them")
    return found


async def grant(
    graph: Graph,
    policy: Policy,
    who: Principal,
    *,
    change_id: str,
    reason: str,
    expires_at: datetime,
    emergency: bool,
    now: datetime,
) -> ExceptionGrant:
    """Grant an exception for a change, or raise ExceptionRefused / ExceptionNotFound (audited either way)."""
    what = f"{change_id} until {_day(expires_at)}{' emergency' if emergency else ''}"
    async with _attempt(graph, who, "exception.grant", what):
        _approver(who, "grant")
        why = _text(reason, "--reason")
        if expires_at <= now:
            raise ExceptionRefused(f"--expires {_day(expires_at)} is not in the future")
        longest = now + timedelta(days=policy.exceptions.max_days)
        if expires_at > longest:
            raise ExceptionRefused(
                f"--expires {_day(expires_at)} is beyond the policy's {policy.exceptions.max_days} days "
                f"(at most {_day(longest)})"
            )
        await _independent(graph, who, change_id, verb="grant")
        due = now + timedelta(days=policy.exceptions.review_within_days) if emergency else None
        created = await records.create_exception(
            graph,
            change_id=change_id,
            granted_by=who.name,
            granted_at=now,
            reason=why,
            expires_at=expires_at,
            emergency=emergency,
            review_due_at=due,
        )
        if created is None:
            raise ExceptionNotFound(f"no change {change_id} in the graph; ingest its pull request first")
    await _audit(graph, who, "exception.grant", f"{created.id} {what}: {why}", 201)
    return created


async def revoke(graph: Graph, who: Principal, *, id: str, reason: str, now: datetime) -> ExceptionGrant:
    """Revoke an exception (any approver may: revoking only makes a gate stricter)."""
    async with _attempt(graph, who, "exception.revoke", id):
        _approver(who, "revoke")
        why = _text(reason, "--reason")
        found = await _existing(graph, id)
        if found.revoked_at is not None:
            raise ExceptionRefused(f"{id} was revoked already, by {found.revoked_by} at {_day(found.revoked_at)}")
        revoked = await records.revoke_exception(graph, id, by=who.name, at=now, reason=why)
        if revoked is None:
            raise ExceptionRefused(f"{id} was revoked by someone else just now")
    await _audit(graph, who, "exception.revoke", f"{id}: {why}", 200)
    return revoked


async def review(graph: Graph, who: Principal, *, id: str, notes: str, now: datetime) -> ExceptionGrant:
    """Record the after-the-fact review of an exception by an independent approver."""
    async with _attempt(graph, who, "exception.review", id):
        _approver(who, "review")
        what = _text(notes, "--notes")
        found = await _existing(graph, id)
        if found.reviewed_at is not None:
            raise ExceptionRefused(f"{id} was reviewed already, by {found.reviewed_by} at {_day(found.reviewed_at)}")
        if found.granted_by.lower() == who.name.lower():
            raise ExceptionRefused(f"{who.name} granted {id}; its review must come from another approver")
        await _independent(graph, who, found.change_id, verb="review")
        reviewed = await records.review_exception(graph, id, by=who.name, at=now, notes=what)
        if reviewed is None:
            raise ExceptionRefused(f"{id} was reviewed by someone else just now")
    await _audit(graph, who, "exception.review", f"{id}: {what}", 200)
    return reviewed
