"""Analysis of a broadcast-cost run: one row per measurement (server, broadcasts in flight,
run), medians with min-max over the runs, ratios to a baseline server taken run by run, and
the Markdown, CSV, JSON and SUMMARY outputs. Pure functions over the rows, so a recorded run
can be tested (tests/scripts/test_broadcast_cost_report.py)."""

import csv
import json
import statistics

# What a row holds, in CSV order. Per-frame figures divide by `delivered`: the broadcast
# messages the clients received during the phase (ringws-load's count, which should equal
# clients x completed broadcasts).
COLUMNS = ["server", "in_flight", "run", "clients", "broadcasts", "timeouts", "delivered", "expected", "results",
           "phase_s", "user_s", "sys_s", "sched_s", "segs_out", "data_segs_out", "bytes_sent", "bytes_retrans",
           "retrans_segs", "segs_in", "sockets_before", "sockets_after", "sockets_both", "client_cpu_s", "loadavg1",
           "user_us", "sys_us", "cpu_us", "sched_us", "segs_per_frame", "data_segs_per_frame", "client_us"]
TEXT = {"server"}
INTS = {"in_flight", "run", "clients", "broadcasts", "timeouts", "delivered", "expected", "results", "segs_out",
        "data_segs_out", "bytes_sent", "bytes_retrans", "retrans_segs", "segs_in", "sockets_before", "sockets_after", "sockets_both"}
FIGURES = [("user_us", "user us/frame", 2), ("sys_us", "sys us/frame", 2), ("cpu_us", "CPU us/frame", 2),
           ("segs_per_frame", "segs/frame", 3), ("data_segs_per_frame", "data segs/frame", 3)]


def make_row(server, in_flight, run, connected, done, cpu, tcp, client_cpu_s=0.0, loadavg1=0.0):
    """One measurement. `connected`/`done`: ringws-load's SYNC lines as dicts; `cpu`: the
    server's cpu_delta over the phase; `tcp`: socket_deltas of its sockets over the phase."""
    delivered = done["delivered"]
    per = 1e6 / delivered if delivered else 0.0
    row = {"server": server, "in_flight": in_flight, "run": run, "clients": done["clients"],
           "broadcasts": done["completed"], "timeouts": done["timeouts"], "delivered": delivered,
           "expected": connected["clients"] * done["completed"], "results": done["results"],
           "phase_s": done.get("measure_s", cpu.get("t", 0.0)), "user_s": cpu["user_s"], "sys_s": cpu["sys_s"],
           "sched_s": cpu["sched_s"], "client_cpu_s": client_cpu_s, "loadavg1": loadavg1}
    for f in ("segs_out", "data_segs_out", "bytes_sent", "bytes_retrans", "retrans_segs", "segs_in", "sockets_before",
              "sockets_after", "sockets_both"):
        row[f] = tcp[f]
    row.update(user_us=cpu["user_s"] * per, sys_us=cpu["sys_s"] * per, cpu_us=(cpu["user_s"] + cpu["sys_s"]) * per,
               sched_us=cpu["sched_s"] * per, client_us=client_cpu_s * per,
               segs_per_frame=tcp["segs_out"] / delivered if delivered else 0.0,
               data_segs_per_frame=tcp["data_segs_out"] / delivered if delivered else 0.0)
    return row


def problems(row):
    """What makes a measurement suspect, in words (empty when it is clean). Retransmissions
    are not among them: they are reported (retransmitted(row)), and counted in segs_out."""
    out = []
    if row["delivered"] != row["expected"]:
        out.append(f"delivered {row['delivered']:,} frames, expected {row['expected']:,}")
    if row["timeouts"]:
        out.append(f"{row['timeouts']} broadcasts timed out")
    if not (row["sockets_before"] == row["sockets_after"] == row["sockets_both"] == row["clients"]):
        out.append(f"server sockets before/after/both {row['sockets_before']}/{row['sockets_after']}/"
                   f"{row['sockets_both']} for {row['clients']} clients")
    return out


def retransmitted(rows):
    """'server@in_flight: most x% (n runs of m)' for each server and level that retransmitted:
    the largest share of its segments that were retransmissions, and in how many runs."""
    out = []
    for k in sorted({r["in_flight"] for r in rows}):
        for s in servers_in_order(rows):
            rs = [r for r in rows if r["in_flight"] == k and r["server"] == s]
            hit = [r for r in rs if r.get("retrans_segs")]
            if hit:
                most = max(r["retrans_segs"] / max(1, r["segs_out"]) for r in hit)
                out.append(f"{s}@{k} at most {most:.2%} ({len(hit)} of {len(rs)} runs)")
    return out


def _stat(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def servers_in_order(rows):
    seen = []
    for r in rows:
        if r["server"] not in seen:
            seen.append(r["server"])
    return seen


def aggregate(rows):
    """{in_flight: {server: {figure: {median, min, max, n}}}} over the runs."""
    out = {}
    for k in sorted({r["in_flight"] for r in rows}):
        out[k] = {}
        for s in servers_in_order(rows):
            rs = [r for r in rows if r["in_flight"] == k and r["server"] == s]
            if rs:
                out[k][s] = {f: _stat([r[f] for r in rs]) for f in
                             ("user_us", "sys_us", "cpu_us", "sched_us", "segs_per_frame", "data_segs_per_frame",
                              "client_us", "delivered", "phase_s")}
    return out


def ratios(rows, baseline):
    """{in_flight: {server: {figure: {median, min, max, n}}}}: server / baseline, taken within
    each run (the two measured minutes apart under the same load), then summarised."""
    out = {}
    for k in sorted({r["in_flight"] for r in rows}):
        base = {r["run"]: r for r in rows if r["in_flight"] == k and r["server"] == baseline}
        out[k] = {}
        for s in servers_in_order(rows):
            if s == baseline:
                continue
            per = {f: [] for f in ("cpu_us", "user_us", "sys_us", "segs_per_frame")}
            for r in rows:
                b = base.get(r["run"])
                if r["in_flight"] != k or r["server"] != s or b is None:
                    continue
                for f in per:
                    if b[f]:
                        per[f].append(r[f] / b[f])
            if per["cpu_us"]:
                out[k][s] = {f: _stat(v) for f, v in per.items() if v}
    return out


def fmt(st, digits, unit=""):
    """'median (min-max)', or the median alone when the runs agree to the digits shown."""
    med, lo, hi = (f"{st[k]:.{digits}f}" for k in ("median", "min", "max"))
    return f"{med}{unit}" if lo == hi else f"{med}{unit} ({lo}-{hi})"


def markdown(rows, machine_text, command, settings, baseline=None, notes=()):
    agg = aggregate(rows)
    servers = servers_in_order(rows)
    baseline = baseline if baseline in servers else None
    lines = ["# Server CPU and TCP segments per delivered broadcast frame", "",
             f"Machine: {machine_text}", "", f"Command: `{command}`", "",
             f"{settings['clients']:,} clients, {settings['broadcasts']} broadcasts per measurement, "
             f"{settings['padding']} B padding (websocket-shootout protocol), runs: {settings['runs']}, "
             "servers interleaved run by run. Figures: median (min-max) over the runs.", "",
             "| in flight | server | " + " | ".join(h for _, h, _ in FIGURES) + " | delivered frames | runs |",
             "|---" * (len(FIGURES) + 4) + "|"]
    for k, by_server in agg.items():
        for s, st in by_server.items():
            lines.append(f"| {k} | {s} | " + " | ".join(fmt(st[f], d) for f, _, d in FIGURES)
                         + f" | {st['delivered']['median']:,.0f} | {st['cpu_us']['n']} |")
    if baseline and len(servers) > 1:
        lines += ["", f"Ratios to {baseline} (server / {baseline}, within each run; median (min-max)):", "",
                  "| in flight | server | CPU/frame | user/frame | sys/frame | segs/frame |", "|---|---|---|---|---|---|"]
        for k, by_server in ratios(rows, baseline).items():
            for s, st in by_server.items():
                cells = [fmt(st[f], 2, "x") if f in st else "-" for f in ("cpu_us", "user_us", "sys_us",
                                                                         "segs_per_frame")]
                lines.append(f"| {k} | {s} | " + " | ".join(cells) + " |")
    lines += ["", "CPU: the server's utime and stime from /proc/PID/stat (all threads, and any child processes), "
              "read just before the first broadcast and just after the last one completed; per frame = that / "
              "delivered frames. Segments: the growth of segs_out (every segment the server's sockets sent, "
              "ACKs included) and data_segs_out over the same phase, summed over the server's established "
              "sockets (`ss -tin`), per delivered frame. Delivered frames: the broadcast messages the clients "
              "received, counted by ringws-load (checked against clients x broadcasts). The clients run on the "
              "same machine and share its CPUs."]
    frames = min((r["delivered"] for r in rows if r["delivered"]), default=0)
    if frames:
        tick_us = 1e6 / settings.get("clk_tck", 100)
        lines.append(f"\nResolution: utime and stime count clock ticks of {tick_us / 1000:g} ms, "
                     f"{tick_us / frames:.3f} us per frame at {frames:,} frames; the CSV's sched_us (the threads' "
                     "schedstat run time, in ns) checks the total.")
    bad = [(r, p) for r in rows for p in [problems(r)] if p]
    for r, p in bad:
        lines.append(f"\nWarning: {r['server']}, {r['in_flight']} in flight, run {r['run']}: " + "; ".join(p))
    retrans = retransmitted(rows)
    if retrans:
        lines.append("\nRetransmitted segments, as a share of the server's segments (counted in segs/frame): "
                     + "; ".join(retrans) + ".")
    for n in notes:
        lines.append(f"\nNote: {n}")
    return "\n".join(lines) + "\n"


def summary_line(rows):
    agg = aggregate(rows)
    parts = [f"{s}@{k}={st['cpu_us']['median']:.2f}us,{st['segs_per_frame']['median']:.3f}seg"
             for k, by_server in agg.items() for s, st in by_server.items()]
    return "SUMMARY " + " ".join(parts)


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: round(v, 6) if isinstance(v, float) else v for k, v in ((k, r.get(k, 0)) for k in COLUMNS)})


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k in COLUMNS:
            if k in TEXT:
                continue
            r[k] = int(r[k]) if k in INTS else float(r[k])
    return rows


def write_json(path, rows, machine, settings, command, baseline):
    doc = {"tool": "scripts/broadcast-cost.sh", "command": command, "machine": machine, "settings": settings,
           "baseline": baseline, "rows": rows, "medians": {str(k): v for k, v in aggregate(rows).items()},
           "ratios": {str(k): v for k, v in ratios(rows, baseline).items()} if baseline else {},
           "warnings": [{"server": r["server"], "in_flight": r["in_flight"], "run": r["run"], "problems": p}
                        for r in rows for p in [problems(r)] if p]}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
