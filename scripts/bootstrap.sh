#!/usr/bin/env bash
# Installs what tracegraph needs on a fresh machine: Java 17+ and Maven (for the embedded Neo4j),
# and a virtualenv in .venv with the project and its pinned dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
# The test suite opens the HTML evidence report in Debian's headless Chromium.
if [ "${1:-}" = dev ] && ! command -v chromium >/dev/null 2>&1; then need_apt+=(chromium); fi
# The tests and benches boot a real NATS JetStream server (the inbox's broker backend) the way they boot Neo4j.
if [ "${1:-}" = dev ] && ! command -v nats-server >/dev/null 2>&1; then need_apt+=(nats-server); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${need_apt[*]} with apt-get..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "error: tracegraph needs ${need_apt[*]} (Java and Maven boot Neo4j without Docker; Chromium renders" \
         "the HTML report in tests; nats-server is the inbox broker the tests boot); install them (or set NEO4J_URI)." >&2
    exit 2
  fi
fi

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "error: tracegraph needs Python 3.11 or later ($python is $("$python" --version 2>&1))." >&2; exit 2; }
extras=${1:-}
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
