#!/usr/bin/env bash
# Builds ringws (Release) and runs it in the foreground. Extra arguments go to the server,
# e.g. scripts/run.sh --app shootout --port 9000. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime-only
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target ringws
port=8080
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [[ "${args[i]}" == --port ]] && port="${args[i+1]:-8080}"; done
echo "ringws: demo chat page http://localhost:${port}/  (WebSocket ws://localhost:${port}/ws, health /healthz; metrics http://127.0.0.1:9090/metrics)" >&2
exec build/ringws --demo "$@"
