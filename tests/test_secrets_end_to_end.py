"""Secrets never reach the graph or an export: one real-looking secret of each kind, planted in every
free-text field the sources carry, is absent from every Neo4j property and every exported file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import main
from graph.settings import Settings
from ingest import examples as ex
from tests.conftest import api, load, run_graph
from tests.test_redact import SECRETS

REPO = "acme/vault"
SECRET_VALUES = sorted({secret for _, secret, _ in SECRETS}, key=len, reverse=True)


def _sentences() -> list[str]:
    return [template.format(s=secret) for _, secret, template in SECRETS]


def _events() -> list[dict[str, Any]]:
    sentences = _sentences()
    head = ex.sha("vault-1")
    body = "## Intent\n" + "\n".join(sentences) + "\n"
    commits = [
        ex.commit(ex.sha(f"vault-c{i}"), message=f"Rotate config\n\n{sentence}", author="alice")
        for i, sentence in enumerate(sentences)
    ]
    commits.append(ex.commit(head, message="Final", author="alice"))
    events = [
        ex.push(REPO, before=ex.sha("vault-base"), commits=commits),
        ex.pull_request(REPO, 1, action="opened", author="alice", head=head, title=sentences[4], body=body),
    ]
    for i, sentence in enumerate(sentences):
        events.append(
            ex.provenance(
                REPO,
                1,
                session_id=f"sess-{i}",
                tool="claude-code",
                model="m",
                prompt_summary=sentence,
                operator="alice",
            )
        )
    return events


def _postmortem(tmp_path: Path) -> Path:
    path = tmp_path / "pm.md"
    path.write_text("# Leaked keys\n\n## Root cause\n" + "\n".join(_sentences()) + "\n\nBlamed acme/vault#1.\n")
    return path


def _leaks(text: str) -> list[str]:
    return [secret[:12] + "…" for secret in SECRET_VALUES if secret in text]


def test_planted_secrets_are_absent_from_neo4j_and_exports_and_counted(settings: Settings, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in _events()))
    env = {
        "NEO4J_URI": settings.neo4j_uri,
        "NEO4J_PASSWORD": settings.neo4j_password,
        "TRACEGRAPH_HOME": str(settings.home),
    }
    runner = CliRunner()
    ingested = runner.invoke(main, ["ingest", str(events)], env=env)
    assert ingested.exit_code == 0, ingested.output
    redacted_line = next(line for line in ingested.stdout.splitlines() if line.startswith("secrets redacted:"))
    counts = dict(part.split() for part in redacted_line.removeprefix("secrets redacted: ").split(", "))
    assert int(counts["github"]) >= len(SECRETS) and int(counts["provenance"]) >= len(SECRETS)
    postmortem = runner.invoke(main, ["ingest", "--source", "postmortem", str(_postmortem(tmp_path))], env=env)
    assert postmortem.exit_code == 0, postmortem.output
    assert not _leaks(ingested.output + postmortem.output)

    dump = run_graph(
        settings,
        lambda g: g.driver.execute_query(
            "MATCH (n) OPTIONAL MATCH (n)-[r]->() RETURN collect(properties(n)) AS n, collect(properties(r)) AS r"
        ),
    )
    stored = json.dumps([dict(record) for record in dump.records], default=str)
    assert "[REDACTED:" in stored
    assert not _leaks(stored), "secrets stored in Neo4j"

    out = tmp_path / "bundle"
    exported = runner.invoke(main, ["export", "--change", f"{REPO}#1", "--out", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and any("REDACTED" in p.read_text(errors="replace") for p in files)
    for path in files:
        assert not _leaks(path.read_text(errors="replace")), f"secret in exported {path.name}"
    parked = list((settings.home / "quarantine").glob("*.json")) if (settings.home / "quarantine").exists() else []
    assert not any(_leaks(p.read_text()) for p in parked)


# --- every stored text: one secret per field the security review found unredacted ---------------------

TOKEN = "ghp_" + "Q7w8" * 9
URL_WITH_TOKEN = f"https://x-access-token:{TOKEN}@github.com/acme/vault"
HEAD = ex.sha("vault-fields")


def _with(envelope: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    node = envelope["payload"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return envelope


def _pull(**changes: Any) -> dict[str, Any]:
    envelope = ex.pull_request(REPO, 7, action="opened", author="alice", head=HEAD)
    for path, value in changes.items():
        _with(envelope, tuple(path.split("__")), value)
    return envelope


def _check(**changes: Any) -> dict[str, Any]:
    envelope = ex.check_run(REPO, name="unit-tests", head=HEAD, conclusion="success", run_id=77)
    for path, value in changes.items():
        _with(envelope, ("check_run", path), value)
    return envelope


# field -> (the event that carries the secret there, the label and property it is stored in)
FIELDS = {
    "Change.url": (_pull(pull_request__html_url=f"{URL_WITH_TOKEN}/pull/7"), ("Change", "url")),
    "Change.headRef": (_pull(pull_request__head__ref=f"leak-{TOKEN}"), ("Change", "headRef")),
    "Change.labels": (_pull(pull_request__labels=[{"name": "ok"}, {"name": f"token {TOKEN}"}]), ("Change", "labels")),
    "Evidence.name": (_check(name=f"deploy with {TOKEN}"), ("Evidence", "name")),
    "Evidence.url": (_check(html_url=f"{URL_WITH_TOKEN}/runs/77"), ("Evidence", "url")),
}


def _stored(settings: Settings, label: str, prop: str) -> list[Any]:
    records = run_graph(
        settings, lambda g: g.driver.execute_query(f"MATCH (n:{label}) RETURN n[$prop] AS v", prop=prop)
    )
    return [r["v"] for r in records.records if r["v"] is not None]


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_a_secret_in_each_stored_field_is_redacted_end_to_end(settings: Settings, field: str) -> None:
    event, (label, prop) = FIELDS[field]
    events = [event] if label == "Change" else [_pull(), event]
    assert not load(settings, events).rejected
    [value] = _stored(settings, label, prop)
    assert TOKEN not in json.dumps(value) and "[REDACTED:" in json.dumps(value), (field, value)
    sources = json.dumps(_stored(settings, "SourceEvent", "body"))
    assert TOKEN not in sources
    with api(settings) as client:
        answer = client.post(
            "/graphql", json={"query": f'{{ change(repo: "{REPO}", number: 7) {{ url evidence {{ name url }} }} }}'}
        ).json()
    assert "errors" not in answer and TOKEN not in json.dumps(answer)
