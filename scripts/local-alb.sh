#!/usr/bin/env bash
# A local stand-in for the AWS ALB: N ringws instances (default 2) on loopback behind HAProxy
# (deploy/haproxy/haproxy.cfg), health-checked on /healthz, optionally joined by a Redis
# backplane. Runs in the foreground until Ctrl-C or SIGTERM, then stops everything it
# started, by PID.
#
# usage: scripts/local-alb.sh [options] [-- extra ringws arguments]
#   --binary PATH        ringws binary (default: build/ringws)
#   --instances N        ringws instances, named a, b, c, ... (default 2, at most 26)
#   --ports A,B,...      ports of the instances (default: free ports). HAProxy needs
#                        them up front, so the instances cannot use --port 0.
#   --redis              start a redis-server of its own on a free port (no persistence) and
#                        give every instance --redis (the backplane)
#   --redis-url URL      give every instance --redis URL (a Redis started elsewhere)
#   --lb-port N          port of the balancer (default 8000; 0 picks a free one)
#   --stats-port N       port of HAProxy's stats page (default 8404; 0 picks a free one)
#   --host ADDR          loopback address everything binds to (default 127.0.0.1)
#   --threads N          reactor threads per instance (default 2)
#   --drain-seconds N    drain window of the instances on SIGTERM (default: the server's)
#   --workdir DIR        where the logs go (default: a new directory under ${TMPDIR:-/tmp})
#   --ready-timeout S    how long to wait for every backend to be UP (default 30)
#   -h, --help           this text
# Every instance gets --trust-proxy (HAProxy adds X-Forwarded-For), so its logs show the
# client's address rather than HAProxy's.
#
# Output on stdout, one line each, for people and for tests:
#   REDIS pid=<pid> url=redis://127.0.0.1:<port>/0 log=<file>            (with --redis)
#   INSTANCE name=a pid=<pid> url=http://<host>:<port>/ log=<file>     (then name=b, ...)
#   ADMIN name=a url=http://127.0.0.1:<admin port>/                     (/metrics, POST /admin/drain)
#   HAPROXY pid=<pid> stats=http://<host>:<stats port>/stats log=<file>
#   READY url=ws://<host>:<lb port>/ page=http://<host>:<lb port>/
#   EXITED name=<a|b|...|haproxy|redis> pid=<pid> status=<exit code>     (whenever one exits)
# READY comes once HAProxy's stats show every backend UP. Diagnostics go to stderr.
# Exit status: 0 after Ctrl-C/SIGTERM, 1 when something failed to start or HAProxy died,
# 2 on a usage error.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$repo/build/ringws"
ports=""
lb_port=8000
stats_port=8404
host=127.0.0.1
threads=2
drain_seconds=""
workdir=""
ready_timeout=30
instances=2
redis_mode=""
redis_url=""
extra=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "local-alb: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --ports) ports="${2:?--ports needs A,B,...}"; shift 2 ;;
    --instances) instances="${2:?--instances needs a number}"; shift 2 ;;
    --redis) redis_mode=own; shift ;;
    --redis-url) redis_mode=url; redis_url="${2:?--redis-url needs a URL}"; shift 2 ;;
    --lb-port) lb_port="${2:?--lb-port needs a number}"; shift 2 ;;
    --stats-port) stats_port="${2:?--stats-port needs a number}"; shift 2 ;;
    --host) host="${2:?--host needs an address}"; shift 2 ;;
    --threads) threads="${2:?--threads needs a number}"; shift 2 ;;
    --drain-seconds) drain_seconds="${2:?--drain-seconds needs a number}"; shift 2 ;;
    --workdir) workdir="${2:?--workdir needs a directory}"; shift 2 ;;
    --ready-timeout) ready_timeout="${2:?--ready-timeout needs seconds}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && (( $1 <= 65535 )); }
command -v haproxy >/dev/null 2>&1 ||
  { echo "local-alb: haproxy not found; install it with: apt-get install -y haproxy" >&2; exit 1; }
[[ -x "$binary" ]] ||
  { echo "local-alb: no ringws binary at $binary (build it, or pass --binary PATH)" >&2; exit 1; }
binary="$(realpath "$binary")"
py=/usr/bin/python3
[[ -x "$py" ]] || { echo "local-alb: $py not found (needed to pick ports and read HAProxy's stats)" >&2; exit 1; }
is_port "$lb_port" || die "--lb-port: not a port: $lb_port"
is_port "$stats_port" || die "--stats-port: not a port: $stats_port"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads: not a positive number: $threads"
[[ -z "$drain_seconds" || "$drain_seconds" =~ ^[0-9]+$ ]] || die "--drain-seconds: not a number: $drain_seconds"
[[ "$ready_timeout" =~ ^[1-9][0-9]*$ ]] || die "--ready-timeout: not a positive number: $ready_timeout"
[[ "$instances" =~ ^[1-9][0-9]*$ ]] && (( instances <= 26 )) || die "--instances: 1 to 26, got $instances"
if [[ "$redis_mode" == own ]]; then
  command -v redis-server >/dev/null 2>&1 ||
    { echo "local-alb: redis-server not found; install it with: apt-get install -y redis-server" >&2; exit 1; }
fi
letters=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
names=("${letters[@]:0:instances}")

# Free ports: bind port 0 for every one we need at once (so they differ), then release them.
# Another process could take one in between; the instance then fails to listen and we say so.
free_ports() {
  "$py" - "$host" "$1" <<'PY'
import socket, sys
host, n = sys.argv[1], int(sys.argv[2])
socks = [socket.socket() for _ in range(n)]
for s in socks:
    s.bind((host, 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

if [[ -n "$ports" ]]; then
  IFS=, read -r -a inst_ports <<<"$ports"
  (( ${#inst_ports[@]} == instances )) || die "--ports: need $instances ports, got $ports"
  for p in "${inst_ports[@]}"; do is_port "$p" && (( p > 0 )) || die "--ports: not a port: $p"; done
  [[ $(printf '%s\n' "${inst_ports[@]}" | sort -u | wc -l) -eq $instances ]] || die "--ports: ports must differ: $ports"
else
  read -r -a inst_ports <<<"$(free_ports "$instances")"
fi
if (( lb_port == 0 || stats_port == 0 )) || [[ "$redis_mode" == own ]]; then
  read -r p1 p2 p3 <<<"$(free_ports 3)"
  (( lb_port == 0 )) && lb_port=$p1
  (( stats_port == 0 )) && stats_port=$p2
  redis_port=$p3
fi

if [[ -z "$workdir" ]]; then
  workdir="$(mktemp -d "${TMPDIR:-/tmp}/local-alb.XXXXXX")"
else
  mkdir -p "$workdir"
fi

pids=()
stopping=0
# Stops what we started, by PID: the instances first, so their clients get close 1001 through
# HAProxy while they drain (up to 30 s), then HAProxy; SIGKILL for anything still there.
# Reports each exit status as an EXITED line, as for an exit while running.
declare -A name_by_pid=()
name_of() { echo "${name_by_pid[$1]:-haproxy}"; }
stop_pids() {
  local pid st deadline=$((SECONDS + 30))
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "local-alb: pid $pid still running 30 s after SIGTERM, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    st=0
    wait "$pid" 2>/dev/null || st=$?
    echo "EXITED name=$(name_of "$pid") pid=$pid status=$st"
  done
}
cleanup() {
  local status=$?
  (( stopping )) && return
  stopping=1
  trap - INT TERM EXIT
  local pid running=()
  for pid in "${pids[@]}"; do
    [[ "$pid" == "${haproxy_pid:-}" || "$pid" == "${redis_pid:-}" ]] || running+=("$pid")
  done
  (( ${#running[@]} )) && stop_pids "${running[@]}"
  [[ -n "${haproxy_pid:-}" ]] && [[ " ${pids[*]} " == *" $haproxy_pid "* ]] && stop_pids "$haproxy_pid"
  [[ -n "${redis_pid:-}" ]] && [[ " ${pids[*]} " == *" $redis_pid "* ]] && stop_pids "$redis_pid"
  echo "local-alb: stopped (logs in $workdir)" >&2
  exit "$status"
}
on_signal() { echo "local-alb: $1, stopping" >&2; exit 0; }
trap cleanup EXIT
trap 'on_signal SIGINT' INT
trap 'on_signal SIGTERM' TERM

start_instance() {  # name port
  # The admin listener (/metrics, POST /admin/drain) on a free loopback port each; the demo
  # page on, so the balancer's URL serves it.
  local args=(--host "$host" --port "$2" --threads "$threads" --trust-proxy --admin-listen "127.0.0.1:0" --demo)
  [[ -n "$drain_seconds" ]] && args+=(--drain-seconds "$drain_seconds")
  [[ -n "$redis_url" ]] && args+=(--redis "$redis_url")
  local log="$workdir/ringws-$1.log"
  "$binary" "${args[@]}" "${extra[@]}" </dev/null >"$log" 2>&1 &
  pids+=($!)
  name_by_pid[$!]=$1
  echo "INSTANCE name=$1 pid=$! url=http://$host:$2/ log=$log"
}

# Waits for an instance's "listening" line, so a port that is taken or a bad argument shows
# up as a clear error here rather than as a backend that never comes UP.
wait_listening() {  # name pid
  local log="$workdir/ringws-$1.log" deadline=$((SECONDS + ready_timeout))
  until grep -q '"event":"listening"' "$log" 2>/dev/null; do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "local-alb: ringws $1 (pid $2) exited before listening; its output:" >&2
      sed 's/^/  /' "$log" >&2
      exit 1
    fi
    (( SECONDS < deadline )) || { echo "local-alb: ringws $1 not listening after ${ready_timeout}s ($log)" >&2; exit 1; }
    sleep 0.05
  done
}

if [[ "$redis_mode" == own ]]; then
  # A Redis of our own: loopback, a free port, no persistence; stopped by PID with the rest.
  redis_log="$workdir/redis.log"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$workdir" \
    --daemonize no </dev/null >"$redis_log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  name_by_pid[$redis_pid]=redis
  redis_url="redis://127.0.0.1:$redis_port/0"
  deadline=$((SECONDS + ready_timeout))
  until "$py" - "$redis_port" <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
  do
    kill -0 "$redis_pid" 2>/dev/null || { echo "local-alb: redis-server exited; its log:" >&2; sed 's/^/  /' "$redis_log" >&2; exit 1; }
    (( SECONDS < deadline )) || { echo "local-alb: redis-server not answering after ${ready_timeout}s" >&2; exit 1; }
    sleep 0.05
  done
  echo "REDIS pid=$redis_pid url=$redis_url log=$redis_log"
fi

declare -A pid_of=()
for i in "${!names[@]}"; do
  start_instance "${names[$i]}" "${inst_ports[$i]}"
  pid_of[${names[$i]}]=${pids[-1]}
done
for name in "${names[@]}"; do wait_listening "$name" "${pid_of[$name]}"; done
for name in "${names[@]}"; do  # where each instance's admin listener is (its listening line says)
  admin_port=$(grep -o '"admin_port":[0-9]*' "$workdir/ringws-$name.log" | head -1 | cut -d: -f2)
  echo "ADMIN name=$name url=http://127.0.0.1:$admin_port/"
done

haproxy_log="$workdir/haproxy.log"
# deploy/haproxy/haproxy.cfg names two servers (a, b); for N instances a copy in the workdir
# lists N, with the same settings.
haproxy_cfg="$workdir/haproxy.cfg"
"$py" - "$repo/deploy/haproxy/haproxy.cfg" "$haproxy_cfg" "$host" "${names[@]}" -- "${inst_ports[@]}" <<'PY'
import sys
src, dst, host = sys.argv[1:4]
rest = sys.argv[4:]
sep = rest.index("--")
names, ports = rest[:sep], rest[sep + 1:]
out, done = [], False
for line in open(src):
    if line.strip().startswith("server a ") or line.strip().startswith("server b "):
        if not done:
            indent = line[: len(line) - len(line.lstrip())]
            out += [f'{indent}server {n} "{host}:{p}"\n' for n, p in zip(names, ports)]
            done = True
        continue
    out.append(line)
open(dst, "w").write("".join(out))
PY
RINGWS_LB_HOST="$host" RINGWS_LB_PORT="$lb_port" RINGWS_LB_STATS_PORT="$stats_port" \
  haproxy -db -f "$haproxy_cfg" </dev/null >"$haproxy_log" 2>&1 &
haproxy_pid=$!
pids+=("$haproxy_pid")
stats_url="http://$host:$stats_port/stats"
echo "HAPROXY pid=$haproxy_pid stats=$stats_url log=$haproxy_log"

# Every backend UP in the stats CSV (columns pxname, svname, ..., status) means the health
# checks on /healthz have passed "rise" times in a row: the balancer routes to all of them.
backends_up() {
  "$py" - "$stats_url;csv" "${names[@]}" <<'PY'
import csv, io, sys, urllib.request
try:
    text = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
except OSError:
    sys.exit(1)
rows = list(csv.reader(io.StringIO(text.lstrip("# "))))
col = rows[0].index("status")
up = {r[1] for r in rows[1:] if len(r) > col and r[0] == "ringws" and r[col] == "UP"}
sys.exit(0 if set(sys.argv[2:]) <= up else 1)
PY
}
deadline=$((SECONDS + ready_timeout))
until backends_up; do
  if ! kill -0 "$haproxy_pid" 2>/dev/null; then
    echo "local-alb: haproxy exited; its output:" >&2
    sed 's/^/  /' "$haproxy_log" >&2
    exit 1
  fi
  if (( SECONDS >= deadline )); then
    echo "local-alb: backends not all UP after ${ready_timeout}s; see $stats_url and $haproxy_log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "READY url=ws://$host:$lb_port/ page=http://$host:$lb_port/"

# Runs until a signal, or until HAProxy dies. An instance that exits (a test's SIGTERM, a
# crash) does not stop the rest: HAProxy marks it DOWN and routes to the others; its exit
# status is reported on stdout as "EXITED name=<name> pid=<pid> status=<code>". So is
# Redis's (the instances keep serving their own members until it is back).
set +e
while true; do
  exited=""
  wait -n -p exited "${pids[@]}"
  status=$?
  [[ -n "$exited" ]] || continue  # a signal interrupted the wait; its trap exits
  remaining=()
  for pid in "${pids[@]}"; do [[ "$pid" == "$exited" ]] || remaining+=("$pid"); done
  pids=("${remaining[@]}")
  if [[ "$exited" == "$haproxy_pid" ]]; then
    echo "EXITED name=haproxy pid=$exited status=$status"
    echo "local-alb: haproxy exited with status $status; its log: $haproxy_log" >&2
    exit 1
  fi
  echo "EXITED name=$(name_of "$exited") pid=$exited status=$status"
done
