#!/usr/bin/env bash
# Lint, type-check and run every test against a real Neo4j 5.26 (booted by the tests themselves
# from Neo4j's jars when neither NEO4J_URI nor a Docker engine is available).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
.venv/bin/ruff check documents graph api ingest export cli governance mcp_server web trust collect tests bench scripts
.venv/bin/ruff format --check documents graph api ingest export cli governance mcp_server web trust collect tests bench scripts
.venv/bin/mypy
exec .venv/bin/pytest -q "$@"
