"""The backend choice under a seccomp filter that refuses io_uring, as Docker 25+ (EPERM) and
podman (ENOSYS) do: with --backend auto (the default) the server must start on epoll, say so
once in the log and in /metrics, and serve; with --backend io_uring it must refuse to start.

The --backend flag is being added with the epoll backend. Until `ringws --help` mentions it,
the tests that need it skip; the refusal under the filter (exit code 4) is checked either way.
"""

import asyncio
import errno
import functools
import os
import re
import subprocess

import pytest
import websockets

from rawws import http_exchange
from ringws_server import ringws_binary
from seccomp_filter import unavailable_reason, wrapper

EXIT_IO_URING = 4
FILTERS = ["EPERM", "ENOSYS"]
# Phrases that would claim the kernel lacks io_uring, which is false under a seccomp filter.
KERNEL_CLAIMS = re.compile(
    r"kernel (has no|lacks|does not (have|support))|no io_uring support|not (built|compiled) with", re.IGNORECASE)

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


@functools.lru_cache(maxsize=1)
def has_backend_flag():
    r = subprocess.run([str(ringws_binary()), "--help"], capture_output=True, text=True, timeout=30)
    return "--backend" in r.stdout + r.stderr


@pytest.fixture
def backend_flag():
    if not has_backend_flag():
        pytest.skip("ringws --help does not mention --backend: the epoll fallback has not landed yet")


def events(server, name):
    return [e for e in server.stdout_events() if e.get("event") == name]


def metrics(server):
    request = f"GET /metrics HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode()
    status, _, body = http_exchange(server.host, server.admin_port, request)  # the admin listener
    assert status == 200
    return body.decode()


def backend_info(text):
    """The labels of the ringws_backend_info line: {"backend": ..., "reason": ...}."""
    lines = [line for line in text.splitlines() if line.startswith("ringws_backend_info{")]
    assert len(lines) == 1, f"one ringws_backend_info line expected:\n{text}"
    m = re.fullmatch(r'ringws_backend_info\{backend="([^"]*)",reason="((?:[^"\\]|\\.)*)"\} 1', lines[0])
    assert m, lines[0]
    return {"backend": m.group(1), "reason": m.group(2)}


def echo_round_trip(server):
    async def go():
        async with websockets.connect(server.url, ping_interval=None, close_timeout=5) as ws:
            await ws.send("héllo over epoll")
            assert await asyncio.wait_for(ws.recv(), 20) == "héllo over epoll"
            data = os.urandom(70000)
            await ws.send(data)
            assert await asyncio.wait_for(ws.recv(), 20) == data

    asyncio.run(asyncio.wait_for(go(), 60))


@pytest.mark.parametrize("errno_name", FILTERS)
def test_auto_falls_back_to_epoll(ringws, backend_flag, errno_name):
    server = ringws(app="echo", wrapper=wrapper(errno_name), backend="auto")
    assert server.listening.get("backend") == "epoll", server.listening

    info = backend_info(metrics(server))
    assert info["backend"] == "epoll", info
    assert info["reason"] and info["reason"] != "configured", info

    echo_round_trip(server)

    # Read after serving, so that a line written after "listening" is seen too.
    fallbacks = events(server, "backend_fallback")
    assert len(fallbacks) == 1, f"exactly one backend_fallback line expected:\n{server.stdout()}"
    fallback = fallbacks[0]
    assert fallback.get("level") == "warn", fallback
    assert fallback.get("from") == "io_uring" and fallback.get("to") == "epoll", fallback
    assert fallback.get("error") == errno_name, fallback
    reason = fallback.get("reason", "")
    assert reason, fallback
    if errno_name == "ENOSYS":
        # ENOSYS is what podman's profile answers for calls it does not list: the kernel may
        # well have io_uring, so the reason must point at the filter, not at the kernel.
        assert "seccomp" in reason.lower(), fallback
        assert not KERNEL_CLAIMS.search(reason), fallback


@pytest.mark.parametrize("errno_name", FILTERS)
def test_refused_io_uring_exits_4(errno_name):
    # Today's server has only io_uring and exits 4; with the flag, --backend io_uring must
    # keep doing so rather than fall back.
    args = [str(ringws_binary()), "--app", "echo", "--host", "127.0.0.1", "--port", "0", "--threads", "1"]
    if has_backend_flag():
        args += ["--backend", "io_uring"]
    try:
        r = subprocess.run(wrapper(errno_name) + args, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"ringws did not exit within 30 s under a filter refusing io_uring ({errno_name})")
    assert r.returncode == EXIT_IO_URING, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    code = getattr(errno, errno_name)
    assert errno_name in r.stderr or os.strerror(code) in r.stderr, r.stderr


def test_forced_epoll_without_a_filter(ringws, backend_flag):
    server = ringws(app="echo", backend="epoll")
    assert server.listening.get("backend") == "epoll", server.listening
    assert events(server, "backend_fallback") == [], server.stdout()
    assert backend_info(metrics(server)) == {"backend": "epoll", "reason": "configured"}
    echo_round_trip(server)


def test_auto_without_a_filter_uses_io_uring(ringws, backend_flag):
    server = ringws(app="echo", backend="auto")
    assert server.listening.get("backend") == "io_uring", server.listening
    assert events(server, "backend_fallback") == [], server.stdout()
    assert backend_info(metrics(server))["backend"] == "io_uring"
    echo_round_trip(server)


def test_default_is_auto(ringws, backend_flag):
    # backend=None: no --backend flag at all, even when RINGWS_BACKEND picks one for a suite.
    server = ringws(app="echo", wrapper=wrapper("EPERM"), backend=None)
    assert server.listening.get("backend") == "epoll", server.listening
    assert len(events(server, "backend_fallback")) == 1, server.stdout()


def test_unknown_backend_is_a_usage_error(backend_flag):
    r = subprocess.run([str(ringws_binary()), "--backend", "kqueue", "--port", "0"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2, r.stderr
    assert "--backend" in r.stderr
