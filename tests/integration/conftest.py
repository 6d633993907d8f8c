"""Fixtures that run a real ringws for each test module (or test) and check how it ended:
exit code 0 after SIGTERM and no sanitizer report on stderr."""

import pytest

from ringws_server import Server, ringws_binary


def _stop_all(servers):
    problems = []
    for s in servers:
        problems += s.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    if not ringws_binary().is_file():
        pytest.exit(f"ringws binary not found at {ringws_binary()} (set RINGWS_BIN)", returncode=2)


@pytest.fixture
def ringws():
    """A factory: ringws(app="shootout", threads=2, ping_interval=1, ...) -> a running Server,
    stopped and checked when the test ends."""
    servers = []

    def start(**kw):
        s = Server(**kw)
        servers.append(s)
        return s

    yield start
    _stop_all(servers)


@pytest.fixture(scope="module")
def echo_server():
    """One echo server shared by a module's tests (default limits)."""
    s = Server(app="echo", threads=2)
    yield s
    _stop_all([s])


@pytest.fixture
def redis():
    """A redis-server of the test's own on a free port (skips when redis-server is missing)."""
    from redis_server import RedisServer

    r = RedisServer()
    yield r
    r.stop()
