#!/usr/bin/env bash
# Runs the whole suite against an already built tree. scripts/test.sh calls
# it inside pg_virtualenv, which provides a throwaway PostgreSQL cluster and
# the PG* variables that libpq, psql and the tests read.
set -euo pipefail
cd "$(dirname "$0")/.."
export STET_TEST_POSTGRES=1
export STET_TEST_REDIS=1

echo "== unit and property tests (doctest via ctest)"
ctest --test-dir build --output-on-failure

echo "== integration tests (real server, real WebSocket clients, real PostgreSQL)"
# Debian's interpreter, where python3-websockets and python3-pytest live.
/usr/bin/python3 -m pytest -q -s tests/integration

echo "== JavaScript clients (node --test: @stet/client against the C++ core's OT vectors and a real server, the editor bindings' conversions and type declarations)"
mkdir -p build/test-vectors
build/tests/stet_ot_vectors build/test-vectors/ot.json
(cd clients/js && node --test --test-concurrency=1 packages/*/test/*.test.mjs)

echo "== web app (node --test: Playwright in chromium on the Monaco and CodeMirror pages against a real server)"
(cd web && node --test --test-concurrency=1 test/*.test.mjs)

echo "== benchmarks, smoke profile (checks the harness and peers; asserts nothing about speed)"
/usr/bin/python3 bench/run.py --profile smoke --out build/bench-smoke
/usr/bin/python3 bench/cluster_scale.py --profile smoke --out build/bench-smoke
