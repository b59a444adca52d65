"""Secret redaction: one real-looking secret per kind, and text that must stay untouched.

Fake secrets are built by concatenation so this file does not trip secret scanners.
"""

from __future__ import annotations

import time

import pytest

from ingest.redact import count_redactions, redact

B64_40 = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJ" + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    "." + "eyJ" + "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    "." + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN " + "RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA7bq" + "0000\n"
    "kq9Zc3Jy" + "ZXQtbWF0ZXJpYWw=\n"
    "-----END " + "RSA PRIVATE KEY-----"
)

# (kind, secret, sentence template with {s} where the secret goes)
SECRETS = [
    ("aws-access-key", "AKIA" + "IOSFODNN7EXAMPLE", "deploy with key {s} in us-east-1"),
    ("aws-access-key", "ASIA" + "Y34FZKBOKMUTVV7A", "temporary creds {s}."),
    ("aws-secret", B64_40, "set aws_secret_access_key = {s} in ~/.aws/credentials"),
    ("aws-secret", B64_40, "export AWS_SECRET_ACCESS_KEY={s}"),
    ("github-token", "ghp_" + "a1B2" * 9, "the agent used {s} to push"),
    ("github-token", "ghs_" + "Z9y8" * 9, "installation token {s}"),
    ("github-token", "github_pat_" + "11ABCDEFG0" + "_" + "aB3d" * 14, "fine-grained {s} here"),
    ("gitlab-token", "glpat-" + "xY7_k2Lm9QwErT5uIo3P", "clone with {s} please"),
    ("slack-token", "xoxb-" + "1234567890-0987654321-" + "AbCdEfGhIjKlMnOp", "bot token {s} posted"),
    (
        "slack-webhook",
        "https://hooks.slack.com/services/" + "T00000000/B00000000/" + "XXXXXXXXabcd1234XXXXXXXX",
        "alerts go to {s} now",
    ),
    ("stripe-key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "charge with {s}"),
    ("stripe-key", "rk_live_" + "51HbT2kLm0Pq9RsTuVwXyZ", "restricted key {s}"),
    ("stripe-key", "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc", "test mode {s}"),
    ("google-api-key", "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "maps key {s} in config"),
    ("openai-key", "sk-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb3dEf6hIj9kLm2n", "OPENAI key {s} pasted"),
    ("openai-key", "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5q_Rs8tUv1wXy4z-Ab3d", "project key {s} pasted"),
    ("anthropic-key", "sk-ant-" + "api03-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z-AA", "claude key {s} pasted"),
    ("private-key", PEM, "here is the key:\n{s}\nthanks"),
    ("jwt", JWT, "Authorization header had {s} in it"),
    ("url-password", "hunter2" + "Secret", "connect to postgres://admin:{s}@db.internal:5432/app"),
    ("url-password", "p4" + "ss", "redis://:{s}@cache:6379/0"),
    ("secret-assignment", "Xk9m" + "P2vLq7Rt", "set DB_PASSWORD={s} in the env"),
    ("secret-assignment", "hunter" + "2", 'config has password: "{s}" for now'),
    ("secret-assignment", "c0ffee" + "Bead42Zz", "client_secret: {s}, then retry"),
    ("secret-assignment", "Zq8" + "vW3nR6tY1u", '{{"api_key": "{s}"}}'),
    ("secret-assignment", "aB9" + "cD8eF7gH", "X-Api-Key: {s}"),
    ("secret-assignment", "Tk4" + "n-9Qz/7Ws", "token={s}."),
    ("secret-assignment", "CorrectHorse" + "BatteryStaple", "password={s} is a passphrase"),
    ("secret-assignment", "AbCdEf" + "GhIjKl", "ACCESS_KEY: {s}"),
    ("slack-token", "xapp-" + "1-A0123BCDEF-4567890123456-" + "0a1b2c3d4e5f" * 4, "socket mode with {s} on"),
    ("npm-token", "npm_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6", "publish with {s} from CI"),
    ("huggingface-token", "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh", "download with {s} then"),
    (
        "sendgrid-key",
        "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
        "mail via {s} ok",
    ),
    (
        "pypi-token",
        "pypi-" + "AgEIcHlwaS5vcmcCJDU3OTM1MjliLTA1MmMtNDFhMy05YWYzLTgwYmUzN2FmYmQzMQACKlsz",
        "upload {s} now",
    ),
]


@pytest.mark.parametrize(
    ("kind", "secret", "template"), SECRETS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(SECRETS)]
)
def test_redacts_each_kind(kind: str, secret: str, template: str) -> None:
    text = template.format(s=secret)
    result = redact(text)
    assert result is not None
    assert secret not in result
    assert f"[REDACTED:{kind}]" in result
    assert count_redactions(result) == 1
    # Text around the secret survives.
    for word in template.replace("{s}", " ").split()[:2]:
        assert word.strip("{}") in result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "connect to postgres://admin:" + "hunter2Secret" + "@db.internal/app",
            "connect to postgres://admin:[REDACTED:url-password]@db.internal/app",
        ),
        ("set password=" + "Xk9mP2vLq7Rt" + ".", "set password=[REDACTED:secret-assignment]."),
        ("key AKIA" + "IOSFODNN7EXAMPLE, done", "key [REDACTED:aws-access-key], done"),
        ("before\n" + PEM + "\nafter", "before\n[REDACTED:private-key]\nafter"),
        # A key block cut off mid-way is still redacted, to the end of the text.
        (
            "key: -----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA",
            "key: [REDACTED:private-key]",
        ),
    ],
)
def test_keeps_context_and_redacts_only_the_secret(text: str, expected: str) -> None:
    assert redact(text) == expected


NEGATIVES = [
    "Fix the password reset flow so expired tokens are rejected",
    "The password: must be at least 12 characters",
    "secret: something we should discuss",
    "tokens: 12345678 used in this session",
    "password = get_password()",
    "token = os.environ",
    "api_key: process.env.API_KEY",
    "The secret: Kubernetes-based isolation",
    "pwd: /home/user/project",
    "password: ${DB_PASSWORD}",
    'api_key: "<your-api-key>"',
    "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed the bug",
    "sha: 3f786850e387550fdab836ed7e6dc881de23001b",
    "session 123e4567-e89b-12d3-a456-426614174000 started",
    "see https://github.com/o/r/pull/42 and http://example.com:8080/path?q=1",
    "ssh://git@github.com/o/r.git and git@github.com:o/r.git",
    "uses sk-learn-style pipelines and task-runner-configuration-values",
    "rotate the AWS key and the GitHub token monthly",
    "Authored-by: Jane <jane@example.com>",
    "set npm_config_cache and call hf_hub_download(repo_id) in the pypi-publish job",
    "SG.Wait() and xapp-builder are names, not tokens; see pypi-AgE for the format",
    "",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_none_stays_none() -> None:
    assert redact(None) is None


@pytest.mark.parametrize(("kind", "secret", "template"), SECRETS[:6])
def test_is_idempotent(kind: str, secret: str, template: str) -> None:
    once = redact(template.format(s=secret))
    assert redact(once) == once


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0),
        (42, 0),
        ("no secrets", 0),
        ("[REDACTED:jwt] and [REDACTED:github-token]", 2),
        (["[REDACTED:jwt]", {"a": "[REDACTED:aws-secret]", "b": ["x", "[REDACTED:jwt]"]}], 3),
        (("[REDACTED:jwt]",), 1),
    ],
)
def test_count_redactions(value: object, expected: int) -> None:
    assert count_redactions(value) == expected


@pytest.mark.parametrize(
    "blob",
    ["a" * 20_000, "ab." * 7_000, "sk-" * 7_000, "token=" * 4_000, "http://" * 3_000, "-----BEGIN " * 2_000],
    ids=["word", "dotted", "sk-prefixes", "assignments", "schemes", "begins"],
)
def test_large_pasted_blobs_stay_linear(blob: str) -> None:
    # A quadratic pattern takes tens of seconds here; a linear one takes milliseconds.
    started = time.perf_counter()
    redact(blob)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"api_key": "Zq8" + "vW3nR6tY1u"}, {"api_key": "[REDACTED:secret-assignment]"}),
        ({"client_secret": "${CLIENT_SECRET}"}, {"client_secret": "${CLIENT_SECRET}"}),
        ({"tokens": 1200, "token_type": "bearer"}, {"tokens": 1200, "token_type": "bearer"}),
        ({"nested": [{"body": "use ghp_" + "a1B2" * 9}]}, {"nested": [{"body": "use [REDACTED:github-token]"}]}),
        ({"title": "password reset flow"}, {"title": "password reset flow"}),
    ],
)
def test_json_values_are_redacted_structurally(value: object, expected: object) -> None:
    from ingest.redact import redact_value

    assert redact_value(value) == expected


def test_every_rule_kind_has_a_prefilter_hint() -> None:
    from ingest.redact import _HINTS, _RULES

    assert {rule.kind for rule in _RULES} == set(_HINTS)


# Fragments that build near-misses for every rule: secret names in odd cases and Unicode folds (ſ, K),
# separators, token prefixes, placeholders, URL parts, key blocks.
FRAGMENTS = (
    ["password", "PASSWORD", "paſsword", "pasſwd", "ſecret", "tOKen", "api_key", "API-KEY", "acceſs_key"]
    + ["private-Key", "KEY", "=", ": ", " => ", "'", '"', "hunter2Xy9!", "s3cr3tV4lu3Zq", "${VAR}", "ghp_", "A" * 36]
    + ["aB3" * 13, "github_pat_", "glpat-", "https://", "user", ":", "pw9x", "@", "host.com/x", "AKIA", "ASIA"]
    + ["ABCDEFGHIJKLMNOP", "xoxb-", "1234567890abc", "sk_live_", "rk_test_", "AIza", "sk-", "sk-ant-", "eyJ"]
    + ["hbGciOiJIUzI1NiIs", ".", "-----BEGIN RSA PRIVATE KEY-----", "MIIE", "-----END RSA PRIVATE KEY-----"]
    + ["hooks.slack.com/services/T0/B0/x", " ", "\n", "aws_secret_access_key", B64_40, "İ", "ı", "\u212a"]
    + ["token_count", "x", "_", "-", "DB_", "client_", "xapp-", "1-A0B-42-", "npm_", "hf_", "SG.", "sg.", "pypi-"]
    + ["AgE", "aB3dE6gH9jK2mN5pQ8sT1vW4y", "ngeVfQFYQlKU0ufo8x5d1A"]
)


def test_prefilter_changes_no_output() -> None:
    """redact() skips rules whose hint is absent; on 20,000 generated strings that must change nothing."""
    import random
    from functools import partial

    from ingest.redact import _RULES, _replace

    def every_rule(text: str) -> str:
        for rule in _RULES:
            text = rule.pattern.sub(partial(_replace, rule), text)
        return text

    rng = random.Random(7)
    texts = ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 12))) for _ in range(20_000)]
    assert sum(redact(t) != t for t in texts) > 1000  # the strings do hold secrets, so the check means something
    assert [t for t in texts if redact(t) != every_rule(t)] == []


def test_document_prefilter_changes_no_output() -> None:
    """redact_document skips the structural walk when its text holds no hint; that must change nothing."""
    import random

    from ingest.redact import dumps_sorted, redact_document, redact_value

    rng = random.Random(11)

    # Half the words come from harmless pieces (quotes, backslashes, control characters, non-ASCII,
    # halves of secret names) so that many documents take the fast path.
    harmless = ["plain", "x", '"', "\\", "\n", "\t", "é", "ſ", "\u212a", "s", "ecret", "to", "ken", "://", "@", ":"]

    def word() -> str:
        pool = FRAGMENTS if rng.random() < 0.5 else harmless
        return "".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))

    def document(depth: int = 0) -> object:
        kind = rng.random()
        if depth > 2 or kind < 0.4:
            return rng.choice([word(), word(), rng.randint(0, 9), None, True, 2**70])  # 2**70: the json fallback
        if kind < 0.6:
            return [document(depth + 1) for _ in range(rng.randint(0, 3))]
        return {word(): document(depth + 1) for _ in range(rng.randint(0, 4))}

    documents = [document() for _ in range(5_000)] + [{"ok": "plain text", "n": [1, "two"]}]
    expected = [dumps_sorted(redact_value(d)) for d in documents]
    unchanged = sum(e == dumps_sorted(d) for d, e in zip(documents, expected, strict=True))
    assert unchanged > 1000 and len(documents) - unchanged > 200  # both clean and secret-bearing documents
    assert [d for d, e in zip(documents, expected, strict=True) if redact_document(d) != e] == []


def test_literal_trie_matches_exactly_what_the_alternation_of_its_literals_matches() -> None:
    """The document hint is a prefix tree of literals; where and what it finds must equal a|b|c..."""
    import random
    import re

    from ingest.redact import _literal_trie

    rng = random.Random(5)
    alphabet = "abk-_ ."
    for _ in range(300):
        literals = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5))) for _ in range(rng.randint(1, 8))}
        trie = re.compile(_literal_trie(literals))
        # Longest first, so the plain alternation also prefers the longest literal at a position.
        plain = re.compile("|".join(re.escape(w) for w in sorted(literals, key=len, reverse=True)))
        assert all(trie.fullmatch(w) for w in literals)
        for _ in range(30):
            text = "".join(rng.choice(alphabet + "xyz") for _ in range(rng.randint(0, 20)))
            assert [m.span() for m in trie.finditer(text)] == [m.span() for m in plain.finditer(text)], (literals, text)


def test_stored_documents_are_canonical_json_whatever_the_values() -> None:
    """Keys sorted, compact, UTF-8; values orjson refuses still come out, in the same layout."""
    import json
    from datetime import UTC, datetime

    from ingest.redact import dumps_sorted

    assert dumps_sorted({"b": [1, None], "a": "é ☃"}) == '{"a":"é ☃","b":[1,null]}'
    assert dumps_sorted({"z": {"y": 1, "x": 2}, "n": 2**70}) == '{"n":1180591620717411303424,"z":{"x":2,"y":1}}'
    assert dumps_sorted({"at": datetime(2026, 1, 2, 3, 4, tzinfo=UTC)}) == '{"at":"2026-01-02 03:04:00+00:00"}'
    assert dumps_sorted({"t": "lone \ud800", "u": "é"}) == '{"t":"lone \\ud800","u":"\\u00e9"}'
    document = {"title": 'quote " back \\ tab \t nul \x00 ſ K', "n": [1.5, -0, True]}
    assert json.loads(dumps_sorted(document)) == document
