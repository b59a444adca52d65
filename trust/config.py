"""The trust file (TRACEGRAPH_TRUST): the keys and Sigstore identities whose signatures make evidence `signed`.

keys:                                  # DSSE envelopes signed with a key
  - id: release-2026                   # the keyid in the envelope's signature
    public_key: keys/release.pub       # PEM (Ed25519, ECDSA P-256, RSA), relative to this file
    name: acme release pipeline        # optional: who the key stands for
    scheme: rsa-pss-sha256             # RSA only: or rsa-pkcs1v15-sha256
sigstore:                              # Sigstore bundles, verified offline
  trusted_roots: [trusted_root.json]   # `sigstore` / `gh attestation trusted-root` output
  identities:                          # a bundle must match one of these
    - issuer: https://token.actions.githubusercontent.com
      subject: https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main
    - issuer: https://token.actions.githubusercontent.com   # a GitHub artifact attestation
      repository: acme/shop                                  # built from this repository
      signer_workflow: acme/ci/.github/workflows/attest.yml  # signed by this workflow (any ref unless @ref)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trust.keys import KeyProblem, Scheme, TrustedKey, public_key

if TYPE_CHECKING:
    from trust.sigstore import Roots


class TrustError(ValueError):
    """The trust file cannot be read or is invalid; the message names the file and the problem."""


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    public_key: str | None = None
    pem: str | None = None
    name: str = ""
    scheme: Scheme = "rsa-pss-sha256"

    @model_validator(mode="after")
    def _one_source(self) -> KeyEntry:
        if (self.public_key is None) == (self.pem is None):
            raise ValueError("give the key as public_key (a PEM file) or pem (the PEM text), one of them")
        return self


class ExpectedIdentity(BaseModel):
    """Who a Sigstore certificate must name: its OIDC issuer, and its subject or GitHub repository/workflow."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(min_length=1)
    subject: str | None = None
    repository: str | None = None
    signer_workflow: str | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> ExpectedIdentity:
        if not (self.subject or self.repository or self.signer_workflow):
            raise ValueError("an identity names a subject, or a repository and/or signer_workflow, besides its issuer")
        return self

    def describe(self) -> str:
        parts = [f"subject {self.subject}" if self.subject else ""]
        parts += [f"repository {self.repository}" if self.repository else ""]
        parts += [f"signer workflow {self.signer_workflow}" if self.signer_workflow else ""]
        return f"{', '.join(p for p in parts if p)} (issuer {self.issuer})"


class SigstoreEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trusted_roots: list[str] = Field(min_length=1)
    identities: list[ExpectedIdentity] = Field(min_length=1)


class TrustFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[KeyEntry] = Field(default_factory=list)
    sigstore: SigstoreEntry | None = None


@dataclass
class TrustConfig:
    """Loaded trust: keys by id, and the Sigstore trusted roots and identities (read when first needed)."""

    keys: dict[str, TrustedKey] = field(default_factory=dict)
    root_files: list[Path] = field(default_factory=list)
    identities: list[ExpectedIdentity] = field(default_factory=list)
    where: str = "TRACEGRAPH_TRUST"

    @cached_property
    def roots(self) -> Roots:
        """The Sigstore verifiers of the trusted roots (sigstore-python is imported only when a bundle comes)."""
        from trust.sigstore import Roots

        return Roots.load(self.root_files, where=self.where)


def _resolve(base: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path


def trust_from_data(data: Any, *, base: Path, where: str) -> TrustConfig:
    """A TrustConfig from the parsed file; TrustError naming the problem."""
    try:
        parsed = TrustFile.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TrustError(f"trust file {where} is invalid: {problems}") from None
    keys: dict[str, TrustedKey] = {}
    for entry in parsed.keys:
        if entry.id in keys:
            raise TrustError(f"trust file {where} lists key id {entry.id!r} twice")
        label = f"key {entry.id!r} of {where}"
        try:
            pem = entry.pem.encode() if entry.pem is not None else _resolve(base, entry.public_key or "").read_bytes()
            keys[entry.id] = TrustedKey(entry.id, entry.name, public_key(pem, where=label), entry.scheme)
        except OSError as exc:
            raise TrustError(f"cannot read {label}: {exc.strerror or exc}") from None
        except KeyProblem as exc:
            raise TrustError(str(exc)) from None
    sigstore = parsed.sigstore
    roots = [_resolve(base, name) for name in sigstore.trusted_roots] if sigstore else []
    missing = [str(p) for p in roots if not p.is_file()]
    if missing:
        raise TrustError(f"trust file {where} names trusted roots that do not exist: {', '.join(missing)}")
    return TrustConfig(keys, roots, list(sigstore.identities) if sigstore else [], where)


def load_trust(path: Path | None) -> TrustConfig:
    """The trust file at `path` (nothing is trusted to sign when None)."""
    if path is None:
        return TrustConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrustError(f"cannot read trust file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TrustError(f"trust file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return trust_from_data(data, base=path.parent, where=str(path))
