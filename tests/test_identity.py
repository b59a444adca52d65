"""Identity merging: an aliases file and GitHub noreply e-mails merge handles; names never do; bots stay bots."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from graph.batch import Batch, Origin
from graph.vocabulary import Label, Rel
from ingest.identity import Identities, IdentityError, is_bot, noreply_login, resolve

PEOPLE: dict[str, Any] = {
    "people": [
        {
            "login": "alice",
            "name": "Alice Smith",
            "emails": ["alice@example.com", "Alice@Old.Example.com"],
            "gitlab": "alice.smith",
            "pagerduty": "PABC123",
            "opsgenie": "alice@example.com",
        },
        {"login": "bob", "github": ["bob-gh", "bobby"], "emails": "bob@example.com"},
    ]
}
IDS = Identities.from_data(PEOPLE)
V = "2024-01-01T00:00:00Z#00#e1"


@pytest.mark.parametrize(
    ("email", "login"),
    [
        ("alice@example.com", "alice"),
        ("ALICE@old.example.com", "alice"),
        ("  bob@example.com ", "bob"),
        ("12345+bob-gh@users.noreply.github.com", "bob"),  # noreply login, then the aliases file
        ("bobby@users.noreply.github.com", "bob"),  # the pre-2017 noreply form
        ("98765+carol@users.noreply.github.com", "carol"),  # GitHub verified it: safe without the file
        ("carol@USERS.NOREPLY.GITHUB.COM", "carol"),
        ("49699333+dependabot[bot]@users.noreply.github.com", "dependabot[bot]"),
        ("noreply@github.com", None),  # web-flow: GitHub itself, not a person
        ("noreply@anthropic.com", None),
        ("carol@example.com", None),  # an unknown address is nobody we know
        ("not an address", None),
        ("", None),
        (None, None),
        ("-bad-@users.noreply.github.com", None),
    ],
)
def test_login_for_email(email: str | None, login: str | None) -> None:
    assert IDS.login_for_email(email) == login


@pytest.mark.parametrize(
    ("handle", "kind", "login"),
    [
        ("alice.smith", "gitlab", "alice"),
        ("ALICE.SMITH", "gitlab", "alice"),
        ("PABC123", "pagerduty", "alice"),
        ("alice@example.com", "opsgenie", "alice"),
        ("alice@example.com", "email", "alice"),
        ("bob-gh", "github", "bob"),
        ("Bob", "github", "bob"),  # GitHub logins ignore case
        ("bob-gh", "gitlab", "bob-gh"),  # a handle counts only for its own kind
        ("zed", "github", "zed"),
        ("dependabot[bot]", "github", "dependabot[bot]"),
        ("renovate", "gitlab", "renovate"),
    ],
)
def test_canonical(handle: str, kind: str, login: str) -> None:
    assert IDS.canonical(handle, kind) == login


@pytest.mark.parametrize(
    ("handle", "bot"),
    [
        ("dependabot[bot]", True),
        ("github-actions", True),
        ("Renovate", True),
        ("semantic-release-bot", True),
        ("web-flow", True),
        ("alice", False),
        ("abbott", False),
        ("robotics-team", False),
    ],
)
def test_bots(handle: str, bot: bool) -> None:
    assert is_bot(handle) is bot


@pytest.mark.parametrize(
    ("email", "login"),
    [
        ("1+a@users.noreply.github.com", "a"),
        ("a-b@users.noreply.github.com", "a-b"),
        ("1+a@noreply.github.com", None),
        ("a@users.noreply.github.com.evil.example", None),
    ],
)
def test_noreply_login(email: str, login: str | None) -> None:
    assert noreply_login(email) == login


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"people": [{"emails": ["x@example.com"]}]}, "people.0.login: Field required"),
        ({"people": [{"login": "dependabot[bot]"}]}, "bots stay bots"),
        ({"people": [{"login": "x", "github": "renovate[bot]"}]}, "is a bot"),
        (
            {"people": [{"login": "x", "emails": ["a@example.com"]}, {"login": "y", "emails": ["A@example.com"]}]},
            "claimed by both x and y",
        ),
        ({"people": [{"login": "x"}, {"login": "X"}]}, "listed twice"),
        ({"people": [{"login": "x", "emails": ["not-an-address"]}]}, "is not an e-mail address"),
        ({"people": [{"login": "x", "slack": "x"}]}, "people.0.slack"),
        ({"people": [{"login": "x", "github": [""]}]}, "handles must be non-empty strings"),
        ({"people": "alice"}, "people"),
        (["alice"], "Input should be a valid dictionary"),
    ],
)
def test_a_bad_aliases_file_is_refused_with_the_reason(data: Any, message: str) -> None:
    with pytest.raises(IdentityError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Identities.from_data(data)


def test_the_aliases_file_comes_from_the_option_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text("people:\n  - login: alice\n    emails: alice@example.com\n")
    monkeypatch.delenv("TRACEGRAPH_ALIASES", raising=False)
    assert Identities.load().login_for_email("alice@example.com") is None
    assert Identities.load(path).login_for_email("alice@example.com") == "alice"
    monkeypatch.setenv("TRACEGRAPH_ALIASES", str(path))
    assert Identities.load().login_for_email("alice@example.com") == "alice"
    (tmp_path / "bad.yaml").write_text("people: [unclosed\n")
    with pytest.raises(IdentityError, match="is not valid YAML"):
        Identities.load(tmp_path / "bad.yaml")
    with pytest.raises(IdentityError, match="cannot read aliases file"):
        Identities.load(tmp_path / "missing.yaml")


# --- resolve(): batches in, batches out ----------------------------------------------------------


def _origin(source: str) -> Origin:
    return Origin(source, "e1", "2024-01-01T00:00:00Z")


def _github_review(login: str, name: str | None = None) -> Batch:
    batch = Batch()
    batch.node(Label.PERSON, login, version=V, origin=_origin("github"), isBot=False, name=name)
    batch.edge((Label.PERSON, login), Rel.SUBMITTED, (Label.REVIEW, "r1"), version=V, origin=_origin("github"))
    return batch


def _gitlab_user(username: str) -> Batch:
    batch = Batch()
    batch.node(Label.PERSON, username, version=V, origin=_origin("gitlab"), gitlabUsername=username)
    return batch


def _commit(email: str, author: str | None = None) -> Batch:
    batch = Batch()
    batch.node(Label.COMMIT, "c1", version=V, origin=_origin("git"), authorEmail=email)
    if author:
        batch.edge((Label.PERSON, author), Rel.AUTHORED, (Label.COMMIT, "c1"), version=V, origin=_origin("github"))
    return batch


def _note_operator(email: str) -> Batch:
    batch = Batch()
    batch.node(Label.PERSON, email, version=V, origin=_origin("git-ai"), emails=[email])
    batch.edge((Label.PERSON, email), Rel.OPERATED, (Label.AGENT_SESSION, "s1"), version=V, origin=_origin("git-ai"))
    return batch


def _persons(batch: Batch) -> dict[str, dict[str, Any]]:
    return {n.key: n.props for n in batch.find_nodes(Label.PERSON)}


def _edges(batch: Batch) -> set[tuple[str, str, str]]:
    return {(e.src_key, e.rel, e.dst_key) for e in batch.edges}


ALICE_ALIASES = ["PABC123", "alice.smith", "alice@example.com"]
ALICE_EMAILS = ["alice@example.com", "alice@old.example.com"]

RESOLVE_CASES: list[tuple[str, Batch, dict[str, dict[str, Any]], set[tuple[str, str, str]]]] = [
    (
        "a GitHub alias becomes the canonical login, on the node and the edge",
        _github_review("bob-gh"),
        {"bob": {"aliases": ["bob-gh", "bobby"], "emails": ["bob@example.com"]}},
        {("bob", "SUBMITTED", "r1")},
    ),
    (
        "a GitLab username listed in the file",
        _gitlab_user("alice.smith"),
        {"alice": {"aliases": ALICE_ALIASES, "emails": ALICE_EMAILS, "name": "Alice Smith"}},
        set(),
    ),
    (
        "an unknown GitHub user is left alone",
        _github_review("zed"),
        {"zed": {"isBot": False}},
        {("zed", "SUBMITTED", "r1")},
    ),
    (
        "a display name alone merges nobody",
        _github_review("asmith", name="Alice Smith"),
        {"asmith": {"isBot": False, "name": "Alice Smith"}},
        {("asmith", "SUBMITTED", "r1")},
    ),
    (
        "a bot stays a bot",
        _github_review("dependabot[bot]"),
        {"dependabot[bot]": {"isBot": False}},
        {("dependabot[bot]", "SUBMITTED", "r1")},
    ),
    (
        "a commit whose author e-mail resolves gains its author",
        _commit("Alice@Example.com"),
        {"alice": {"isBot": False, "aliases": ALICE_ALIASES, "emails": ALICE_EMAILS, "name": "Alice Smith"}},
        {("alice", "AUTHORED", "c1")},
    ),
    (
        "a commit authored by a bot's noreply address gains the bot",
        _commit("49699333+dependabot[bot]@users.noreply.github.com"),
        {"dependabot[bot]": {"isBot": True}},
        {("dependabot[bot]", "AUTHORED", "c1")},
    ),
    (
        "a commit that names its author keeps it",
        _commit("alice@example.com", author="zed"),
        {},
        {("zed", "AUTHORED", "c1")},
    ),
    (
        "a commit by an unknown address gets no author",
        _commit("carol@example.com"),
        {},
        set(),
    ),
    (
        "an operator known by e-mail (git-ai notes) is the person of that e-mail",
        _note_operator("alice@old.example.com"),
        {
            "alice": {
                "aliases": [*ALICE_ALIASES, "alice@old.example.com"],
                "emails": ALICE_EMAILS,
                "name": "Alice Smith",
            }
        },
        {("alice", "OPERATED", "s1")},
    ),
]


@pytest.mark.parametrize(("what", "batch", "persons", "edges"), RESOLVE_CASES, ids=[c[0] for c in RESOLVE_CASES])
def test_resolve(what: str, batch: Batch, persons: dict[str, dict[str, Any]], edges: set[tuple[str, str, str]]) -> None:
    before = copy.deepcopy(batch)
    resolved = resolve(batch, IDS)
    assert batch == before, "the input batch must not change"
    found = _persons(resolved)
    assert set(found) == set(persons)
    for login, props in persons.items():
        assert {k: v for k, v in found[login].items() if k in props} == props, login
    assert _edges(resolved) == edges


def test_every_row_of_a_person_gets_the_same_merged_lists() -> None:
    batch = _github_review("bob-gh")
    batch.node(
        Label.PERSON, "bobby", version="2024-02-01T00:00:00Z#00#e2", origin=_origin("github"), emails=["b@x.org"]
    )
    batch.node(Label.PERSON, "bob", version="2023-01-01T00:00:00Z#00#e3", origin=_origin("github"))
    # No source says what kind of handle this is, but it names the same node as the row above: it moves too.
    batch.node(Label.PERSON, "bobby", version="2024-02-01T00:00:00Z#00#e4")
    rows = [n for n in resolve(batch, IDS).nodes if n.label == Label.PERSON]
    assert [n.key for n in rows] == ["bob", "bob", "bob", "bob"]
    # The writer keeps a list whole from the newest row, so every row must carry the union.
    assert all(n.props["emails"] == ["b@x.org", "bob@example.com"] for n in rows)
    assert all(n.props["aliases"] == ["bob-gh", "bobby"] for n in rows)


def test_a_commit_resolved_by_e_mail_records_the_login_it_found() -> None:
    resolved = resolve(_commit("12345+bob-gh@users.noreply.github.com"), IDS)
    commit = resolved.find_nodes(Label.COMMIT)[0]
    assert commit.props["authorLogin"] == "bob"
    edge = resolved.find_edges(Rel.AUTHORED)[0]
    assert edge.version == commit.version and edge.props["sourceEventId"] == "e1"
