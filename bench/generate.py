"""A deterministic synthetic org as real-format event files, streamed (never the whole org in memory).

    python -m bench.generate --changes 10000 --seed 1 --out /tmp/org10k

Shapes follow an org of 1,000 engineers a year (50,000 changes, 500,000 commits, 300,000 check runs,
20,000 deployments, 1,000 incidents), scaled by --changes: skewed change sizes and repository
activity, several pushes, commits and checks per change, agent-authored changes with sessions
(provenance envelopes, ```ai-provenance blocks, AI trailers), reviews (some stale, some self-approvals),
deployments that ship several changes, incidents (PagerDuty V3) after some deployments, and Markdown
postmortems. GitHub events and provenance come from ingest.examples, so they are the shapes the
ingesters accept.

Output (DIR): events-NNNNN.jsonl (GitHub + provenance envelopes, ~50k lines each),
incidents/incidents-NNNNN.jsonl (PagerDuty), postmortems/*.md, keys.json (sampled query keys) and
manifest.json (counts by event type).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from ingest import examples as ex

YEAR_CHANGES = 50_000
ENGINEERS_PER_CHANGE = 1_000 / YEAR_CHANGES
REPOS_PER_CHANGE = 200 / YEAR_CHANGES
CHANGE_SPACING_S = 365 * 86_400 / YEAR_CHANGES  # a year's changes spread evenly over a year
START = datetime(2025, 1, 6, tzinfo=UTC)
ORG = "acme"
LINES_PER_FILE = 50_000

AREAS = ["payments", "auth", "billing", "checkout", "ledger", "search", "catalog", "profile", "notify", "gateway"]
KINDS = ["api", "worker", "web", "service", "lib", "jobs"]
RISKY_PATHS = {
    "payments": "src/payments",
    "auth": "src/auth",
    "billing": "src/billing",
    "checkout": "src/checkout",
    "ledger": "src/ledger",
}
FIRST_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
BOTS = ["dependabot[bot]", "renovate[bot]"]
# (tool, model, co-author trailer the trailer parser recognises)
AGENTS = [
    ("claude-code", "claude-sonnet-4", "Claude <noreply@anthropic.com>"),
    ("copilot", "gpt-4.1", "Copilot <copilot@github.com>"),
    ("cursor", "cursor-small", "Cursor Agent <cursoragent@cursor.com>"),
    ("codex", "codex-mini", "Codex <codex@openai.com>"),
]
VERBS = ["Fix", "Add", "Refactor", "Speed up", "Remove", "Harden", "Document", "Retry", "Cache", "Validate"]
NOUNS = ["rounding", "timeouts", "pagination", "idempotency keys", "rate limits", "null handling", "retries", "logging"]
EARLY_CHECKS = ["lint", "unit-tests"]
FINAL_CHECKS = ["unit-tests", "integration-tests", "lint", "build"]


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Scale:
    """Entity counts for a number of changes (the issue's yearly ratios)."""

    changes: int

    @property
    def engineers(self) -> int:
        return max(12, round(self.changes * ENGINEERS_PER_CHANGE))

    @property
    def repos(self) -> int:
        return max(4, round(self.changes * REPOS_PER_CHANGE))


class Stream:
    """JSONL files of at most LINES_PER_FILE lines each: prefix-00000.jsonl, prefix-00001.jsonl, ..."""

    def __init__(self, folder: Path, prefix: str):
        self.folder, self.prefix = folder, prefix
        self.lines, self.files = 0, 0
        self.handle: TextIO | None = None

    def write(self, envelope: dict[str, Any]) -> None:
        if self.handle is None or self.lines % LINES_PER_FILE == 0:
            self.close()
            self.folder.mkdir(parents=True, exist_ok=True)
            self.handle = (self.folder / f"{self.prefix}-{self.files:05d}.jsonl").open("w", encoding="utf-8")
            self.files += 1
        self.handle.write(json.dumps(envelope, separators=(",", ":")) + "\n")
        self.lines += 1

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


@dataclass
class Merged:
    repo: str
    number: int
    sha: str
    at: datetime


@dataclass
class Org:
    """The generator's state: a few counters and small per-repo queues (bounded by the org size)."""

    scale: Scale
    rng: random.Random
    out: Path
    events: Stream
    incidents: Stream
    counts: Counter[str] = field(default_factory=Counter)
    repos: list[str] = field(default_factory=list)
    repo_weights: list[float] = field(default_factory=list)
    engineers: list[str] = field(default_factory=list)
    engineer_weights: list[float] = field(default_factory=list)
    numbers: Counter[str] = field(default_factory=Counter)
    main_head: dict[str, str] = field(default_factory=dict)
    queues: dict[str, list[Merged]] = field(default_factory=dict)
    ids: Counter[str] = field(default_factory=Counter)
    keys: dict[str, list[Any]] = field(default_factory=lambda: {"changes": [], "incidents": [], "sessions": []})
    first_at: datetime | None = None
    last_at: datetime | None = None

    def next_id(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    def emit(self, envelope: dict[str, Any], at: datetime) -> None:
        # A delivery id and receipt time as a webhook receiver would stamp them.
        envelope["received_at"] = iso(at + timedelta(seconds=1))
        kind = f"{envelope['source']}:{envelope.get('type')}"
        self.counts[kind] += 1
        (self.incidents if envelope["source"] == "pagerduty" else self.events).write(envelope)
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)


def build_org(scale: Scale, seed: int, out: Path) -> Org:
    rng = random.Random(seed)
    org = Org(scale, rng, out, Stream(out, "events"), Stream(out / "incidents", "incidents"))
    for k in range(scale.repos):
        org.repos.append(f"{ORG}/{AREAS[k % len(AREAS)]}-{KINDS[(k // len(AREAS)) % len(KINDS)]}-{k:03d}")
    # Zipf-like activity: a few repositories and engineers do most of the work.
    org.repo_weights = [1 / (k + 1) ** 0.9 for k in range(scale.repos)]
    org.engineers = [f"{FIRST_NAMES[k % len(FIRST_NAMES)]}{k:04d}" for k in range(scale.engineers)]
    org.engineer_weights = [1 / (k + 1) ** 0.6 for k in range(scale.engineers)]
    return org


def skewed_commits(rng: random.Random) -> int:
    """Commits in a change: log-normal, mean about 9 (plus the merge commit), a long tail capped at 150."""
    return max(1, min(150, int(rng.lognormvariate(1.8, 0.9))))


def split(rng: random.Random, total: int) -> list[int]:
    """Commits per push: 1 to 4 pushes, never an empty one."""
    pushes = min(total, rng.choice([1, 1, 2, 2, 3, 4]))
    cuts = sorted(rng.sample(range(1, total), pushes - 1)) if pushes > 1 else []
    bounds = [0, *cuts, total]
    return [bounds[i + 1] - bounds[i] for i in range(pushes)]


def pr_body(rng: random.Random, title: str, session: dict[str, Any] | None) -> str:
    parts = [title + "."]
    if rng.random() < 0.6:
        parts += [
            "## Intent\nMake the behaviour explicit and covered by tests.",
            "## Risk\nLow: guarded by a feature flag.",
            "## Test evidence\nUnit and integration tests added.",
            "## Rollout\nCanary first.",
            "## Rollback\nRevert the merge commit.",
        ]
    if session is not None:
        parts.append("```ai-provenance\n" + json.dumps(session, indent=2) + "\n```")
    return "\n\n".join(parts)


def commit_message(rng: random.Random, subject: str, agent: tuple[str, str, str] | None, session_id: str) -> str:
    message = subject
    if rng.random() < 0.002:
        # A pasted token now and then, so redaction does real work.
        token = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(36))
        message += f"\n\nDebugging with ghp_{token}"
    if agent is not None:
        message += f"\n\nAI-Session: {session_id}\nCo-authored-by: {agent[2]}"
    return message


def gen_change(org: Org, index: int) -> None:
    rng = org.rng
    repo = rng.choices(org.repos, org.repo_weights)[0]
    org.numbers[repo] += 1
    number = org.numbers[repo]
    bot = rng.random() < 0.04
    author = rng.choice(BOTS) if bot else rng.choices(org.engineers, org.engineer_weights)[0]
    agent = AGENTS[rng.randrange(len(AGENTS))] if not bot and rng.random() < 0.35 else None
    session_id = f"sess-{index:07d}"
    area = repo.split("/")[1].split("-")[0]
    risky = area in RISKY_PATHS and rng.random() < 0.5
    labels = [area] if risky and rng.random() < 0.3 else []
    title = f"{rng.choice(VERBS)} {rng.choice(NOUNS)} in {area}"
    created = START + timedelta(seconds=index * CHANGE_SPACING_S + rng.randrange(600))
    t = created
    if index % max(1, org.scale.changes // 2000) == 0:
        org.keys["changes"].append([repo, number])

    # Pushes of the feature branch, each followed by the pull request event that moves its head.
    sizes = split(rng, skewed_commits(rng))
    heads: list[str] = []
    before = org.main_head.get(repo, ex.sha(f"base-{repo}"))
    folder = RISKY_PATHS.get(area, "src/app") if risky else "src/app"
    seq = 0
    session_record = {
        "tool": agent[0] if agent else None,
        "model": agent[1] if agent else None,
        "session_id": session_id,
        "prompt_summary": f"{title}; keep the public API unchanged",
        "operator": author,
        "risk_area": area if risky else None,
    }
    for p, size in enumerate(sizes):
        commits = []
        for _ in range(size):
            seq += 1
            org.next_id("commit")
            t += timedelta(minutes=rng.randrange(3, 90))
            sha = ex.sha(f"{repo}#{number}/{seq}")
            files = [f"{folder}/{rng.choice(NOUNS).replace(' ', '_')}_{rng.randrange(40)}.py" for _ in range(3)]
            message = commit_message(rng, f"{title} (part {seq})", agent, session_id)
            commits.append(ex.commit(sha, message=message, author=author, at=iso(t), files=files[: rng.randint(1, 3)]))
        push = ex.push(repo, commits=commits, before=heads[-1] if heads else before, ref=f"refs/heads/pr-{number}")
        push["payload"]["pusher"] = {"name": author}
        org.emit(push, t)
        heads.append(commits[-1]["id"])
        t += timedelta(seconds=30)
        action = "opened" if p == 0 else "synchronize"
        block = session_record if agent and rng.random() < 0.3 else None
        pr = ex.pull_request(
            repo,
            number,
            action=action,
            author=author,
            head=heads[-1],
            title=title,
            body=pr_body(rng, title, block),
            labels=labels,
            at=iso(t),
            created_at=iso(created),
            additions=int(rng.paretovariate(1.2) * 10),
            deletions=int(rng.paretovariate(1.4) * 4),
        )
        org.emit(pr, t)
        gen_checks(org, repo, heads[-1], t, final=p == len(sizes) - 1, risky=risky)
        t += timedelta(minutes=rng.randrange(5, 120))

    if agent is not None:
        if len(org.keys["sessions"]) < 2000:
            org.keys["sessions"].append(session_id)
        if rng.random() < 0.7:
            envelope = ex.provenance(
                repo,
                number,
                session_id=session_id,
                tool=agent[0],
                model=agent[1],
                prompt_summary=str(session_record["prompt_summary"]),
                operator=author,
                risk_area=session_record["risk_area"],
            )
            org.emit(envelope, created)

    gen_reviews(org, repo, number, author, heads, t, risky)
    t += timedelta(minutes=rng.randrange(10, 600))
    fate = rng.random()
    if fate < 0.04:
        return  # still open
    merged = fate >= 0.12
    merge_sha = ex.sha(f"{repo}#{number}/merge") if merged else None
    closed = ex.pull_request(
        repo,
        number,
        action="closed",
        author=author,
        head=heads[-1],
        title=title,
        labels=labels,
        merged=merged,
        merge_sha=merge_sha,
        at=iso(t),
        created_at=iso(created),
    )
    org.emit(closed, t)
    if merge_sha is None:
        return
    org.next_id("commit")
    main = ex.commit(
        merge_sha, message=f"Merge pull request #{number} from {ORG}/pr-{number}", author=author, at=iso(t)
    )
    org.emit(ex.push(repo, commits=[main], before=before, ref="refs/heads/main", pusher=author), t)
    org.main_head[repo] = merge_sha
    queue = org.queues.setdefault(repo, [])
    queue.append(Merged(repo, number, merge_sha, t))
    # About 2.2 merged changes per deployment: 20,000 deployments for 50,000 changes.
    if len(queue) >= rng.choice([1, 2, 2, 3, 3]):
        gen_deployment(org, queue)
        queue.clear()


def gen_checks(org: Org, repo: str, head: str, at: datetime, *, final: bool, risky: bool) -> None:
    rng = org.rng
    names = list(FINAL_CHECKS) if final else rng.sample(EARLY_CHECKS, rng.randint(1, 2))
    if final and (risky or rng.random() < 0.4):
        names.append("codeql")
    for name in names:
        run_id = org.next_id("check_run")
        done = at + timedelta(minutes=rng.randrange(2, 40))
        conclusion = "failure" if rng.random() < 0.07 else "success"
        if rng.random() < 0.2:
            started = ex.check_run(repo, name=name, head=head, conclusion=None, run_id=run_id, at=iso(at))
            started["payload"]["check_run"]["started_at"] = iso(at)
            org.emit(started, at)
        envelope = ex.check_run(repo, name=name, head=head, conclusion=conclusion, run_id=run_id, at=iso(done))
        envelope["payload"]["check_run"]["started_at"] = iso(at)
        org.emit(envelope, done)


def gen_reviews(org: Org, repo: str, number: int, author: str, heads: list[str], at: datetime, risky: bool) -> None:
    rng = org.rng
    count = rng.choices([1, 2, 3], [55, 35, 10])[0] + (1 if risky else 0)
    for _ in range(count):
        # About 3% self-approvals; otherwise anyone but the author (activity-weighted).
        reviewer = author if rng.random() < 0.03 else rng.choices(org.engineers, org.engineer_weights)[0]
        stale = len(heads) > 1 and rng.random() < 0.15
        commit = heads[rng.randrange(len(heads) - 1)] if stale else heads[-1]
        state = rng.choices(["approved", "changes_requested", "commented"], [85, 10, 5])[0]
        at += timedelta(minutes=rng.randrange(5, 240))
        review_id = org.next_id("review")
        envelope = ex.review(
            repo,
            number,
            reviewer=reviewer,
            state=state,
            commit=commit,
            review_id=review_id,
            at=iso(at),
            pr_author=author,
            head=heads[-1],
        )
        org.emit(envelope, at)


def gen_deployment(org: Org, queue: list[Merged]) -> None:
    rng = org.rng
    last = queue[-1]
    service = last.repo.split("/")[1]
    deployment_id = org.next_id("deployment")
    at = last.at + timedelta(minutes=rng.randrange(10, 60))
    created = ex.deployment(last.repo, deployment_id=deployment_id, sha_=last.sha, service=service, at=iso(at))
    org.emit(created, at)
    embedded = created["payload"]["deployment"]
    failed = rng.random() < 0.05
    finished = at + timedelta(minutes=rng.randrange(3, 30))
    for state, when in (("in_progress", at + timedelta(seconds=20)), ("failure" if failed else "success", finished)):
        status = ex.deployment_status(
            last.repo,
            deployment_id=deployment_id,
            sha_=last.sha,
            state=state,
            status_id=org.next_id("deployment_status"),
            service=service,
            at=iso(when),
        )
        # The builder embeds a deployment stamped with its default time; embed the real one.
        status["payload"]["deployment"] = embedded
        org.emit(status, when)
    # 1,000 incidents for 20,000 deployments.
    if rng.random() < 0.05:
        gen_incident(org, service, finished, deployment_id, queue)


def pagerduty(kind: str, incident: dict[str, Any], at: datetime, event_id: str) -> dict[str, Any]:
    """A PagerDuty V3 webhook envelope for an incident event."""
    data = dict(incident, status=kind.split(".")[1])
    event = {"id": event_id, "event_type": kind, "resource_type": "incident", "occurred_at": iso(at), "data": data}
    return {"source": "pagerduty", "type": kind, "id": event_id, "payload": {"event": event}}


def gen_incident(org: Org, service: str, after: datetime, deployment_id: int, queue: list[Merged]) -> None:
    rng = org.rng
    n = org.next_id("incident")
    incident_id = f"Q{n:06X}"
    triggered = after + timedelta(minutes=rng.randrange(5, 240))
    urgency = "high" if rng.random() < 0.6 else "low"
    incident = {
        "id": incident_id,
        "type": "incident",
        "html_url": f"https://{ORG}.pagerduty.com/incidents/{incident_id}",
        "number": n,
        "title": f"{service}: elevated 5xx error rate",
        "urgency": urgency,
        "service": {"id": "S" + ex.sha(service)[:6].upper(), "summary": service, "type": "service_reference"},
        "created_at": iso(triggered),
        "assignees": [],
        "priority": None,
    }
    org.keys["incidents"].append(incident_id)
    acknowledged = triggered + timedelta(minutes=rng.randrange(1, 30))
    resolved = acknowledged + timedelta(minutes=rng.randrange(20, 600))
    for kind, at in (
        ("incident.triggered", triggered),
        ("incident.acknowledged", acknowledged),
        ("incident.resolved", resolved),
    ):
        org.emit(pagerduty(kind, incident, at, f"pd-{incident_id}-{kind.split('.')[1]}"), at)
    if urgency == "high":
        write_postmortem(org, incident_id, service, triggered, resolved, deployment_id, queue)


def write_postmortem(
    org: Org,
    incident_id: str,
    service: str,
    triggered: datetime,
    resolved: datetime,
    deployment_id: int,
    queue: list[Merged],
) -> None:
    culprit = queue[org.rng.randrange(len(queue))]
    url = f"https://github.com/{culprit.repo}/pull/{culprit.number}"
    folder = org.out / "postmortems"
    folder.mkdir(parents=True, exist_ok=True)
    # Front matter as the postmortem source reads it: `pagerduty:` names the incident, and the
    # deployment and pull request links in the text are explicit blame.
    text = (
        "---\n"
        f"id: PM-{incident_id}\n"
        f"pagerduty: {incident_id}\n"
        f"date: {triggered.date().isoformat()}\n"
        f"service: {service}\n"
        "---\n"
        f"# {service}: elevated 5xx error rate\n\n"
        "## Summary\n\n"
        f"Deployment github:deployment:{deployment_id} of {service} shipped {url}, which raised the error rate.\n\n"
        "## Timeline\n\n"
        "| Time | Event |\n| --- | --- |\n"
        f"| {iso(triggered)} | PagerDuty incident {incident_id} triggered |\n"
        f"| {iso(resolved)} | Rolled back, incident resolved |\n\n"
        "## Root Cause\n\n"
        f"A regression introduced by {culprit.repo}#{culprit.number}.\n\n"
        "## Action Items\n\n- Add a regression test\n- Alert on the canary's error budget\n"
    )
    (folder / f"PM-{incident_id}.md").write_text(text, encoding="utf-8")
    org.counts["postmortem:markdown"] += 1


def generate(changes: int, seed: int, out: Path) -> dict[str, Any]:
    """Write the org for `changes` changes into `out`; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("events-*.jsonl"), *out.glob("incidents/*.jsonl"), *out.glob("postmortems/*.md")]:
        old.unlink()
    started = time.monotonic()
    org = build_org(Scale(changes), seed, out)
    for index in range(changes):
        gen_change(org, index)
    for queue in org.queues.values():
        if queue:
            gen_deployment(org, queue)
    org.events.close()
    org.incidents.close()
    manifest = {
        "changes": changes,
        "seed": seed,
        "engineers": org.scale.engineers,
        "repos": org.scale.repos,
        "entities": dict(sorted(org.ids.items())),
        "events": dict(sorted(org.counts.items())),
        "total_events": sum(v for k, v in org.counts.items() if k != "postmortem:markdown"),
        "first_at": iso(org.first_at) if org.first_at else None,
        "last_at": iso(org.last_at) if org.last_at else None,
        "seconds": round(time.monotonic() - started, 1),
    }
    keys = dict(org.keys, services=sorted({r.split("/")[1] for r in org.repos}))
    (out / "keys.json").write_text(json.dumps(keys, indent=1))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def main(argv: list[str] | None = None) -> None:
    """Command line: --changes N --seed S --out DIR."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.changes < 1:
        parser.error("--changes must be at least 1")
    manifest = generate(args.changes, args.seed, args.out)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
