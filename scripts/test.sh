#!/usr/bin/env bash
# Installs what the tests need, builds stet and runs every test: the doctest
# suite (unit and property tests, through ctest) and the integration tests
# that drive the real build/stet with Python's websockets client, against
# SQLite and a real PostgreSQL that this script starts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/check-wording.sh
scripts/install-deps.sh --test
scripts/build.sh
scripts/build-web.sh
# The benchmark peers (Hocuspocus, y-websocket) for the smoke benchmark run.
(cd bench/peers && npm ci --no-audit --no-fund --loglevel=error)

echo "== fuzzing (libFuzzer, bounded, on the checked-in seed corpus)"
scripts/fuzz.sh "${STET_FUZZ_SECONDS:-30}"

# A throwaway PostgreSQL cluster for the run. -t keeps it in a temporary
# directory even as root: as root pg_virtualenv otherwise names it 15/regress
# under /etc/postgresql, and a run killed before cleaning up leaves that name
# taken, which makes every later run refuse to start.
pg_virtualenv -t -- scripts/run-tests.sh
