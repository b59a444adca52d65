"""Audit periods: the population of a period, a reproducible sample, evidence bundles, exceptions, controls.

- *Population*: every change a successful production deployment started in [start, end) added (what
  the gates call the range of a shipment: git ancestry of its commit minus that of the deployment
  before it), with the first such deployment, its verdict, gaps, exceptions and each requirement met.
- *Outside the reviewed flow*: deployments of the period whose range has a commit that belongs to no
  merged change, or whose contents cannot be known; they carry no change to count, so they are listed
  apart, never silently left out.
- *Sample*: each change of the population is ranked by the SHA-256 of "<seed>:<change id>" (hex,
  ascending) and the first N are taken. The same seed and population give the same sample, and an
  auditor can recompute any rank with `printf '%s' '<seed>:<change id>' | sha256sum`.
- *Files* (one folder, verifiable with `tracegraph verify-export DIR`): report.md, report.json,
  population.csv, sample.csv, outside-review.csv, exceptions.csv, controls.yaml, policy.yaml, an
  evidence bundle per sampled change under evidence/, and manifest.json with every file's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from export.bundle import bundle_files, json_bytes
from export.manifest import MANIFEST, SIGNATURE, WHOLE_DEFINITION, file_digest, generator, whole_digest
from export.scope import ExportNotFound, Scope, collect, safe_name
from export.sign import MANIFEST_TYPE, envelope_bytes
from export.table import csv_table
from governance import exceptions as xs
from governance import ranges
from governance.controls import Controls
from governance.drills import drill_status
from governance.models import DrillStatus, ExceptionView
from governance.requirements import REQUIREMENTS, met, unmet
from graph import governance as records
from graph import repository
from graph.driver import Graph
from graph.governance import stamp
from graph.models import Change, Deployment, VerdictStatus
from graph.policy import Policy
from trust.keys import SigningKey

SAMPLING = (
    "Each change of the population was ranked by the SHA-256 of the text '<seed>:<change id>' (lower-case hex, "
    "ascending) and the first {n} were taken (seed {seed}). Recompute a rank with: "
    "printf '%s' '{seed}:<change id>' | sha256sum"
)


class AuditPeriodError(ValueError):
    """The audit period cannot be made as asked; the message says why."""


@dataclass
class Member:
    """One change of the population and what the report says of it."""

    change: Change
    deployment: Deployment
    requirements: dict[str, bool]
    gaps: list[str]
    exceptions: list[ExceptionView]


@dataclass
class Shipment:
    """A deployment of the period that left the reviewed flow, or whose contents cannot be known."""

    deployment: Deployment
    gaps: list[str]


@dataclass
class Period:
    start: datetime
    end: datetime
    service: str | None
    seed: int
    sample_size: int
    generated_at: datetime
    population: list[Member] = field(default_factory=list)
    sample: list[str] = field(default_factory=list)
    outside: list[Shipment] = field(default_factory=list)
    exceptions: list[ExceptionView] = field(default_factory=list)
    drills: dict[str, DrillStatus] = field(default_factory=dict)


def rank(seed: int, change_id: str) -> str:
    """A change's sampling key: SHA-256 hex of '<seed>:<change id>'."""
    return hashlib.sha256(f"{seed}:{change_id}".encode()).hexdigest()


def draw(ids: list[str], *, seed: int, size: int) -> list[str]:
    """The sample: the `size` ids with the smallest rank (see `rank`), in rank order."""
    return sorted(ids, key=lambda i: (rank(seed, i), i))[: max(size, 0)]


async def gather(
    graph: Graph,
    policy: Policy,
    *,
    start: datetime,
    end: datetime,
    service: str | None,
    sample_size: int,
    seed: int,
    now: datetime | None = None,
) -> Period:
    """Read the period: its population, what left the reviewed flow, its exceptions and its drills."""
    if start >= end:
        raise AuditPeriodError(f"--from {stamp(start)} must be before --to {stamp(end)} (the period is [from, to))")
    if sample_size < 0:
        raise AuditPeriodError("--sample cannot be negative")
    now = now or datetime.now(UTC)
    period = Period(start, end, service, seed, sample_size, generated_at=now)
    deployments = await records.production_deployments(graph, start=start, end=end, service=service)
    before = await records.predecessors(graph, deployments)
    shas = {d.sha for d in deployments if d.sha} | {p.sha for p in before.values() if p and p.sha}
    walks = await records.ancestry(graph, sorted(shas))
    facts = await records.commit_facts(graph, set().union(*(set(w.reached) for w in walks.values())))
    first: dict[str, Deployment] = {}
    for d in deployments:
        if not d.sha:
            period.outside.append(Shipment(d, ["the deployment names no commit, so what it shipped cannot be known"]))
            continue
        previous = before.get(d.id)
        shipment = ranges.compute(d.sha, previous.sha if previous else None, walks=walks, facts=facts)
        environment = d.environment or "production"
        if shipment.outside or shipment.blind or shipment.truncated:
            period.outside.append(Shipment(d, shipment.gaps(environment)))
        for change_id in shipment.change_ids:
            first.setdefault(change_id, d)
    answers = await repository.changes_by_ids(graph, policy, sorted(first))
    for change_id, d in sorted(first.items()):
        change = answers.get(change_id)
        if change is None:
            continue
        missing = unmet(change, policy, now=now)
        period.population.append(
            Member(
                change=change,
                deployment=d,
                requirements=met(change, policy, now=now),
                gaps=[g for name, gaps in missing.items() if name != "verified" for g in gaps],
                exceptions=[xs.view(x, now, verdict=change.verdict.status) for x in change.exceptions],
            )
        )
    period.sample = draw([m.change.id for m in period.population], seed=seed, size=sample_size)
    in_population = {m.change.id: m.change for m in period.population}
    for x in await records.exceptions_between(graph, start=start, end=end):
        if service is None or x.change_id in in_population:
            verdict = in_population[x.change_id].verdict.status if x.change_id in in_population else None
            period.exceptions.append(xs.view(x, now, verdict=verdict))
    environments = {d.service: d.environment for d in deployments if d.service}  # each service's latest
    tiers = dict(await records.services(graph))
    drills = await records.drills(graph, sorted(environments))
    for name, environment in sorted(environments.items()):
        period.drills[name] = drill_status(
            policy, service=name, tier=tiers.get(name), environment=environment, drills=drills.get(name, []), now=end
        )
    return period


# --- the files ------------------------------------------------------------------------------------


def _exceptions_text(views: list[ExceptionView]) -> str:
    return "; ".join(f"{v.exception.id} ({v.state})" for v in views)


def population_csv(period: Period) -> str:
    """One row per change of the population."""
    columns = [
        "change",
        "repo",
        "number",
        "title",
        "risk_area",
        "author",
        "merged_at",
        "deployment",
        "service",
        "deployed_at",
        "strategy",
        "verdict",
        "gaps",
        "exceptions",
        "sampled",
        *(f"meets_{name}" for name in REQUIREMENTS),
    ]
    sampled = set(period.sample)
    rows = [
        {
            "change": m.change.id,
            "repo": m.change.repo,
            "number": str(m.change.number),
            "title": m.change.title or "",
            "risk_area": m.change.risk_area or "",
            "author": m.change.author.login if m.change.author else "",
            "merged_at": stamp(m.change.merged_at) if m.change.merged_at else "",
            "deployment": m.deployment.id,
            "service": m.deployment.service or "",
            "deployed_at": stamp(m.deployment.started_at) if m.deployment.started_at else "",
            "strategy": m.deployment.strategy or "",
            "verdict": m.change.verdict.status.value,
            "gaps": " | ".join(m.gaps),
            "exceptions": _exceptions_text(m.exceptions),
            "sampled": "yes" if m.change.id in sampled else "no",
            **{f"meets_{name}": "yes" if m.requirements[name] else "NO" for name in REQUIREMENTS},
        }
        for m in period.population
    ]
    return csv_table(columns, rows)


def sample_csv(period: Period, paths: dict[str, str]) -> str:
    """The sample in the order it was drawn, with each change's rank and evidence bundle."""
    rows = [
        {"order": str(n), "change": cid, "sha256": rank(period.seed, cid), "evidence": paths.get(cid, "")}
        for n, cid in enumerate(period.sample, start=1)
    ]
    return csv_table(["order", "change", "sha256", "evidence"], rows)


def exceptions_csv(period: Period) -> str:
    """Every exception in force during the period, with its state and gaps when the report was made."""
    columns = ["id", "change", "granted_by", "granted_at", "reason", "expires_at", "emergency", "review_due_at"]
    columns += ["reviewed_by", "reviewed_at", "revoked_by", "revoked_at", "state", "gaps"]
    rows = []
    for v in period.exceptions:
        x = v.exception
        rows.append(
            {
                "id": x.id,
                "change": x.change_id,
                "granted_by": x.granted_by,
                "granted_at": stamp(x.granted_at),
                "reason": x.reason,
                "expires_at": stamp(x.expires_at),
                "emergency": "yes" if x.emergency else "no",
                "review_due_at": stamp(x.review_due_at) if x.review_due_at else "",
                "reviewed_by": x.reviewed_by or "",
                "reviewed_at": stamp(x.reviewed_at) if x.reviewed_at else "",
                "revoked_by": x.revoked_by or "",
                "revoked_at": stamp(x.revoked_at) if x.revoked_at else "",
                "state": v.state,
                "gaps": " | ".join(v.gaps),
            }
        )
    return csv_table(columns, rows)


def outside_csv(period: Period) -> str:
    """Deployments that left the reviewed flow, or whose contents cannot be known."""
    rows = [
        {
            "deployment": s.deployment.id,
            "service": s.deployment.service or "",
            "environment": s.deployment.environment,
            "sha": s.deployment.sha or "",
            "started_at": stamp(s.deployment.started_at) if s.deployment.started_at else "",
            "gaps": " | ".join(s.gaps),
        }
        for s in period.outside
    ]
    return csv_table(["deployment", "service", "environment", "sha", "started_at", "gaps"], rows)


def control_counts(period: Period, controls: Controls) -> list[dict[str, Any]]:
    """Per control: how many changes of the population met every requirement it names."""
    total = len(period.population)
    return [
        {
            "id": c.id,
            "framework": c.framework,
            "title": c.title,
            "requirements": list(c.requirements),
            "met": sum(1 for m in period.population if all(m.requirements[r] for r in c.requirements)),
            "population": total,
        }
        for c in controls.controls
    ]


def summary(period: Period, controls: Controls, *, policy_source: str, policy_digest: str) -> dict[str, Any]:
    """The report as data (report.json)."""
    verified = sum(1 for m in period.population if m.change.verdict.status == VerdictStatus.VERIFIED)
    return {
        "period": {"from": stamp(period.start), "to": stamp(period.end), "service": period.service},
        "generatedAt": stamp(period.generated_at),
        "generator": generator(),
        "population": {
            "changes": len(period.population),
            "verified": verified,
            "unverified": len(period.population) - verified,
            "definition": "every change a successful production deployment started in [from, to) added "
            "(git ancestry of its commit minus that of the deployment before it)",
        },
        "sample": {
            "seed": period.seed,
            "requested": period.sample_size,
            "drawn": len(period.sample),
            "method": SAMPLING.format(n=len(period.sample), seed=period.seed),
            "changes": period.sample,
        },
        "outsideReviewedFlow": [{"deployment": s.deployment.id, "gaps": s.gaps} for s in period.outside],
        "exceptions": {
            "count": len(period.exceptions),
            "withGaps": sum(1 for v in period.exceptions if v.gaps),
        },
        "drills": {
            name: {"tier": d.tier, "dueWithinDays": d.due_within_days, "overdue": d.overdue, "gap": d.gap}
            for name, d in sorted(period.drills.items())
        },
        "controls": control_counts(period, controls),
        "policy": {"source": policy_source, "sha256": policy_digest},
        "notLegalAdvice": "The controls mapping is an editable example, not legal advice.",
    }


def report_markdown(data: dict[str, Any]) -> str:
    """report.md: what an auditor reads first."""
    p, pop, sample = data["period"], data["population"], data["sample"]
    lines = [
        f"# Audit period {p['from'][:10]} to {p['to'][:10]} (end excluded)"
        + (f", service {p['service']}" if p["service"] else ""),
        "",
        f"Generated {data['generatedAt']} by {data['generator']}.",
        "",
        "## Population",
        "",
        f"{pop['changes']} change(s): {pop['verified']} VERIFIED, {pop['unverified']} UNVERIFIED. "
        f"The population is {pop['definition']}. Every change is a row of population.csv.",
        "",
        "## Sample",
        "",
        f"{sample['drawn']} of {sample['requested']} requested. {sample['method']}",
        "The sample is sample.csv; each sampled change has an evidence bundle under evidence/.",
        "",
        "## Controls (not legal advice)",
        "",
        "| control | requirements | changes that met them |",
        "|---|---|---|",
    ]
    lines += [
        f"| {c['id']} | {', '.join(c['requirements'])} | {c['met']} of {c['population']} |" for c in data["controls"]
    ]
    lines += ["", "## Deployments outside the reviewed flow", ""]
    lines += [f"- {s['deployment']}: {' | '.join(s['gaps'])}" for s in data["outsideReviewedFlow"]] or ["None."]
    lines += ["", "## Exceptions", ""]
    exc = data["exceptions"]
    lines += [f"{exc['count']} exception(s) in force during the period, {exc['withGaps']} with gaps: exceptions.csv."]
    lines += ["", "## Rollback drills (as of the end of the period)", ""]
    lines += [
        f"- {name}: " + (d["gap"] if d["gap"] else f"tier {d['tier']}, no drill overdue" if d["tier"] else "no rule")
        for name, d in data["drills"].items()
    ] or ["No service deployed to production in the period."]
    lines += [
        "",
        "## Policy in force",
        "",
        f"policy.yaml, from {data['policy']['source']} (sha256 {data['policy']['sha256']}).",
        "",
    ]
    return "\n".join(lines)


async def evidence(
    graph: Graph, policy: Policy, period: Period, *, signer: SigningKey | None = None
) -> tuple[dict[str, bytes], dict[str, str]]:
    """An evidence bundle per sampled change, under evidence/<change>/ (signed by `signer` when there is one);
    the files and each change's folder."""
    by_id = {m.change.id: m.change for m in period.population}
    files: dict[str, bytes] = {}
    paths: dict[str, str] = {}
    for change_id in period.sample:
        change = by_id[change_id]
        try:
            exported = await collect(graph, policy, Scope(kind="change", repo=change.repo, number=change.number))
        except ExportNotFound:
            continue
        folder = f"evidence/{safe_name(change_id)}"
        paths[change_id] = folder + "/"
        for name, data in bundle_files(exported, policy, generated_at=period.generated_at, signer=signer).items():
            files[f"{folder}/{name}"] = data
    return files, paths


def files_of(
    period: Period,
    controls: Controls,
    *,
    controls_text: str,
    policy_text: str,
    policy_source: str,
    evidence_files: dict[str, bytes],
    evidence_paths: dict[str, str],
    signer: SigningKey | None = None,
) -> dict[str, bytes]:
    """Every file of the audit period folder, manifest.json included, and its signature when there is a
    `signer` (the organisation's export key, as for every evidence bundle)."""
    digest = hashlib.sha256(policy_text.encode()).hexdigest()
    data = summary(period, controls, policy_source=policy_source, policy_digest=digest)
    files = dict(evidence_files)
    files["report.json"] = json_bytes(data)
    files["report.md"] = report_markdown(data).encode()
    files["population.csv"] = population_csv(period).encode()
    files["sample.csv"] = sample_csv(period, evidence_paths).encode()
    files["exceptions.csv"] = exceptions_csv(period).encode()
    files["outside-review.csv"] = outside_csv(period).encode()
    files["controls.yaml"] = controls_text.encode()
    files["policy.yaml"] = policy_text.encode()
    digests = {path: file_digest(body) for path, body in sorted(files.items())}
    manifest = {
        "generatedAt": stamp(period.generated_at),
        "generator": generator(),
        "files": digests,
        "whole": whole_digest(digests),
        "wholeDefinition": WHOLE_DEFINITION,
        **({"signingKey": signer.id} if signer else {}),
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    if signer:
        files[SIGNATURE] = envelope_bytes(MANIFEST_TYPE, files[MANIFEST], signer)
    return files
