"""scripts/tuning.sh: a matrix of kernel and server settings, measured side by side on this
machine, and a report with plots.

Each cell is one combination: the backend (io_uring or epoll), its settings (io_uring: setup
flags, idle wait, receive buffer size and count, registered ring fd, SQPOLL; epoll: level or
edge), and a kernel profile (scripts/tuning/profiles/: default, density, latency,
many-conns). Every cell is measured --runs times (3), the cells taking turns run by run (the
order reversed every other run). One run of one cell:

  1. applies the cell's kernel profile (old values recorded first, restored after the cell,
     on error and on Ctrl-C; see scripts/lib/tuning_profile.py);
  2. density: a ringws (--app echo) alone in a memory cgroup, idle connections stepped up
     (scripts/density.sh's code): bytes per connection, user space and kernel;
  3. a ringws --app shootout with the same flags, then
     - handshakes: ringws-load storm at a fixed offered rate: handshakes per second and the
       server's CPU per handshake;
     - echo: ringws-load echo, 32 B, closed loop: msgs/s, p50, p99 and the server's user and
       kernel CPU per message over exactly the echo phase (scripts/latency.sh's code);
     - broadcast: the websocket-shootout capacity ramp (4 in flight, 200 B, p95 <= 500 ms),
       the server's CPU sampled around every step: capacity, and CPU per delivered frame over
       the passing steps up to --broadcast-cost-max clients;
  4. restores the profile.

Output in --out (default results/tuning-<time>/): tuning.csv (one row per cell and run),
tuning.md, bytes.png, cpu.png, p99.png, broadcast.png, handshakes.png, logs/. Needs root
(memory cgroups, profiles); --dry-run prints the matrix and what each profile would change,
and runs nothing; --restore undoes what a killed run left applied.
"""

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import density  # noqa: E402
import density_report  # noqa: E402
import latency  # noqa: E402
import server_probe as probe  # noqa: E402
import tuning_profile as profiles  # noqa: E402
import tuning_report as report  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PER_WORKER = 15000

# Phase settings: (quick, full).
PHASES = {
    "density_steps": ("0,5000,10000", "0,10000,20000,30000"),
    "density_settle": (2.0, 3.0),
    "storm_rate": (20000, 20000),
    "storm_duration": (2, 3),
    "echo_connections": (100, 100),
    "echo_duration": (3.0, 5.0),
    "broadcast_step": (2000, 1000),
    "broadcast_max": (30000, 30000),
    "broadcast_samples": (10, 20),
    "broadcast_cost_max": (10000, 10000),
}
SECONDS_PER_CELL_RUN = (30, 120)  # rough, for the dry run's estimate


def log(msg):
    print(f"tuning: {msg}", file=sys.stderr, flush=True)


# --- what else ran ------------------------------------------------------------------------------

class OthersSampler:
    """Every few seconds, the CPU time each command outside this run's process tree took since
    the last sample (from /proc/*/stat), summed by command name: what else ran beside the
    measurements. Processes born and gone between two samples are missed."""

    def __init__(self, interval=5.0):
        self.interval, self.by_comm, self.samples = interval, {}, 0
        self.busy = self.total = 0.0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _snapshot(self):
        mine = set(probe.process_tree(os.getpid()))
        out = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) in mine:
                continue
            try:
                st = probe.parse_proc_stat((d / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
            out[st["pid"]] = (st["comm"], st["utime"] + st["stime"])
        return out

    @staticmethod
    def _cpu_times():
        f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        vals = [int(x) for x in f]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
        return sum(vals[:8]) - idle, sum(vals[:8])

    def _loop(self):
        prev = self._snapshot()
        busy0, total0 = self._cpu_times()
        while not self.stop_event.wait(self.interval):
            cur = self._snapshot()
            for pid, (comm, ticks) in cur.items():
                before = prev.get(pid)
                delta = ticks - before[1] if before and before[0] == comm else 0
                if delta > 0:
                    self.by_comm[comm] = self.by_comm.get(comm, 0) + delta
            prev = cur
            self.samples += 1
        busy1, total1 = self._cpu_times()
        self.busy, self.total = (busy1 - busy0) / probe.CLK_TCK, (total1 - total0) / probe.CLK_TCK

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(30)

    def text(self):
        top = [kv for kv in sorted(self.by_comm.items(), key=lambda kv: -kv[1])[:8] if kv[1] >= probe.CLK_TCK]
        other = sum(self.by_comm.values()) / probe.CLK_TCK
        parts = ", ".join(f"{c} {t / probe.CLK_TCK:.0f} s" for c, t in top)
        share = f"; the machine's cores were busy {100 * self.busy / self.total:.0f}% of the time in all" \
            if self.total else ""
        return (f"processes outside this run took {other:.0f} CPU-seconds ({parts or 'none seen'}){share} "
                f"(sampled every {self.interval:.0f} s from /proc)")


# --- one cell, one run -----------------------------------------------------------------------------

def tuning_port(taken):
    """A free port in 10000-19999, below every ephemeral range the profiles set."""
    import random
    import socket
    for _ in range(500):
        port = random.randrange(10000, 20000)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not probe.listening(port):
            taken.add(port)
            return port
    raise RuntimeError("no free port in 10000-19999")


def conntrack_room(root="/proc/sys"):
    """(count, max) of the connection tracking table, or None where nf_conntrack is not loaded."""
    try:
        return (int(Path(root, "net/netfilter/nf_conntrack_count").read_text()),
                int(Path(root, "net/netfilter/nf_conntrack_max").read_text()))
    except (OSError, ValueError):
        return None


def wait_for_conntrack(needed, exempt, timeout=150):
    """Where connections are tracked, waits (bounded) until the table has room for `needed`
    more entries: a full table drops SYNs and would distort every figure after it."""
    room = conntrack_room()
    if room is None or exempt:
        return room[0] if room else None
    deadline = time.monotonic() + timeout
    while room and room[0] + needed > 0.9 * room[1] and time.monotonic() < deadline:
        log(f"conntrack table {room[0]:,} of {room[1]:,}: waiting for room for {needed:,} connections")
        time.sleep(10)
        room = conntrack_room()
    return room[0] if room else None


def listening_line(path):
    for line in Path(path).read_text().splitlines():
        if '"event":"listening"' in line.replace(" ", ""):
            try:
                return json.loads(line)
            except ValueError:
                return {}
    return {}


class CellRun:
    def __init__(self, args, cell, run, phases, logs):
        self.args, self.cell, self.run, self.ph, self.logs = args, cell, run, phases, logs
        self.tag = f"{cell['cell']}-r{run}"
        self.flags = report.server_args(cell)
        self.threads = args.threads or max(2, math.ceil(max(
            max(int(x) for x in phases["density_steps"].split(",")), phases["broadcast_max"]) / 19000))
        self.row = {k: cell[k] for k in ["cell", "reference"] + report.SETTINGS}
        self.row.update(run=run, server_args=shlex.join(self.flags), threads=self.threads,
                        started=time.strftime("%H:%M:%S"), loadavg1=probe.loadavg()[0])

    # density: scripts/density.sh's own Run, on a port chosen here
    def density(self, port):
        ns = types.SimpleNamespace(
            pid=None, url=None, cgroup=None, t3medium=self.args.t3medium, threads=self.threads, max=0,
            binary=self.args.binary, client=self.args.idle_client, rate=5000, settle=self.ph["density_settle"],
            port=port, server_args="")
        steps = [int(x) for x in self.ph["density_steps"].split(",")]
        run = density.Run(ns, f"{self.tag.replace('+', '_')}-idle", self.logs, "ringws", shlex.join(self.flags))
        rows = run.measure(steps)
        good = [r for r in rows if r["alive"]]
        self.row["density_open"] = max((r["open"] for r in rows), default=0)
        self.row["density_failed"] = sum(r["failed"] for r in rows)
        if len(good) < 2 or self.row["density_open"] < steps[-1]:
            raise RuntimeError(f"density: {self.row['density_open']} of {steps[-1]} connections held, "
                               f"{self.row['density_failed']} failed")
        f = density_report.fit(rows)
        if not f["kernel_measured"]:
            raise RuntimeError("density: nothing was charged to the server's cgroup (no kernel figure)")
        # System-wide slab: both ends of every connection and everyone else's work, so noisy,
        # but it also sees kernel memory that is not charged to any memory cgroup.
        slab = density_report.least_squares([r["open"] for r in good], [r["meminfo_slab_bytes"] for r in good])[0]
        self.row.update(bytes_per_conn_user=f["user_B"], bytes_per_conn_kernel=f["kernel_B"],
                        bytes_per_conn_total=f["total_B"], bytes_per_conn_slab_system=slab)
        log(f"{self.tag}: {f['user_B']:.0f} B user + {f['kernel_B']:.0f} B kernel per idle connection")

    def start_shootout(self, port):
        argv = probe.ringws_argv(self.args.binary, "shootout", self.threads, shlex.join(self.flags))
        argv += ["--max-backlog", str(16 << 20)]
        self.cgroup = None
        if self.args.t3medium:
            self.cgroup = density.Cgroup(f"ringws-tuning-{os.getpid()}-{self.tag.replace('+', '_')}", True)
            files = " ".join(shlex.quote(str(f)) for f in self.cgroup.procs_files())
            argv = ["sh", "-c", f'for f in {files}; do echo $$ > "$f"; done && exec "$@"', "sh", *argv]
        server = probe.Server(self.tag, argv, self.logs, port=port)
        info = listening_line(server.log)
        self.row.update(ring_flags=info.get("ring_flags", "-" if info.get("backend") == "epoll" else ""),
                        idle_wait_reported=info.get("idle_wait", "-"), backend_reported=info.get("backend", "?"))
        if info.get("backend") and info["backend"] != self.cell["backend"]:
            raise RuntimeError(f"asked for {self.cell['backend']}, the server runs {info['backend']}")
        return server

    def storm(self, server):
        js = self.logs / f"{self.tag}-storm.json"
        cmd = [self.args.load, "storm", "--url", server.url, "--rate", str(self.ph["storm_rate"]), "--duration",
               str(self.ph["storm_duration"]), "--workers", "2", "--source-ips", "127.0.0.1-127.0.0.8", "--json",
               str(js), "--quiet"]
        cpu0 = probe.cpu_sample(server.pid)
        subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=self.ph["storm_duration"] + 90)
        cpu1 = probe.cpu_sample(server.pid)
        if not js.exists():
            raise RuntimeError("storm: ringws-load wrote no report")
        rep = json.loads(js.read_text())
        opened = rep["counts"]["opened"]
        cpu = probe.cpu_delta(cpu0, cpu1)
        self.row.update(handshakes_per_s=rep["handshakes_per_s"], handshake_failures=rep["counts"]["failed"],
                        handshake_cpu_us=(cpu["user_s"] + cpu["sys_s"]) * 1e6 / opened if opened else None)
        log(f"{self.tag}: {rep['handshakes_per_s']:,.0f} handshakes/s offered {self.ph['storm_rate']:,}/s, "
            f"{rep['counts']['failed']} failed")

    def echo(self, server):
        ns = types.SimpleNamespace(load=self.args.load, echo_duration=self.ph["echo_duration"], size=32)
        c = self.ph["echo_connections"]
        try:
            r = latency.echo_once(self.tag, server, ns, self.logs.parent, c, self.run)
        except SystemExit as e:
            raise RuntimeError(f"echo: {e}")
        self.row.update(echo_connections=c, echo_msgs_per_s=r["msgs_per_s"], echo_p50_us=r["p50_us"],
                        echo_p99_us=r["p99_us"], echo_user_us_per_msg=r["server_user_us"],
                        echo_kernel_us_per_msg=r["server_sys_us"],
                        echo_cpu_us_per_msg=r["server_user_us"] + r["server_sys_us"])

    def broadcast(self, server):
        ph = self.ph
        workers = max(1, math.ceil(ph["broadcast_max"] / PER_WORKER))
        js = self.logs / f"{self.tag}-broadcast.json"
        cmd = [self.args.load, "broadcast", "--url", server.url, "--step", str(ph["broadcast_step"]), "--max",
               str(ph["broadcast_max"]), "--workers", str(workers), "--source-ips", "127.0.0.1-127.0.0.8",
               "--concurrent", "4", "--padding", "200", "--samples", str(ph["broadcast_samples"]), "--percentile",
               "95", "--limit-ms", "500", "--step-timeout", "30", "--phase-sync", "--sync-timeout", "120",
               "--json", str(js), "--quiet"]
        sl = probe.SyncedLoad(cmd, self.logs / f"{self.tag}-broadcast.err")
        steps = []
        try:
            while True:
                line = self._next(sl, 120)
                if line is None:
                    break
                phase, fields = line
                if phase != "connected":
                    raise RuntimeError(f"broadcast: expected SYNC connected, got {phase}")
                cpu0 = probe.cpu_sample(server.pid)
                sl.go()
                line = self._next(sl, 90)
                if line is None:
                    break
                cpu1 = probe.cpu_sample(server.pid)
                steps.append((fields["clients"], line[1], probe.cpu_delta(cpu0, cpu1)))
                sl.go()
        finally:
            sl.finish(timeout=60)
        if not js.exists():
            raise RuntimeError("broadcast: ringws-load wrote no report")
        rep = json.loads(js.read_text())
        passing = {s["clients"] for s in rep.get("steps", []) if s.get("passed", s.get("p95_ms", 1e9) <= 500)}
        cap = rep.get("broadcast_capacity", max(passing, default=0))
        user = sys_ = frames = 0
        for clients, done, cpu in steps:
            if clients <= ph["broadcast_cost_max"] and done.get("timeouts", 0) == 0 and done.get("delivered"):
                user += cpu["user_s"]
                sys_ += cpu["sys_s"]
                frames += done["delivered"]
        self.row.update(broadcast_clients=cap, broadcast_cost_frames=frames)
        if frames:
            self.row.update(broadcast_user_us_per_frame=user * 1e6 / frames,
                            broadcast_kernel_us_per_frame=sys_ * 1e6 / frames,
                            broadcast_us_per_frame=(user + sys_) * 1e6 / frames)
        log(f"{self.tag}: broadcast capacity {cap:,} clients; "
            + (f"{(user + sys_) * 1e6 / frames:.2f} us of server CPU per frame" if frames else "no CPU figure"))

    @staticmethod
    def _next(sl, timeout):
        """The next SYNC line, or None once ringws-load has ended."""
        import queue
        try:
            line = sl.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"broadcast: no SYNC line within {timeout} s")
        return None if line is None else probe.parse_sync(line)

    def measure(self):
        t0 = time.monotonic()
        errors = []
        taken = set()
        ports = [tuning_port(taken), tuning_port(taken)]
        needed = max(int(x) for x in self.ph["density_steps"].split(",")) + self.ph["broadcast_max"] + \
            self.ph["storm_rate"] * self.ph["storm_duration"]
        directives = profiles.load_profile(self.cell["profile"], self.args.profiles)
        exempt = any(d["kind"] == "notrack" for d in directives)
        self.row["conntrack_count"] = wait_for_conntrack(needed, exempt)
        applied = profiles.Applied(self.cell["profile"], ports, state_file=self.args.state_file,
                                   directory=self.args.profiles) \
            if self.cell["profile"] != "default" else contextlib.nullcontext()
        with applied:
            try:
                self.density(ports[0])
            except (RuntimeError, SystemExit, OSError, subprocess.SubprocessError) as e:
                errors.append(str(e))
                log(f"{self.tag}: {e}")
            server = None
            try:
                server = self.start_shootout(ports[1])
                for phase in (self.storm, self.echo, self.broadcast):
                    if not server.alive():
                        raise RuntimeError(f"the server exited: {server.log.read_text()[-500:]}")
                    try:
                        phase(server)
                    except (RuntimeError, OSError, subprocess.SubprocessError, KeyError, ValueError) as e:
                        errors.append(f"{phase.__name__}: {e}")
                        log(f"{self.tag}: {phase.__name__}: {e}")
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                errors.append(str(e))
                log(f"{self.tag}: {e}")
            finally:
                if server is not None:
                    server.stop()
                if getattr(self, "cgroup", None):
                    self.cgroup.kill_rest()
                    self.cgroup.remove()
        self.row.update(seconds=round(time.monotonic() - t0, 1), error="; ".join(errors)[:300])
        return self.row


# --- main ---------------------------------------------------------------------------------------

def phases_for(args):
    i = 0 if (args.phases or ("quick" if args.quick else "full")) == "quick" else 1
    return {k: v[i] for k, v in PHASES.items()}


def dry_run(cells, args, phases):
    order = report.run_order(cells, args.runs)
    print(f"{'quick' if args.quick else 'full'} matrix: {len(cells)} cell(s) x {args.runs} run(s) = {len(order)} "
          f"cell runs, about {len(order) * SECONDS_PER_CELL_RUN[0 if phases == dict(zip(PHASES, (v[0] for v in PHASES.values()))) else 1] / 60:.0f} minutes on this "
          f"machine{'; servers in a 4 GiB / 2 CPU cgroup (--t3medium)' if args.t3medium else ''}")
    print()
    print(f"{'cell':<22} {'compared with':<14} {'profile':<11} ringws flags")
    for c in cells:
        print(f"{c['cell']:<22} {c['reference'] or '-':<14} {c['profile']:<11} {shlex.join(report.server_args(c))}")
    print()
    print("per cell run: " + ", ".join(f"{k}={v}" for k, v in phases.items()))
    print("order: " + " ".join(f"{c['cell']}#{r}" for r, c in order))
    for name in sorted({c["profile"] for c in cells}):
        p = profiles.plan(profiles.load_profile(name, args.profiles), ports=[10000] if name else [])
        print(f"\nprofile {name} would change, from the current values (port 10000 standing for each run's ports):")
        for line in profiles.describe(p) or ["nothing"]:
            print("  " + line)
    if any(int(c["uring_sqpoll"]) == 1 for c in cells if c["backend"] == "io_uring") and (os.cpu_count() or 1) <= 2:
        print("\nwarning: uring.sqpoll's kernel thread polls a core on its own: on this 2-core machine it takes half "
              "of the CPU from the clients and the server's own thread")
    print("\n(dry run: nothing was started or changed)")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scripts/tuning.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the reduced matrix and shorter phases (under 15 minutes "
                    f"here): cells {', '.join(report.QUICK)}")
    ap.add_argument("--phases", choices=["quick", "full"], help="the phases' lengths alone, whatever the cells "
                    "(default: quick with --quick, else full); --phases quick without --quick: every cell, briefly")
    ap.add_argument("--t3medium", action="store_true", help="each server in a 4 GiB / 2 CPU cgroup, like a t3.medium")
    ap.add_argument("--only", action="append", default=[], metavar="FILTER",
                    help="only the cells matching FILTER: comma-separated terms that must all match, each KEY=VALUE "
                         "(backend=epoll, profile=latency, uring_idle_wait=recv, ...) or a cell name with * "
                         "('uring*', '*+density'); repeatable (a cell matching any is kept)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each cell (3): medians and spreads over them")
    ap.add_argument("--dry-run", action="store_true", help="print the matrix, the order and what each profile would "
                    "change; run nothing")
    ap.add_argument("--restore", action="store_true", help="restore what a killed run left applied, and exit")
    ap.add_argument("--list", action="store_true", help="print every cell of the full matrix and exit")
    ap.add_argument("--render", metavar="DIR", help="rewrite DIR's tuning.md and plots from its tuning.csv and "
                    "tuning-meta.json, measuring nothing")
    ap.add_argument("--threads", type=int, default=0, help="ringws reactors (default: enough tables for the phases)")
    ap.add_argument("--binary", default=str(REPO / "build" / "ringws"))
    ap.add_argument("--load", default=str(REPO / "build" / "bench" / "ringws-load"))
    ap.add_argument("--idle-client", default=str(REPO / "build" / "bench" / "ringws-idle-clients"))
    ap.add_argument("--out", help="output directory (default results/tuning-<time>)")
    ap.add_argument("--state-file", default=str(profiles.STATE_FILE), help=argparse.SUPPRESS)
    ap.add_argument("--profiles", default=str(profiles.PROFILE_DIR), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.runs < 1:
        raise SystemExit("tuning: --runs must be at least 1")
    try:
        cells = report.select(report.matrix(args.quick), args.only)
    except ValueError as e:
        raise SystemExit(f"tuning: {e}")
    if args.render:
        render(args.render)
        return 0
    if args.list:
        for c in report.full_matrix():
            print(f"{c['cell']:<22} {shlex.join(report.server_args(c))}  profile={c['profile']}")
        return 0
    if not cells:
        raise SystemExit(f"tuning: no cell matches {args.only}")
    phases = phases_for(args)
    if args.dry_run:
        dry_run(cells, args, phases)
        return 0
    if os.geteuid() != 0:
        raise SystemExit("tuning: must run as root: it applies kernel profiles (system-wide sysctls, iptables) and "
                         "puts servers in memory cgroups (--dry-run shows the matrix without root)")
    if args.restore:
        try:
            if not profiles.restore_leftover(args.state_file):
                log(f"nothing to restore ({args.state_file} does not exist)")
        except profiles.ProfileError as e:
            raise SystemExit(f"tuning: {e}")
        return 0
    for path in (args.binary, args.load, args.idle_client):
        if not Path(path).exists():
            raise SystemExit(f"tuning: {path} not built (cmake --build build)")
    try:
        profiles.restore_leftover(args.state_file)
    except profiles.ProfileError as e:
        raise SystemExit(f"tuning: {e}")
    if any(c["backend"] == "io_uring" and int(c["uring_sqpoll"]) for c in cells) and (os.cpu_count() or 1) <= 2:
        log("warning: uring.sqpoll's kernel thread polls a core on its own: on this 2-core machine it takes half of "
            "the CPU from the clients and the server's own thread, so its figures say little about a larger host")
    out = Path(args.out or REPO / "results" / time.strftime("tuning-%Y%m%d-%H%M%S"))
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    machine = probe.machine()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    t0 = time.monotonic()
    order = report.run_order(cells, args.runs)
    log(f"{len(cells)} cells x {args.runs} runs = {len(order)} cell runs; load {machine['loadavg']}; output {out}")
    conntrack = "nf_conntrack is not loaded"
    if profiles.conntrack_loaded("/proc/sys"):
        conntrack = ("nf_conntrack is loaded and tracks connections in this network namespace" if
                     profiles.conntrack_tracking() else "nf_conntrack is loaded but tracks nothing in this network "
                     "namespace (no rule uses it), so many-conns adds no NOTRACK rule")
    log(conntrack)
    rows = []
    sampler = OthersSampler().start()
    interrupted = None
    try:
        with profiles.trap_signals():
            for i, (run, cell) in enumerate(order, 1):
                log(f"[{i}/{len(order)}] {cell['cell']} run {run} ({time.monotonic() - t0:.0f} s so far)")
                rows.append(CellRun(args, cell, run, phases, logs).measure())
                report.write_rows(out / "tuning.csv", rows)  # kept as it grows: an interrupted run keeps its rows
    except profiles.Interrupted as e:
        interrupted = e.signum
        log(f"interrupted by signal {e.signum}: profile restored, servers and clients stopped; writing what was "
            f"measured")
    except profiles.ProfileError as e:
        sampler.stop()
        raise SystemExit(f"tuning: {e}")
    finally:
        sampler.stop()
    if not rows:
        raise SystemExit(130 if interrupted else 1)
    rows.sort(key=lambda r: ([c["cell"] for c in cells].index(r["cell"]), r["run"]))
    report.write_rows(out / "tuning.csv", rows)
    rmem = ""
    try:
        rmem = f"; net.core.rmem_default {Path('/proc/sys/net/core/rmem_default').read_text().strip()} (TCP sockets " \
               f"start from tcp_rmem[1] instead)"
    except OSError:
        pass
    elapsed = time.monotonic() - t0
    meta = {"command": "scripts/tuning.sh " + shlex.join(sys.argv[1:] if argv is None else argv),
            "machine": probe.machine_text(machine), "kernel": machine["kernel"], "cpu": machine["cpu"],
            "cores": machine["cores"], "started": started, "elapsed_s": elapsed, "runs": args.runs,
            "others": sampler.text() + f"; load average {machine['loadavg'][0]:.1f} at the start, "
                      f"{probe.loadavg()[0]:.1f} at the end" + rmem,
            "settings": {k.replace("_", " "): v for k, v in phases.items()},
            "notes": [f"Connection tracking: {conntrack}."]
            + ([f"Interrupted by signal {interrupted}: partial results."] if interrupted else [])
            + (["Servers ran in a 4 GiB / 2 CPU cgroup (--t3medium)."] if args.t3medium else [])}
    (out / "tuning-meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    render(out)
    log(f"done in {elapsed / 60:.1f} minutes")
    return 130 if interrupted else 0


def render(out):
    """tuning.md and the PNGs from tuning.csv and tuning-meta.json (--render: again, after a
    change to the report, without measuring anything)."""
    out = Path(out)
    rows = report.read_rows(out / "tuning.csv")
    meta = json.loads((out / "tuning-meta.json").read_text())
    md = report.markdown(rows, meta)
    names = report.plot(rows, out, f"{meta.get('kernel', '')}, {meta.get('cores', '?')} cores, {meta.get('started', '')}")
    md += "\n## Plots\n\n" + "\n".join(f"![{n}]({n})" for n in names) + "\n"
    (out / "tuning.md").write_text(md)
    print(md)
    print(f"files: {out}/tuning.csv {out}/tuning.md {out}/tuning-meta.json " + " ".join(f"{out}/{n}" for n in names))


if __name__ == "__main__":
    sys.exit(main())
