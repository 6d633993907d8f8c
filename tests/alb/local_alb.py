"""scripts/local-alb.sh driven from a test: starts it, reads the PIDs and URLs it prints,
reads HAProxy's stats and the instances' /metrics, and stops everything by PID."""

import csv
import io
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "local-alb.sh"
DRAIN_SECONDS = 3
READY_TIMEOUT = 40.0    # two instances listening, then two health checks in a row each
STEP_TIMEOUT = 20.0     # any other wait for a condition
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def ringws_binary():
    path = Path(os.environ.get("RINGWS_BIN", REPO / "build" / "ringws"))
    return path if path.is_absolute() else Path.cwd() / path


def wait_for(what, predicate, timeout=STEP_TIMEOUT, interval=0.05):
    """Polls predicate() until it returns something truthy; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def http_get(url, timeout=2.0):
    """(status, body) of a GET; a refused connection raises OSError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def connections_open(base_url):
    """ringws_connections_open from an instance's /metrics (summed over labels, if any)."""
    status, body = http_get(base_url + "metrics")
    assert status == 200, f"GET {base_url}metrics answered {status}"
    values = [float(m.group(1)) for m in
              re.finditer(r"^ringws_connections_open(?:\{[^}]*\})?\s+(\S+)$", body, re.M)]
    assert values, f"no ringws_connections_open in {base_url}metrics:\n{body[:2000]}"
    return int(sum(values))


class LocalAlb:
    """scripts/local-alb.sh as a child process; its stdout (a file) names the PIDs and URLs."""

    def __init__(self, workdir, server_args=(), script_args=()):
        self.workdir = workdir
        self.out_path = workdir / "local-alb.out"
        self.err_path = workdir / "local-alb.err"
        args = [str(SCRIPT), "--binary", str(ringws_binary()), "--lb-port", "0", "--stats-port", "0",
                "--drain-seconds", str(DRAIN_SECONDS), "--workdir", str(workdir / "logs"),
                "--ready-timeout", str(int(READY_TIMEOUT) - 5), *script_args, "--", *server_args]
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.instances = {}   # name -> {"pid", "url", "log"}
        self.haproxy = {}
        self.redis = {}
        self.url = None
        wait_for("local-alb.sh to print READY", self._ready, timeout=READY_TIMEOUT)

    def lines(self):
        return self.out_path.read_text(errors="replace").splitlines()

    @staticmethod
    def fields(line):
        return dict(kv.split("=", 1) for kv in line.split()[1:])

    def _ready(self):
        for line in self.lines():
            kind = line.split(" ", 1)[0]
            if kind == "INSTANCE":
                f = self.fields(line)
                self.instances.setdefault(f["name"], {}).update(pid=int(f["pid"]), url=f["url"], log=f["log"])
            elif kind == "ADMIN":
                f = self.fields(line)
                self.instances.setdefault(f["name"], {})["admin_url"] = f["url"]
            elif kind == "REDIS":
                f = self.fields(line)
                self.redis = {"pid": int(f["pid"]), "url": f["url"], "log": f["log"]}
            elif kind == "HAPROXY":
                f = self.fields(line)
                self.haproxy = {"pid": int(f["pid"]), "stats": f["stats"], "log": f["log"]}
            elif kind == "READY":
                self.url = self.fields(line)["url"]
                return True
        if self.proc.poll() is not None:
            pytest.fail(f"local-alb.sh exited with {self.proc.returncode} before READY:\n"
                        f"{self.out_path.read_text()}\n{self.err_path.read_text()}", pytrace=False)
        return False

    def exit_status(self, name):
        """The exit status the script reported for an instance, or None while it runs."""
        for line in self.lines():
            if line.startswith("EXITED "):
                f = self.fields(line)
                if f["name"] == name:
                    return int(f["status"])
        return None

    def log_events(self, name, event):
        """The JSON log lines of instance `name` whose "event" is `event`."""
        found = []
        for line in Path(self.instances[name]["log"]).read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == event:
                found.append(record)
        return found

    def server_stats(self, name):
        """HAProxy's CSV row for backend server `name` as a dict (status, check_status, ...)."""
        _, text = http_get(self.haproxy["stats"] + ";csv")
        rows = list(csv.DictReader(io.StringIO(text.lstrip("# "))))
        for row in rows:
            if row["pxname"] == "ringws" and row["svname"] == name:
                return row
        raise AssertionError(f"no row ringws/{name} in HAProxy's stats:\n{text}")

    def stop(self):
        """SIGTERM to the script, which stops HAProxy and the instances by PID. Anything left
        (the script killed, or stuck) gets SIGKILL here, by the PIDs the script printed."""
        problems = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DRAIN_SECONDS + 30)
            except subprocess.TimeoutExpired:
                problems.append("local-alb.sh did not exit within its stop window")
                self.proc.kill()
                self.proc.wait()
                for pid in [i["pid"] for i in self.instances.values()] + [self.haproxy.get("pid"), self.redis.get("pid")]:
                    if pid:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        # Both instances end with status 0 (a after the test's SIGTERM, b after the script's),
        # and a sanitizer build reports nothing.
        for name, inst in sorted(self.instances.items()):
            status = self.exit_status(name)
            if status != 0:
                problems.append(f"ringws {name} exit status {status}, expected 0")
            log = Path(inst["log"]).read_text(errors="replace")
            for marker in SANITIZER_MARKERS:
                if marker in log:
                    problems.append(f"sanitizer report in ringws {name}'s log ({marker!r})")
        return problems

    def diagnostics(self):
        parts = [f"== local-alb.sh stdout\n{self.out_path.read_text(errors='replace')}",
                 f"== local-alb.sh stderr\n{self.err_path.read_text(errors='replace')}"]
        for name, inst in sorted(self.instances.items()):
            parts.append(f"== ringws {name} log (tail)\n{Path(inst['log']).read_text(errors='replace')[-3000:]}")
        if self.haproxy:
            parts.append(f"== haproxy log (tail)\n{Path(self.haproxy['log']).read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def is_joined(got, room):
    """A "joined" for `room` (docs/protocol.md): it carries the room's offset and epoch."""
    return (isinstance(got, dict) and got.get("type") == "joined" and got.get("room") == room
            and isinstance(got.get("offset"), int) and isinstance(got.get("epoch"), str) and got["epoch"] != "")
