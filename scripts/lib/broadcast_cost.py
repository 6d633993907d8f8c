"""scripts/broadcast-cost.sh: server CPU and TCP segments per delivered broadcast frame, for
ringws and any other server that speaks the websocket-shootout protocol, side by side.

For each run, each level of broadcasts in flight (--in-flight, default 1,4,16) and each server
(the order reversed every other run, so that each sees the same machine state on average):
  1. start the server on a free loopback port: ringws `--app shootout --threads 1` plus
     --server-args (or one run per --config NAME='ARGS'), or a peer's command
     (--peer NAME='CMD ... {port} ...', run without a shell; it must listen on 127.0.0.1:{port}
     and speak the shootout protocol: {"type":"echo","payload":X} -> the same message back;
     {"type":"broadcast","payload":X} -> the same message to every client, then
     {"type":"broadcastResult","payload":X} to the sender);
  2. connect --clients clients with `ringws-load broadcast --step C --max C --samples B
     --concurrent K --phase-sync`, which waits before the first broadcast and after the last;
  3. at those two points read the server's CPU (/proc/PID/stat utime and stime, all threads
     and children) and its sockets' TCP_INFO counters (`ss -tin state established
     '( sport = :PORT )'`: segs_out, data_segs_out, ...);
  4. stop the clients and the server.
Per delivered frame (broadcast messages received by the clients, as ringws-load counts them,
checked against clients x broadcasts): server CPU us (user, system, total) and segments.

Output in --out (default results/broadcast-cost/, overwritten): broadcast-cost.md, .csv,
.json and logs/; the Markdown on stdout, and last a line
  SUMMARY <server>@<in flight>=<CPU us>us,<segments>seg ...
"""

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import broadcast_cost_report as report  # noqa: E402
import server_probe as probe  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PER_WORKER = 15000  # client connections per ringws-load worker (its open-files limit is 20,000)


def log(msg):
    print(f"broadcast-cost: {msg}", file=sys.stderr, flush=True)


def server_list(args):
    """[(name, argv)]: the ringws configurations, then the peers."""
    out = []
    configs = [probe.parse_named(c, "--config") for c in args.config] or [("ringws", "")]
    for name, extra in configs:
        out.append((name, probe.ringws_argv(args.binary, "shootout", args.threads,
                                            " ".join(filter(None, [extra, args.server_args])))))
    for p in args.peer:
        name, cmd = probe.parse_named(p, "--peer")
        if "{port}" not in cmd:
            raise SystemExit(f"broadcast-cost: --peer {name}: the command must contain {{port}}")
        out.append((name, shlex.split(cmd)))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise SystemExit(f"broadcast-cost: two servers share a name: {names}")
    return out


def measure(args, name, argv, in_flight, run, logs):
    tag = f"{name}-k{in_flight}-r{run}"
    server = probe.Server(name, argv, logs)
    load = None
    try:
        workers = max(1, math.ceil(args.clients / PER_WORKER))
        cmd = [args.load, "broadcast", "--url", server.url, "--step", str(args.clients), "--max", str(args.clients),
               "--samples", str(args.broadcasts), "--concurrent", str(in_flight), "--padding", str(args.padding),
               "--workers", str(workers), "--source-ips", "127.0.0.1-127.0.0.8", "--limit-ms", "10000",
               "--step-timeout", str(args.phase_timeout), "--phase-sync", "--sync-timeout", "120",
               "--json", str(logs / f"{tag}.json"), "--quiet"]
        log(f"{tag}: {shlex.join(cmd)}")
        load = probe.SyncedLoad(cmd, logs / f"{tag}.load.err")
        phase, connected = load.next_sync(args.clients / 1000 + 60)
        if phase != "connected" or connected["clients"] != args.clients:
            raise RuntimeError(f"{tag}: expected {args.clients} connected clients, got {phase} {connected}")
        time.sleep(args.settle)
        load1 = probe.loadavg()[0]
        tcp0 = probe.ss_sample(server.port)
        client0 = probe.cpu_sample(load.proc.pid)
        cpu0 = probe.cpu_sample(server.pid)
        load.go()
        phase, done = load.next_sync(args.phase_timeout + 60)
        cpu1 = probe.cpu_sample(server.pid)
        client1 = probe.cpu_sample(load.proc.pid)
        tcp1 = probe.ss_sample(server.port)
        if phase != "done":
            raise RuntimeError(f"{tag}: expected SYNC done, got {phase}")
        load.go()
        rc = load.finish()
        cpu, client = probe.cpu_delta(cpu0, cpu1), probe.cpu_delta(client0, client1)
        row = report.make_row(name, in_flight, run, connected, done, cpu, probe.socket_deltas(tcp0, tcp1),
                              client["user_s"] + client["sys_s"], load1)
        if rc not in (0, None):
            log(f"{tag}: ringws-load exited {rc} (see {logs / (tag + '.load.err')})")
        if not server.alive():
            raise RuntimeError(f"{tag}: the server exited during the run")
        for p in report.problems(row):
            log(f"{tag}: warning: {p}")
        log(f"{tag}: {row['delivered']:,} frames in {row['phase_s']:.2f} s: CPU {row['cpu_us']:.2f} us/frame "
            f"(user {row['user_us']:.2f}, sys {row['sys_us']:.2f}), {row['segs_per_frame']:.3f} segs/frame")
        return row
    finally:
        if load is not None and load.proc.poll() is None:
            load.finish(timeout=30)
        server.stop()


def main():
    ap = argparse.ArgumentParser(prog="scripts/broadcast-cost.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=3000, help="clients connected during each measurement (3000)")
    ap.add_argument("--broadcasts", type=int, default=400, help="broadcasts per measurement (400)")
    ap.add_argument("--in-flight", default="1,4,16", type=lambda s: [int(x) for x in s.split(",")],
                    help="comma-separated levels of broadcasts in flight (1,4,16)")
    ap.add_argument("--padding", type=int, default=200, help="payload padding bytes (200)")
    ap.add_argument("--runs", type=int, default=3, help="runs; medians and min-max over them (3)")
    ap.add_argument("--binary", default=str(REPO / "build" / "ringws"))
    ap.add_argument("--load", default=str(REPO / "build" / "bench" / "ringws-load"))
    ap.add_argument("--threads", type=int, default=1, help="ringws reactors (1)")
    ap.add_argument("--server-args", default="", help="extra ringws arguments, e.g. \"--backend epoll\" "
                    "(added to every --config)")
    ap.add_argument("--config", action="append", default=[], metavar="NAME='ARGS'",
                    help="a ringws configuration to measure, named NAME (repeatable; default one, 'ringws')")
    ap.add_argument("--peer", action="append", default=[], metavar="NAME='CMD {port}'",
                    help="another server speaking the shootout protocol, started as CMD with {port} replaced "
                         "(repeatable)")
    ap.add_argument("--no-ringws", action="store_true", help="measure only the peers")
    ap.add_argument("--baseline", help="server the ratios divide by (default: the first peer, else the first server)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between connecting and measuring (1)")
    ap.add_argument("--phase-timeout", type=float, default=600, help="longest broadcast phase, seconds (600)")
    ap.add_argument("--out", help="output directory (default results/broadcast-cost/)")
    args = ap.parse_args()
    if min(args.in_flight) < 1 or args.clients < 1 or args.broadcasts < 1 or args.runs < 1:
        raise SystemExit("broadcast-cost: --clients, --broadcasts, --in-flight and --runs must be positive")
    try:
        servers = server_list(args)
    except ValueError as e:
        raise SystemExit(f"broadcast-cost: {e}")
    if args.no_ringws:
        servers = servers[len(args.config) or 1:]
    if not servers:
        raise SystemExit("broadcast-cost: no server to measure")
    needed = [args.load] + ([args.binary] if not args.no_ringws else [])
    for path in needed:
        if not Path(path).exists():
            raise SystemExit(f"broadcast-cost: {path} not built (cmake --build build)")
    names = [n for n, _ in servers]
    peers = [probe.parse_named(p, "--peer")[0] for p in args.peer]
    baseline = args.baseline or (peers[0] if peers and len(names) > 1 else names[0])
    if baseline not in names:
        raise SystemExit(f"broadcast-cost: --baseline {baseline} is not one of {names}")
    out = Path(args.out or REPO / "results" / "broadcast-cost")
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    machine = probe.machine()
    command = "scripts/broadcast-cost.sh " + shlex.join(sys.argv[1:])
    settings = {"clients": args.clients, "broadcasts": args.broadcasts, "in_flight": args.in_flight,
                "padding": args.padding, "runs": args.runs, "threads": args.threads, "clk_tck": probe.CLK_TCK,
                "servers": {n: shlex.join(a) for n, a in servers}}
    log(f"{len(servers)} server(s) x {len(args.in_flight)} level(s) x {args.runs} run(s); load {machine['loadavg']}")
    rows = []
    t0 = time.monotonic()
    for run in range(1, args.runs + 1):
        for k in args.in_flight:
            order = servers if run % 2 else list(reversed(servers))
            for name, argv in order:
                rows.append(measure(args, name, argv, k, run, logs))
    # Rows in a stable order: level, server as given, run.
    rows.sort(key=lambda r: (r["in_flight"], names.index(r["server"]), r["run"]))
    machine["loadavg_end"] = probe.loadavg()
    machine["elapsed_s"] = round(time.monotonic() - t0, 1)
    notes = [f"load average (1, 5, 15 min) {machine['loadavg']} at the start, {machine['loadavg_end']} at the end; "
             f"{machine['elapsed_s']:.0f} s in all"]
    md = report.markdown(rows, probe.machine_text(machine), command, settings, baseline, notes)
    (out / "broadcast-cost.md").write_text(md)
    report.write_csv(out / "broadcast-cost.csv", rows)
    report.write_json(out / "broadcast-cost.json", rows, machine, settings, command, baseline)
    print(md)
    print(f"files: {out}/broadcast-cost.md {out}/broadcast-cost.csv {out}/broadcast-cost.json")
    print(report.summary_line(rows))


if __name__ == "__main__":
    main()
