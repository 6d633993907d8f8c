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
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install -y haproxy)")
    if not ringws_binary().is_file():
        pytest.fail(f"ringws binary not found at {ringws_binary()} (set RINGWS_BIN)", pytrace=False)
    workdir = Path(tempfile.mkdtemp(prefix="ringws-alb-test-"))
    # --log-connections: the test reads the client address each instance logged.
    lb = LocalAlb(workdir, server_args=["--log-connections"])
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
