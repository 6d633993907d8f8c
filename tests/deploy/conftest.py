"""Fixtures for the deployment tests: a ringws factory (as in tests/integration), moto's
server, and skips that name what is missing when a machine lacks moto or python3-boto3."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parents[0] / "integration"))

import aws_env  # noqa: E402
from ringws_server import Server, ringws_binary  # noqa: E402


@pytest.fixture
def ringws():
    """ringws(app="echo", ...) -> a running Server, stopped (SIGTERM) and checked afterwards."""
    if not ringws_binary().is_file():
        pytest.fail(f"ringws binary not found at {ringws_binary()} (set RINGWS_BIN)", pytrace=False)
    servers = []

    def start(**kw):
        s = Server(**kw)
        servers.append(s)
        return s

    yield start
    problems = []
    for s in servers:
        problems += s.stop()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def moto(debian_boto3):
    if aws_env.moto_python() is None:
        pytest.skip("no Python with moto >= 5 and boto3 (set RINGWS_MOTO_PYTHON)")
    server = aws_env.MotoServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def debian_boto3():
    if not aws_env.have_debian_boto3():
        pytest.skip("Debian's python3-boto3 is missing (apt-get install python3-boto3; scripts/install-deps.sh)")
