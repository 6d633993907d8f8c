#!/bin/sh
# Browser test of the demo chat page: headless Chromium (Debian package chromium) driven by
# playwright-core. Usage: tests/browser/run.sh path/to/ringws
# Needs: node 20+ with npm, and `apt-get install -y chromium` (never `npx playwright install`:
# the test uses /usr/bin/chromium, or $CHROMIUM).
set -eu
if [ $# -ne 1 ]; then
  echo "usage: $0 path/to/ringws" >&2
  exit 2
fi
bin=$(realpath "$1")
dir=$(dirname "$(realpath "$0")")
chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "$0: $chromium not found: apt-get install -y chromium (or set CHROMIUM)" >&2
  exit 2
fi
cd "$dir"
# npm ci installs exactly the locked playwright-core; skip it when that version is in place.
if ! node -e 'process.exit(require("playwright-core/package.json").version ===
                          require("./package-lock.json").packages["node_modules/playwright-core"].version ? 0 : 1)' 2>/dev/null; then
  npm ci --no-audit --no-fund
fi
RINGWS_BIN=$bin CHROMIUM=$chromium exec node --test demo.test.mjs
