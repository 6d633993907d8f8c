#!/usr/bin/env bash
# Broadcast capacity (websocket-shootout method) and echo latency percentiles, for ringws
# and optionally Node's ws: CSV, PNG, Markdown summary, SUMMARY line. See --help.
# Example: scripts/latency.sh --compare node-ws
exec /usr/bin/python3 "$(dirname "$0")/lib/latency.py" "$@"
