#!/usr/bin/env bash
# The microbenchmarks (bench/micro/): builds them in Release and runs them.
#
# usage: scripts/micro-bench.sh [--build-dir build-bench] [--out results/micro] [--filter REGEX]
#          [--repetitions 5] [--min-time SECONDS] [--no-build]
#        scripts/micro-bench.sh --callgrind [--filter REGEX] [--iterations 20] [--build-dir ...]
#          [--out results/micro] [--no-build]
#
# Default mode: runs every benchmark (or those matching --filter) with
# --benchmark_repetitions=N --benchmark_report_aggregates_only=true, writes Google
# Benchmark's JSON to OUT/micro-<UTC time>.json (and OUT/latest.json), and prints a table of
# the medians with the coefficient of variation over the repetitions. On a shared, noisy
# machine the times move by several percent from run to run; read the cv column.
#
# --callgrind: runs each selected benchmark under `valgrind --tool=callgrind` twice, with
# exactly N and 2N iterations (RINGWS_MICRO_ITERATIONS, see bench/micro/micro.h), and prints
# (Ir(2N) - Ir(N)) / N: instructions executed per iteration, with start-up and set-up
# cancelled out. That count does not depend on the machine's load, so it is the figure to
# compare before and after a change. Without --filter a representative subset runs.
#
# Exit status: 0 on success, 1 on a failed build or run, 2 on bad usage.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

build_dir="$repo/build-bench"
out_dir="$repo/results/micro"
filter=""
repetitions=5
min_time=""
iterations=20
callgrind=0
build=1

# One or two cases per concern: what --callgrind runs when no --filter is given.
callgrind_subset='^BM_FramerFeed/bytes:(32|1024|65536)/op:1/piece:0$|^BM_FramerFeed/bytes:65536/op:(1|2)/piece:1024$'
callgrind_subset+='|^BM_FramerFeedBatch$|^BM_WriteFrameHeader/bytes:1024$|^BM_MakeFrame/bytes:(32|1024)$|^BM_MakeCloseFrame$'
callgrind_subset+='|^BM_IsValidUtf8/bytes:65536/|^BM_Utf8StreamPieces/bytes:65536/'
callgrind_subset+='|^BM_IsValidWebSocketKey$|^BM_WebSocketAccept$|^BM_ParseUpgrade|^BM_HandshakeTotal$'
callgrind_subset+='|^BM_Slab|^BM_NewDeleteConnection$|^BM_TimerReschedule$|^BM_TimerCancelSchedule$|^BM_TimerAdvanceSteady$'

usage() { sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --out) out_dir=$(realpath -m "$2"); shift 2 ;;
    --filter) filter="$2"; shift 2 ;;
    --repetitions) repetitions="$2"; shift 2 ;;
    --min-time) min_time="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --callgrind) callgrind=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) usage ;;
    *) echo "micro-bench: unknown argument: $1" >&2; usage ;;
  esac
done
[[ "$repetitions" =~ ^[1-9][0-9]*$ ]] || { echo "micro-bench: --repetitions must be a positive integer" >&2; exit 2; }
[[ "$iterations" =~ ^[1-9][0-9]*$ ]] || { echo "micro-bench: --iterations must be a positive integer" >&2; exit 2; }

binary="$build_dir/bench/micro/ringws-micro"
if [[ $build -eq 1 ]]; then
  # Tests off: this build exists only for the benchmarks. -j2: the machine is shared.
  cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DRINGWS_BENCH=ON -DRINGWS_TESTS=OFF >/dev/null \
    || { echo "micro-bench: cmake configure failed" >&2; exit 1; }
  cmake --build "$build_dir" -j2 --target ringws-micro >/dev/null \
    || { echo "micro-bench: build failed (run cmake --build $build_dir --target ringws-micro to see why)" >&2; exit 1; }
fi
[[ -x "$binary" ]] || { echo "micro-bench: no benchmark binary at $binary" >&2; exit 1; }
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), Linux $(uname -r)"

if [[ $callgrind -eq 0 ]]; then
  json="$out_dir/micro-$stamp.json"
  args=(--benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true
        --benchmark_out="$json" --benchmark_out_format=json)
  [[ -n "$filter" ]] && args+=(--benchmark_filter="$filter")
  [[ -n "$min_time" ]] && args+=(--benchmark_min_time="$min_time")
  echo "running: $binary ${args[*]}"
  # The console output is Google Benchmark's own table; keep it beside the JSON.
  "$binary" "${args[@]}" >"$out_dir/micro-$stamp.txt" 2>&1 \
    || { echo "micro-bench: the benchmark run failed; see $out_dir/micro-$stamp.txt" >&2; exit 1; }
  cp "$json" "$out_dir/latest.json"
  /usr/bin/python3 - "$json" <<'EOF'
import json, sys

def human_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

def human_rate(x, unit):
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"

data = json.load(open(sys.argv[1]))
rows, cv = [], {}
for b in data["benchmarks"]:
    if b.get("error_occurred"):
        print(f"ERROR {b['name']}: {b.get('error_message')}")
    if b.get("aggregate_name") == "cv":
        cv[b["run_name"]] = b["cpu_time"]
    if b.get("aggregate_name") == "median":
        rows.append(b)
print(f"{'benchmark (median of repetitions)':58} {'cpu time':>10} {'cv':>6} {'bytes/s':>11} {'items/s':>11}")
for b in rows:
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
    c = cv.get(b["run_name"])
    print(f"{b['run_name']:58} {human_time(b['cpu_time'] * scale):>10} "
          f"{(f'{100 * c:.1f}%' if c is not None else '-'):>6} "
          f"{(human_rate(b['bytes_per_second'], 'B') if 'bytes_per_second' in b else '-'):>11} "
          f"{(human_rate(b['items_per_second'], '') if 'items_per_second' in b else '-'):>11}")
EOF
  echo "json: $json"
  exit 0
fi

# --callgrind
command -v valgrind >/dev/null || { echo "micro-bench: valgrind is not installed" >&2; exit 1; }
[[ -n "$filter" ]] || filter="$callgrind_subset"
mapfile -t names < <("$binary" --benchmark_list_tests=true --benchmark_filter="$filter")
[[ ${#names[@]} -gt 0 ]] || { echo "micro-bench: no benchmark matches $filter" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
csv="$out_dir/callgrind-$stamp.csv"
echo "benchmark,iterations,ir_per_iteration,ir_per_payload_byte" >"$csv"
echo "callgrind: ${#names[@]} benchmarks at $iterations and $((2 * iterations)) iterations each"

# Total instructions (Ir) of one run of one benchmark at a fixed iteration count.
instructions() {
  local name=$1 n=$2 file="$work/cg.out"
  # The name is a regex to Google Benchmark: escape what it could misread, anchor it. A
  # fixed iteration count appends /iterations:N to the name.
  local regex
  regex="^$(printf '%s' "$name" | sed 's/[][().*+?^$|\\{}]/\\&/g')(/iterations:[0-9]+)?\$"
  RINGWS_MICRO_ITERATIONS=$n valgrind --tool=callgrind --callgrind-out-file="$file" \
    "$binary" --benchmark_filter="$regex" >"$work/run.log" 2>&1 \
    || { echo "micro-bench: callgrind run of $name failed:" >&2; tail -5 "$work/run.log" >&2; return 1; }
  if grep -qE "ERROR OCCURRED|Failed to match" "$work/run.log"; then
    echo "micro-bench: $name did not run cleanly:" >&2; grep -E "ERROR|Failed" "$work/run.log" >&2; return 1
  fi
  awk '/^(summary|totals):/ { print $2; exit }' "$file"
}

printf '%-58s %16s %12s\n' "benchmark" "Ir/iteration" "Ir/byte"
for name in "${names[@]}"; do
  a=$(instructions "$name" "$iterations")
  b=$(instructions "$name" $((2 * iterations)))
  per=$(awk -v a="$a" -v b="$b" -v n="$iterations" 'BEGIN { printf "%.1f", (b - a) / n }')
  # Per payload byte where the name carries one (bytes:N): the frame header is not counted.
  per_byte="-"
  if [[ "$name" =~ bytes:([0-9]+) ]]; then
    per_byte=$(awk -v p="$per" -v n="${BASH_REMATCH[1]}" 'BEGIN { printf "%.3f", p / n }')
  fi
  printf '%-58s %16s %12s\n' "$name" "$per" "$per_byte"
  echo "$name,$iterations,$per,$per_byte" >>"$csv"
done
echo "csv: $csv"
