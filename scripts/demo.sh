#!/usr/bin/env bash
# From a fresh clone to an answered question: install, boot Neo4j, load the demo org, ask.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/tracegraph demo "$@"
