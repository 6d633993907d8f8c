"""Helpers for the deployment tests: a Python that has moto (for server mode and mock_aws),
moto's server on loopback, boto3 clients against it, small HTTP stand-ins for the ECS task
metadata and container-credentials endpoints, a TCP relay that can be cut, and the drain
watcher run as a process.

The tests themselves run under Debian's /usr/bin/python3 (pytest, python3-websockets,
python3-boto3: the same boto3 the container image gives the watcher). moto 5 is not packaged
by Debian; it lives in another Python on this machine (a pyenv build), found by
moto_python(): $RINGWS_MOTO_PYTHON, else every python3 on PATH and under ~/.pyenv/versions.
"""

import functools
import glob
import http.server
import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ringws_server import json_lines

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WATCHER = REPO / "deploy" / "aws" / "drain_watcher.py"
REGION = "us-east-1"
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def _candidates():
    seen = []
    if os.environ.get("RINGWS_MOTO_PYTHON"):
        seen.append(os.environ["RINGWS_MOTO_PYTHON"])
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "python3")
        if os.access(p, os.X_OK):
            seen.append(p)
    seen += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python3")))
    out = []
    for p in seen:
        if p not in out:
            out.append(p)
    return out


@functools.lru_cache(maxsize=1)
def moto_python():
    """A python3 that imports moto >= 5 and boto3, or None."""
    check = "import boto3, moto; raise SystemExit(0 if int(moto.__version__.split('.')[0]) >= 5 else 1)"
    for p in _candidates():
        try:
            if subprocess.run([p, "-c", check], capture_output=True, timeout=60).returncode == 0:
                return p
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it is truthy (returns its value) or `timeout` s pass (raises)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class MotoServer:
    """moto in server mode, in its own process, stopped by PID."""

    def __init__(self):
        py = moto_python()
        if py is None:
            raise RuntimeError("no Python with moto >= 5 found (set RINGWS_MOTO_PYTHON)")
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([py, str(HERE / "moto_server.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("MOTO_READY port="):
            self.stop()
            raise RuntimeError(f"moto's server did not start: {line!r}\n{Path(self.log.name).read_text()[-2000:]}")
        self.port = int(line.split("=", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, service, url=None):
        import boto3

        return boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing",
                                     aws_session_token="testing").client(service, endpoint_url=url or self.url)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


class JsonStub:
    """A tiny HTTP server on loopback answering GET `path` with a JSON document (from a
    callable), or with `status` while `failing` is set: the ECS task metadata endpoint and the
    container credentials endpoint, both of which can go away."""

    def __init__(self, documents):
        self.documents = documents  # {path: callable() -> dict}
        self.failing = threading.Event()
        self.requests = 0
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                stub.requests += 1
                make = stub.documents.get(self.path.split("?")[0])
                if stub.failing.is_set() or make is None:
                    self.send_response(500 if make else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(make()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def task_metadata(ip):
    """The part of a task metadata v4 /task document the watcher reads (awsvpc)."""
    return {"Cluster": "ringws", "TaskARN": "arn:aws:ecs:us-east-1:123456789012:task/ringws/0123",
            "Containers": [{"Name": "ringws", "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [ip]}]},
                           {"Name": "drain-watcher",
                            "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [ip]}]}]}


def container_credentials():
    """What the ECS agent's credentials endpoint answers; they expire soon, so that botocore
    fetches them again on every call (and notices when the endpoint has gone)."""
    expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
    return {"AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "testing", "Expiration": expiry,
            "RoleArn": "arn:aws:iam::123456789012:role/ringws-task"}


class Relay:
    """A TCP relay from a loopback port to `target_port`, which can be cut (its port then
    refuses connections) and restored on the same port: an endpoint that goes away."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.port = None
        self.listener = None
        self.conns = []
        self.lock = threading.Lock()
        self.open()

    def open(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port or 0))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        """Refuses new connections and breaks the open ones (kept-alive HTTP included)."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (Linux)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def restore(self):
        self.open()


class WatcherProcess:
    """deploy/aws/drain_watcher.py under Debian's python3 (python3-boto3, as in the image)."""

    def __init__(self, env, args=()):
        self.log = tempfile.NamedTemporaryFile(prefix="drain-watcher-", suffix=".log", delete=False)
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("RINGWS_")
                and k != "ECS_CONTAINER_METADATA_URI_V4"}
        # Nothing from this machine's own AWS setup: only what the test gives.
        base.update({"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
                     "AWS_EC2_METADATA_DISABLED": "true", "PYTHONUNBUFFERED": "1"})
        base.update(env)
        self.proc = subprocess.Popen(["/usr/bin/python3", str(WATCHER), *args], env=base, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        return Path(self.log.name).read_text(errors="replace")

    def events(self, name=None):
        return json_lines(self.text(), name)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM by PID; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self):
        self.log.close()
        os.unlink(self.log.name)


def have_debian_boto3():
    try:
        r = subprocess.run(["/usr/bin/python3", "-c", "import boto3"], capture_output=True, timeout=60)
    except OSError:
        return False
    return r.returncode == 0


def cfn_lint():
    """cfn-lint's path (beside moto in the same Python, or on PATH), or None."""
    py = moto_python()
    if py:
        p = Path(py).parent / "cfn-lint"
        if p.exists():
            return str(p)
    return shutil.which("cfn-lint")

