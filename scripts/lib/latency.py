"""scripts/latency.sh: broadcast capacity and echo latency, for ringws and (with --compare)
Node's ws, or several ringws configurations (--config), or other servers (--peer), in one run.

Starts each server with its shootout app on loopback and drives it with ringws-load:
broadcast capacity by the websocket-shootout method (clients added in --step up to --max,
4 broadcasts in flight, stop when p95 exceeds 500 ms; --broadcast-max 0 skips it), then echo
round trips at each --echo-connections count, --runs times (medians reported), the servers
taking turns run by run. Over exactly each echo phase (ringws-load --phase-sync) it reads the
server's CPU from /proc/PID/stat: user and system time per echoed message. Client and server
share this machine's CPUs.

Servers: ringws (--server-args added), or one ringws per --config NAME='ARGS'; Node's ws with
--compare node-ws; any server speaking the shootout protocol with --peer NAME='CMD {port}'.

Output in --out (default results/latency-<time>/): latency.csv, latency.png, summary.md, and
as the last line on stdout (for the first server):
  SUMMARY clients_at_p95_500ms=<n> echo_p50_us=<n> echo_p99_us=<n> echo_msgs_per_s=<n>
          echo_server_user_us=<x> echo_server_sys_us=<x>
"""

import argparse
import json
import math
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import latency_report as report  # noqa: E402
import server_probe as probe  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PER_WORKER = 15000  # client connections per ringws-load worker (its open-files limit is 20,000)
NODE_MAX = 19000    # Node holds each connection in a regular descriptor


def log(msg):
    print(f"latency: {msg}", file=sys.stderr, flush=True)


def server_list(args):
    """[(name, kind, argv)]: the ringws configurations, Node's ws, then the peers."""
    out = []
    threads = args.threads or max(2, math.ceil(args.broadcast_max / 19000))
    configs = [probe.parse_named(c, "--config") for c in args.config] or [("ringws", "")]
    for name, extra in configs:
        argv = probe.ringws_argv(args.binary, "shootout", threads, "")
        argv += ["--max-backlog", str(16 << 20), *shlex.split(extra), *shlex.split(args.server_args)]
        out.append((name, "ringws", argv))
    if args.compare == "node-ws":
        out.append(("node-ws", "node-ws", ["node", str(REPO / "bench" / "peers" / "node-ws" / "server.mjs"), "--app",
                                           "shootout", "--host", "127.0.0.1", "--port", "{port}"]))
    for p in args.peer:
        name, cmd = probe.parse_named(p, "--peer")
        if "{port}" not in cmd:
            raise SystemExit(f"latency: --peer {name}: the command must contain {{port}}")
        out.append((name, "peer", shlex.split(cmd)))
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise SystemExit(f"latency: two servers share a name: {names}")
    return out


def start_server(name, kind, argv, logdir):
    if kind == "node-ws":
        peer = REPO / "bench" / "peers" / "node-ws"
        if not (peer / "node_modules" / "ws").exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=peer, check=True, stdout=subprocess.DEVNULL)
    try:
        return probe.Server(name, argv, logdir)
    except RuntimeError as e:
        raise SystemExit(f"latency: {e}")


def load(args, mode, url, extra, json_path, timeout):
    cmd = [args.load, mode, "--url", url, "--json", str(json_path), "--quiet", *extra]
    log(" ".join(shlex.quote(str(c)) for c in cmd))
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if not json_path.exists():
        raise SystemExit(f"latency: ringws-load wrote no report:\n{r.stderr[-2000:]}")
    return json.loads(json_path.read_text())


def broadcast_capacity(name, kind, server, args, out):
    bmax = min(args.broadcast_max, NODE_MAX) if kind == "node-ws" else args.broadcast_max
    workers = max(1, math.ceil(bmax / PER_WORKER))
    rep = load(args, "broadcast", server.url,
               ["--step", str(min(args.broadcast_step, bmax)), "--max", str(bmax), "--workers", str(workers),
                "--source-ips", "127.0.0.1-127.0.0.8", "--concurrent", "4", "--padding", "200",
                "--samples", str(args.samples), "--percentile", "95", "--limit-ms", "500"],
               out / "logs" / f"{name}-broadcast.json", timeout=3600)
    rows = report.broadcast_rows(name, rep, 95, 500)
    log(f"{name}: broadcast capacity {report.capacity(rows):,} clients")
    return rows


def echo_once(name, server, args, out, c, run):
    """One echo run with the server's CPU read over exactly the echo phase."""
    js = out / "logs" / f"{name}-echo-{c}-{run}.json"
    cmd = [args.load, "echo", "--url", server.url, "--json", str(js), "--quiet", "--connections", str(c),
           "--duration", str(args.echo_duration), "--size", str(args.size), "--protocol", "shootout",
           "--workers", str(max(1, math.ceil(c / PER_WORKER))), "--phase-sync", "--sync-timeout", "120"]
    log(shlex.join(cmd))
    sl = probe.SyncedLoad(cmd, out / "logs" / f"{name}-echo-{c}-{run}.err")
    try:
        phase, _ = sl.next_sync(c / 500 + 60)
        if phase != "connected":
            raise RuntimeError(f"expected SYNC connected, got {phase}")
        cpu0 = probe.cpu_sample(server.pid)
        sl.go()
        phase, done = sl.next_sync(args.echo_duration + 60)
        cpu1 = probe.cpu_sample(server.pid)
        sl.go()
    except RuntimeError as e:
        raise SystemExit(f"latency: {name} echo {c} run {run}: {e}")
    finally:
        sl.finish()
    if not js.exists():
        raise SystemExit(f"latency: ringws-load wrote no report for {name} echo {c} run {run}")
    row = report.echo_row(name, c, run, json.loads(js.read_text()), cpu=probe.cpu_delta(cpu0, cpu1),
                          messages=done["measured"])
    log(f"{name}: echo {c} conns run {run}: p50 {row['p50_us']:.0f} us, {row['msgs_per_s']:,.0f} msgs/s, "
        f"server {row['server_user_us']:.2f} us user + {row['server_sys_us']:.2f} us sys per message")
    return row


def machine_description():
    m = probe.machine()
    return probe.machine_text(m) + f", load average {m['loadavg'][0]:.2f} at the end"


def main():
    ap = argparse.ArgumentParser(prog="scripts/latency.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare", choices=["node-ws"], help="measure Node's ws too, in the same run")
    ap.add_argument("--server-args", default="", help="extra ringws arguments, e.g. \"--backend epoll\" "
                    "(added to every --config)")
    ap.add_argument("--config", action="append", default=[], metavar="NAME='ARGS'",
                    help="a ringws configuration, named NAME in the tables (repeatable; e.g. "
                         "--config io_uring='--backend io_uring' --config epoll='--backend epoll')")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME='CMD {port}'",
                    help="another server speaking the shootout protocol, started as CMD with {port} replaced")
    ap.add_argument("--binary", default=str(REPO / "build" / "ringws"))
    ap.add_argument("--load", default=str(REPO / "build" / "bench" / "ringws-load"))
    ap.add_argument("--threads", type=int, default=0, help="ringws reactors (default: enough for --broadcast-max)")
    ap.add_argument("--broadcast-step", type=int, default=1000)
    ap.add_argument("--broadcast-max", type=int, default=20000, help="0 skips the broadcast capacity phase")
    ap.add_argument("--samples", type=int, default=20, help="broadcasts per step")
    ap.add_argument("--echo-connections", default="10,100,1000",
                    type=lambda s: [int(x) for x in s.split(",")], help="comma-separated counts")
    ap.add_argument("--echo-duration", type=float, default=5)
    ap.add_argument("--size", type=int, default=32, help="echo payload bytes")
    ap.add_argument("--runs", type=int, default=3, help="echo runs per count (medians)")
    ap.add_argument("--summary-connections", type=int, default=100, help="echo count the SUMMARY line reports")
    ap.add_argument("--order", choices=["interleave", "sequential"], default="interleave",
                    help="echo runs: the servers take turns run by run (default), or one server's runs after another")
    ap.add_argument("--out")
    args = ap.parse_args()
    for path in (args.binary, args.load):
        if not Path(path).exists():
            raise SystemExit(f"latency: {path} not built (cmake --build build)")
    try:
        servers = server_list(args)
    except ValueError as e:
        raise SystemExit(f"latency: {e}")
    out = Path(args.out or REPO / "results" / time.strftime("latency-%Y%m%d-%H%M%S"))
    (out / "logs").mkdir(parents=True, exist_ok=True)
    rows_by_server = {name: [] for name, _, _ in servers}
    # Every server runs for the whole measurement (idle while another is measured), so that the
    # echo runs can take turns: each server sees the same machine state, run by run.
    running = {}
    try:
        for name, kind, argv in servers:
            running[name] = start_server(name, kind, argv, out / "logs")
        if args.broadcast_max > 0:
            for name, kind, _ in servers:
                rows_by_server[name] += broadcast_capacity(name, kind, running[name], args, out)
        for c in args.echo_connections:
            if args.order == "interleave":
                turns = [(run, name) for run in range(1, args.runs + 1)
                         for name, _, _ in (servers if run % 2 else list(reversed(servers)))]
            else:
                turns = [(run, name) for name, _, _ in servers for run in range(1, args.runs + 1)]
            for run, name in turns:
                if not running[name].alive():
                    raise SystemExit(f"latency: {name} exited:\n" + running[name].log.read_text()[-2000:])
                rows_by_server[name].append(echo_once(name, running[name], args, out, c, run))
    finally:
        for srv in running.values():
            srv.stop()
    for name in rows_by_server:  # broadcast rows first, then echo by connections and run
        rows_by_server[name].sort(key=lambda r: (r["kind"] != "broadcast", r["connections"], r["run"]))
    all_rows = [r for rows in rows_by_server.values() for r in rows]
    report.write_rows(out / "latency.csv", all_rows)
    report.plot(rows_by_server, out / "latency.png", 500)
    command = "scripts/latency.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    (out / "summary.md").write_text(report.markdown(rows_by_server, machine_description(), command, 95, 500))
    print((out / "summary.md").read_text())
    print(f"files: {out}/latency.csv {out}/latency.png {out}/summary.md")
    print(report.summary_line(rows_by_server[servers[0][0]], args.summary_connections))


if __name__ == "__main__":
    main()
