#!/usr/bin/env bash
# The Redis backplane's cost: delivery latency (p50, p99) and server CPU per delivered message
# for one chat room of --members members, on one ringws instance against three instances
# joined through Redis; and Redis commands per publish at two member counts. See --help.
# Example: scripts/backplane-bench.sh --members 10000 --messages 200
exec /usr/bin/python3 "$(dirname "$0")/lib/backplane_bench.py" "$@"
