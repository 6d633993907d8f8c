"""The `alb` fixture: scripts/local-alb.sh running for one test, stopped by PID afterwards;
its logs are printed when the test fails and deleted when it passes."""

import shutil
import tempfile
from pathlib import Path

import pytest

from local_alb import LocalAlb, ringws_binary


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        item.rep_call_failed = True


@pytest.fixture
def alb(request):
    # --log-connections: the test reads the client address each instance logged.
    yield from _alb(request, server_args=["--log-connections"])


@pytest.fixture
def alb_redis(request):
    """Three instances joined by a redis-server that local-alb.sh starts, with history."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    yield from _alb(request, server_args=["--history-size", "1000", "--redis-timeout", "2"],
                    script_args=["--instances", "3", "--redis"])


def _alb(request, server_args, script_args=()):
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install -y haproxy)")
    if not ringws_binary().is_file():
        pytest.fail(f"ringws binary not found at {ringws_binary()} (set RINGWS_BIN)", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="ringws-alb-test-"))
    lb = LocalAlb(workdir, server_args=server_args, script_args=script_args)
    try:
        yield lb
    finally:
        problems = lb.stop()
        failed = problems or getattr(request.node, "rep_call_failed", False)
        if failed:
            print(lb.diagnostics())
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
