"""The tuning matrix and its report: which cells exist, what each passes to ringws, the CSV (one
row per cell and run), medians and spreads, the winners, the findings that beat their spread,
the Markdown and the plots. Pure functions over rows, so recorded runs can be tested
(tests/scripts/test_tuning_report.py).

A cell is one combination of settings: the backend, its settings, and a kernel profile. The
matrix is not the full product of every setting (that would be thousands of cells): each
cell changes one thing from a reference cell, io_uring with the server's defaults (`uring`)
or epoll level-triggered (`epoll`), and each profile is applied to both references. A
finding is a cell whose figure moved away from its reference's by more than the run-to-run
spread: the two ranges (min to max over the runs) do not overlap.
"""

import csv
import math
import statistics

# --- the matrix -------------------------------------------------------------------------------

SETTINGS = ["backend", "uring_setup", "uring_idle_wait", "buffer_size", "buffer_count", "uring_ring_fd",
            "uring_sqpoll", "epoll_mode", "profile"]
NA = "-"  # a setting that does not apply to the cell's backend

URING = {"backend": "io_uring", "uring_setup": "best", "uring_idle_wait": "poll", "buffer_size": 4096,
         "buffer_count": 2048, "uring_ring_fd": "registered", "uring_sqpoll": 0, "epoll_mode": NA,
         "profile": "default"}
EPOLL = {"backend": "epoll", "uring_setup": NA, "uring_idle_wait": NA, "buffer_size": 4096, "buffer_count": NA,
         "uring_ring_fd": NA, "uring_sqpoll": NA, "epoll_mode": "level", "profile": "default"}

# (name, reference, changes): a cell is its reference's settings with `changes` applied.
VARIANTS = [
    ("uring", None, {}),
    ("uring.coop", "uring", {"uring_setup": "coop"}),
    ("uring.plain", "uring", {"uring_setup": "plain"}),
    ("uring.recv", "uring", {"uring_idle_wait": "recv"}),
    ("uring.recv-ms", "uring", {"uring_idle_wait": "recv-multishot"}),
    ("uring.buf2k", "uring", {"buffer_size": 2048}),
    ("uring.buf16k", "uring", {"buffer_size": 16384}),
    ("uring.n512", "uring", {"buffer_count": 512}),
    ("uring.n8192", "uring", {"buffer_count": 8192}),
    ("uring.fd-plain", "uring", {"uring_ring_fd": "plain"}),
    ("uring.sqpoll", "uring", {"uring_sqpoll": 1}),
    ("epoll", "uring", None),  # the other backend: compared with io_uring's defaults
    ("epoll.edge", "epoll", {"epoll_mode": "edge"}),
]
PROFILES = ["density", "latency", "many-conns"]
QUICK = ["uring", "uring.recv-ms", "epoll", "epoll.edge", "uring+density", "uring+latency", "uring+many-conns"]


def _cell(name, settings, reference):
    return {"cell": name, "reference": reference, **settings}


def full_matrix():
    """Every cell, in order: the io_uring variants, epoll's, then each profile on both backends."""
    cells, by_name = [], {}
    for name, ref, changes in VARIANTS:
        if name == "uring":
            settings = dict(URING)
        elif name == "epoll":
            settings = dict(EPOLL)
        else:
            settings = {**by_name[ref], **changes}
            settings = {k: settings[k] for k in SETTINGS}
        by_name[name] = settings
        cells.append(_cell(name, settings, ref))
    for base in ("uring", "epoll"):
        for p in PROFILES:
            cells.append(_cell(f"{base}+{p}", {**by_name[base], "profile": p}, base))
    return cells


def matrix(quick=False):
    cells = full_matrix()
    if quick:
        cells = sorted((c for c in cells if c["cell"] in QUICK), key=lambda c: QUICK.index(c["cell"]))
    return cells


def select(cells, only):
    """Cells matching any of the --only filters. A filter is comma-separated terms that must all
    match: KEY=VALUE (a setting, e.g. backend=epoll or profile=latency) or a cell name, where
    '*' matches anything ('uring*', '*+density')."""
    import fnmatch
    if not only:
        return list(cells)
    out = []
    for c in cells:
        for f in only:
            ok = True
            for term in filter(None, (t.strip() for t in f.split(","))):
                if "=" in term:
                    k, v = term.split("=", 1)
                    if k not in SETTINGS:
                        raise ValueError(f"--only {term}: {k} is not a setting ({', '.join(SETTINGS)})")
                    ok &= str(c[k]) == v
                else:
                    ok &= fnmatch.fnmatchcase(c["cell"], term)
            if ok:
                out.append(c)
                break
    return out


def server_args(cell):
    """The ringws flags that make `cell` (the profile is the kernel's, not a flag)."""
    if cell["backend"] == "epoll":
        return ["--backend", "epoll", "--epoll-mode", cell["epoll_mode"], "--buffer-size", str(cell["buffer_size"])]
    args = ["--backend", "io_uring", "--uring-setup", cell["uring_setup"], "--uring-idle-wait",
            cell["uring_idle_wait"], "--buffer-size", str(cell["buffer_size"]), "--buffer-count",
            str(cell["buffer_count"]), "--uring-ring-fd", cell["uring_ring_fd"]]
    if int(cell["uring_sqpoll"]):
        args.append("--uring-sqpoll")
    return args


def run_order(cells, runs):
    """[(run, cell)]: every cell once per run, the order reversed every other run, so that each
    cell sees the machine's changing load about as often early as late."""
    out = []
    for run in range(1, runs + 1):
        for c in (cells if run % 2 else list(reversed(cells))):
            out.append((run, c))
    return out


# --- rows -----------------------------------------------------------------------------------------

# (column, label, unit, better, decimals). better: "low" or "high".
FIGURES = [
    ("bytes_per_conn_user", "user", "B/conn", "low", 0),
    ("bytes_per_conn_kernel", "kernel", "B/conn", "low", 0),
    ("bytes_per_conn_total", "total", "B/conn", "low", 0),
    ("bytes_per_conn_slab_system", "system slab, both ends", "B/conn", "low", 0),
    ("echo_msgs_per_s", "echo msgs/s", "msgs/s", "high", 0),
    ("echo_user_us_per_msg", "user us/msg", "us", "low", 2),
    ("echo_kernel_us_per_msg", "kernel us/msg", "us", "low", 2),
    ("echo_cpu_us_per_msg", "CPU us/msg", "us", "low", 2),
    ("echo_p50_us", "p50 us", "us", "low", 0),
    ("echo_p99_us", "p99 us", "us", "low", 0),
    ("broadcast_clients", "clients at p95 <= 500 ms", "clients", "high", 0),
    ("broadcast_us_per_frame", "CPU us/frame", "us", "low", 2),
    ("broadcast_user_us_per_frame", "user us/frame", "us", "low", 2),
    ("broadcast_kernel_us_per_frame", "kernel us/frame", "us", "low", 2),
    ("handshakes_per_s", "handshakes/s", "/s", "high", 0),
    ("handshake_cpu_us", "CPU us/handshake", "us", "low", 1),
]
FIGURE = {f[0]: f for f in FIGURES}
# Shown to explain, never a finding: the system-wide slab holds both ends of every connection
# and whatever else the machine did (DESIGN.md section 5: use it only to explain).
EXPLAIN_ONLY = {"bytes_per_conn_slab_system"}
TABLES = [
    ("Memory per idle connection (bytes)", ["bytes_per_conn_user", "bytes_per_conn_kernel", "bytes_per_conn_total",
                                            "bytes_per_conn_slab_system"]),
    ("Echo, closed loop (server CPU per message, round trip)",
     ["echo_msgs_per_s", "echo_user_us_per_msg", "echo_kernel_us_per_msg", "echo_cpu_us_per_msg", "echo_p50_us",
      "echo_p99_us"]),
    ("Broadcast (capacity; server CPU per delivered frame)",
     ["broadcast_clients", "broadcast_us_per_frame", "broadcast_user_us_per_frame",
      "broadcast_kernel_us_per_frame"]),
    ("Handshakes (connect, upgrade, close)", ["handshakes_per_s", "handshake_cpu_us"]),
]
CONTEXT = ["cell", "run", "reference"] + SETTINGS + ["server_args", "threads", "ring_flags", "idle_wait_reported",
                                                      "backend_reported"]
EXTRA = ["density_open", "density_failed", "echo_connections", "broadcast_cost_frames", "handshake_failures",
         "conntrack_count", "loadavg1", "started", "seconds", "error"]
COLUMNS = CONTEXT + [f[0] for f in FIGURES] + EXTRA
TEXT = {"cell", "reference", "backend", "uring_setup", "uring_idle_wait", "uring_ring_fd", "epoll_mode", "profile",
        "server_args", "ring_flags", "idle_wait_reported", "backend_reported", "started", "error"}


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in COLUMNS})


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.0f}"
    return v


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            if k in TEXT:
                continue
            if v in ("", None):
                r[k] = None
            elif v == NA:
                r[k] = NA
            else:
                try:
                    r[k] = int(v)
                except ValueError:
                    r[k] = float(v)
    return rows


# --- statistics -------------------------------------------------------------------------------------

def stats(rows, cell, column):
    """{median, min, max, n} of a figure over a cell's runs (runs without it left out); None
    if no run has it."""
    vals = [r[column] for r in rows if r["cell"] == cell and isinstance(r.get(column), (int, float))
            and not isinstance(r.get(column), bool)]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def cells_in(rows):
    out = []
    for r in rows:
        if r["cell"] not in out:
            out.append(r["cell"])
    return out


def beats(a, b, better):
    """True if stats `a` is better than `b` by more than the spread: the ranges do not overlap."""
    if not a or not b:
        return False
    return a["min"] > b["max"] if better == "high" else a["max"] < b["min"]


def winner(rows, column):
    """(cell, clear): the cell with the best median, and whether its range clears every other
    cell's (no overlap with the runner-up)."""
    better = FIGURE[column][3]
    st = {c: stats(rows, c, column) for c in cells_in(rows)}
    st = {c: s for c, s in st.items() if s}
    if not st:
        return None, False
    ranked = sorted(st, key=lambda c: st[c]["median"], reverse=(better == "high"))
    best = ranked[0]
    clear = len(ranked) > 1 and all(beats(st[best], st[c], better) for c in ranked[1:])
    return best, clear


def chance_of_no_overlap(n, m):
    """The probability that the ranges of n and m runs drawn from one continuous distribution
    do not overlap: all of one sample below all of the other, either way, 2 n! m! / (n + m)!."""
    return 2 * math.factorial(n) * math.factorial(m) / math.factorial(n + m)


def expected_by_chance(rows, min_runs=3):
    """(comparisons made, findings expected by chance alone if no setting changed anything)."""
    refs = {r["cell"]: r.get("reference") for r in rows}
    made, expected = 0, 0.0
    for cell in cells_in(rows):
        ref = refs.get(cell)
        if not ref or ref not in refs:
            continue
        for column, *_ in FIGURES:
            if column in EXPLAIN_ONLY:
                continue
            a, b = stats(rows, cell, column), stats(rows, ref, column)
            if a and b and a["n"] >= min_runs and b["n"] >= min_runs:
                made += 1
                expected += chance_of_no_overlap(a["n"], b["n"])
    return made, expected


def findings(rows, min_runs=3):
    """[(cell, reference, column, cell stats, reference stats, change)] for every figure a cell
    moved by more than the spread away from its reference cell's, with at least `min_runs`
    runs on each side. change: the relative change of the median."""
    out = []
    refs = {r["cell"]: r.get("reference") for r in rows}
    present = set(refs)
    for cell in cells_in(rows):
        ref = refs.get(cell)
        if not ref or ref not in present:
            continue
        for column, _, _, better, _ in FIGURES:
            if column in EXPLAIN_ONLY:
                continue
            a, b = stats(rows, cell, column), stats(rows, ref, column)
            if not a or not b or a["n"] < min_runs or b["n"] < min_runs:
                continue
            if beats(a, b, better) or beats(b, a, better):
                change = (a["median"] - b["median"]) / b["median"] if b["median"] else math.inf
                out.append((cell, ref, column, a, b, change))
    return out


# --- Markdown ----------------------------------------------------------------------------------------

def num(v, decimals):
    if v is None:
        return "-"
    return f"{v:,.{decimals}f}"


def spread_text(s, decimals):
    if not s:
        return "-"
    if s["n"] == 1:
        return num(s["median"], decimals)
    return f"{num(s['median'], decimals)} ({num(s['min'], decimals)}-{num(s['max'], decimals)})"


def finding_text(f):
    cell, ref, column, a, b, change = f
    _, label, unit, better, d = FIGURE[column]
    good = (change < 0) == (better == "low")
    if not math.isfinite(change):
        pct = "from 0" + (": the other's is under one clock tick of utime/stime over the phase" if unit == "us" else "")
    else:
        pct = f"{change * 100:+.1f}%" if abs(change) < 0.01 else f"{change * 100:+.0f}%"
    return (f"**{cell}** vs {ref}: {label} {num(a['median'], d)} {unit} against {num(b['median'], d)} ({pct}, "
            f"{'better' if good else 'worse'}; ranges {num(a['min'], d)}-{num(a['max'], d)} and "
            f"{num(b['min'], d)}-{num(b['max'], d)} over {a['n']} and {b['n']} runs)")


def markdown(rows, meta):
    """The report. `meta`: command, machine (text), kernel, cpu, cores, started, elapsed_s,
    runs, others (what else ran, text), notes (list), settings (dict of phase settings)."""
    cells = cells_in(rows)
    by_cell = {r["cell"]: r for r in rows}
    lines = ["# Kernel and server tuning matrix", "",
             f"Command: `{meta.get('command', '')}`", "",
             f"Machine: {meta.get('machine', '')}. Kernel {meta.get('kernel', '?')}, CPU {meta.get('cpu', '?')}, "
             f"{meta.get('cores', '?')} cores.", "",
             f"Started {meta.get('started', '?')}, {meta.get('elapsed_s', 0) / 60:.1f} minutes; {meta.get('runs', '?')} "
             f"run(s) of each cell, cells interleaved run by run (the order reversed every other run).", "",
             f"What else ran: {meta.get('others', 'not recorded')}", ""]
    if meta.get("settings"):
        lines += ["Per cell and run: " + "; ".join(f"{k} {v}" for k, v in meta["settings"].items()) + ".", ""]
    lines += ["## Cells", "", "| cell | compared with | backend | profile | ringws flags | ring flags (reported) |",
              "|---|---|---|---|---|---|"]
    for c in cells:
        r = by_cell[c]
        lines.append(f"| {c} | {r.get('reference') or '-'} | {r['backend']} | {r['profile']} | "
                     f"`{r.get('server_args', '')}` | {(r.get('ring_flags') or '-').replace('|', ' ')} |")
    lines += ["", "Each figure: the median over the runs, and in brackets the lowest and highest run. The last row "
              "names the cell with the best median in each column; a * marks a winner whose range clears every "
              "other cell's (no overlap), which on this noisy machine few do.", ""]
    for title, columns in TABLES:
        lines += [f"## {title}", "", "| cell | " + " | ".join(FIGURE[c][1] for c in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        for c in cells:
            lines.append(f"| {c} | " + " | ".join(spread_text(stats(rows, c, col), FIGURE[col][4]) for col in columns)
                         + " |")
        wins = []
        for col in columns:
            w, clear = winner(rows, col)
            wins.append(f"**{w}**{' *' if clear else ''}" if w else "-")
        lines += ["| winner | " + " | ".join(wins) + " |", ""]
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["## Runs with errors", ""]
        lines += [f"- {r['cell']} run {r['run']}: {r['error']}" for r in errors]
        lines.append("")
    lines += ["## What we learned", ""]
    found = findings(rows)
    if found:
        lines += ["Settings that moved a figure by more than its run-to-run spread (the ranges over the runs of the "
                  "cell and of the cell it is compared with do not overlap), and only those:", ""]
        lines += ["- " + finding_text(f) for f in found]
        made, expected = expected_by_chance(rows)
        if made:
            runs = min(s["n"] for c in cells_in(rows) for s in [stats(rows, c, "bytes_per_conn_total")] if s) \
                if any(stats(rows, c, "bytes_per_conn_total") for c in cells_in(rows)) else 3
            lines += ["", f"Read these with the odds in mind: two cells that do not differ at all still have ranges "
                      f"that do not overlap {chance_of_no_overlap(runs, runs):.0%} of the time with {runs} runs each. "
                      f"{made} comparisons were made here: about {expected:.0f} lines like these would appear by chance "
                      f"alone even if no setting changed anything ({len(found)} did). Trust a line when it is large, "
                      f"when its figure has a tight spread (memory), or when it comes back in another run of the "
                      f"matrix."]
    else:
        runs = max((r["run"] for r in rows), default=0)
        lines.append("No setting moved a figure by more than its run-to-run spread"
                     + (f" (fewer than 3 runs: {runs})" if runs < 3 else "") + ".")
    unchanged = [c for c in cells if by_cell[c].get("reference") and not any(f[0] == c for f in found)]
    if unchanged:
        lines += ["", "No figure beat the spread for: " + ", ".join(unchanged) + "."]
    for note in meta.get("notes", []):
        lines += ["", note]
    lines += ["", "How each figure is measured: bytes per idle connection from scripts/density.sh's method (the "
              "server alone in a memory cgroup; user space from its RSS, kernel from the cgroup's kmem + TCP "
              "charge; least-squares slopes over the steps), and beside it the growth of the system-wide slab "
              "(/proc/meminfo) per connection, which holds both ends of each connection and everything else the "
              "machine did, but also kernel memory that is charged to no cgroup; echo from ringws-load echo (closed loop, 32 B, "
              "shootout protocol), the server's utime and stime from /proc/PID/stat over exactly the echo phase "
              "divided by the round trips; broadcast capacity by the websocket-shootout method (the most clients "
              "at which p95 of a broadcast's round trip stays within 500 ms, 4 in flight, 200 B padding), CPU per "
              "delivered frame over the passing steps up to a fixed client count; handshakes per second from "
              "ringws-load storm (connect, upgrade, close; 2 workers) offered more than this machine completes, "
              "with the server's CPU per completed handshake. Client and server share the machine's cores."]
    return "\n".join(lines) + "\n"


# --- plots -----------------------------------------------------------------------------------------

def _bars(ax, cells, rows, column, color, label=None, bottom=None):
    meds = []
    for c in cells:
        s = stats(rows, c, column)
        meds.append(s["median"] if s else 0)
    ax.bar(range(len(cells)), meds, color=color, label=label, bottom=bottom)
    return meds


def _errors(ax, cells, rows, column, offset=None):
    xs, ys, lo, hi = [], [], [], []
    for i, c in enumerate(cells):
        s = stats(rows, c, column)
        if not s:
            continue
        y = s["median"]
        xs.append(i)
        ys.append(y)
        lo.append(y - s["min"])
        hi.append(s["max"] - y)
    ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor="black", capsize=3, linewidth=1,
                label="min-max over runs")


def _finish(ax, cells, title, ylabel):
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels(cells, rotation=35, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.2)  # room for the legend above the bars
    ax.legend(fontsize=7, loc="upper left", ncol=3)


def plot(rows, outdir, subtitle=""):
    """Writes bytes.png, cpu.png, p99.png, broadcast.png and handshakes.png into `outdir`;
    returns their names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cells = cells_in(rows)
    width = max(6.5, 0.7 * len(cells) + 2)
    names = []

    def save(fig, name):
        if subtitle:
            fig.text(0.99, 0.01, subtitle, ha="right", va="bottom", fontsize=6, color="grey")
        fig.tight_layout()
        fig.savefig(outdir / name, dpi=110)
        plt.close(fig)
        names.append(name)

    fig, ax = plt.subplots(figsize=(width, 4.5))
    user = _bars(ax, cells, rows, "bytes_per_conn_user", "tab:blue", "user space (RSS)")
    _bars(ax, cells, rows, "bytes_per_conn_kernel", "tab:orange", "kernel (cgroup kmem + TCP)", bottom=user)
    _errors(ax, cells, rows, "bytes_per_conn_total")
    for i, c in enumerate(cells):  # the figures themselves: the bars differ by less than a pixel
        u, k = stats(rows, c, "bytes_per_conn_user"), stats(rows, c, "bytes_per_conn_kernel")
        if u and k:
            ax.text(i, (u["median"] + k["median"]) * 0.5, f"{u['median']:,.0f}\n+\n{k['median']:,.0f}", ha="center",
                    va="center", fontsize=7)
    _finish(ax, cells, "Memory per idle connection, user space under kernel", "bytes per connection")
    save(fig, "bytes.png")

    fig, ax = plt.subplots(figsize=(width, 4.5))
    user = _bars(ax, cells, rows, "echo_user_us_per_msg", "tab:blue", "user")
    _bars(ax, cells, rows, "echo_kernel_us_per_msg", "tab:red", "kernel", bottom=user)
    _errors(ax, cells, rows, "echo_cpu_us_per_msg")
    _finish(ax, cells, "Server CPU per echoed message (32 B, 100 connections), user over kernel",
            "server CPU us per message")
    save(fig, "cpu.png")

    fig, ax = plt.subplots(figsize=(width, 4.5))
    _bars(ax, cells, rows, "echo_p99_us", "tab:purple", "p99")
    _errors(ax, cells, rows, "echo_p99_us")
    p50 = [stats(rows, c, "echo_p50_us") for c in cells]
    ax.plot([i for i, s in enumerate(p50) if s], [s["median"] for s in p50 if s], "o", color="white",
            markeredgecolor="black", label="p50")
    _finish(ax, cells, "Echo round trip, p99 (100 connections, closed loop)", "microseconds")
    save(fig, "p99.png")

    fig, (a, b) = plt.subplots(1, 2, figsize=(width * 1.6, 4.5))
    _bars(a, cells, rows, "broadcast_clients", "tab:green", "clients")
    _errors(a, cells, rows, "broadcast_clients")
    _finish(a, cells, "Broadcast capacity: clients at p95 <= 500 ms", "clients")
    user = _bars(b, cells, rows, "broadcast_user_us_per_frame", "tab:blue", "user")
    _bars(b, cells, rows, "broadcast_kernel_us_per_frame", "tab:red", "kernel", bottom=user)
    _errors(b, cells, rows, "broadcast_us_per_frame")
    _finish(b, cells, "Server CPU per delivered broadcast frame", "us per frame")
    save(fig, "broadcast.png")

    fig, (a, b) = plt.subplots(1, 2, figsize=(width * 1.6, 4.5))
    _bars(a, cells, rows, "handshakes_per_s", "tab:cyan", "handshakes/s")
    _errors(a, cells, rows, "handshakes_per_s")
    _finish(a, cells, "Handshakes per second (connect, upgrade, close)", "per second")
    _bars(b, cells, rows, "handshake_cpu_us", "tab:gray", "server CPU")
    _errors(b, cells, rows, "handshake_cpu_us")
    _finish(b, cells, "Server CPU per handshake", "us")
    save(fig, "handshakes.png")
    return names
