#!/usr/bin/env bash
# Installs what ringws needs to build and test, from Debian 12's packages, when missing.
# Usage: scripts/install-deps.sh [--runtime-only]
set -euo pipefail

build_packages=(build-essential cmake pkg-config liburing-dev libwslay-dev libmimalloc-dev libssl-dev
                libsimdjson-dev libhiredis-dev libgtest-dev libbenchmark-dev)
# redis-server: the backplane tests start their own on a free port (tests/integration/redis_server.py).
test_packages=(python3 python3-websockets python3-pytest python3-matplotlib python3-seccomp python3-cryptography procps iproute2 chromium
               haproxy python3-boto3 redis-server)

wanted=("${build_packages[@]}")
[[ "${1:-}" == "--runtime-only" ]] || wanted+=("${test_packages[@]}")
# Node.js runs the tests written with the ws package; any Node >= 18 will do.
command -v node >/dev/null && command -v npm >/dev/null || wanted+=(nodejs npm)

missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
