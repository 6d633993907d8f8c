"""scripts/latency.sh: broadcast capacity and echo latency, for ringws and (with --compare)
Node's ws, in one run.

Starts each server with its shootout app on loopback and drives it with ringws-load:
broadcast capacity by the websocket-shootout method (clients added in --step up to --max,
4 broadcasts in flight, stop when p95 exceeds 500 ms), then echo round trips at each
--echo-connections count, --runs times (medians reported). Client and server share this
machine's CPUs.

Output in --out (default results/latency-<time>/): latency.csv, latency.png, summary.md, and
as the last line on stdout:
  SUMMARY clients_at_p95_500ms=<n> echo_p50_us=<n> echo_p99_us=<n> echo_msgs_per_s=<n>
"""

import argparse
import json
import math
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import latency_report as report  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PER_WORKER = 15000  # client connections per ringws-load worker (its open-files limit is 20,000)
NODE_MAX = 19000    # Node holds each connection in a regular descriptor


def log(msg):
    print(f"latency: {msg}", file=sys.stderr, flush=True)


def start_server(name, args, logdir):
    out = open(logdir / f"{name}.out", "w")
    if name == "ringws":
        threads = args.threads or max(2, math.ceil(args.broadcast_max / 19000))
        cmd = [args.binary, "--app", "shootout", "--host", "127.0.0.1", "--port", "0", "--threads", str(threads),
               "--drain-seconds", "1", "--max-backlog", str(16 << 20)]
    else:
        peer = REPO / "bench" / "peers" / "node-ws"
        if not (peer / "node_modules" / "ws").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=peer, check=True, stdout=subprocess.DEVNULL)
        cmd = ["node", str(peer / "server.mjs"), "--app", "shootout", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        m = re.search(r'"port"\s*:\s*(\d+)', (logdir / f"{name}.out").read_text())
        if m:
            return proc, f"ws://127.0.0.1:{m.group(1)}/"
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"latency: {name} did not start:\n" + (logdir / f"{name}.out").read_text()[-2000:])


def load(args, mode, url, extra, json_path, timeout):
    cmd = [args.load, mode, "--url", url, "--json", str(json_path), "--quiet", *extra]
    log(" ".join(shlex.quote(str(c)) for c in cmd))
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if not json_path.exists():
        raise SystemExit(f"latency: ringws-load wrote no report:\n{r.stderr[-2000:]}")
    return json.loads(json_path.read_text())


def measure(name, args, out):
    proc, url = start_server(name, args, out / "logs")
    rows = []
    try:
        bmax = min(args.broadcast_max, NODE_MAX) if name == "node-ws" else args.broadcast_max
        workers = max(1, math.ceil(bmax / PER_WORKER))
        rep = load(args, "broadcast", url,
                   ["--step", str(args.broadcast_step), "--max", str(bmax), "--workers", str(workers),
                    "--source-ips", "127.0.0.1-127.0.0.8", "--concurrent", "4", "--padding", "200",
                    "--samples", str(args.samples), "--percentile", "95", "--limit-ms", "500"],
                   out / "logs" / f"{name}-broadcast.json", timeout=3600)
        rows += report.broadcast_rows(name, rep, 95, 500)
        log(f"{name}: broadcast capacity {report.capacity(rows):,} clients")
        for c in args.echo_connections:
            for run in range(1, args.runs + 1):
                rep = load(args, "echo", url,
                           ["--connections", str(c), "--duration", str(args.echo_duration), "--size", str(args.size),
                            "--protocol", "shootout", "--workers", str(max(1, math.ceil(c / PER_WORKER)))],
                           out / "logs" / f"{name}-echo-{c}-{run}.json", timeout=600)
                rows.append(report.echo_row(name, c, run, rep))
                log(f"{name}: echo {c} conns run {run}: p50 {rows[-1]['p50_us']:.0f} us, "
                    f"{rows[-1]['msgs_per_s']:,.0f} msgs/s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows


def machine_description():
    cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
    return f"{os.cpu_count()} CPUs ({cpu.group(1) if cpu else '?'}), Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser(prog="scripts/latency.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare", choices=["node-ws"], help="measure Node's ws too, in the same run")
    ap.add_argument("--binary", default=str(REPO / "build" / "ringws"))
    ap.add_argument("--load", default=str(REPO / "build" / "bench" / "ringws-load"))
    ap.add_argument("--threads", type=int, default=0, help="ringws reactors (default: enough for --broadcast-max)")
    ap.add_argument("--broadcast-step", type=int, default=1000)
    ap.add_argument("--broadcast-max", type=int, default=20000)
    ap.add_argument("--samples", type=int, default=20, help="broadcasts per step")
    ap.add_argument("--echo-connections", default="10,100,1000",
                    type=lambda s: [int(x) for x in s.split(",")], help="comma-separated counts")
    ap.add_argument("--echo-duration", type=float, default=5)
    ap.add_argument("--size", type=int, default=32, help="echo payload bytes")
    ap.add_argument("--runs", type=int, default=3, help="echo runs per count (medians)")
    ap.add_argument("--summary-connections", type=int, default=100, help="echo count the SUMMARY line reports")
    ap.add_argument("--out")
    args = ap.parse_args()
    for path in (args.binary, args.load):
        if not Path(path).exists():
            raise SystemExit(f"latency: {path} not built (cmake --build build)")
    out = Path(args.out or REPO / "results" / time.strftime("latency-%Y%m%d-%H%M%S"))
    (out / "logs").mkdir(parents=True, exist_ok=True)
    rows_by_server = {}
    for name in ["ringws"] + ([args.compare] if args.compare else []):
        rows_by_server[name] = measure(name, args, out)
    all_rows = [r for rows in rows_by_server.values() for r in rows]
    report.write_rows(out / "latency.csv", all_rows)
    report.plot(rows_by_server, out / "latency.png", 500)
    command = "scripts/latency.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    (out / "summary.md").write_text(report.markdown(rows_by_server, machine_description(), command, 95, 500))
    print((out / "summary.md").read_text())
    print(f"files: {out}/latency.csv {out}/latency.png {out}/summary.md")
    print(report.summary_line(rows_by_server["ringws"], args.summary_connections))


if __name__ == "__main__":
    main()
