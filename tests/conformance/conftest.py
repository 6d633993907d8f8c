"""The conformance suite shares the integration suite's server runner and raw client."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import pytest  # noqa: E402

from ringws_server import Server, ringws_binary  # noqa: E402


@pytest.fixture(scope="session")
def server():
    """One echo server (default limits: 1 MiB messages) for the whole suite."""
    if not ringws_binary().is_file():
        pytest.exit(f"ringws binary not found at {ringws_binary()} (set RINGWS_BIN)", returncode=2)
    s = Server(app="echo", threads=2)
    yield s
    problems = s.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def ws(server):
    """A fresh upgraded raw connection for each case."""
    from rawws import RawWS

    c = RawWS.connect(server.host, server.port)
    yield c
    c.close()
