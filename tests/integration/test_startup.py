"""How ringws starts and refuses to start: exit codes and messages a service manager sees."""

import socket
import subprocess

from ringws_server import ringws_binary


def run(*args, timeout=10):
    return subprocess.run([str(ringws_binary()), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def test_help_exits_0_and_lists_the_options():
    r = run("--help")
    assert r.returncode == 0
    for flag in ("--port", "--threads", "--app", "--max-message", "--max-backlog", "--drain-seconds",
                 "--trust-proxy", "--emf-interval"):
        assert flag in r.stdout


def test_unknown_option_exits_2_with_a_message():
    r = run("--no-such-flag", "1")
    assert r.returncode == 2
    assert "--no-such-flag" in r.stderr and "usage" in r.stderr


def test_bad_value_exits_2():
    r = run("--port", "70000")
    assert r.returncode == 2
    assert "--port" in r.stderr


def hold_port(reuseport):
    """A listening socket on a free loopback port, held as another program would hold it."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT if reuseport else socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


def test_taken_port_exits_3_and_says_so():
    holder, port = hold_port(reuseport=False)
    try:
        r = run("--host", "127.0.0.1", "--port", str(port), "--threads", "1")
    finally:
        holder.close()
    assert r.returncode == 3
    assert f"127.0.0.1:{port}" in r.stderr and "in use" in r.stderr


def test_taken_port_is_refused_even_when_the_holder_uses_reuseport():
    # Another ringws (or anything with SO_REUSEPORT, same user) must not silently share the port.
    holder, port = hold_port(reuseport=True)
    try:
        r = run("--host", "127.0.0.1", "--port", str(port), "--threads", "1")
    finally:
        holder.close()
    assert r.returncode == 3


def test_unparseable_host_exits_3():
    r = run("--host", "not-an-address", "--port", "0", "--threads", "1")
    assert r.returncode == 3
    assert "not-an-address" in r.stderr


def test_ipv6_loopback_serves_websocket():
    import asyncio
    import json
    import signal
    import time

    import websockets

    proc = subprocess.Popen([str(ringws_binary()), "--app", "echo", "--host", "::1", "--port", "0", "--threads", "1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = json.loads(line)["port"]

        async def go():
            async with websockets.connect(f"ws://[::1]:{port}/") as ws:
                await ws.send("over ipv6")
                return await asyncio.wait_for(ws.recv(), 5)

        assert asyncio.run(go()) == "over ipv6"
    finally:
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
