"""Servers and the load generator for the ringws-load integration tests.

Binaries: $RINGWS_BIN (default build/ringws) and $RINGWS_LOAD_BIN (default
build/bench/ringws-load). Node's ws peer: bench/peers/node-ws (npm ci there first).
Every child is started here and stopped by its PID; output goes to files, never pipes.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NODE_PEER = REPO / "bench" / "peers" / "node-ws"
FRAG_PEER = Path(__file__).resolve().parent / "fragmenting_server.py"
START_TIMEOUT = 15.0
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def _bin(env, default):
    p = Path(os.environ.get(env, REPO / default))
    return p if p.is_absolute() else Path.cwd() / p


def ringws_bin():
    return _bin("RINGWS_BIN", "build/ringws")


def load_bin():
    return _bin("RINGWS_LOAD_BIN", "build/bench/ringws-load")


class Peer:
    """A server child that prints {"event":"listening","port":N} on stdout."""

    def __init__(self, args, cwd=None):
        self.args = [str(a) for a in args]
        self.out = tempfile.NamedTemporaryFile(prefix="load-peer-out-", suffix=".log", delete=False)
        self.err = tempfile.NamedTemporaryFile(prefix="load-peer-err-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(self.args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err)
        self.port = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.port is None:
            for line in Path(self.out.name).read_text(errors="replace").splitlines():
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if isinstance(ev, dict) and ev.get("event") == "listening":
                    self.port = int(ev["port"])
            if self.port is None:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.args} exited early: {Path(self.err.name).read_text()}")
                time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"{self.args} printed no listening line")

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/"

    def stderr(self):
        return Path(self.err.name).read_text(errors="replace")

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.out, self.err):
            f.close()
            os.unlink(f.name)


def start_ringws(app="echo", threads=2, **options):
    args = [ringws_bin(), "--app", app, "--host", "127.0.0.1", "--port", "0", "--admin-listen", "127.0.0.1:0", "--threads", threads]
    for k, v in options.items():
        args += ["--" + k.replace("_", "-"), v]
    return Peer(args)


def node_available():
    return shutil.which("node") is not None and (NODE_PEER / "node_modules" / "ws").is_dir()


def start_node(app="echo"):
    return Peer(["node", NODE_PEER / "server.mjs", "--app", app, "--port", "0"], cwd=NODE_PEER)


def start_fragmenting():
    return Peer(["/usr/bin/python3", FRAG_PEER])


class LoadRun:
    def __init__(self, returncode, stdout, stderr, summary):
        self.returncode, self.stdout, self.stderr, self.summary = returncode, stdout, stderr, summary

    @property
    def counts(self):
        return self.summary["counts"]


def run_load(mode, url, *args, timeout=120):
    """Runs ringws-load to completion; returns its exit code, output and --json summary."""
    with tempfile.TemporaryDirectory(prefix="ringws-load-") as d:
        js = Path(d) / "summary.json"
        cmd = [str(load_bin()), mode, "--url", url, "--json", str(js), *map(str, args)]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        summary = json.loads(js.read_text()) if js.exists() else None
    for m in SANITIZER_MARKERS:
        assert m not in p.stderr, p.stderr
    return LoadRun(p.returncode, p.stdout, p.stderr, summary)


def start_load(mode, url, *args, json_path):
    """Starts ringws-load in the background (stdout to a file); the caller stops it."""
    out = tempfile.NamedTemporaryFile(prefix="ringws-load-out-", suffix=".log", delete=False)
    cmd = [str(load_bin()), mode, "--url", url, "--json", str(json_path), "--quiet", *map(str, args)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return proc, Path(out.name)


def wait_for_line(path, prefix, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"no '{prefix}' line; output:\n{path.read_text(errors='replace')}")


def established(port):
    """Established TCP sockets whose local port is `port` (the server's ends), from ss."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())


class SyncedLoad:
    """ringws-load with --phase-sync: stdin and stdout are pipes; `next_sync()` returns the
    next "SYNC ..." line as (phase, {key: int or float}) and `go()` lets the run go on."""

    def __init__(self, mode, url, *args, json_path):
        cmd = [str(load_bin()), mode, "--url", url, "--json", str(json_path), "--quiet", "--phase-sync",
               "--sync-timeout", "30", *map(str, args)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)

    def next_sync(self):
        for line in self.proc.stdout:  # bounded by --sync-timeout and the tool's own deadlines
            if line.startswith("SYNC "):
                phase, *pairs = line.split()[1:]
                return phase, {k: (float(v) if "." in v else int(v)) for k, v in (p.split("=", 1) for p in pairs)}
        raise AssertionError("ringws-load ended without another SYNC line: " + self.proc.stderr.read())

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        self.proc.stdin.close()
        rest = self.proc.stdout.read()
        self.proc.wait(timeout)
        return rest
