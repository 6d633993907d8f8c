#!/usr/bin/env bash
# Memory per idle connection against the number of connections, for ringws or another
# server: CSV, PNG, Markdown summary, and a SUMMARY line. See scripts/lib/density.py or --help.
# Example: scripts/density.sh --max 100000 --compare node-ws
exec /usr/bin/python3 "$(dirname "$0")/lib/density.py" "$@"
