#!/usr/bin/env bash
# Builds ringws and runs every test: unit tests (GoogleTest), integration tests with real
# clients (python3-websockets, Node's ws), the conformance suite, the hostile clients and the
# deployment tests (tests/deploy: the drain watcher, the CloudFormation template, capacity.py);
# the integration and conformance suites once more on the epoll backend; the container image,
# built and tested (tests/container); then everything but the image again in an
# AddressSanitizer + UndefinedBehaviorSanitizer build. Exits non-zero on any failure.
# Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
run_suite() {  # $1 = build dir, rest = extra cmake args
  local dir=$1; shift
  echo "==> configure and build ($dir)"
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "==> unit tests ($dir)"
  ctest --test-dir "$dir" --output-on-failure -j"$jobs"
  echo "==> integration and conformance tests ($dir)"
  tests/run-integration.sh "$dir/ringws"
  echo "==> browser test of the demo page ($dir)"
  tests/browser/run.sh "$dir/ringws"
}

run_suite build -DCMAKE_BUILD_TYPE=Release -DRINGWS_TESTS=ON -DRINGWS_BENCH=ON
# The same server on its other backend: the whole integration and conformance suite again
# with --backend epoll (tests/hostile already runs every test on both backends).
echo "==> integration and conformance tests on the epoll backend (build)"
RINGWS_BACKEND=epoll RINGWS_BIN="$PWD/build/ringws" /usr/bin/python3 -m pytest -p no:cacheprovider -q -rfE \
  tests/integration tests/conformance
# The container image (Containerfile) and tests/container: podman is installed when neither
# podman nor docker is; the base image is $RINGWS_CONTAINER_BASE, or made with debootstrap
# from this machine's apt mirror (no image registry needed). A tag of this checkout's own, so
# that checkouts testing side by side on one machine do not share an image.
echo "==> container image and its tests (scripts/container.sh)"
export RINGWS_IMAGE="localhost/ringws:test-$(basename "$PWD" | tr -c 'a-zA-Z0-9_.\n' '-')"
if [[ -n "${RINGWS_CONTAINER_BASE:-}" ]]; then
  scripts/container.sh build --base "$RINGWS_CONTAINER_BASE"
else
  scripts/container.sh build --debootstrap
fi
scripts/container.sh test
if [[ "${1:-}" != "--no-sanitize" ]]; then
  # halt_on_error: a sanitizer report fails the run instead of scrolling past. A small
  # quarantine: ASan's default keeps 256 MB of freed memory, which would hide the memory
  # bounds the tests check (a slow consumer must not grow the server).
  export ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1:quarantine_size_mb=8
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DRINGWS_SANITIZE=ON -DRINGWS_TESTS=ON -DRINGWS_BENCH=OFF
fi
echo "==> all tests passed"
