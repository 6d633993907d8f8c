#!/usr/bin/env bash
# A matrix of kernel and server settings (backend, io_uring and epoll settings, kernel
# profiles from scripts/tuning/profiles/) measured side by side: memory per idle connection,
# echo CPU and latency, broadcast capacity, handshakes per second; CSV, Markdown and PNG plots.
# See scripts/lib/tuning.py or --help.
# Example: scripts/tuning.sh --quick --out docs/results/tuning
exec /usr/bin/python3 "$(dirname "$0")/lib/tuning.py" "$@"
