"""Fixtures for the ringws-load integration tests: servers started per module and stopped
by PID. Tests that need a missing binary or Node's ws skip with the reason."""

import pytest

import load_servers as ls


@pytest.fixture(scope="session", autouse=True)
def _load_binary():
    if not ls.load_bin().is_file():
        pytest.skip(f"ringws-load not built at {ls.load_bin()} (set RINGWS_LOAD_BIN)")


def _ringws(app, **kw):
    if not ls.ringws_bin().is_file():
        pytest.skip(f"ringws not built at {ls.ringws_bin()} (set RINGWS_BIN)")
    s = ls.start_ringws(app=app, **kw)
    yield s
    s.stop()


def _node(app):
    if not ls.node_available():
        pytest.skip("Node's ws peer not installed: (cd bench/peers/node-ws && npm ci)")
    s = ls.start_node(app=app)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ringws_echo():
    yield from _ringws("echo")


@pytest.fixture(scope="module")
def ringws_shootout():
    yield from _ringws("shootout")


@pytest.fixture(scope="module")
def node_echo():
    yield from _node("echo")


@pytest.fixture(scope="module")
def node_shootout():
    yield from _node("shootout")


@pytest.fixture(params=["ringws", "node"])
def echo_server(request):
    """The same test against ringws and against Node's ws."""
    return request.getfixturevalue(f"{request.param}_echo")


@pytest.fixture(params=["ringws", "node"])
def shootout_server(request):
    return request.getfixturevalue(f"{request.param}_shootout")
