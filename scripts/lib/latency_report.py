"""Analysis of a latency run: medians over repeated echo runs, the broadcast capacity, the
CSV, Markdown summary, SUMMARY line and plot. Pure functions over ringws-load's JSON
reports, so a recorded sample can be tested (tests/scripts/test_latency_report.py)."""

import csv
import statistics

# server_user_us, server_sys_us: echo only, the server's CPU per echoed message (utime and
# stime from /proc/PID/stat over exactly the echo phase, divided by the round trips measured
# in it); 0 where not measured (broadcast rows, and CSVs written before these columns).
COLUMNS = ["server", "kind", "connections", "run", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us",
           "msgs_per_s", "passed", "server_user_us", "server_sys_us"]
ECHO_FIGURES = ("p50_us", "p99_us", "msgs_per_s", "server_user_us", "server_sys_us")


def echo_row(server, connections, run, report, cpu=None, messages=None):
    """One echo run from ringws-load's JSON; `cpu` (server_probe.cpu_delta over the phase) and
    `messages` (round trips in that phase) give the server's CPU per message."""
    rtt = report["rtt"]
    n = messages if messages is not None else report.get("rtt", {}).get("count", 0)
    per = 1e6 / n if cpu and n else 0.0
    return {"server": server, "kind": "echo", "connections": connections, "run": run, "p50_us": rtt["p50_us"],
            "p90_us": rtt["p90_us"], "p99_us": rtt["p99_us"], "p99_9_us": rtt["p99_9_us"], "max_us": rtt["max_us"],
            "msgs_per_s": report["messages_per_s"], "passed": int(report["exit_code"] == 0),
            "server_user_us": cpu["user_s"] * per if cpu else 0.0, "server_sys_us": cpu["sys_s"] * per if cpu else 0.0}


def broadcast_rows(server, report, percentile, limit_ms):
    """One row per step; p90_us holds the step's chosen percentile (p95 by default)."""
    rows = []
    for step in report.get("steps", []):
        p = step.get(f"p{percentile}_ms", step.get("p95_ms"))
        rows.append({"server": server, "kind": "broadcast", "connections": step["clients"], "run": 1,
                     "p50_us": step["p50_ms"] * 1000, "p90_us": p * 1000, "p99_us": step.get("p99_ms", p) * 1000,
                     "p99_9_us": 0, "max_us": step.get("max_ms", p) * 1000, "msgs_per_s": 0,
                     "passed": int(p <= limit_ms and not step.get("timeouts")), "server_user_us": 0.0,
                     "server_sys_us": 0.0})
    return rows


def capacity(rows):
    """The largest client count at which a broadcast step passed (0 if none did)."""
    passing = [r["connections"] for r in rows if r["kind"] == "broadcast" and r["passed"]]
    return max(passing, default=0)


def echo_medians(rows):
    """{connections: {p50_us, p99_us, msgs_per_s, server_user_us, server_sys_us, server_cpu_us}}
    as medians over the runs (server_cpu_us: the median of each run's user + sys)."""
    out = {}
    for c in sorted({r["connections"] for r in rows if r["kind"] == "echo"}):
        runs = [r for r in rows if r["kind"] == "echo" and r["connections"] == c]
        out[c] = {k: statistics.median(r.get(k, 0) for r in runs) for k in ECHO_FIGURES}
        out[c]["server_cpu_us"] = statistics.median(r.get("server_user_us", 0) + r.get("server_sys_us", 0)
                                                    for r in runs)
        out[c]["runs"] = len(runs)
    return out


def summary_line(rows, summary_connections):
    med = echo_medians(rows)
    e = med.get(summary_connections) or (med[max(med)] if med else dict.fromkeys(ECHO_FIGURES, 0))
    return (f"SUMMARY clients_at_p95_500ms={capacity(rows)} echo_p50_us={round(e['p50_us'])} "
            f"echo_p99_us={round(e['p99_us'])} echo_msgs_per_s={round(e['msgs_per_s'])} "
            f"echo_server_user_us={e['server_user_us']:.2f} echo_server_sys_us={e['server_sys_us']:.2f}")


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in COLUMNS[2:]:
            v = r.get(k) or "0"  # columns added later read as 0 from older files
            r[k] = float(v) if "." in v else int(v)
    return rows


def markdown(rows_by_server, machine, command, percentile, limit_ms):
    lines = ["# Broadcast capacity and echo latency", "", f"Machine: {machine}", "", f"Command: `{command}`", "",
             f"Broadcast capacity (websocket-shootout method): the most clients at which p{percentile} of a "
             f"broadcast's round trip (until every client has it) stays within {limit_ms} ms.", "",
             "| server | clients at limit | echo conns | echo p50 us | echo p99 us | echo msgs/s | "
             "server user us/msg | server sys us/msg | runs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, rows in rows_by_server.items():
        cap = capacity(rows)
        cap_text = f"{cap:,}" if any(r["kind"] == "broadcast" for r in rows) else "-"
        for c, e in echo_medians(rows).items():
            lines.append(f"| {name} | {cap_text} | {c:,} | {e['p50_us']:.0f} | {e['p99_us']:.0f} | "
                         f"{e['msgs_per_s']:,.0f} | {e['server_user_us']:.2f} | {e['server_sys_us']:.2f} | "
                         f"{e['runs']} |")
    names = list(rows_by_server)
    if len(names) > 1:
        base = rows_by_server[names[0]]
        lines += ["", f"Ratios against {names[0]}:", ""]
        for other in names[1:]:
            o = rows_by_server[other]
            if any(r["kind"] == "broadcast" for r in base + o):
                lines.append(f"- {other}: broadcast capacity {capacity(o) / max(1, capacity(base)):.2f}x")
            for c, e in echo_medians(base).items():
                oe = echo_medians(o).get(c)
                if oe:
                    cpu = (f", server CPU/msg {oe['server_cpu_us'] / e['server_cpu_us']:.2f}x"
                           if e["server_cpu_us"] and oe["server_cpu_us"] else "")
                    lines.append(f"- {other} at {c} connections: echo msgs/s {oe['msgs_per_s'] / e['msgs_per_s']:.2f}x, "
                                 f"p50 {oe['p50_us'] / e['p50_us']:.2f}x{cpu}")
    lines += ["", "Echo: closed loop, one message in flight per connection, medians over the runs. Client and "
              "server share the machine's CPUs, so these are figures of this machine, compared side by side. "
              "Server CPU per message: the server's utime (user) and stime (sys) from /proc/PID/stat over exactly "
              "the echo phase (ringws-load --phase-sync), divided by the round trips measured in it; on loopback "
              "the sys part holds both ends' TCP work done in the server's context."]
    return "\n".join(lines) + "\n"


def plot(rows_by_server, path, limit_ms):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, rows in rows_by_server.items():
        bc = sorted((r["connections"], r["p90_us"] / 1000) for r in rows if r["kind"] == "broadcast")
        if bc:
            a.plot([x for x, _ in bc], [y for _, y in bc], marker="o", label=name)
        med = echo_medians(rows)
        xs = list(med)
        line, = b.plot(xs, [med[x]["p50_us"] for x in xs], marker="o", label=f"{name} p50")
        b.plot(xs, [med[x]["p99_us"] for x in xs], marker="s", linestyle="--", color=line.get_color(),
               label=f"{name} p99")
    a.axhline(limit_ms, color="grey", linestyle=":", label=f"{limit_ms} ms limit")
    a.set_xlabel("clients")
    a.set_ylabel("broadcast round trip, p95 (ms)")
    a.set_title("Broadcast")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("connections (closed loop)")
    b.set_ylabel("echo round trip (us)")
    b.set_title("Echo")
    for ax in (a, b):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
