"""One Settings object for the whole application, read from the environment (and .env).

Webhook secrets are named by the source that verifies with them (`Webhook.secret_variable`, e.g.
TRACEGRAPH_GITHUB_SECRET), so a new source needs no field here: every `TRACEGRAPH_*_SECRET` and
`TRACEGRAPH_*_TOKEN` variable is read into `webhook_secrets`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_FILE = ".env"
_SECRET_VARIABLE = re.compile(r"TRACEGRAPH_[A-Z0-9_]+_(?:SECRET|TOKEN)")
# Credentials with their own field, so no webhook route ever checks a delivery against them.
_NOT_WEBHOOK_SECRETS = frozenset({"TRACEGRAPH_INGEST_TOKEN", "TRACEGRAPH_GITHUB_TOKEN"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore", env_ignore_empty=True)

    # An existing server (or Aura). When unset, the local Neo4j that `tracegraph db start` boots is used.
    neo4j_uri: str | None = Field(default=None, validation_alias=AliasChoices("NEO4J_URI"))
    neo4j_user: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_USER"))
    neo4j_password: str | None = Field(default=None, validation_alias=AliasChoices("NEO4J_PASSWORD"))
    neo4j_database: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_DATABASE"))

    # Where tracegraph keeps its local state: the embedded Neo4j's data, quarantine, inbox.
    home: Path = Field(default=Path(".tracegraph"), validation_alias=AliasChoices("TRACEGRAPH_HOME"))
    # Jars downloaded from Maven Central, shared by every checkout on the machine.
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "tracegraph", validation_alias=AliasChoices("TRACEGRAPH_CACHE")
    )
    bolt_port: int = Field(default=7687, validation_alias=AliasChoices("TRACEGRAPH_BOLT_PORT"))
    # Sized for a 2-core / 24 GiB machine shared with the API and workers.
    neo4j_heap: str = Field(default="1g", validation_alias=AliasChoices("TRACEGRAPH_NEO4J_HEAP"))
    neo4j_pagecache_mb: int = Field(default=512, validation_alias=AliasChoices("TRACEGRAPH_NEO4J_PAGECACHE_MB"))
    # How much of the local Neo4j's transaction logs to keep once checkpointed (its
    # db.tx_log.rotation.retention_policy): Neo4j's default, 2 days, kept 7 GB after the 100,000-change
    # bench ingest. The embedded server has no cluster or online backup to feed; see README.
    neo4j_tx_log_retention: str = Field(
        default="512M size", validation_alias=AliasChoices("TRACEGRAPH_NEO4J_TX_LOG_RETENTION")
    )

    # Where raw source documents live (documents/): a folder, or s3://bucket/prefix for a bucket several
    # machines share; TRACEGRAPH_HOME/documents when unset. TRACEGRAPH_S3_ENDPOINT points at a server
    # that is not AWS (MinIO, Ceph…); credentials come from boto3's usual chain (AWS_* variables…).
    documents: str | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_DOCUMENTS"))
    s3_endpoint: str | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_S3_ENDPOINT"))

    policy_file: Path | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_POLICY"))
    # One person, many handles (ingest.identity); no file means the automatic rules only.
    aliases_file: Path | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_ALIASES"))
    # Who may sign evidence (trust.config): keys by id, Sigstore trusted roots and identities. Without it
    # nothing is `signed`, and a document's signature is rejected as unverifiable.
    trust_file: Path | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_TRUST"))
    # The organisation's Ed25519 key that signs exports: a PEM file, or the PEM itself in the environment.
    export_key_file: Path | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_EXPORT_KEY_FILE"))
    export_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_EXPORT_KEY"))

    # The durable inbox of the live ingest path; TRACEGRAPH_HOME/inbox when unset.
    inbox: Path | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_INBOX"))
    # A static credential for POST /events (pipelines bootstrapping before tokens exist).
    ingest_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_INGEST_TOKEN"))
    max_body_bytes: int = Field(default=5 * 1024 * 1024, validation_alias=AliasChoices("TRACEGRAPH_MAX_BODY_BYTES"))
    # How long a browser stays signed in to the web app (hours).
    web_session_hours: int = Field(
        default=12, ge=1, le=24 * 30, validation_alias=AliasChoices("TRACEGRAPH_WEB_SESSION_HOURS")
    )
    # How long the inbox remembers a delivery it stored: replays within it are answered "duplicate" (the
    # spool's seen/ markers and done/ entries are pruned after it; JetStream's duplicate window). Three
    # days is GitHub's redelivery horizon; a replay after it is stored again and rewrites nothing.
    inbox_retention_hours: float = Field(
        default=72.0, gt=0, validation_alias=AliasChoices("TRACEGRAPH_INBOX_RETENTION_HOURS")
    )
    # The inbox on NATS JetStream instead of the local spool folder (several machines, several workers).
    nats_url: str | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_NATS_URL"))
    # Seconds a worker may hold a JetStream message unacknowledged before it is delivered to another
    # worker (a running worker extends it while it works), and deliveries before it is dead-lettered.
    nats_ack_wait: float = Field(default=30.0, gt=0, validation_alias=AliasChoices("TRACEGRAPH_NATS_ACK_WAIT"))
    nats_max_deliveries: int = Field(default=10, ge=1, validation_alias=AliasChoices("TRACEGRAPH_NATS_MAX_DELIVERIES"))
    # Seconds an API process trusts a token it authenticated without asking Neo4j again: the bound on how
    # long a token revoked elsewhere (another API process, `tracegraph token revoke`) keeps working there.
    token_cache_seconds: float = Field(
        default=5.0, ge=0, validation_alias=AliasChoices("TRACEGRAPH_TOKEN_CACHE_SECONDS")
    )
    # Credentials of the collectors (`tracegraph collect …`): read from the environment only, sent only
    # in request headers, never stored, logged or written to the graph. GitHub's is `github_token` below.
    gitlab_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("GITLAB_TOKEN"))
    pagerduty_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("PAGERDUTY_TOKEN"))
    opsgenie_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("OPSGENIE_API_KEY"))
    # Webhook secrets by variable name (filled from the environment, see the module docstring).
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)

    # The caller's own API token for commands that act as a person (`tracegraph exception grant`, `mcp`).
    token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_TOKEN"))
    # GitHub's token, for collecting (`tracegraph collect github`, read scopes) and for answering GitHub
    # (deployment protection rule callbacks and `tracegraph/verdict` commit statuses: deployments and
    # statuses write). A GitHub App installation token (ghs_…) or a fine-grained token; TRACEGRAPH_GITHUB_TOKEN
    # first, else GITHUB_TOKEN or GH_TOKEN. Sent only in request headers to the API it is for, never logged.
    github_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TRACEGRAPH_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")
    )
    github_api_url: str = Field(
        default="https://api.github.com", validation_alias=AliasChoices("TRACEGRAPH_GITHUB_API_URL")
    )

    @model_validator(mode="before")
    @classmethod
    def _read_webhook_secrets(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "webhook_secrets" in data:
            return data
        found = {k: v for k, v in dotenv_values(ENV_FILE).items() if v} if Path(ENV_FILE).is_file() else {}
        found.update({k: v for k, v in os.environ.items() if v})
        secrets = {k: v for k, v in found.items() if _SECRET_VARIABLE.fullmatch(k) and k not in _NOT_WEBHOOK_SECRETS}
        return {**data, "webhook_secrets": secrets}

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def documents_dir(self) -> Path:
        """The default document store's folder."""
        return self.home / "documents"

    @property
    def inbox_dir(self) -> Path:
        return self.inbox or self.home / "inbox"

    def secret(self, variable: str) -> str | None:
        """The value of a secret variable (a webhook's), or None when it is unset or empty."""
        found = self.webhook_secrets.get(variable)
        return found.get_secret_value() or None if found is not None else None


def get_settings() -> Settings:
    """Settings from the environment as it is now."""
    return Settings()
