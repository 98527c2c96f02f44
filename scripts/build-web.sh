#!/usr/bin/env bash
# Builds the browser client into web/dist (npm packages pinned by
# web/package-lock.json). The C++ build does not need this.
set -euo pipefail
cd "$(dirname "$0")/../web"
npm ci --no-audit --no-fund --loglevel=error
node build.mjs
