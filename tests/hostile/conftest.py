"""Fixtures for the hostile-client tests.

Every test that takes `backend` runs once per backend the binary offers: `ringws --help`
listing `--backend auto|io_uring|epoll` gives one run on io_uring and one on epoll; a binary
without the flag gives one run, "default", on whatever it picks (its listening line says
which). $RINGWS_BACKENDS (a comma list, e.g. "epoll") restricts the runs.

Servers are stopped by PID at the end of each test and must exit 0 on SIGTERM with no
sanitizer report (ringws_server.py checks). Memory-cap tests run the server in a cgroup v1
memory group of 200 MB created for the test and removed afterwards, even when it fails.
"""

import sys
from pathlib import Path

import os

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import hostile as h  # noqa: E402
from ringws_server import Server, ringws_binary  # noqa: E402

CGROUP_LIMIT = 200 * 1000 * 1000  # "a cgroup limited to 200 MB"


def _backend_params():
    if not ringws_binary().is_file():
        return [pytest.param(None, id="default", marks=pytest.mark.skip(reason=f"no ringws at {ringws_binary()}"))]
    offered = h.offered_backends()
    wanted = h.requested_backends()
    if offered is None:
        return [pytest.param(None, id="default")]
    params = []
    for b in offered:
        marks = []
        if wanted is not None and b not in wanted:
            marks = [pytest.mark.skip(reason=f"RINGWS_BACKENDS={','.join(wanted)} leaves out {b}")]
        params.append(pytest.param(b, id=b, marks=marks))
    for b in wanted or []:
        if b not in offered:
            params.append(pytest.param(b, id=b, marks=pytest.mark.skip(
                reason=f"{ringws_binary()} offers no --backend {b} (it lists {', '.join(offered)})")))
    return params


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", _backend_params())


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    for what, path in (("ringws", ringws_binary()), ("ringws-load", h.load_bin())):
        if not path.is_file():
            pytest.exit(f"{what} not found at {path} (set RINGWS_BIN / RINGWS_LOAD_BIN)", returncode=2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def start_server(request, backend):
    """A factory: start_server(app="chat", threads=2, cgroup=None, **flags) -> a running Server
    on this test's backend (in `cgroup` if given), stopped and checked when the test ends."""
    servers = []

    def start(app="echo", threads=2, cgroup=None, **flags):
        s = Server(app=app, threads=threads, backend=backend, preexec_fn=cgroup.preexec() if cgroup else None, **flags)
        servers.append(s)
        if cgroup is not None:
            cgroup.members.append(s.proc.pid)
        used = (s.listening or {}).get("backend")
        if backend is not None:
            assert used == backend, f"asked for --backend {backend}, the server runs on {used}"
        else:
            wanted = h.requested_backends()
            if wanted and used not in wanted:
                pytest.skip(f"the server picked {used}; RINGWS_BACKENDS={','.join(wanted)}")
        return s

    yield start
    problems = []
    for s in servers:
        problems += s.stop()
    if problems:
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            # The test failed already (a dead server is its first line): attach, don't repeat.
            request.node.add_report_section("teardown", "ringws", "\n".join(problems))
        else:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def memcg():
    """A fresh cgroup v1 memory group limited to 200 MB with TCP accounting on; removed at the
    end (after killing, by PID, what the test put in it and left behind)."""
    why = h.cgroup_v1_unavailable()
    if why:
        pytest.skip(why)
    if os.environ.get("ASAN_OPTIONS"):
        # ASan's shadow memory and quarantine, not the server's own, would fill the 200 MB.
        pytest.skip("memory-cap runs measure the server's own memory: not under AddressSanitizer")
    try:
        cg = h.MemoryCgroup(CGROUP_LIMIT)
    except OSError as e:
        pytest.skip(f"cannot set up a memory cgroup under {h.CGROUP_V1_MEMORY}: {e}")
    try:
        yield cg
    finally:
        cg.remove()


@pytest.fixture
def capped(memcg, start_server):
    """start_server for a server inside `memcg`: capped(app=..., threads=...) -> (server, cgroup).
    Depends on memcg first, so the server is stopped before the group is removed."""

    def start(**kw):
        return start_server(cgroup=memcg, **kw), memcg

    return start
