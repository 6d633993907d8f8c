"""scripts/density.sh: memory per idle WebSocket connection against the number of connections.

Starts the server (ringws by default, with --server-args, or one ringws per --config
NAME='ARGS', or Node's ws peer) inside a memory cgroup of its own, or measures one already
running (--pid and --url: read from its own group given by --cgroup, or else moved into a
memory cgroup made for it, and moved back after; never without a kernel figure), then steps
the number of idle connections
through a list, holding them open with ringws-idle-clients processes (each under the
20,000 open-files limit, spread over several 127.0.0.x source addresses against port
exhaustion). At each step it samples the server's RSS and PSS, what its cgroup is charged
(kmem and TCP), and system-wide /proc/meminfo, /proc/slabinfo and /proc/net/sockstat (which
also hold the clients' end and everyone else's: they explain, they do not measure).

Output in --out (default results/density-<time>/): density.csv, density.png, summary.md, and
as the last line on stdout:  SUMMARY user_B=<n> kernel_B=<n> total_B=<n> projected_4GiB=<n>
"""

import argparse
import contextlib
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
import density_report as report  # noqa: E402
import server_probe as probe  # noqa: E402
import tuning_profile as profiles  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PER_CLIENT = 15000          # connections per client process (its open-files limit is 20,000)
NODE_MAX = 19000  # Node holds each connection in a regular descriptor: RLIMIT_NOFILE caps it


def log(msg):
    print(f"density: {msg}", file=sys.stderr, flush=True)


class Cgroup:
    """The server's own memory cgroup (v1 here; v2 where the machine has it), optionally
    limited like a t3.medium: 4 GiB of memory, 2 CPUs."""

    def __init__(self, name, t3medium):
        v1 = Path("/sys/fs/cgroup/memory")
        self.cpu_dir = None
        self.owned, self.moved = True, []
        if (v1 / "memory.kmem.usage_in_bytes").exists():
            self.version, self.dir = 1, v1 / name
            self.dir.mkdir()
            # v1 charges TCP memory only after a TCP limit has been written.
            (self.dir / "memory.kmem.tcp.limit_in_bytes").write_text("1T")
            if t3medium:
                (self.dir / "memory.limit_in_bytes").write_text(str(4 << 30))
                cpu = Path("/sys/fs/cgroup/cpu")
                if (cpu / "cpu.cfs_quota_us").exists():
                    self.cpu_dir = cpu / name
                    self.cpu_dir.mkdir()
                    (self.cpu_dir / "cpu.cfs_period_us").write_text("100000")
                    (self.cpu_dir / "cpu.cfs_quota_us").write_text("200000")
        else:
            root = Path("/sys/fs/cgroup")
            if "memory" not in (root / "cgroup.controllers").read_text().split():
                raise SystemExit("density: no memory cgroup (v1 with kmem, or v2 with the memory controller)")
            ctl = root / "cgroup.subtree_control"
            for c in ("+memory", "+cpu"):
                try:
                    ctl.write_text(c)
                except OSError:
                    pass
            self.version, self.dir = 2, root / name
            self.dir.mkdir()
            if t3medium:
                (self.dir / "memory.max").write_text(str(4 << 30))
                if (self.dir / "cpu.max").exists():
                    (self.dir / "cpu.max").write_text("200000 100000")

    @classmethod
    def existing(cls, path):
        """A group that already exists (--cgroup): read, never created, limited or removed."""
        self = cls.__new__(cls)
        self.dir, self.cpu_dir, self.owned, self.moved = Path(path), None, False, []
        if not (self.dir / "cgroup.procs").exists():
            raise SystemExit(f"density: {path} is not a cgroup directory")
        if (self.dir / "memory.kmem.usage_in_bytes").exists():
            self.version = 1
        elif (self.dir / "memory.stat").exists() and (self.dir / "memory.current").exists():
            self.version = 2
        else:
            raise SystemExit(f"density: {path} is not a memory cgroup (no memory.kmem.usage_in_bytes or memory.stat)")
        return self

    def adopt(self, pid):
        """Moves running process `pid` (all its threads) into this group, remembering where it
        was, so that what it allocates from now on, its new sockets included, is charged here.
        What it held before stays charged to its old group: the per-connection slopes, taken
        from step 0 on, are not affected. put_back() returns it."""
        for procs in self.procs_files():
            controller = "cpu" if self.cpu_dir and procs.parent == self.cpu_dir else "memory"
            self.moved.append((procs.parent, cgroup_dir_of(pid, controller, self.version)))
            procs.write_text(str(pid))
        log(f"moved pid {pid} into {', '.join(str(d) for d, _ in self.moved)} (from "
            f"{', '.join(str(o) for _, o in self.moved)})")

    def put_back(self, pid):
        for _, original in getattr(self, "moved", []):
            if original is None:
                continue
            try:
                (original / "cgroup.procs").write_text(str(pid))
                log(f"moved pid {pid} back to {original}")
            except OSError as e:
                log(f"could not move pid {pid} back to {original}: {e}")
        self.moved = []

    def procs_files(self):
        files = [self.dir / "cgroup.procs"]
        if self.cpu_dir:
            files.append(self.cpu_dir / "cgroup.procs")
        return files

    def kernel(self):
        """(kernel bytes without TCP buffers, TCP buffer bytes, total usage) charged to the group."""
        if self.version == 1:
            rd = lambda f: int((self.dir / f).read_text())  # noqa: E731
            return rd("memory.kmem.usage_in_bytes"), rd("memory.kmem.tcp.usage_in_bytes"), rd("memory.usage_in_bytes")
        stat = dict(line.split() for line in (self.dir / "memory.stat").read_text().splitlines())
        slab = int(stat.get("slab", int(stat.get("slab_reclaimable", 0)) + int(stat.get("slab_unreclaimable", 0))))
        return slab + int(stat.get("kernel_stack", 0)) + int(stat.get("pagetables", 0)), int(stat.get("sock", 0)), \
            int((self.dir / "memory.current").read_text())

    def oom_events(self):
        if self.version == 1:
            m = re.search(r"oom_kill (\d+)", (self.dir / "memory.oom_control").read_text())
            return int(m.group(1)) if m else 0
        m = re.search(r"oom_kill (\d+)", (self.dir / "memory.events").read_text())
        return int(m.group(1)) if m else 0

    def kill_rest(self):
        if not self.owned:
            return
        for f in self.procs_files():
            for pid in f.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self):
        if not self.owned:
            return
        for d in filter(None, (self.dir, self.cpu_dir)):
            for _ in range(50):
                if not (d / "cgroup.procs").read_text().strip():
                    break
                time.sleep(0.1)
            try:
                d.rmdir()
            except OSError as e:
                log(f"could not remove {d}: {e}")


def parse_proc_cgroup(text, controller, version):
    """/proc/PID/cgroup -> the path of the process's group for `controller` (cgroup v1: the
    line naming it; v2: the '0::' line), or None."""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if version == 1 and controller in controllers.split(","):
            return path
        if version == 2 and hid == "0" and controllers == "":
            return path
    return None


def cgroup_dir_of(pid, controller, version):
    """The directory of `pid`'s cgroup for `controller`, or None if it cannot be told."""
    try:
        path = parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text(), controller, version)
    except OSError:
        return None
    if path is None:
        return None
    mount = Path("/sys/fs/cgroup") / controller if version == 1 else Path("/sys/fs/cgroup")
    return mount / path.lstrip("/")


def rss_pss(pid):
    rss = pss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def system_figures():
    meminfo = dict(re.findall(r"^(\w+):\s+(\d+)", Path("/proc/meminfo").read_text(), re.M))
    sockstat = Path("/proc/net/sockstat").read_text()
    m = re.search(r"TCP: inuse (\d+).*? mem (\d+)", sockstat)
    tcp_slab = 0
    try:
        for line in Path("/proc/slabinfo").read_text().splitlines()[2:]:
            f = line.split()
            if f[0] in ("TCP", "TCPv6"):
                tcp_slab += int(f[2]) * int(f[3])  # num_objs * objsize
    except OSError:
        pass
    return {"meminfo_slab_bytes": int(meminfo.get("Slab", 0)) * 1024,
            "sockstat_tcp_inuse": int(m.group(1)) if m else 0,
            "sockstat_tcp_mem_pages": int(m.group(2)) if m else 0, "slab_tcp_bytes": tcp_slab}


def wait_line(path, pattern, timeout, proc=None):
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        try:
            for line in Path(path).read_text().splitlines():
                if rx.search(line):
                    return line
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(0.1)
    return None


def stop(proc, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Run:
    """One server measured over the steps."""

    def __init__(self, args, name, tmp, kind="ringws", extra=""):
        """`kind`: ringws or node-ws; `extra`: more ringws arguments (--config, --server-args)."""
        self.args, self.name, self.tmp, self.kind, self.extra = args, name, tmp, kind, extra
        self.server = None
        self.cgroup = None
        self.clients = []
        self.pid = args.pid
        self.url = args.url

    def start_server(self):
        if self.pid:
            # A process this script did not start: its kernel memory is read from a memory cgroup
            # that holds it alone, either the one --cgroup names or one made for it here, into
            # which it is moved for the measurement and out of which it is moved back after.
            if not Path(f"/proc/{self.pid}").exists():
                raise SystemExit(f"density: no process {self.pid}")
            if self.args.cgroup:
                self.cgroup = Cgroup.existing(self.args.cgroup)
                procs = (self.cgroup.dir / "cgroup.procs").read_text().split()
                if str(self.pid) not in procs:
                    raise SystemExit(f"density: pid {self.pid} is not in {self.args.cgroup} (it holds {procs or 'nothing'})")
                others = [p for p in procs if p != str(self.pid)]
                if others:
                    log(f"{self.name}: warning: {self.args.cgroup} also holds pids {' '.join(others)}: their "
                        f"growth counts as the server's")
                log(f"{self.name}: measuring running pid {self.pid} at {self.url}, kernel memory from {self.args.cgroup}")
            else:
                self.cgroup = Cgroup(f"ringws-density-{os.getpid()}-{self.name}", self.args.t3medium)
                try:
                    self.cgroup.adopt(self.pid)
                except OSError as e:
                    self.cgroup.remove()
                    self.cgroup = None
                    raise SystemExit(f"density: cannot move pid {self.pid} into a memory cgroup of its own ({e}); "
                                     f"without one there is no kernel figure: refusing")
                log(f"{self.name}: measuring running pid {self.pid} at {self.url} in cgroup v{self.cgroup.version} "
                    f"{self.cgroup.dir}")
            return
        self.cgroup = Cgroup(f"ringws-density-{os.getpid()}-{self.name}", self.args.t3medium)
        out = open(self.tmp / f"{self.name}.out", "w")
        err = open(self.tmp / f"{self.name}.err", "w")
        if self.kind == "ringws":
            threads = self.args.threads or max(2, math.ceil(self.args.max / 19000))
            cmd = [str(self.args.binary), "--app", "echo", "--host", "127.0.0.1", "--port",
                   str(getattr(self.args, "port", 0) or 0), "--admin-listen", "off", "--threads", str(threads),
                   "--drain-seconds", "1", *shlex.split(self.extra)]
        else:
            peer = REPO / "bench" / "peers" / "node-ws"
            if not (peer / "node_modules" / "ws").exists():
                subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=peer, check=True,
                               stdout=subprocess.DEVNULL)
            cmd = ["node", str(peer / "server.mjs"), "--host", "127.0.0.1", "--port", str(getattr(self.args, "port", 0) or 0)]
        files = " ".join(shlex.quote(str(f)) for f in self.cgroup.procs_files())
        # The child joins the group(s) before exec, so everything it allocates is charged there.
        wrapped = ["sh", "-c", f'for f in {files}; do echo $$ > "$f"; done && exec "$@"', "sh", *cmd]
        self.server = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        line = wait_line(self.tmp / f"{self.name}.out", r'"port"\s*:\s*\d+', 20, self.server)
        if not line:
            raise SystemExit(f"density: {self.name} did not report its port:\n"
                             + (self.tmp / f"{self.name}.err").read_text()[-2000:])
        port = int(re.search(r'"port"\s*:\s*(\d+)', line).group(1))
        self.pid = self.server.pid
        self.url = f"ws://127.0.0.1:{port}/"
        log(f"{self.name}: pid {self.pid} in cgroup v{self.cgroup.version} {self.cgroup.dir}, {self.url}")

    def open_more(self, target, open_now):
        """Opens clients until `target` connections are held; returns (open, failed)."""
        failed = 0
        while open_now < target:
            k = len(self.clients)
            count = min(PER_CLIENT, target - open_now)
            # Each client gets its own source addresses: a 4-tuple needs a free port per pair.
            first = 1 + k * 2
            ips = ",".join(f"127.0.0.{first + i}" for i in range(2))
            out = self.tmp / f"{self.name}.client{k}.out"
            proc = subprocess.Popen(
                [str(self.args.client), "--connections", str(count), "--rate", str(self.args.rate),
                 "--source-ips", ips, "--timeout", str(count // self.args.rate + 60), "--hold", "7200",
                 "--max-failures", str(max(100, count // 100)), self.url],
                stdin=subprocess.DEVNULL, stdout=open(out, "w"), stderr=open(self.tmp / f"{self.name}.client{k}.err", "w"))
            self.clients.append(proc)
            line = wait_line(out, r"^READY ", count // self.args.rate + 90, proc)
            if not line:
                log(f"{self.name}: client {k} did not reach {count} connections: "
                    + (self.tmp / f"{self.name}.client{k}.err").read_text()[-500:])
                failed += count
                break
            opened = int(re.search(r"open=(\d+)", line).group(1))
            failed += int(re.search(r"failed=(\d+)", line).group(1))
            open_now += opened
        return open_now, failed

    def sample(self, target, open_now, failed):
        time.sleep(self.args.settle)
        alive = (self.server.poll() is None) if self.server else Path(f"/proc/{self.pid}").exists()
        rss, pss = rss_pss(self.pid)
        kern, tcp, usage = self.cgroup.kernel() if self.cgroup else (0, 0, 0)
        row = {"server": self.name, "connections": target, "open": open_now, "failed": failed, "rss_bytes": rss,
               "pss_bytes": pss, "cg_kernel_bytes": kern, "cg_tcp_bytes": tcp, "cg_usage_bytes": usage,
               "alive": int(alive), **system_figures()}
        log(f"{self.name}: {open_now:>7} open: rss {rss / 2**20:8.1f} MiB, kernel {(kern + tcp) / 2**20:8.1f} MiB")
        return row

    def measure(self, steps):
        rows, open_now, failed = [], 0, 0
        try:
            self.start_server()  # inside: a server that fails to start still has its cgroup removed
            for target in steps:
                open_now, f = self.open_more(target, open_now)
                failed += f
                rows.append(self.sample(target, open_now, failed))
                if not rows[-1]["alive"] or f:
                    log(f"{self.name}: stopping at {open_now} connections ({'server died' if not rows[-1]['alive'] else 'connections refused'})")
                    break
            self.oom = self.cgroup.oom_events() if self.cgroup else 0
        finally:
            for c in self.clients:
                stop(c)
            stop(self.server)
            if self.cgroup:
                if self.server is None and self.pid:
                    self.cgroup.put_back(self.pid)  # a process this script did not start
                else:
                    self.cgroup.kill_rest()
                self.cgroup.remove()
        return rows


def machine_description():
    cpu = ""
    try:
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    except (OSError, AttributeError):
        pass
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024
    return f"{os.cpu_count()} CPUs ({cpu}), {mem} MiB, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser(prog="scripts/density.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max", type=int, default=40000, help="largest connection count (default 40000)")
    ap.add_argument("--steps", help="comma-separated connection counts (default: 0,10k,20k,40k,... up to --max)")
    ap.add_argument("--server", choices=["ringws", "node-ws"], default="ringws", help="server to start (default ringws)")
    ap.add_argument("--compare", choices=["node-ws"], help="measure this server too, in the same run, and print ratios")
    ap.add_argument("--server-args", default="", help="extra ringws arguments, e.g. \"--backend epoll\" "
                    "(added to every --config)")
    ap.add_argument("--config", action="append", default=[], metavar="NAME='ARGS'",
                    help="a ringws configuration, named NAME in the tables (repeatable; e.g. "
                         "--config io_uring='--backend io_uring' --config epoll='--backend epoll')")
    ap.add_argument("--binary", default=str(REPO / "build" / "ringws"))
    ap.add_argument("--client", default=str(REPO / "build" / "bench" / "ringws-idle-clients"))
    ap.add_argument("--threads", type=int, default=0, help="ringws reactors (default: enough tables for --max)")
    ap.add_argument("--pid", type=int, help="measure this running server instead of starting one (needs --url)")
    ap.add_argument("--url", help="ws:// URL of the server given by --pid")
    ap.add_argument("--cgroup", help="with --pid: the server's own memory cgroup directory, for its kernel figure "
                    "(without it, the process is moved into a memory cgroup of its own for the measurement, and "
                    "back after)")
    ap.add_argument("--t3medium", action="store_true", help="limit the server's cgroup to 4 GiB and 2 CPUs")
    ap.add_argument("--rate", type=int, default=5000, help="connections opened per second per client process")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds to wait at each step before sampling")
    ap.add_argument("--port", type=int, default=0, help="port of the server(s) it starts (default: one picked "
                    "for each)")
    ap.add_argument("--profile", default="auto", help="kernel profile applied for the run (scripts/tuning/profiles/, "
                    "restored after it): a name, none, or auto (default): many-conns above 100,000 connections "
                    "(connection tracking, file-max, backlogs), none below")
    ap.add_argument("--high-water", type=int, help="ringws --memory-high-water PCT (default with --t3medium: 98, "
                    "so that the governor refuses only in the last 2%% of the 4 GiB; otherwise ringws's own)")
    ap.add_argument("--state-file", default=str(profiles.STATE_FILE), help=argparse.SUPPRESS)
    ap.add_argument("--out", help="output directory (default results/density-<time>)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("density: needs root (memory cgroups)")
    if args.pid and not args.url:
        raise SystemExit("density: --pid needs --url")
    if not Path(args.client).exists():
        raise SystemExit(f"density: no client at {args.client}: cmake --build build --target ringws-idle-clients")
    steps = [int(s) for s in args.steps.split(",")] if args.steps else report.default_steps(args.max)
    args.max = max(steps)
    out = Path(args.out or REPO / "results" / time.strftime("density-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "logs"
    tmp.mkdir(exist_ok=True)

    high_water = args.high_water if args.high_water is not None else (98 if args.t3medium else None)
    if high_water is not None:
        args.server_args = " ".join(filter(None, [f"--memory-high-water {high_water}", args.server_args]))
    profile = args.profile
    if profile == "auto":
        profile = "many-conns" if args.max > 100000 else "none"
    try:
        ringws = [(n, "ringws", " ".join(filter(None, [a, args.server_args])))
                  for n, a in [probe.parse_named(c, "--config") for c in args.config] or [("ringws", "")]]
    except ValueError as e:
        raise SystemExit(f"density: {e}")
    node = [("node-ws", "node-ws", "")]
    servers = ringws if args.server == "ringws" else node
    if args.compare == "node-ws" and args.server != "node-ws":
        servers = servers + node
    if args.server == "node-ws" and args.config:
        servers = servers + ringws
    if len({n for n, _, _ in servers}) != len(servers):
        raise SystemExit(f"density: two servers share a name: {[n for n, _, _ in servers]}")
    # Each server it starts gets its own port, known before the profile is applied (a
    # conntrack exemption names the port); a server given by --pid keeps the port of --url.
    ports = {}
    for i, (name, _, _) in enumerate(servers):
        if i == 0 and args.pid:
            m = re.search(r":(\d+)", args.url.split("//", 1)[-1])
            ports[name] = int(m.group(1)) if m else 80
        elif args.port:
            ports[name] = args.port
        elif profile != "none":
            ports[name] = probe.free_port()
        else:
            ports[name] = 0
    rows_by_server, fits, notes = {}, {}, []
    if profile != "none":
        notes.append(f"kernel profile {profile} applied for the run (scripts/tuning/profiles/{profile}), restored after")
    try:
        with profiles.trap_signals(), (profiles.Applied(profile, [p for p in ports.values() if p],
                                                        state_file=args.state_file)
                                       if profile != "none" else contextlib.nullcontext()):
            measure_all(args, servers, steps, tmp, ports, rows_by_server, fits, notes)
    except profiles.ProfileError as e:
        raise SystemExit(f"density: {e}")
    except profiles.Interrupted as e:
        raise SystemExit(f"density: interrupted by signal {e.signum}; servers, clients and the profile are undone")
    write_report(args, servers, out, rows_by_server, fits, notes)


def measure_all(args, servers, steps, tmp, ports, rows_by_server, fits, notes):
    for name, kind, extra in servers:
        args.port = ports[name]
        run = Run(args, name, tmp, kind, extra)
        if name != servers[0][0]:
            run.pid, run.url = None, None  # --pid/--url name the first server only
        server_steps = steps
        if kind == "node-ws" and max(steps) > NODE_MAX:
            # ringws's direct descriptors escape the process's file table; Node's sockets do not.
            server_steps = [n for n in steps if n <= NODE_MAX] + ([NODE_MAX] if NODE_MAX not in steps else [])
            notes.append(f"node-ws: measured up to {NODE_MAX:,} connections (its open-files limit here)")
            log(notes[-1])
        rows = run.measure(server_steps)
        rows_by_server[name] = rows
        if args.pid and name == servers[0][0]:
            notes.append(f"{name}: a running process (pid {args.pid}), measured in "
                         + (f"its cgroup {args.cgroup}" if args.cgroup else "a memory cgroup of its own, made for the "
                            "measurement (it was moved in, and back out after; what it held before the move stays "
                            "charged where it was, so the fixed base lacks that part of its kernel memory)"))
        if args.t3medium:
            last = rows[-1]
            notes.append(f"{name}: {'OOM-killed' if run.oom else 'not OOM-killed'}, "
                         f"{'died' if not last['alive'] else 'alive'} at {last['open']:,} open, "
                         f"{last['failed']} connections refused or failed")
        try:
            fits[name] = report.fit(rows)
        except ValueError as e:
            raise SystemExit(f"density: {name}: {e} (open: {[r['open'] for r in rows]})")


def write_report(args, servers, out, rows_by_server, fits, notes):
    all_rows = [r for rows in rows_by_server.values() for r in rows]
    report.write_rows(out / "density.csv", all_rows)
    report.plot(rows_by_server, out / "density.png")
    command = "scripts/density.sh " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    (out / "summary.md").write_text(report.markdown(fits, machine_description(), command,
                                                     "; ".join(notes) if args.t3medium else None,
                                                     notes if not args.t3medium else None))
    print((out / "summary.md").read_text())
    print(f"files: {out}/density.csv {out}/density.png {out}/summary.md")
    print(report.summary_line(fits[servers[0][0]]))


if __name__ == "__main__":
    main()
