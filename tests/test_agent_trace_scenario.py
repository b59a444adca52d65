"""AI provenance and supply-chain evidence in the five-minute answer, against a real Neo4j.

The builders here are plain functions returning envelopes, so other scenario tests (the issue's
end-to-end change → incident → postmortem test) can import them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from graph import queries
from graph.driver import Graph
from graph.reads import read_one
from graph.settings import Settings
from ingest import examples as ex
from tests.conftest import api, load, run_graph

Envelope = dict[str, Any]
REPO = "acme/ledger"
QUERY = """
query($repo: String!, $number: Int!) {
  change(repo: $repo, number: $number) {
    id headSha mergeCommitSha
    sessions { id tool model operator { login } }
    commits { sha sessions { id } }
    evidence { kind name conclusion commitSha source }
  }
}
"""


# --- builders ------------------------------------------------------------------------------------


def agent_trace_record(
    record_id: str,
    *,
    revision: str,
    tool: str = "claude-code",
    tool_version: str = "2.1.0",
    model: str = "anthropic/claude-sonnet-4-5",
    path: str = "src/ledger/posting.py",
    lines: tuple[int, int] = (1, 40),
    at: str = "2026-02-01T09:45:00Z",
) -> dict[str, Any]:
    """An Agent Trace 0.1 record: `lines` of `path` written by `model` in `tool`, at git `revision`."""
    return {
        "version": "0.1.0",
        "id": record_id,
        "timestamp": at,
        "vcs": {"type": "git", "revision": revision},
        "tool": {"name": tool, "version": tool_version},
        "files": [
            {
                "path": path,
                "conversations": [
                    {
                        "url": f"https://agents.example.com/conversations/{record_id}",
                        "contributor": {"type": "ai", "model_id": model},
                        "ranges": [{"start_line": lines[0], "end_line": lines[1]}],
                    }
                ],
            }
        ],
    }


def agent_trace(record: dict[str, Any]) -> Envelope:
    """The envelope of one Agent Trace record (what a line of .agent-trace/traces.jsonl becomes)."""
    return {"source": "agent-trace", "type": "trace", "id": f"agent-trace-{record['id']}", "payload": record}


def traced_change(
    number: int, *, session_id: str, head: str, author: str = "alice", merged: bool = False
) -> list[Envelope]:
    """A pull request whose head commit an Agent Trace record says an AI session wrote."""
    events = [
        ex.push(
            REPO, before=ex.sha(f"base-{number}"), commits=[ex.commit(head, message="Post refunds", author=author)]
        ),
        ex.pull_request(REPO, number, action="opened", author=author, head=head, title="Post refunds"),
        agent_trace(agent_trace_record(session_id, revision=head)),
    ]
    if merged:
        events.append(
            ex.pull_request(
                REPO,
                number,
                action="closed",
                merged=True,
                merge_sha=ex.sha(f"merge-{number}"),
                author=author,
                head=head,
                title="Post refunds",
                at="2026-02-01T15:00:00Z",
            )
        )
    return events


def authorship_note(*, conversation_id: str, tool: str, model: str, human: str, ai: str, human_lines: str) -> str:
    """A git-ai authorship/3.0.0 note: one AI session and one known human editing src/ledger/posting.py."""
    metadata = {
        "schema_version": "authorship/3.0.0",
        "git_ai_version": "1.6.0",
        "base_commit_sha": "0" * 40,
        "prompts": {},
        "humans": {"h_aaaaaaaaaaaaaa": {"author": human}},
        "sessions": {
            "s_bbbbbbbbbbbbbb": {
                "agent_id": {"tool": tool, "id": conversation_id, "model": model},
                "human_author": human,
            }
        },
    }
    attestation = (
        f"src/ledger/posting.py\n  s_bbbbbbbbbbbbbb::t_cccccccccccccc {ai}\n  h_aaaaaaaaaaaaaa {human_lines}\n"
    )
    return attestation + "---\n" + json.dumps(metadata, indent=2)


def git_ai_note(commit: str, note: str) -> Envelope:
    """The envelope of a refs/notes/ai note attached to `commit`."""
    return {"source": "git-ai", "type": "note", "id": f"notes-ai-{commit}", "payload": {"commit": commit, "note": note}}


def slsa_provenance(commit: str, *, artifact: str, digest: str, repo: str = REPO) -> Envelope:
    """An in-toto v1 statement with a SLSA v1 provenance predicate built from `commit` (type left to inference)."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": artifact, "digest": {"sha256": digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.example.com/workflow/v1",
                "externalParameters": {
                    "workflow": {"repository": f"https://github.com/{repo}", "ref": "refs/heads/main"}
                },
                "resolvedDependencies": [
                    {"uri": f"git+https://github.com/{repo}@refs/heads/main", "digest": {"gitCommit": commit}}
                ],
            },
            "runDetails": {
                "builder": {"id": "https://github.com/actions/runner/github-hosted"},
                "metadata": {"startedOn": "2026-02-01T15:05:00Z", "finishedOn": "2026-02-01T15:09:00Z"},
            },
        },
    }
    return {"source": "attestation", "id": f"slsa-{commit[:12]}", "payload": statement}


# --- scenarios -----------------------------------------------------------------------------------


def ask(settings: Settings, number: int) -> dict[str, Any]:
    with api(settings) as client:
        response = client.post("/graphql", json={"query": QUERY, "variables": {"repo": REPO, "number": number}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["change"]


def raw_commit(settings: Settings, sha: str) -> dict[str, Any]:
    """Every stored property of a commit (GraphQL exposes only some of them)."""

    async def read(graph: Graph) -> dict[str, Any]:
        raw = await read_one(graph, queries.COMMIT, sha=sha)
        return raw["commit"] if raw else {}

    return run_graph(settings, read)


def test_agent_trace_session_on_the_head_commit_is_one_of_the_change_sessions(settings: Settings) -> None:
    head = ex.sha("trace-head-1")
    summary = load(settings, traced_change(1, session_id="4f1c2a10-0000-4000-8000-00000000aa01", head=head))
    assert summary.rejected == []

    change = ask(settings, 1)
    assert change["headSha"] == head
    assert change["sessions"] == [
        {
            "id": "4f1c2a10-0000-4000-8000-00000000aa01",
            "tool": "claude-code",
            "model": "anthropic/claude-sonnet-4-5",
            "operator": None,
        }
    ]
    assert {"sha": head, "sessions": [{"id": "4f1c2a10-0000-4000-8000-00000000aa01"}]} in change["commits"]


# How the trace arrives relative to the push and the pull request: first, or last and twice.
ORDERS = {"trace-first": [2, 0, 1], "trace-last-twice": [0, 1, 2, 2]}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_arrival_order_and_replays_do_not_change_the_answer(settings: Settings, order: str) -> None:
    head = ex.sha("trace-head-2")
    made = traced_change(2, session_id="4f1c2a10-0000-4000-8000-00000000aa02", head=head)
    events = [made[i] for i in ORDERS[order]]
    load(settings, events)
    change = ask(settings, 2)
    assert [s["id"] for s in change["sessions"]] == ["4f1c2a10-0000-4000-8000-00000000aa02"]
    assert change["sessions"][0]["tool"] == "claude-code"


def test_trace_on_a_commit_outside_the_change_is_not_a_session_of_it(settings: Settings) -> None:
    head = ex.sha("trace-head-3")
    events = traced_change(3, session_id="unrelated", head=head)
    events[2] = agent_trace(agent_trace_record("unrelated", revision=ex.sha("somewhere-else")))
    load(settings, events)
    assert ask(settings, 3)["sessions"] == []


def test_git_ai_note_and_slsa_provenance_on_the_merge_commit(settings: Settings) -> None:
    """git-ai names the session and who ran it; SLSA provenance is evidence on the shipped commit."""
    head = ex.sha("trace-head-4")
    merge = ex.sha("merge-4")
    note = authorship_note(
        conversation_id="conv-git-ai-4",
        tool="codex",
        model="gpt-5-codex",
        human="Carol Jones <carol@example.com>",
        ai="1-30",
        human_lines="31-40",
    )
    summary = load(
        settings,
        [
            *traced_change(4, session_id="4f1c2a10-0000-4000-8000-00000000aa04", head=head, merged=True),
            git_ai_note(merge, note),
            slsa_provenance(merge, artifact="ledger-1.5.0.tar.gz", digest="9" * 64),
        ],
    )
    assert summary.rejected == []

    change = ask(settings, 4)
    assert change["mergeCommitSha"] == merge
    sessions = {s["id"]: s for s in change["sessions"]}
    assert sessions["conv-git-ai-4"] == {
        "id": "conv-git-ai-4",
        "tool": "codex",
        "model": "gpt-5-codex",
        "operator": {"login": "carol@example.com"},
    }
    assert "4f1c2a10-0000-4000-8000-00000000aa04" in sessions
    provenance = [e for e in change["evidence"] if e["kind"] == "provenance"]
    assert provenance == [
        {
            "kind": "provenance",
            "name": "slsa-provenance-v1",
            "conclusion": "success",
            "commitSha": merge,
            "source": "attestation",
        }
    ]
    stored = raw_commit(settings, merge)
    assert (stored["aiLines"], stored["humanLines"], stored["aiShare"]) == (30, 10, 0.75)
