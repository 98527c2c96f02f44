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

echo "== web client (node --test: the JavaScript op algebra against the C++ core, and Playwright in chromium)"
mkdir -p build/test-vectors
build/tests/stet_ot_vectors build/test-vectors/ot.json
(cd web && node --test test/)

echo "== benchmarks, smoke profile (checks the harness and peers; asserts nothing about speed)"
/usr/bin/python3 bench/run.py --profile smoke --out build/bench-smoke
