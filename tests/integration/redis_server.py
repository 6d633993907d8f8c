"""A redis-server child process for the backplane tests: on a free loopback port, no
persistence (a restart loses everything, as a flushed Redis would), stopped by PID. Tests
skip with the reason when redis-server is not installed."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

START_TIMEOUT = 10.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port, *args, timeout=2.0):
    """One RESP command over a plain socket; returns the raw reply bytes (first read)."""
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        return s.recv(65536)


class RedisServer:
    def __init__(self, port=None):
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="ringws-redis-")
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.log = open(Path(self.dir) / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--protected-mode", "no"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.skip(f"redis-server exited with {self.proc.returncode}: "
                            f"{(Path(self.dir) / 'redis.log').read_text()[-2000:]}")
            try:
                if command(self.port, "PING").startswith(b"+PONG"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        pytest.skip("redis-server did not answer PING within 10 s")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill(self):
        """SIGKILL by PID (a crash); restart() brings up an empty one on the same port."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        if self.proc:
            self.proc.wait()
        self.log.close()

    def restart(self):
        self.kill()
        self.start()

    def info_commandstats(self):
        """{command: calls} from INFO commandstats."""
        out = {}
        for line in command(self.port, "INFO", "commandstats").decode(errors="replace").splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                fields = dict(kv.split("=") for kv in rest.split(","))
                out[name] = int(fields["calls"])
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
