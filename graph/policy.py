"""Policy is configuration: risk areas, what each requires, and check name → evidence kind."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase, translate
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from graph.vocabulary import Trust

DEFAULT_POLICY = Path(__file__).with_name("policy.default.yaml")


class PolicyError(ValueError):
    """The policy file is missing or invalid; the message names the file and the problem."""


# The sections of a pull request's contract a policy can require (graph.models.Contract).
ContractSection = Literal["intent", "risk", "test_evidence", "rollout", "rollback"]


class Area(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    required_approvals: int = Field(default=1, ge=0)
    required_evidence: list[str] = Field(default_factory=list)
    # When set, at least one counted approval must come from one of these logins.
    code_owners: list[str] = Field(default_factory=list)
    # Contract sections the pull request description must have (e.g. payments: [rollout, rollback]).
    required_contract: list[ContractSection] = Field(default_factory=list)
    # When set, a production deployment of the area's changes must use one of these strategies
    # (e.g. [canary, flag]); a full deployment, or one that states no strategy, is a gap.
    staged_strategies: list[str] = Field(default_factory=list)
    # The weakest arrival (graph.vocabulary.Trust) each evidence kind may come from and still count, e.g.
    # {provenance: signed, security-scan: provider}; kinds not named count at any trust.
    minimum_trust: dict[str, Trust] = Field(default_factory=dict)
    # The same for approvals.
    approval_trust: Trust = Trust.UNVERIFIED

    def trust_needed(self, kind: str) -> Trust:
        """The minimum trust evidence of `kind` needs to count in this area."""
        return self.minimum_trust.get(kind, Trust.UNVERIFIED)

    @cached_property
    def path_pattern(self) -> re.Pattern[str]:
        """`paths` as one regular expression: matches a path exactly when fnmatchcase matches a pattern."""
        return re.compile("|".join(f"(?:{translate(pattern)})" for pattern in self.paths))


class EvidenceRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: str
    kind: str


class ExceptionRules(BaseModel):
    """Break-glass exceptions: how long one may last, and how soon an emergency one must be reviewed."""

    model_config = ConfigDict(extra="forbid")

    max_days: int = Field(default=90, ge=1)
    review_within_days: int = Field(default=5, ge=0)


class DrillRules(BaseModel):
    """Rollback drills: a drill is due within `within_days[tier]` days for every service of that tier."""

    model_config = ConfigDict(extra="forbid")

    within_days: dict[str, int] = Field(default_factory=dict)
    # Service name -> tier, for services whose graph node does not say its tier.
    tiers: dict[str, str] = Field(default_factory=dict)
    default_tier: str | None = None

    def tier_of(self, service: str, known: str | None = None) -> str | None:
        """The service's tier: the graph's when it knows one, else this policy's, else the default."""
        return known or self.tiers.get(service) or self.default_tier

    def due_within(self, service: str, known: str | None = None) -> int | None:
        """Days within which the service needs a drill, or None when its tier requires none."""
        tier = self.tier_of(service, known)
        return self.within_days.get(tier) if tier is not None else None


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    areas: dict[str, Area]
    default_area: str
    evidence_kinds: list[EvidenceRule] = Field(default_factory=list)
    exceptions: ExceptionRules = Field(default_factory=ExceptionRules)
    drills: DrillRules = Field(default_factory=DrillRules)

    @model_validator(mode="after")
    def _default_exists(self) -> Policy:
        if self.default_area not in self.areas:
            raise ValueError(f"default_area {self.default_area!r} is not one of the areas {sorted(self.areas)}")
        return self

    def evidence_kind(self, name: str, fallback: str) -> str:
        """The evidence kind a check/status/workflow name stands for (first matching rule)."""
        lowered = name.lower()
        for rule in self.evidence_kinds:
            if fnmatchcase(lowered, rule.match.lower()):
                return rule.kind
        return fallback

    def risk_area(self, *, labels: list[str], files: list[str], declared: list[str]) -> str:
        """The strictest area the change's labels, touched paths or declared risk areas match."""
        wanted = {label.lower() for label in labels}
        declared_lower = {d.lower() for d in declared}
        for name, area in self.areas.items():
            if name.lower() in declared_lower:
                return name
            if wanted & {label.lower() for label in area.labels}:
                return name
            # A leading "/" lets "**/auth/**" match a top-level "auth/…" path too.
            if area.paths and any(area.path_pattern.match("/" + f) for f in files):
                return name
        return self.default_area


def load_policy(path: Path | None = None) -> Policy:
    """Read a policy file (YAML); the built-in default when no path is given."""
    source = path or DEFAULT_POLICY
    try:
        data = yaml.safe_load(source.read_text())
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {source}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {source} is not valid YAML: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PolicyError(f"policy file {source} is invalid: {problems}") from exc
