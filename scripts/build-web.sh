#!/usr/bin/env bash
# Installs the JavaScript client packages' workspace (clients/js: @stet/client,
# @stet/monaco, @stet/codemirror and what their tests need) and builds the
# browser app on them into web/dist. npm packages are pinned by
# clients/js/package-lock.json and web/package-lock.json; web links the
# packages from clients/js/packages (file: dependencies), so its build
# always uses their sources as they are. The C++ build does not need this.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
cd web
npm ci --no-audit --no-fund --loglevel=error
node build.mjs
