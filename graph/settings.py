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

    # The durable inbox of the live ingest path; TRACEGRAPH_HOME/inbox when unset.
    inbox: Path | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_INBOX"))
    # A static credential for POST /events (pipelines bootstrapping before tokens exist).
    ingest_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_INGEST_TOKEN"))
    max_body_bytes: int = Field(default=5 * 1024 * 1024, validation_alias=AliasChoices("TRACEGRAPH_MAX_BODY_BYTES"))
    # Webhook secrets by variable name (filled from the environment, see the module docstring).
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _read_webhook_secrets(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "webhook_secrets" in data:
            return data
        found = {k: v for k, v in dotenv_values(ENV_FILE).items() if v} if Path(ENV_FILE).is_file() else {}
        found.update({k: v for k, v in os.environ.items() if v})
        secrets = {k: v for k, v in found.items() if _SECRET_VARIABLE.fullmatch(k) and k != "TRACEGRAPH_INGEST_TOKEN"}
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
