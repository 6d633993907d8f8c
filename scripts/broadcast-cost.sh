#!/usr/bin/env bash
# Server CPU (user, system) and TCP segments per delivered broadcast frame, websocket-shootout
# protocol, ringws beside other servers in the same run: Markdown, CSV, JSON. See --help.
# Example: scripts/broadcast-cost.sh --peer uws='/path/to/uws-shootout --port {port}'
exec /usr/bin/python3 "$(dirname "$0")/lib/broadcast_cost.py" "$@"
