#!/usr/bin/env bash
# Installs every Debian 12 package stet needs to build, run and test.
# Usage: scripts/install-deps.sh [--test | --runtime]
#   --test     adds the servers and clients the tests drive
#   --runtime  only the shared libraries a built `stet` binary loads (the container image)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config clang-14 libclang-rt-14-dev
  libcaf-dev libboost1.81-dev
  libprotobuf-dev protobuf-compiler
  libsqlite3-dev libpq-dev libhiredis-dev libsodium-dev libssl-dev
  prometheus-cpp-dev doctest-dev nlohmann-json3-dev zlib1g-dev libbenchmark-dev libcli11-dev
  libjwt-dev libdtl-dev
)
test_pkgs=(
  python3 python3-websockets python3-pytest python3-yaml python3-jwt python3-cryptography
  redis-server redis-sentinel postgresql libfaketime
  chromium
  prometheus
)

runtime_pkgs=(
  ca-certificates libcaf-core0.17 libhiredis0.14 libpq5 libprometheus-cpp-core1.0 libprotobuf32
  libsodium23 libsqlite3-0 libssl3 libjwt0
)
# Renders the k8s/ manifests in the tests (Debian's package; skipped where a
# newer kubectl is already installed).
k8s_pkgs=()
command -v kubectl >/dev/null || k8s_pkgs=(kubernetes-client)

want=("${build_pkgs[@]}")
case "${1:-}" in
  --test) want+=("${test_pkgs[@]}" "${k8s_pkgs[@]}") ;;
  --runtime) want=("${runtime_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The web client is built with Node.js and npm; use the machine's when it has
# them (any Node >= 18), else Debian's.
if [[ "${1:-}" != "--runtime" ]] && { ! command -v node >/dev/null || ! command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
