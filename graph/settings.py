"""One Settings object for the whole process, read from the environment (and .env)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

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

    policy_file: Path | None = Field(default=None, validation_alias=AliasChoices("TRACEGRAPH_POLICY"))

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"


def get_settings() -> Settings:
    """Settings from the environment as it is now."""
    return Settings()
