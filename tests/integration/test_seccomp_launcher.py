"""tests/tools/seccomp_exec.py itself: the listed system calls answer the chosen errno, the
others do not, the filter reaches the command's children, and the command's exit status
comes back. A child python calls io_uring's system calls through ctypes."""

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

from seccomp_filter import LAUNCHER, PYTHON, unavailable_reason, wrapper

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))

# Calls each io_uring system call once and prints {name: errno or 0}. io_uring's numbers are
# the same on every architecture but alpha. io_uring_setup gets valid arguments (1 entry,
# zeroed params), so without a filter it succeeds; the other two get fd -1, which the kernel
# refuses with an errno of its own (EBADF, or EINVAL for register's empty arguments).
PROBE = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
params = ctypes.create_string_buffer(120)
calls = {
    "io_uring_setup": (425, ctypes.c_long(1), params),
    "io_uring_enter": (426, ctypes.c_long(-1), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0),
                       ctypes.c_void_p(None), ctypes.c_long(0)),
    "io_uring_register": (427, ctypes.c_long(-1), ctypes.c_long(0), ctypes.c_void_p(None), ctypes.c_long(0)),
}
out = {}
for name, args in calls.items():
    ctypes.set_errno(0)
    r = libc.syscall(*args)
    out[name] = ctypes.get_errno() if r < 0 else 0
    if r >= 0 and name == "io_uring_setup":
        os.close(r)
out["getpid_ok"] = libc.syscall(39) == os.getpid()
print(json.dumps(out))
"""
FILTER_ERRNOS = (errno.EPERM, errno.ENOSYS)


def probe(prefix=()):
    r = subprocess.run([*prefix, sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def io_uring_disabled():
    p = Path("/proc/sys/kernel/io_uring_disabled")
    return p.is_file() and p.read_text().strip() != "0"


def test_without_a_filter_io_uring_answers():
    if io_uring_disabled():
        pytest.skip("kernel.io_uring_disabled is set: io_uring_setup fails without any filter")
    got = probe()
    assert got["io_uring_setup"] == 0, got
    assert got["io_uring_enter"] not in FILTER_ERRNOS, got
    assert got["io_uring_register"] not in FILTER_ERRNOS, got


@pytest.mark.parametrize("name", ["EPERM", "ENOSYS"])
def test_denied_calls_answer_the_errno(name):
    got = probe(wrapper(name))
    want = getattr(errno, name)
    assert got["io_uring_setup"] == want, got
    assert got["io_uring_enter"] == want, got
    assert got["io_uring_register"] == want, got
    assert got["getpid_ok"], "other system calls are allowed"


def test_only_the_listed_calls_are_denied():
    got = probe(wrapper("EPERM", deny=["io_uring_setup"]))
    assert got["io_uring_setup"] == errno.EPERM, got
    assert got["io_uring_enter"] not in FILTER_ERRNOS, got
    assert got["io_uring_register"] not in FILTER_ERRNOS, got


def test_numeric_errno():
    got = probe([PYTHON, str(LAUNCHER), "--deny", "io_uring_setup", "--errno", str(errno.EACCES), "--"])
    assert got["io_uring_setup"] == errno.EACCES, got


def test_children_inherit_the_filter():
    # The command is a python that runs the probe as its own child.
    spawn = f"import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', {PROBE!r}]))"
    r = subprocess.run([*wrapper("ENOSYS"), sys.executable, "-c", spawn], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["io_uring_setup"] == errno.ENOSYS


def test_exit_status_passes_through():
    r = subprocess.run([*wrapper("EPERM"), sys.executable, "-c", "import sys; sys.exit(7)"], timeout=30)
    assert r.returncode == 7


@pytest.mark.parametrize("args, code, message", [
    (["--deny", "io_uring_setup,no_such_call", "--", "true"], 125, "unknown system call 'no_such_call'"),
    (["--deny", "io_uring_setup", "--errno", "EWHATEVER", "--", "true"], 2, "unknown errno"),
    (["--deny", "io_uring_setup"], 2, "no command"),
    (["--deny", ",", "--", "true"], 2, "names no system call"),
    (["--", "true"], 2, "--deny"),
    (["--deny", "io_uring_setup", "--", "/nonexistent/ringws"], 127, "command not found"),
])
def test_usage_errors(args, code, message):
    r = subprocess.run([PYTHON, str(LAUNCHER), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == code, r.stderr
    assert message in r.stderr
