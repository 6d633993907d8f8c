#!/usr/bin/env bash
# Runs the integration tests (pytest + Node's ws) and the conformance suite against a ringws
# binary: tests/run-integration.sh build/ringws [extra pytest args]. Exits non-zero on any failure.
set -uo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 path/to/ringws [pytest args...]" >&2
  exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$(realpath "$1")" || { echo "no such binary: $1" >&2; exit 2; }
shift
[[ -x "$bin" ]] || { echo "not an executable: $bin" >&2; exit 2; }
export RINGWS_BIN="$bin"

# python3 on PATH may be a pyenv build without Debian's websockets and pytest.
py=/usr/bin/python3
"$py" -c 'import websockets, pytest' || { echo "need python3-websockets and python3-pytest (apt)" >&2; exit 2; }

status=0

# Node's ws is also the comparison peer the ringws-load tests run against.
peer_dir="$here/../bench/peers/node-ws"
if [[ ! -d "$peer_dir/node_modules/ws" ]]; then
  (cd "$peer_dir" && npm ci --no-audit --no-fund) || exit 1
fi

echo "== pytest: tests/integration tests/conformance tests/alb tests/scripts tests/hostile tests/deploy ($bin)"
"$py" -m pytest -p no:cacheprovider -q -rfE "$here/integration" "$here/conformance" "$here/alb" "$here/scripts" \
  "$here/hostile" "$here/deploy" "$@" || status=1

echo "== node --test: tests/integration/node"
node_dir="$here/integration/node"
if [[ ! -d "$node_dir/node_modules/ws" ]]; then
  if [[ -f "$node_dir/package-lock.json" ]]; then
    (cd "$node_dir" && npm ci --no-audit --no-fund) || exit 1
  else
    (cd "$node_dir" && npm install --no-audit --no-fund) || exit 1
  fi
fi
(cd "$node_dir" && node --test --test-reporter=spec) || status=1

if [[ $status -ne 0 ]]; then echo "run-integration: FAILED"; else echo "run-integration: all passed"; fi
exit $status
