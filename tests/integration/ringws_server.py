"""Starts ringws as a child process for a test and stops it, checking how it ended.

The binary comes from $RINGWS_BIN (default: build/ringws at the repository root), and runs on
the backend $RINGWS_BACKEND names (io_uring or epoll; unset: the server's default). Its stdout
and stderr go to files, not pipes: a chatty server must never block on a full pipe.
"""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0  # covers the server's drain window on SIGTERM


def json_lines(text, event=None):
    """The JSON objects among `text`'s lines (other lines skipped: a container engine's or a
    wrapper's own output), only those whose "event" is `event` when one is given."""
    out = []
    for line in text.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and (event is None or e.get("event") == event):
            out.append(e)
    return out


def ringws_binary():
    path = Path(os.environ.get("RINGWS_BIN", REPO / "build" / "ringws"))
    if not path.is_absolute():
        path = Path.cwd() / path
    return path


class Server:
    def __init__(self, app="echo", threads=2, wrapper=None, preexec_fn=None, **options):
        """options map to flags: max_message=10 -> --max-message 10; trust_proxy=True -> a bare
        --trust-proxy (False or None leaves the flag out). wrapper: a command prefix that must
        exec ringws in its own process (tests/tools/seccomp_exec.py ... --), so that the PID
        signalled and waited for is the server's. preexec_fn runs in the child before exec
        (tests/hostile uses it to join a memory cgroup)."""
        self.args = list(wrapper or []) + [str(ringws_binary()), "--app", app, "--host", "127.0.0.1", "--port", "0",
                                           "--threads", str(threads)]
        # The default drain window (25 s, for an ALB) would outlast STOP_TIMEOUT.
        options.setdefault("drain_seconds", 2)
        # The admin listener (/metrics, POST /admin/drain) on a free port: tests run servers
        # side by side, and the default 9090 would clash. The demo page on, as a user runs it.
        options.setdefault("admin_listen", "127.0.0.1:0")
        options.setdefault("demo", True)
        # RINGWS_BACKEND=epoll runs a whole suite on one backend (CI runs it on both).
        if os.environ.get("RINGWS_BACKEND"):
            options.setdefault("backend", os.environ["RINGWS_BACKEND"])
        # RINGWS_SERVER_ARGS="--uring-idle-wait recv ...": extra flags for every server, to run
        # a suite under another setting (scripts/tuning.sh's modes, say).
        self.args += os.environ.get("RINGWS_SERVER_ARGS", "").split()
        for name, value in options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                self.args.append(flag)
            elif value is not None and value is not False:
                self.args += [flag, str(value)]
        self.out = tempfile.NamedTemporaryFile(prefix="ringws-out-", suffix=".log", delete=False)
        self.err = tempfile.NamedTemporaryFile(prefix="ringws-err-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err,
                                     preexec_fn=preexec_fn)
        self.host = "127.0.0.1"
        self.port = None
        self.admin_port = None  # /metrics and POST /admin/drain (the admin listener)
        self.listening = None
        self.returncode = None
        self.signaled = False
        self.expected_returncode = 0  # a test that SIGKILLs the server sets -9
        self._wait_listening()

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.stdout().splitlines():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "listening":
                    self.listening = event
                    self.port = int(event["port"])
                    self.admin_port = int(event.get("admin_port") or 0) or None
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"ringws exited with {self.proc.returncode} before listening:\n"
                                   f"{' '.join(self.args)}\nstdout:\n{self.stdout()}\nstderr:\n{self.stderr()}")
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"ringws printed no listening line within {START_TIMEOUT}s:\n{self.stdout()}\n{self.stderr()}")

    @property
    def url(self):
        return f"ws://{self.host}:{self.port}"

    def stdout(self):
        return Path(self.out.name).read_text(errors="replace")

    def stdout_events(self):
        """stdout's complete lines parsed as JSON (a line still being written is left out)."""
        text = self.stdout()
        return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line.strip()]

    def stderr(self):
        return Path(self.err.name).read_text(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        """Sends a signal by PID; stop() then only waits and checks how it ended."""
        self.signaled = True
        self.proc.send_signal(sig)

    def stop(self):
        """SIGTERM by PID; returns a list of problems (empty when it ended cleanly)."""
        problems = []
        if self.proc.poll() is None or self.signaled:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append(f"ringws did not exit within {STOP_TIMEOUT}s of SIGTERM")
                self.proc.kill()
                self.proc.wait()
        else:
            problems.append(f"ringws had already exited (code {self.proc.returncode}) before SIGTERM")
        self.returncode = self.proc.returncode
        if self.returncode != self.expected_returncode:
            problems.append(f"ringws exit code {self.returncode}, expected {self.expected_returncode}")
        err = self.stderr()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                problems.append(f"sanitizer report on stderr ({marker!r})")
        if problems:
            problems.append(f"command: {' '.join(self.args)}\nstderr (last 4000 chars):\n{err[-4000:]}")
        for f in (self.out, self.err):
            f.close()
            if not problems:
                os.unlink(f.name)
        return problems
