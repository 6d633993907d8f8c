#!/usr/bin/env python3
"""scripts/capacity.py: how many ringws tasks a workload needs on ECS (one task per t3.medium,
deploy/aws/ringws.yaml), the target-tracking value for ConnectionsOpen, the headroom left for
a draining task's clients, ALB LCUs and the monthly cost, from what density.sh and latency.sh
measured. Markdown on stdout (or --out); --json for the whole plan.

    scripts/capacity.py --density results/density-X --latency results/latency-Y \\
        --users 1000000 --rooms 20000 --msgs-per-sec 3333 --msg-bytes 280

--density: density.sh's density.csv (or its directory): bytes per idle connection and the fixed
base, fitted as density.sh does (the --server rows; default ringws). --latency: latency.sh's
latency.csv (or its directory): the server's CPU per echoed message (user + system; the largest
median over the echo connection counts), and the broadcast capacity, if measured. The model and
its assumptions are in scripts/lib/capacity_plan.py; every budget and price is a flag.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

import capacity_plan as cp  # noqa: E402
import density_report  # noqa: E402
import latency_report  # noqa: E402


def csv_path(path, name):
    p = Path(path)
    return p / name if p.is_dir() else p


def density_figures(path, server):
    rows = density_report.read_rows(csv_path(path, "density.csv"))
    mine = [r for r in rows if r["server"] == server]
    if not mine:
        raise SystemExit(f"capacity: no rows for server {server!r} in {path} (it has {sorted({r['server'] for r in rows})})")
    f = density_report.fit(mine)
    return {"bytes_per_conn": f["total_B"], "base_bytes": max(0.0, f["base_bytes"]), "user_B": f["user_B"],
            "kernel_B": f["kernel_B"], "max_open": f["max_open"]}


def latency_figures(path, server):
    rows = [r for r in latency_report.read_rows(csv_path(path, "latency.csv")) if r["server"] == server]
    if not rows:
        raise SystemExit(f"capacity: no rows for server {server!r} in {path}")
    medians = latency_report.echo_medians(rows)
    cpu = {c: m["server_cpu_us"] for c, m in medians.items() if m["server_cpu_us"] > 0}
    out = {"broadcast_capacity": latency_report.capacity(rows) or None}
    if cpu:
        worst = max(cpu, key=lambda c: cpu[c])
        out.update(cpu_us_per_msg=cpu[worst], cpu_at_connections=worst)
    return out


def parse(argv):
    ap = argparse.ArgumentParser(prog="scripts/capacity.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("measurements")
    g.add_argument("--density", help="density.sh's density.csv or its output directory")
    g.add_argument("--latency", help="latency.sh's latency.csv or its output directory")
    g.add_argument("--server", default="ringws", help="the server (or --config name) in those files (default ringws)")
    g.add_argument("--bytes-per-connection", type=float, help="instead of --density: bytes per connection")
    g.add_argument("--base-bytes", type=float, default=0.0, help="with --bytes-per-connection: fixed base (default 0)")
    g.add_argument("--cpu-per-message-us", type=float,
                   help="server CPU per received or delivered message, us (default: from --latency)")
    w = ap.add_argument_group("workload")
    w.add_argument("--users", type=int, required=True, help="concurrent users (connections)")
    w.add_argument("--rooms", type=int, help="rooms (default: users / --members-per-room)")
    w.add_argument("--members-per-room", type=float, default=50.0, help="with no --rooms (default 50)")
    w.add_argument("--msgs-per-sec", type=float, help="messages published per second, all users together "
                   "(default: one per user every 5 minutes)")
    w.add_argument("--msg-bytes", type=int, default=280, help="published message size (default 280)")
    w.add_argument("--session-minutes", type=float, default=60.0, help="mean connection lifetime (default 60)")
    t = ap.add_argument_group("task (a t3.medium; see deploy/aws/ringws.yaml)")
    t.add_argument("--task-memory-mib", type=float, default=cp.TASK_DEFAULTS["memory_bytes"] / cp.MIB)
    t.add_argument("--high-water", type=float, default=cp.TASK_DEFAULTS["high_water"] * 100, help="percent (85)")
    t.add_argument("--vcpus", type=int, default=cp.TASK_DEFAULTS["vcpus"])
    t.add_argument("--cpu-baseline", type=float, default=cp.TASK_DEFAULTS["cpu_baseline"] * 100,
                   help="percent of each vCPU to plan for (20: the t3.medium baseline)")
    t.add_argument("--net-gbps", type=float, default=cp.TASK_DEFAULTS["net_bps"] / 1e9)
    t.add_argument("--wire-overhead", type=int, default=cp.TASK_DEFAULTS["wire_overhead"])
    t.add_argument("--ping-interval", type=float, default=cp.TASK_DEFAULTS["ping_interval"])
    t.add_argument("--min-tasks", type=int, default=cp.TASK_DEFAULTS["min_tasks"])
    t.add_argument("--azs", type=int, default=cp.TASK_DEFAULTS["azs"], help="Availability Zones the tasks span")
    p = ap.add_argument_group(f"prices (USD; defaults: {cp.PRICES_AS_OF})")
    for key, value in cp.PRICES.items():
        p.add_argument("--price-" + key.replace("_", "-"), dest="price_" + key, type=type(value), default=value)
    ap.add_argument("--json", action="store_true", help="print the whole plan as JSON instead")
    ap.add_argument("--out", help="also write the Markdown here")
    args = ap.parse_args(argv)
    if args.bytes_per_connection is None and not args.density:
        ap.error("give --density (density.sh's output) or --bytes-per-connection")
    if args.cpu_per_message_us is None and not args.latency:
        ap.error("give --latency (latency.sh's output) or --cpu-per-message-us")
    if args.users < 1 or args.msg_bytes < 0:
        ap.error("--users must be positive")
    return args


def main(argv):
    args = parse(argv)
    sources = []
    if args.bytes_per_connection is not None:
        server = {"bytes_per_conn": args.bytes_per_connection, "base_bytes": args.base_bytes}
        sources.append(f"{args.bytes_per_connection:,.0f} B per connection (given)")
    else:
        server = density_figures(args.density, args.server)
        sources.append(f"{csv_path(args.density, 'density.csv')}: {server['bytes_per_conn']:,.0f} B per connection "
                       f"({server['user_B']:,.0f} user + {server['kernel_B']:,.0f} kernel), "
                       f"{server['base_bytes'] / cp.MIB:,.1f} MiB base, {server['max_open']:,} connections measured")
    server.setdefault("broadcast_capacity", None)
    if args.latency:
        lat = latency_figures(args.latency, args.server)
        server["broadcast_capacity"] = lat["broadcast_capacity"]
        if args.cpu_per_message_us is None:
            if "cpu_us_per_msg" not in lat:
                raise SystemExit(f"capacity: {args.latency} has no server CPU figures (a latency.sh run from before "
                                 "they were recorded): rerun latency.sh, or give --cpu-per-message-us")
            server["cpu_us_per_msg"] = lat["cpu_us_per_msg"]
            sources.append(f"{csv_path(args.latency, 'latency.csv')}: {lat['cpu_us_per_msg']:.2f} us of server CPU "
                           f"per echoed message (at {lat['cpu_at_connections']:,} connections)"
                           + (f", broadcast capacity {lat['broadcast_capacity']:,}" if lat["broadcast_capacity"] else ""))
    if args.cpu_per_message_us is not None:
        server["cpu_us_per_msg"] = args.cpu_per_message_us
        sources.append(f"{args.cpu_per_message_us:.2f} us of server CPU per message (given)")

    rooms = args.rooms or max(1, round(args.users / args.members_per_room))
    workload = {"users": args.users, "rooms": rooms,
                "msgs_per_sec": args.msgs_per_sec if args.msgs_per_sec is not None else args.users / 300,
                "msg_bytes": args.msg_bytes, "session_minutes": args.session_minutes}
    task = {"memory_bytes": args.task_memory_mib * cp.MIB, "high_water": args.high_water / 100, "vcpus": args.vcpus,
            "cpu_baseline": args.cpu_baseline / 100, "net_bps": args.net_gbps * 1e9,
            "wire_overhead": args.wire_overhead, "ping_interval": args.ping_interval, "min_tasks": args.min_tasks,
            "azs": args.azs}
    prices = {k: getattr(args, "price_" + k) for k in cp.PRICES}
    try:
        result = cp.plan(workload, server, task, prices)
    except ValueError as e:
        raise SystemExit(f"capacity: {e}")
    if args.json:
        json.dump(result, sys.stdout, indent=1, default=str)
        print()
        return 0
    text = cp.markdown(result, sources)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
