#!/usr/bin/env bash
# Builds (or reuses) the Python venv of the tests, and prints its python: tests/fastmcp.rs runs its
# MCP servers with it (FastMCP + authplane-fastmcp, the seed's kind of server), tests/oauth_clients.rs
# the MCP SDK's OAuth client and Selenium, which drives Debian's chromium.
#
#   scripts/python-venv.sh            # → /…/target/python-venv/bin/python (absolute)
#
# The venv is keyed by the hash of tests/python/requirements.txt (every version pinned): when
# the hash matches it is reused at once, otherwise rebuilt. pip's output goes to stderr, quietly.
# AUTHPLANE_DEV_VENV moves it elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=tests/python/requirements.txt
venv=${AUTHPLANE_DEV_VENV:-target/python-venv}
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$(cd "$venv" && pwd)/bin/python"
  exit 0
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
echo "$want" > "$stamp"
echo "$(cd "$venv" && pwd)/bin/python"
