"""What the measuring scripts read about a server under test, and how they start one.

Pure parsers (tested in tests/scripts/test_server_probe.py with recorded fixtures):
  parse_proc_stat      /proc/PID/stat: utime and stime (all threads, clock ticks), ppid, comm
  parse_schedstat      /proc/PID/task/TID/schedstat: nanoseconds on a CPU
  parse_ss_tcp_info    `ss -Htin ...`: per socket, segs_out, data_segs_out, bytes_sent, ...
  socket_deltas        the growth of those counters between two samples, socket by socket
  parse_named          NAME=VALUE option values (--config, --peer)
  parse_sync           ringws-load's "SYNC <phase> key=value ..." lines (--phase-sync)
and the small readers around them (cpu_sample, ss_sample, machine), a server starter that
substitutes {port} in a command and waits for the listening socket, and SyncedLoad, which
runs ringws-load --phase-sync and lets the caller sample the server between its phases.
"""

import os
import platform
import queue
import random
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
SS_FIELDS = ("segs_out", "data_segs_out", "segs_in", "data_segs_in", "bytes_sent", "bytes_acked", "bytes_retrans",
             "retrans_segs")


# --- /proc -------------------------------------------------------------------------------

def parse_proc_stat(text):
    """/proc/PID/stat -> {pid, comm, state, ppid, utime, stime} (times in clock ticks, for the
    whole process: every thread, live or exited). comm may hold spaces and parentheses: it
    ends at the last ')'."""
    head, _, rest = text.rpartition(")")
    pid, _, comm = head.partition(" (")
    f = rest.split()
    # After the comm: state(3) ppid(4) ... utime(14) stime(15), 1-based as in proc(5).
    return {"pid": int(pid), "comm": comm, "state": f[0], "ppid": int(f[1]), "utime": int(f[11]),
            "stime": int(f[12])}


def parse_schedstat(text):
    """/proc/PID/task/TID/schedstat -> nanoseconds spent on a CPU (the first field)."""
    return int(text.split()[0])


def process_tree(pid, proc=Path("/proc")):
    """`pid` and its descendants, from the ppid fields of /proc/*/stat."""
    children = {}
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = parse_proc_stat((d / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(st["ppid"], []).append(st["pid"])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_sample(pid, proc=Path("/proc")):
    """CPU used so far by `pid` and its descendants: user and system seconds from
    /proc/PID/stat (clock ticks), and the on-CPU seconds of the live threads from
    schedstat (nanoseconds: the finer total)."""
    user = system = sched_ns = 0
    pids = process_tree(pid, proc)
    for p in pids:
        try:
            st = parse_proc_stat((proc / str(p) / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
        user += st["utime"]
        system += st["stime"]
        try:
            for t in (proc / str(p) / "task").iterdir():
                sched_ns += parse_schedstat((t / "schedstat").read_text())
        except OSError:
            pass
    return {"user_s": user / CLK_TCK, "sys_s": system / CLK_TCK, "sched_s": sched_ns / 1e9, "pids": len(pids),
            "t": time.monotonic()}


def cpu_delta(before, after):
    return {k: after[k] - before[k] for k in ("user_s", "sys_s", "sched_s", "t")}


# --- ss ------------------------------------------------------------------------------------

_ADDR = re.compile(r"^\S+\s+\S+\s+(\S+)\s+(\S+)")
_KV = re.compile(r"\b(" + "|".join(SS_FIELDS) + r"):(\d+)")
_RETRANS = re.compile(r"\bretrans:\d+/(\d+)")  # retransmits outstanding / in all


def parse_ss_tcp_info(text):
    """`ss -Htin state established ...` -> {(local, peer): {field: int}}. Each socket is a
    line "Recv-Q Send-Q Local Peer" followed by an indented line of TCP_INFO figures; ss
    leaves out a counter that is 0, so every field in SS_FIELDS defaults to 0. retrans_segs is
    the total of "retrans:N/TOTAL"."""
    out, key = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            m = _ADDR.match(line)
            if m and not line.startswith(("Recv-Q", "State")):
                key = (m.group(1), m.group(2))
                out[key] = {f: 0 for f in SS_FIELDS}
            else:
                key = None
            continue
        if key is not None:
            for name, value in _KV.findall(line):
                out[key][name] = int(value)
            m = _RETRANS.search(line)
            if m:
                out[key]["retrans_segs"] = int(m.group(1))
    return out


def socket_deltas(before, after):
    """The growth of each counter, summed over the sockets present in both samples, and how
    many sockets were in each: {field: delta, "sockets_before", "sockets_after", "sockets_both"}."""
    both = before.keys() & after.keys()
    out = {f: sum(after[k][f] - before[k][f] for k in both) for f in SS_FIELDS}
    out.update(sockets_before=len(before), sockets_after=len(after), sockets_both=len(both))
    return out


def ss_sample(port):
    """The server's established sockets on `port` (its own ends: source port = port)."""
    r = subprocess.run(["ss", "-Htin", "state", "established", f"( sport = :{port} )"], capture_output=True,
                       text=True, check=True, timeout=60)
    return parse_ss_tcp_info(r.stdout)


def listening(port):
    r = subprocess.run(["ss", "-Hltn", f"( sport = :{port} )"], capture_output=True, text=True, timeout=30)
    return bool(r.stdout.strip())


# --- options -------------------------------------------------------------------------------

def parse_named(text, what):
    """'NAME=VALUE' -> (NAME, VALUE), for --config NAME='ARGS' and --peer NAME='CMD {port}'."""
    name, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        raise ValueError(f"{what} wants NAME=VALUE with NAME of letters, digits, _ . + -: got {text!r}")
    return name, value


# --- servers ---------------------------------------------------------------------------------

def free_port():
    """A free TCP port below the ephemeral range, so that no client connection can take it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(10000, max(10001, low))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if not listening(port):
            return port
    raise RuntimeError("no free port found")


class Server:
    """A server started from `argv`, whose items may hold {port}. The command runs without a
    shell, so its PID is the server's (cpu_sample also counts its descendants)."""

    def __init__(self, name, argv, logdir, port=None, timeout=20):
        self.name, self.port = name, port or free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.log = Path(logdir) / f"{name}.out"
        with open(self.log, "a") as out:
            out.write(f"# {shlex.join(self.argv)}\n")
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if listening(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{name} did not listen on port {self.port}: {shlex.join(self.argv)}\n"
                           + self.log.read_text()[-2000:])

    @property
    def pid(self):
        return self.proc.pid

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/"

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ringws_argv(binary, app, threads, extra):
    """ringws on loopback at {port}; `extra` (a string, split like a shell) comes last."""
    return [str(binary), "--app", app, "--host", "127.0.0.1", "--port", "{port}", "--admin-listen", "off", "--threads", str(threads),
            "--drain-seconds", "1", *shlex.split(extra or "")]


# --- ringws-load in phases ----------------------------------------------------------------

class SyncedLoad:
    """ringws-load with --phase-sync, its SYNC lines read by a thread (bounded waits)."""

    def __init__(self, argv, stderr_path):
        self.err = open(stderr_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True, bufsize=1)
        self.lines = queue.Queue()
        self.stdout = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.stdout.append(line)
            if line.startswith("SYNC "):
                self.lines.put(line)
        self.lines.put(None)

    def next_sync(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"no SYNC line from ringws-load within {timeout:.0f} s")
        if line is None:
            raise RuntimeError("ringws-load ended early:\n" + "".join(self.stdout)[-2000:])
        return parse_sync(line)

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout=90):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        return self.proc.returncode


def parse_sync(line):
    """'SYNC done clients=3 ... measure_s=1.5' -> ('done', {'clients': 3, ..., 'measure_s': 1.5})."""
    phase, *pairs = line.split()[1:]
    return phase, {k: (float(v) if "." in v else int(v)) for k, v in (p.split("=", 1) for p in pairs)}


# --- the machine -----------------------------------------------------------------------------

def machine():
    cpu = "?"
    try:
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = m.group(1) if m else cpu
    except OSError:
        pass
    distro = ""
    try:
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
        distro = m.group(1) if m else ""
    except OSError:
        pass
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "distro": distro, "mem_mib": mem,
            "hostname": platform.node(), "loadavg": loadavg()}


def loadavg():
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine_text(m):
    return (f"{m['cores']} CPUs ({m['cpu']}), {m['mem_mib']} MiB, Linux {m['kernel']}"
            + (f", {m['distro']}" if m.get("distro") else ""))
