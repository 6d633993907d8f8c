#!/usr/bin/env bash
# The memory figure: what a running ringws spends per idle WebSocket connection, in user
# space and in the kernel, measured the way DESIGN.md section 5 says.
#
# usage: scripts/memory-figure.sh [--connections 10000] [--binary build/ringws] [--threads 1]
#          [--port 0] [--runs 3] [--client build/bench/ringws-idle-clients] [--rate 2000]
#          [--settle 3] [--source-ips 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4] [--app echo]
#          [--server-args "--backend epoll"] [--path '/ws?room=lobby'] [--paths-file FILE]
#
# Each run:
#   1. creates the memory cgroup ringws-figure-<pid> (cgroup v1: /sys/fs/cgroup/memory/...,
#      with TCP accounting switched on by writing memory.kmem.tcp.limit_in_bytes; cgroup v2:
#      a child of the unified hierarchy);
#   2. starts `BINARY --app APP --host 127.0.0.1 --port PORT --threads THREADS SERVER_ARGS`
#      inside it (--server-args: more ringws arguments, split on white space; --path: the
#      request target the clients use, for example with ?room= or ?token=; --paths-file: one
#      target a line, used in turn, for example a token per connection from
#      `scripts/mint-token.py --count N`)
#      (the child joins the group before exec) and waits for its JSON log line with
#      "event":"listening" and "port":N on stdout (with --port 0 the server picks the port);
#   3. after --settle seconds reads the baseline: the server's VmRSS (/proc/PID/status) and
#      the kernel memory charged to the group (v1: memory.kmem.usage_in_bytes +
#      memory.kmem.tcp.usage_in_bytes; v2: memory.stat slab + sock);
#   4. opens N idle connections with ringws-idle-clients (which is NOT in the group, so
#      only the server's end is counted) in two halves, one client process each: opens the
#      first half, waits for READY and --settle seconds, reads, then the same for the rest;
#   5. reads again and divides the growth by N (the figure), and the growth over the
#      second half by its count (what one more connection costs once the server's pools
#      and buffers have reached their high water, without the one-off burst growth);
#   6. stops the clients and the server and removes the group.
# It prints a table of the runs, the run with the median total against the budgets and
# uWebSockets, the second-half medians, and as its last stdout line:
#   SUMMARY connections=<n> user_B=<n> kernel_B=<n> total_B=<n>
#
# Needs root (cgroups). Cleans up on every exit path, killing only the PIDs it started.
# Exit status: 0 on success, 1 on a failed run, 2 on bad usage or environment.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/lib/cgroup.sh
source "$here/lib/cgroup.sh"

connections=10000
binary=$repo/build/ringws
client=$repo/build/bench/ringws-idle-clients
threads=1
port=0
runs=3
rate=2000
settle=3
app='echo'
server_args=()
path=/
paths_file=
source_ips=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4

# Budgets (DESIGN.md section 1: 128 B of user space; the bare TCP socket's 3,630 B plus
# 256 B in the kernel; 3,950 B in all) and uWebSockets as measured here.
budget_user=128
budget_kernel=3886
budget_total=3950
uws_user=273
uws_kernel=3991

die() { echo "memory-figure: $1" >&2; exit "${2:-1}"; }
log() { echo "memory-figure: $*" >&2; }
usage() { sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

positive() { [[ $2 =~ ^[0-9]+$ && $2 -gt 0 ]] || die "$1 needs a positive integer, got '$2'" 2; }

while (($#)); do
  case $1 in
    --connections) positive "$1" "${2-}"; connections=$2; shift 2 ;;
    --binary) binary=${2-}; shift 2 ;;
    --client) client=${2-}; shift 2 ;;
    --threads) positive "$1" "${2-}"; threads=$2; shift 2 ;;
    --port) [[ ${2-} =~ ^[0-9]+$ && $2 -lt 65536 ]] || die "--port needs 0-65535" 2; port=$2; shift 2 ;;
    --runs) positive "$1" "${2-}"; runs=$2; shift 2 ;;
    --rate) positive "$1" "${2-}"; rate=$2; shift 2 ;;
    --settle) positive "$1" "${2-}"; settle=$2; shift 2 ;;
    --source-ips) source_ips=${2-}; shift 2 ;;
    --app) app=${2-}; shift 2 ;;
    --server-args) read -r -a server_args <<< "${2-}"; shift 2 ;;
    --path) path=${2-}; [[ $path == /* ]] || die "--path must start with /" 2; shift 2 ;;
    --paths-file) paths_file=${2-}; [[ -r $paths_file ]] || die "--paths-file '$paths_file' is not readable" 2; shift 2 ;;
    -h | --help) usage ;;
    *) die "unknown argument '$1' (see --help)" 2 ;;
  esac
done

((EUID == 0)) || die "must run as root: it creates a memory cgroup for the server" 2
[[ -x $binary ]] || die "server binary '$binary' not found or not executable (build it, or pass --binary)" 2
[[ -x $client ]] || die "client '$client' not found (cmake --build build --target ringws-idle-clients, or pass --client)" 2

tmp=$(mktemp -d /tmp/memory-figure.XXXXXX)
server_pid=""
client_pids=()

# Stops a process this script started: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
  local pid=$1 i
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

stop_clients() {
  local pid
  for pid in "${client_pids[@]}"; do stop_pid "$pid"; done
  client_pids=()
}

cleanup() {
  stop_clients
  stop_pid "$server_pid"
  server_pid=""
  cg_kill_rest
  cg_remove || true
}
on_exit() {
  local rc=$?
  cleanup
  rm -rf "$tmp"
  exit "$rc"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

rss_bytes() { awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$1/status"; }
fd_count() { local fds=("/proc/$1/fd/"*); echo "${#fds[@]}"; }

# Integer division rounded to nearest (deltas may be negative).
per_conn() { awk -v d="$1" -v n="$2" 'BEGIN { q = d / n; printf "%d\n", q < 0 ? q - 0.5 : q + 0.5 }'; }

# Waits up to $2 seconds for a line matching $3 in file $1 while PID $4 lives; prints it.
wait_for_line() {
  local file=$1 secs=$2 pattern=$3 pid=$4 i line
  for ((i = 0; i < secs * 10; i++)); do
    if line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null); then
      echo "$line"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Starts client number $1 opening $2 connections to port $3 and waits for its READY line.
open_clients() {
  local k=$1 count=$2 to_port=$3 out="$tmp/client.$1.out" err="$tmp/client.$1.err"
  # The client holds the connections until told to stop; --hold only bounds a lost script.
  "$client" --connections "$count" --rate "$rate" --source-ips "$source_ips" \
    --timeout $((count / rate + 60)) --hold 3600 ${paths_file:+--paths-file "$paths_file"} \
    "ws://127.0.0.1:$to_port$path" > "$out" 2> "$err" &
  client_pids+=($!)
  if ! wait_for_line "$out" $((count / rate + 70)) '^READY ' "$!" > /dev/null; then
    tail -n 20 "$err" >&2 || true
    return 1
  fi
  log "client $k: $(grep -m1 '^READY ' "$out")"
}

# One run; appends "user kernel total rss0 rss1 slab0 slab1 tcp0 tcp1 fds m_user m_kernel"
# to $tmp/results (m_: per connection of the second half alone).
run_once() {
  local r=$1
  cg_setup "ringws-figure-$$" || exit 2
  : > "$tmp/server.out"
  cg_exec "$binary" --app "$app" --host 127.0.0.1 --port "$port" --threads "$threads" --admin-listen off "${server_args[@]}" \
    > "$tmp/server.out" 2> "$tmp/server.err" &
  server_pid=$!
  local line listen_port
  if ! line=$(wait_for_line "$tmp/server.out" 15 '"event" *: *"listening"' "$server_pid"); then
    tail -n 20 "$tmp/server.out" "$tmp/server.err" >&2 || true
    die "run $r: the server did not log \"event\":\"listening\" within 15 s"
  fi
  listen_port=$(sed -nE 's/.*"port" *: *([0-9]+).*/\1/p' <<< "$line")
  [[ -n $listen_port && $listen_port -gt 0 ]] || die "run $r: no port in the listening line: $line"
  log "run $r: server pid $server_pid in cgroup v$CG_VERSION $CG_DIR, listening on port $listen_port"

  sleep "$settle"
  local rss0 slab0 tcp0 fds0
  rss0=$(rss_bytes "$server_pid")
  read -r slab0 tcp0 < <(cg_kernel_bytes)
  fds0=$(fd_count "$server_pid")

  # Two clients, each opening half: the growth over the second half alone excludes what
  # the server grows once under a burst of handshakes (buffer pools reaching their high
  # water, allocator arenas), which dividing the whole growth by N spreads over N.
  local half=$(((connections + 1) / 2))
  open_clients 1 "$half" "$listen_port" || die "run $r: ringws-idle-clients did not open $half connections"
  sleep "$settle"
  local rss_mid slab_mid tcp_mid
  rss_mid=$(rss_bytes "$server_pid")
  read -r slab_mid tcp_mid < <(cg_kernel_bytes)
  if ((connections - half > 0)); then
    open_clients 2 $((connections - half)) "$listen_port" ||
      die "run $r: ringws-idle-clients did not open $((connections - half)) more connections"
    sleep "$settle"
  fi
  kill -0 "$server_pid" 2>/dev/null || die "run $r: the server exited while the connections were open"
  local rss1 slab1 tcp1 fds1
  rss1=$(rss_bytes "$server_pid")
  read -r slab1 tcp1 < <(cg_kernel_bytes)
  fds1=$(fd_count "$server_pid")

  stop_clients
  local closed
  closed=$(cat "$tmp"/client.*.out | awk -F'server_closed=' '/^DONE / { n += $2 } END { print n + 0 }')
  if ((closed > 0)); then
    log "run $r: warning: the server closed $closed connections while they were held"
  fi
  # With one descriptor per connection (epoll, or io_uring without direct descriptors) the
  # server's descriptor count shows the connections were open when measured.
  if ((fds1 - fds0 > 0 && fds1 - fds0 < connections)); then
    log "run $r: warning: the server holds only $((fds1 - fds0)) more descriptors than before"
  fi
  stop_pid "$server_pid"
  server_pid=""
  cg_remove || exit 1

  local user kernel m_user=0 m_kernel=0 second=$((connections - half))
  user=$(per_conn $((rss1 - rss0)) "$connections")
  kernel=$(per_conn $((slab1 + tcp1 - slab0 - tcp0)) "$connections")
  if ((second > 0)); then
    m_user=$(per_conn $((rss1 - rss_mid)) "$second")
    m_kernel=$(per_conn $((slab1 + tcp1 - slab_mid - tcp_mid)) "$second")
  fi
  echo "$user $kernel $((user + kernel)) $rss0 $rss1 $slab0 $slab1 $tcp0 $tcp1 $((fds1 - fds0))" \
    "$m_user $m_kernel" >> "$tmp/results"
  log "run $r: user $user B, kernel $kernel B per connection (second half alone: $m_user B, $m_kernel B)"
}

log "$runs run(s) of $connections idle connections against $binary (--app $app --threads $threads${server_args[*]:+ ${server_args[*]}}), target $path${paths_file:+ (targets from $paths_file)}"
for ((r = 1; r <= runs; r++)); do run_once "$r"; done

if [[ $CG_VERSION == 1 ]]; then
  slab_name="kmem" tcp_name="kmem.tcp"
else
  slab_name="slab" tcp_name="sock"
fi
echo
echo "Server memory per idle connection, $connections connections, cgroup v$CG_VERSION ($(uname -r))${server_args[*]:+, server arguments: ${server_args[*]}}"
printf '%-4s %9s %9s %9s | %12s %12s %14s %9s | %9s %9s\n' run user_B kernel_B total_B \
  "rss_delta" "${slab_name}_delta" "${tcp_name}_delta" "fds_delta" "2nd_user" "2nd_kern"
r=0
while read -r user kernel total rss0 rss1 slab0 slab1 tcp0 tcp1 fds m_user m_kernel; do
  r=$((r + 1))
  printf '%-4s %9d %9d %9d | %12d %12d %14d %9d | %9d %9d\n' "$r" "$user" "$kernel" "$total" \
    $((rss1 - rss0)) $((slab1 - slab0)) $((tcp1 - tcp0)) "$fds" "$m_user" "$m_kernel"
done < "$tmp/results"

# The run with the median total, so that its user and kernel figures add up to it.
read -r m_user m_kernel m_total _ < <(sort -n -k3,3 "$tmp/results" | sed -n "$(((runs + 1) / 2))p")
# The second-half figures, each the median over the runs on its own.
median_col() { awk -v c="$1" '{ print $c }' "$tmp/results" | sort -n | sed -n "$(((runs + 1) / 2))p"; }
h_user=$(median_col 11)
h_kernel=$(median_col 12)
verdict() { if (($1 <= $2)); then echo "within"; else echo "OVER"; fi; }
echo
echo "Median run (by total):"
printf '  %-11s %6s B   budget %5s B (%s)   uWebSockets %5s B\n' \
  "user space" "$m_user" "$budget_user" "$(verdict "$m_user" "$budget_user")" "$uws_user" \
  "kernel" "$m_kernel" "$budget_kernel" "$(verdict "$m_kernel" "$budget_kernel")" "$uws_kernel" \
  "total" "$m_total" "$budget_total" "$(verdict "$m_total" "$budget_total")" \
  $((uws_user + uws_kernel))
echo
echo "Second half alone ($((connections - (connections + 1) / 2)) connections opened after the first" \
  "$(((connections + 1) / 2)), medians): user $h_user B, kernel $h_kernel B, total $((h_user + h_kernel)) B"
echo "  (what one more connection costs once pools and buffers have reached their high water)"
echo "SUMMARY connections=$connections user_B=$m_user kernel_B=$m_kernel total_B=$m_total"
