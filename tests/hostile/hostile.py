"""Helpers for the hostile-client tests: the backends the binary offers, ringws-load runs in
the background, a control client that keeps checking echoes on its own thread, the server's
memory, /metrics, and a cgroup v1 memory group to cap the server in.

Every child is started here and stopped by its PID; every wait has a bound, so that a hang
fails a test instead of blocking the run. No assertion depends on timing.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _p in (REPO / "tests" / "integration", REPO / "tests" / "integration" / "chat"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from chat_client import Metrics, http_get  # noqa: E402
from rawws import OP_BINARY, OP_TEXT, RawWS  # noqa: E402
from ringws_server import ringws_binary  # noqa: E402

MiB = 1 << 20


# --- backends -------------------------------------------------------------------------------

def offered_backends():
    """The backends `ringws --help` lists for --backend (without auto), or None when the binary
    has no --backend flag (it then picks its backend itself: io_uring, or epoll if refused)."""
    text = subprocess.run([str(ringws_binary()), "--help"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"--backend\s+([A-Za-z0-9_|]+)", text)
    if not m:
        return None
    names = [n for n in m.group(1).split("|") if n and n != "auto" and not n.isupper()]
    return names or ["io_uring", "epoll"]


def requested_backends():
    """$RINGWS_BACKENDS (a comma list) restricts the backends tested; None when unset."""
    raw = os.environ.get("RINGWS_BACKENDS", "").strip()
    return [b.strip() for b in raw.split(",") if b.strip()] or None


# --- the server's memory --------------------------------------------------------------------

def rss_bytes(pid):
    """VmRSS of a live process, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class PeakRss:
    """Samples a process's VmRSS every `interval` seconds on a thread, keeping the peak; stops
    by itself when the process is gone."""

    def __init__(self, pid, interval=0.05):
        self.pid, self.interval = pid, interval
        self.start = self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, AssertionError):
                return

    def stop(self):
        self._stop.set()
        self._t.join(5)
        try:
            self.peak = max(self.peak, rss_bytes(self.pid))
        except (OSError, AssertionError):
            pass
        return self.peak

    @property
    def growth(self):
        return self.peak - self.start


def scrape(server):
    status, _, body = http_get(server, "/metrics", admin=True)
    assert status == 200, f"GET /metrics answered {status}"
    return Metrics(body.decode())


def metric(server, name, **labels):
    return scrape(server).get(name, **labels)


def wait_for_metric(server, name, predicate, timeout, what):
    """Polls /metrics until predicate(value) holds; returns the value, or fails naming `what`
    and the last value seen."""
    deadline = time.monotonic() + timeout
    value = None
    while True:
        value = metric(server, name)
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: {name} is still {value:g} after {timeout:g} s")
        time.sleep(0.2)


# --- ringws-load ----------------------------------------------------------------------------

def load_bin():
    p = Path(os.environ.get("RINGWS_LOAD_BIN", REPO / "build" / "bench" / "ringws-load"))
    return p if p.is_absolute() else Path.cwd() / p


class Load:
    """ringws-load running in the background: stdout (READY, the summary) and stderr to files,
    the --json summary read once it has exited. Stopped by PID."""

    def __init__(self, mode, url, *args):
        self.dir = tempfile.TemporaryDirectory(prefix="ringws-hostile-load-")
        d = Path(self.dir.name)
        self.json_path, self.out_path, self.err_path = d / "summary.json", d / "out.log", d / "err.log"
        self.cmd = [str(load_bin()), mode, "--url", url, "--json", str(self.json_path), "--quiet", *map(str, args)]
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.summary = None

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def wait_ready(self, timeout):
        """The READY line's (open, failed), once every connection is resolved."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stdout().splitlines():
                m = re.match(r"READY open=(\d+) failed=(\d+)$", line)
                if m:
                    return int(m.group(1)), int(m.group(2))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"ringws-load printed no READY within {timeout} s: {' '.join(self.cmd)}\n"
                             f"stdout:\n{self.stdout()}\nstderr:\n{self.stderr()[-2000:]}")

    def wait(self, timeout):
        """Waits for the run to end by itself; returns its --json summary."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"ringws-load did not end within {timeout} s: {' '.join(self.cmd)}")
        return self._finish()

    def stop(self, timeout=40):
        """SIGINT by PID (the run ends early and still reports), then the summary."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self._finish()

    def _finish(self):
        err = self.stderr()
        assert "Sanitizer" not in err, err[-4000:]
        if self.summary is None and self.json_path.exists():
            self.summary = json.loads(self.json_path.read_text())
        assert self.summary is not None, (f"ringws-load wrote no summary (exit {self.proc.returncode}): "
                                          f"{' '.join(self.cmd)}\n{self.stdout()}\n{err[-2000:]}")
        return self.summary

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.dir.cleanup()


# --- the control client ---------------------------------------------------------------------

class ControlClient:
    """A well-behaved client connected before an attack. On its own thread it sends a message,
    waits for its echo (echo app: the same binary message; chat: its publish coming back from
    its own room), and again, until stopped. Each round trip is checked and counted under the
    phase set by mark(); the first failure ends the loop and is kept with its phase."""

    def __init__(self, server, app="echo", reply_timeout=30.0, pause=0.05):
        self.app, self.reply_timeout, self.pause = app, reply_timeout, pause
        self.room = f"control{os.getpid()}x{id(self) & 0xffff:x}"
        path = f"/ws?room={self.room}" if app == "chat" else "/"
        self.ws = RawWS.connect(server.host, server.port, path=path, timeout=reply_timeout)
        if app == "chat":
            hello = json.loads(self.ws.recv_message()[1])
            assert hello.get("type") == "hello", hello
            joined = json.loads(self.ws.recv_message()[1])
            assert is_joined(joined, self.room), joined
        self.phase = "before"
        self.counts = {}
        self.error = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _round_trip(self, seq):
        if self.app == "chat":
            self.ws.send_text(json.dumps({"type": "publish", "room": self.room, "data": seq}, separators=(",", ":")))
            op, payload = self.ws.recv_message(timeout=self.reply_timeout)
            msg = json.loads(payload)
            ok = op == OP_TEXT and msg.get("type") == "message" and msg.get("room") == self.room and msg.get("data") == seq
        else:
            data = b"control %d " % seq + os.urandom(16)
            self.ws.send_binary(data)
            op, payload = self.ws.recv_message(timeout=self.reply_timeout)
            ok = op == OP_BINARY and payload == data
        if not ok:
            raise AssertionError(f"wrong reply to control message {seq}: {payload[:100]!r}")

    def _run(self):
        seq = 0
        while not self._stop.is_set():
            phase = self.phase
            try:
                self._round_trip(seq)
            except Exception as e:  # the loop ends; check() reports it
                self.error = (phase, f"{type(e).__name__}: {e}")
                return
            self.counts[phase] = self.counts.get(phase, 0) + 1
            seq += 1
            self._stop.wait(self.pause)

    def mark(self, phase):
        self.phase = phase

    def wait_echoes(self, phase, n, timeout=60):
        """Waits until `n` round trips completed in `phase` (or the client failed)."""
        deadline = time.monotonic() + timeout
        while self.counts.get(phase, 0) < n and self.error is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._t.join(self.reply_timeout + 5)
        self.ws.close()

    def check(self, *phases):
        """Fails unless every round trip succeeded and each phase saw at least one."""
        if self.error:
            phase, what = self.error
            raise AssertionError(f"the control client lost its echo {phase} the attack ({what}); round trips "
                                 f"per phase: {self.counts}")
        missing = [p for p in phases if not self.counts.get(p)]
        assert not missing, f"the control client got no echo {'/'.join(missing)} the attack: {self.counts}"


# --- cgroup v1 memory -----------------------------------------------------------------------

CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")


class MemoryCgroup:
    """A cgroup v1 memory group for one test: limit set, TCP accounting on (v1 charges a
    group's TCP buffers only once a TCP limit was written, and only for sockets created after
    that), the processes that join it recorded, and removed at the end."""

    _serial = 0

    def __init__(self, limit_bytes):
        MemoryCgroup._serial += 1
        self.path = CGROUP_V1_MEMORY / f"ringws-hostile-{os.getpid()}-{MemoryCgroup._serial}"
        self.path.mkdir()
        self.members = []
        try:
            self._write("memory.kmem.tcp.limit_in_bytes", str(1 << 40))
            self._write("memory.limit_in_bytes", str(limit_bytes))
            if (self.path / "memory.memsw.limit_in_bytes").exists():
                self._write("memory.memsw.limit_in_bytes", str(limit_bytes))  # no swap to escape to
        except OSError:
            self.remove()
            raise
        self.limit = int(self.read("memory.limit_in_bytes"))
        self.oom_kills_at_start = self.oom_kills()

    def _write(self, name, value):
        (self.path / name).write_text(value)

    def read(self, name):
        return (self.path / name).read_text().strip()

    def oom_kills(self):
        """The group's oom_kill count (memory.oom_control; kernels >= 4.13)."""
        for line in self.read("memory.oom_control").splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v)
        raise AssertionError("memory.oom_control has no oom_kill line on this kernel")

    def usage(self):
        return {
            "usage": int(self.read("memory.usage_in_bytes")),
            "max_usage": int(self.read("memory.max_usage_in_bytes")),
            "kmem": int(self.read("memory.kmem.usage_in_bytes")),
            "kmem_tcp": int(self.read("memory.kmem.tcp.usage_in_bytes")),
        }

    def describe(self):
        u = self.usage()
        return (f"cgroup limit {self.limit / 1e6:.0f} MB: peak {u['max_usage'] / MiB:.1f} MiB, now "
                f"{u['usage'] / MiB:.1f} MiB (kernel {u['kmem'] / MiB:.1f} MiB, TCP {u['kmem_tcp'] / MiB:.1f} MiB), "
                f"oom_kill {self.oom_kills_at_start} -> {self.oom_kills()}")

    def preexec(self):
        """A preexec_fn: the child joins the group before it execs."""
        procs = str(self.path / "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return join

    def pids(self):
        return [int(p) for p in self.read("cgroup.procs").split()]

    def remove(self):
        """Kills what is left of the processes this test put in the group (by PID, only those),
        then removes it, retrying while the kernel lets go of them."""
        if not self.path.exists():
            return
        for pid in self.pids():
            if pid in self.members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        while True:
            try:
                self.path.rmdir()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def cgroup_v1_unavailable():
    """Why a memory cgroup cannot be made here, or None."""
    if not (CGROUP_V1_MEMORY / "memory.limit_in_bytes").exists():
        return f"no cgroup v1 memory controller at {CGROUP_V1_MEMORY}"
    if not (CGROUP_V1_MEMORY / "memory.kmem.tcp.limit_in_bytes").exists():
        return "cgroup v1 memory without kmem.tcp accounting (kernel socket memory would not be charged)"
    if not os.access(CGROUP_V1_MEMORY, os.W_OK):
        return f"{CGROUP_V1_MEMORY} is not writable (run as root)"
    return None


# --- one attack, and everyone around it -----------------------------------------------------

class Scene:
    """What surrounds one attack: `bystanders` idle connections (ringws-load idle) and a control
    client opened before it, the server's baseline (/metrics, VmRSS) and its peak RSS while it
    runs. problems() lists, root cause first, everything that went wrong for them."""

    def __init__(self, server, app="echo", bystanders=50, cgroup=None, path="/"):
        self.server, self.app, self.cgroup, self.n_bystanders = server, app, cgroup, bystanders
        self.bystanders = None
        if bystanders:
            self.bystanders = Load("idle", server.url + path, "--connections", bystanders, "--hold", 900,
                                   "--connect-timeout", 60)
            opened, failed = self.bystanders.wait_ready(90)
            assert (opened, failed) == (bystanders, 0), f"bystanders before the attack: open={opened} failed={failed}"
        self.control = ControlClient(server, app)
        self.control.wait_echoes("before", 2, timeout=60)
        self.control.check("before")
        self.base_slots = metric(server, "ringws_slab_slots_in_use")
        self.base_open = metric(server, "ringws_connections_open")
        self.rss = PeakRss(server.proc.pid)
        self.attack = "the attack"

    def start(self, what):
        """The attack begins now: control round trips count as 'during' from here."""
        self.attack = what
        self.control.mark("during")

    def over(self):
        """The attack ended: control round trips count as 'after' from here."""
        self.control.mark("after")
        if self.server.alive():
            self.control.wait_echoes("after", 3, timeout=60)

    def death(self):
        """Why the server is gone, or None while it lives."""
        if self.server.alive():
            return None
        code = self.server.proc.returncode
        why = f"ringws died during {self.attack} (exit status {code})"
        if self.cgroup is not None:
            kills = self.cgroup.oom_kills() - self.cgroup.oom_kills_at_start
            if kills:
                why = (f"ringws was OOM-killed in its {self.cgroup.limit / 1e6:.0f} MB cgroup during {self.attack} "
                       f"({kills} oom_kill): it has no memory governor that refuses new work above a high-water mark")
            why += f"; {self.cgroup.describe()}"
        return why

    def problems(self, rss_budget=None, phases=("before", "during", "after")):
        """Stops the control client and the bystanders and lists what went wrong: a dead or
        OOM-killed server, an OOM kill in the cgroup, RSS growth over `rss_budget`, a control
        client that lost its echo, bystanders closed by the server."""
        out = []
        dead = self.death()
        if dead:
            out.append(dead)
        elif self.cgroup is not None and self.cgroup.oom_kills() != self.cgroup.oom_kills_at_start:
            out.append(f"the OOM killer ran in the server's cgroup during {self.attack}: {self.cgroup.describe()}")
        self.rss.stop()
        if rss_budget is not None and self.rss.growth > rss_budget:
            out.append(f"server RSS grew {self.rss.growth / MiB:.1f} MiB during {self.attack} "
                       f"({self.rss.start / MiB:.1f} -> {self.rss.peak / MiB:.1f} MiB; budget {rss_budget / MiB:.0f} MiB)")
        self.control.stop()
        try:
            self.control.check(*phases)
        except AssertionError as e:
            out.append(str(e))
        if self.bystanders is not None:
            s = self.bystanders.stop()
            c = s["counts"]
            if c["closed_by_server"] or c["open_at_stop"] != self.n_bystanders:
                out.append(f"{c['closed_by_server']} of {self.n_bystanders} connections opened before "
                           f"{self.attack} were closed by the server ({c['open_at_stop']} still open at the end)")
            self.bystanders.close()
        return out


def fail_on(problems):
    """Fails the test with every problem, root cause first (no traceback: the text says it)."""
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def is_joined(got, room):
    """A "joined" for `room` (docs/protocol.md): it carries the room's offset and epoch."""
    return (isinstance(got, dict) and got.get("type") == "joined" and got.get("room") == room
            and isinstance(got.get("offset"), int) and isinstance(got.get("epoch"), str) and got["epoch"] != "")
