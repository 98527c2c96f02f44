#!/usr/bin/env bash
# Installs what the tests need, builds stet and runs every test: the doctest
# suite (unit and property tests, through ctest) and the integration tests
# that drive the real build/stet with Python's websockets client.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh

echo "== unit and property tests (doctest via ctest)"
ctest --test-dir build --output-on-failure

echo "== integration tests (real server, real WebSocket clients)"
# Debian's interpreter, where python3-websockets and python3-pytest live.
/usr/bin/python3 -m pytest -q -s tests/integration
