"""Analysis of a density run: per-connection slopes, the 4 GiB projection, the Markdown
summary, the SUMMARY line and the plot. Pure functions over the CSV rows, so that a recorded
sample can be tested without running anything (tests/scripts/test_density_report.py)."""

import csv

GIB = 1 << 30
# DESIGN.md section 1: a t3.medium has 4 GiB; about 3.5 GiB are left after its base system.
T3_MEDIUM_BYTES = 4 * GIB
T3_MEDIUM_USABLE = int(3.5 * GIB)

COLUMNS = ["server", "connections", "open", "failed", "rss_bytes", "pss_bytes", "cg_kernel_bytes",
           "cg_tcp_bytes", "cg_usage_bytes", "meminfo_slab_bytes", "sockstat_tcp_inuse", "sockstat_tcp_mem_pages",
           "slab_tcp_bytes", "alive"]


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key, value in row.items():
            if key != "server":
                row[key] = int(value)
    return rows


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, 0) for k in COLUMNS})


def least_squares(xs, ys):
    """Slope and intercept of the least-squares line through (xs, ys)."""
    n = len(xs)
    if n < 2:
        raise ValueError("need at least two steps to fit a slope")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("all steps have the same connection count")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def fit(rows):
    """Per-connection bytes (user space, kernel, total) from the steps of one server, fitted
    on the connections actually open, and what fits in 4 GiB and in a t3.medium's usable 3.5."""
    good = [r for r in rows if r["alive"]]
    xs = [r["open"] for r in good]
    user = least_squares(xs, [r["rss_bytes"] for r in good])
    kernel = least_squares(xs, [r["cg_kernel_bytes"] + r["cg_tcp_bytes"] for r in good])
    total_slope = user[0] + kernel[0]
    total_intercept = user[1] + kernel[1]
    # Without a kernel figure (nothing charged to a cgroup) a projection would count the
    # user-space bytes alone, about 2% of a connection: there is none then, never a guess.
    kernel_measured = any(r["cg_kernel_bytes"] + r["cg_tcp_bytes"] > 0 for r in good) and kernel[0] > 0

    def fits(budget):
        if not kernel_measured:
            return None
        return max(0, int((budget - total_intercept) / total_slope)) if total_slope > 0 else 0
    return {
        "kernel_measured": kernel_measured,
        "user_B": user[0], "kernel_B": kernel[0], "total_B": total_slope,
        "base_bytes": total_intercept, "steps": len(good), "max_open": max(xs) if xs else 0,
        "projected_4GiB": fits(T3_MEDIUM_BYTES), "projected_3_5GiB": fits(T3_MEDIUM_USABLE),
        "failed": sum(r["failed"] for r in rows), "died": any(not r["alive"] for r in rows),
    }


def summary_line(f):
    if f["projected_4GiB"] is None:
        return f"SUMMARY user_B={round(f['user_B'])} kernel_B=none total_B=none projected_4GiB=none"
    return (f"SUMMARY user_B={round(f['user_B'])} kernel_B={round(f['kernel_B'])} total_B={round(f['total_B'])} "
            f"projected_4GiB={f['projected_4GiB']}")


def _count(n):
    return "no kernel figure" if n is None else f"{n:,}"


def markdown(fits, machine, command, t3medium=None, notes=None):
    """A short report: one row per server, ratios against the first (ringws)."""
    lines = ["# Memory per idle WebSocket connection", "", f"Machine: {machine}", "", f"Command: `{command}`", "",
             "| server | user B/conn | kernel B/conn | total B/conn | fixed base | idle conns in 4 GiB | in 3.5 GiB | "
             "max open | failed |", "|---|---|---|---|---|---|---|---|---|"]
    for name, f in fits.items():
        if f["projected_4GiB"] is None:
            lines.append(f"| {name} | {f['user_B']:.0f} | - | - | - | no kernel figure | no kernel figure | "
                         f"{f['max_open']:,} | {f['failed']} |")
            continue
        lines.append(f"| {name} | {f['user_B']:.0f} | {f['kernel_B']:.0f} | {f['total_B']:.0f} | "
                     f"{f['base_bytes'] / (1 << 20):.1f} MiB | {f['projected_4GiB']:,} | {f['projected_3_5GiB']:,} | "
                     f"{f['max_open']:,} | {f['failed']} |")
    names = list(fits)
    if len(names) > 1:
        base = fits[names[0]]
        lines += ["", f"Ratios against {names[0]} (other / {names[0]}):", ""]
        for other in names[1:]:
            o = fits[other]
            if base["projected_4GiB"] is None or o["projected_4GiB"] is None:
                lines.append(f"- {other}: no ratio (a kernel figure is missing)")
                continue
            lines.append(f"- {other}: total {o['total_B'] / base['total_B']:.2f}x the bytes per connection, "
                         f"{base['projected_4GiB'] / max(1, o['projected_4GiB']):.2f}x fewer connections in 4 GiB")
    lines += ["", "Slopes are least-squares fits over the steps: user space from the server's RSS, kernel from "
              "what its own memory cgroup is charged (kmem + TCP). The projection is (4 GiB - fixed base) / total."]
    if t3medium:
        lines += ["", "t3.medium emulation (cgroup limited to 4 GiB, 2 CPUs): " + t3medium]
    for note in notes or []:
        lines += ["", "Note: " + note]
    return "\n".join(lines) + "\n"


def plot(rows_by_server, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, rows in rows_by_server.items():
        xs = [r["open"] for r in rows if r["alive"]]
        user = [r["rss_bytes"] / (1 << 20) for r in rows if r["alive"]]
        kern = [(r["cg_kernel_bytes"] + r["cg_tcp_bytes"]) / (1 << 20) for r in rows if r["alive"]]
        total = [u + k for u, k in zip(user, kern)]
        line, = ax.plot(xs, total, marker="o", label=f"{name}: total")
        ax.plot(xs, user, linestyle="--", color=line.get_color(), label=f"{name}: user space (RSS)")
        ax.plot(xs, kern, linestyle=":", color=line.get_color(), label=f"{name}: kernel (cgroup kmem+tcp)")
    ax.set_xlabel("idle WebSocket connections")
    ax.set_ylabel("server memory (MiB)")
    ax.set_title("Server memory against idle connections")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def default_steps(maximum):
    """0, 10k, 20k, 40k, 80k, ... doubling, then `maximum` itself."""
    steps, n = [0], 10000
    while n < maximum:
        steps.append(n)
        n *= 2
    if maximum > 0:
        steps.append(maximum)
    return steps

