#!/usr/bin/env bash
# Installs what stet needs, builds it and runs one node on its embedded
# defaults: SQLite in ./data, no Redis, no PostgreSQL. Extra arguments go to
# `stet serve` (see `build/stet serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
scripts/build-web.sh
# Quick-start mode: anonymous sessions allowed, token key generated in data/.
exec build/stet serve --data data --web-root web/dist --allow-anonymous "$@"
