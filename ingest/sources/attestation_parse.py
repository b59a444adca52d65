"""Reading in-toto statements and CycloneDX BOMs: predicate kinds, subjects, the git commit they name.

Pure functions over already-decoded JSON; `ingest.sources.attestation` unwraps envelopes and
bundles and turns what these return into Evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ingest.sources.base import Rejected, get, iso
from ingest.sources.shared import git_repo

STATEMENT_PREFIX = "https://in-toto.io/Statement/"
MAX_SUBJECTS = 100

# predicateType prefix (lowercase, no query) → (evidence type, name stem); the first match wins,
# so specific prefixes come before the generic in-toto one.
PREDICATES: tuple[tuple[str, str, str], ...] = (
    ("https://slsa.dev/provenance/", "provenance", "slsa-provenance"),
    ("https://slsa.dev/verification_summary/", "vsa", "slsa-vsa"),
    ("https://in-toto.io/attestation/test-result/", "test-result", "test-result"),
    ("https://spdx.dev/document", "sbom", "spdx-sbom"),
    ("https://cyclonedx.org/bom", "sbom", "cyclonedx-sbom"),
    ("https://github.com/npm/attestation/tree/main/specs/publish/", "attestation", "npm-publish"),
    ("https://in-toto.io/attestation/", "attestation", "in-toto"),
)
# Pass/fail words of test-result `result` and VSA `verificationResult`.
RESULTS = {"PASSED": "success", "WARNED": "neutral", "FAILED": "failure"}
# Preferred digest algorithms for an artifact's `digest` property, strongest first.
DIGEST_ORDER = ("sha256", "sha512", "sha384", "sha3-256", "sha1", "gitCommit")

_HEX_SHA = re.compile(r"[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?")
_URI_SHA = re.compile(r"(?:/commit/|@|#)(?P<sha>[0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?)(?![0-9a-fA-F])")
_VERSION_SEGMENT = re.compile(r"v?\d+(?:\.\d+)*")


@dataclass(frozen=True)
class Kind:
    """What an attestation is evidence of."""

    type: str
    name: str


@dataclass(frozen=True)
class Subject:
    """One artifact a statement is about."""

    name: str | None
    digest: str | None
    git_commit: str | None


def kind_of(predicate_type: str) -> Kind:
    """The evidence type and a short name (`slsa-provenance-v1`, `in-toto-release-v0.1`) of a predicate."""
    bare = predicate_type.split("?", 1)[0].rstrip("/")
    lowered = bare.lower()
    last = bare.rsplit("/", 1)[-1]
    version = last.lower() if _VERSION_SEGMENT.fullmatch(last) else None
    for prefix, type_, stem in PREDICATES:
        if lowered.startswith(prefix):
            middle = bare[len(prefix) :]
            if stem == "in-toto":
                # https://in-toto.io/attestation/<name>/<version>
                stem = "in-toto-" + middle.split("/", 1)[0].lower() if middle else stem
            return Kind(type_, f"{stem}-{version}" if version else stem)
    return Kind("attestation", bare.split("://", 1)[-1])


def digest_text(digest: Any) -> str | None:
    """`alg:value` for the strongest algorithm of a DigestSet."""
    if not isinstance(digest, dict):
        return None
    values = {k: v for k, v in digest.items() if isinstance(k, str) and isinstance(v, str) and v}
    for alg in (*DIGEST_ORDER, *sorted(values)):
        if alg in values:
            return f"{alg}:{values[alg]}"
    return None


def _sha(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and _HEX_SHA.fullmatch(value) else None


def subjects(statement: dict[str, Any]) -> list[Subject]:
    """The statement's subjects (at most MAX_SUBJECTS); Rejected when there are none or they are malformed."""
    raw = statement.get("subject")
    if not isinstance(raw, list) or not raw:
        raise Rejected("in-toto statement has no subject (a non-empty array of {name, digest})")
    found = []
    for i, item in enumerate(raw[:MAX_SUBJECTS]):
        if not isinstance(item, dict):
            raise Rejected(f"in-toto statement subject[{i}] must be an object, got {type(item).__name__}")
        digest = item.get("digest")
        if digest is not None and not isinstance(digest, dict):
            raise Rejected(f"in-toto statement subject[{i}].digest must be an object of algorithm → hex")
        name = item.get("name") if isinstance(item.get("name"), str) else item.get("uri")
        found.append(
            Subject(
                name=name if isinstance(name, str) and name else None,
                digest=digest_text(digest),
                git_commit=_sha(get(item, "digest", "gitCommit")),
            )
        )
    return found


def _git_uri(uri: Any) -> bool:
    if not isinstance(uri, str):
        return False
    lowered = uri.lower()
    return lowered.startswith("git+") or lowered.endswith(".git") or "@refs/" in lowered or "/commit/" in lowered


def _dependency_commit(dep: Any) -> tuple[str, str | None] | None:
    """(sha, repo) of a resource descriptor / material that pins a git commit."""
    if not isinstance(dep, dict):
        return None
    uri = dep.get("uri")
    sha = _sha(get(dep, "digest", "gitCommit"))
    if sha is None and _git_uri(uri):
        sha = _sha(get(dep, "digest", "sha1"))
        if sha is None and isinstance(uri, str) and (match := _URI_SHA.search(uri)):
            sha = match["sha"].lower()
    if sha is None:
        return None
    return sha, git_repo(uri) if isinstance(uri, str) else None


def _source_repos(predicate: dict[str, Any]) -> set[str]:
    """Repositories the build says it built from, to pick that one among several git dependencies."""
    candidates = [
        get(predicate, "buildDefinition", "externalParameters", "workflow", "repository"),
        get(predicate, "buildDefinition", "externalParameters", "configSource", "repository"),
        get(predicate, "buildDefinition", "externalParameters", "source"),
        get(predicate, "invocation", "configSource", "uri"),
    ]
    return {repo for c in candidates if isinstance(c, str) and (repo := git_repo(c))}


def build_commit(predicate: dict[str, Any]) -> tuple[str, str | None] | None:
    """The git commit (and repo) a SLSA v0.1/v0.2/v1 provenance predicate built from."""
    deps: list[Any] = []
    for path in (("buildDefinition", "resolvedDependencies"), ("materials",)):
        value = get(predicate, *path)
        if isinstance(value, list):
            deps += value
    config = get(predicate, "invocation", "configSource")
    pinned = [found for dep in [config, *deps] if (found := _dependency_commit(dep))]
    if not pinned:
        return None
    wanted = _source_repos(predicate)
    return next((p for p in pinned if p[1] in wanted), pinned[0])


def predicate_times(predicate: dict[str, Any]) -> tuple[str | None, str | None]:
    """(startedAt, completedAt) from whichever of the known predicate time fields are present."""
    started = iso(get(predicate, "runDetails", "metadata", "startedOn")) or iso(
        get(predicate, "metadata", "buildStartedOn")
    )
    completed = (
        iso(get(predicate, "runDetails", "metadata", "finishedOn"))
        or iso(get(predicate, "metadata", "buildFinishedOn"))
        or iso(predicate.get("timeVerified"))
        or iso(predicate.get("timeCreated"))
    )
    return started, completed


def predicate_builder(predicate: dict[str, Any]) -> str | None:
    """Who made the attestation: the builder, verifier or attester id."""
    for path in (("runDetails", "builder", "id"), ("builder", "id"), ("verifier", "id"), ("attester", "id")):
        value = get(predicate, *path)
        if isinstance(value, str) and value:
            return value
    return None


def predicate_url(predicate: dict[str, Any]) -> str | None:
    """A link to the run the predicate describes, when it gives one."""
    for path in (("runDetails", "metadata", "invocationId"), ("metadata", "buildInvocationId"), ("url",)):
        value = get(predicate, *path)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return value
    return None


def conclusion(kind: Kind, predicate: dict[str, Any]) -> str | None:
    """success/failure/neutral for test results and VSAs; success (present) for everything else."""
    field = {"test-result": "result", "vsa": "verificationResult"}.get(kind.type)
    if field is None:
        return "success"
    value = predicate.get(field)
    return RESULTS.get(value.upper()) if isinstance(value, str) else None


# --- CycloneDX ----------------------------------------------------------------------------------


def bom_subject(bom: dict[str, Any]) -> Subject:
    """The component a CycloneDX BOM describes (metadata.component), with its strongest hash."""
    component = get(bom, "metadata", "component")
    component = component if isinstance(component, dict) else {}
    hashes = component.get("hashes")
    digest = None
    if isinstance(hashes, list):
        digest = digest_text(
            {
                str(h.get("alg", "")).lower().replace("-", ""): h.get("content")
                for h in hashes
                if isinstance(h, dict) and isinstance(h.get("alg"), str)
            }
        )
    name, version = component.get("name"), component.get("version")
    purl = component.get("purl")
    label = purl if isinstance(purl, str) and purl else None
    if label is None and isinstance(name, str) and name:
        label = f"{name}@{version}" if isinstance(version, str) and version else name
    return Subject(name=label, digest=digest, git_commit=None)


def bom_commit(bom: dict[str, Any]) -> tuple[str, str | None] | None:
    """A git commit pinned by the BOM's component: a vcs reference `…@sha` or a `*commit*` property."""
    component = get(bom, "metadata", "component")
    references = get(component, "externalReferences")
    for ref in references if isinstance(references, list) else []:
        url = get(ref, "url")
        if get(ref, "type") == "vcs" and isinstance(url, str) and (match := _URI_SHA.search(url)):
            return match["sha"].lower(), git_repo(url)
    for owner in (component, get(bom, "metadata")):
        properties = get(owner, "properties")
        for prop in properties if isinstance(properties, list) else []:
            name = get(prop, "name")
            if isinstance(name, str) and "commit" in name.lower() and (sha := _sha(get(prop, "value"))):
                return sha, None
    return None
