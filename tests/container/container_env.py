"""Helpers for the container tests: the engine, --ulimit flags within this machine's hard
limits, and a detached container on the host's network."""

import os
import resource
import shlex
import shutil
import subprocess
import time

from ringws_server import json_lines

START_TIMEOUT = 60.0


def engine_name():
    name = os.environ.get("RINGWS_CONTAINER_ENGINE")
    if name:
        return name
    for candidate in ("podman", "docker"):
        if shutil.which(candidate):
            return candidate
    return None


def ulimit_args():
    """--ulimit flags within this machine's hard limits (as scripts/container.sh passes)."""
    if os.environ.get("RINGWS_CONTAINER_ULIMITS"):
        return shlex.split(os.environ["RINGWS_CONTAINER_ULIMITS"])

    def cap(hard, most):
        return most if hard == resource.RLIM_INFINITY or hard > most else hard

    nofile = cap(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1048576)
    nproc = cap(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


class Container:
    """One detached container on the host's network (no NAT: the ports are the host's, as an
    awsvpc task's are its ENI's). logs() reads its output; stop() is the engine's stop (the
    image's STOPSIGNAL, SIGTERM) and returns the exit code."""

    def __init__(self, engine, image, args=(), engine_args=(), entrypoint=None):
        self.engine = engine
        cmd = [engine, "run", "-d", "--network", "host", *ulimit_args(), *engine_args]
        if entrypoint:
            cmd += ["--entrypoint", entrypoint]
        cmd += [image, *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
        self.id = r.stdout.strip().splitlines()[-1]
        self.cmd = cmd
        self.listening = None
        self.port = None
        self.admin_port = None

    def logs(self):
        r = subprocess.run([self.engine, "logs", self.id], capture_output=True, text=True, timeout=60)
        return r.stdout + r.stderr

    def events(self, name=None):
        return json_lines(self.logs(), name)

    def state(self):
        r = subprocess.run([self.engine, "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.id],
                           capture_output=True, text=True, timeout=60)
        status, code = r.stdout.split()
        return status, int(code)

    def wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            found = self.events("listening")
            if found:
                self.listening = found[0]
                self.port = int(self.listening["port"])
                self.admin_port = int(self.listening.get("admin_port") or 0) or None
                return self
            status, code = self.state()
            if status in ("exited", "stopped"):
                raise RuntimeError(f"the container exited ({code}) before listening:\n{self.logs()}")
            time.sleep(0.1)
        raise RuntimeError(f"no listening line within {START_TIMEOUT} s:\n{self.logs()}")

    def stop(self, timeout=30):
        subprocess.run([self.engine, "stop", "-t", str(timeout), self.id], capture_output=True, text=True,
                       timeout=timeout + 60)
        return self.state()[1]

    def remove(self):
        subprocess.run([self.engine, "rm", "-f", self.id], capture_output=True, text=True, timeout=120)
