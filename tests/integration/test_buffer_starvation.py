"""When the provided buffer ring runs dry, receives fail with -ENOBUFS; the server parks those
connections and retries once buffers come back, and never closes a connection for it
(DESIGN.md, io_uring rules). To force it: a ring of 16 small buffers, and the server stopped
(SIGSTOP) while 200 clients send, so that all 200 connections are readable in the same loop
iteration and their receives find 16 buffers between them."""

import asyncio
import os
import signal
import urllib.request

import pytest
import websockets

# Provided-buffer rings are the io_uring backend's; epoll reads into one buffer per reactor.
pytestmark = pytest.mark.skipif(os.environ.get("RINGWS_BACKEND") == "epoll",
                                reason="buffer rings exist only on the io_uring backend")


def metrics(server):
    return urllib.request.urlopen(f"http://127.0.0.1:{server.admin_port}/metrics", timeout=5).read().decode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_starved_buffer_ring_delays_but_loses_nothing(ringws):
    s = ringws(app="echo", threads=1, buffer_count=16, buffer_size=512)

    async def go():
        clients = [await websockets.connect(f"ws://127.0.0.1:{s.port}/", ping_interval=None) for _ in range(200)]
        payloads = [os.urandom(3000) for _ in clients]
        for _ in range(2):
            os.kill(s.proc.pid, signal.SIGSTOP)
            try:
                await asyncio.gather(*(ws.send(p) for ws, p in zip(clients, payloads)))
                await asyncio.sleep(0.3)  # the bytes reach the server's sockets
            finally:
                os.kill(s.proc.pid, signal.SIGCONT)
            echoes = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 30) for ws in clients))
            assert echoes == payloads
        for ws in clients:
            await ws.close()

    asyncio.run(go())
    text = metrics(s)
    assert metric(text, "ringws_buffer_starvation_total") > 0, "the test did not starve the ring"
    assert 'ringws_connections_closed_total{reason="internal"} 0' in text
    assert 'ringws_connections_closed_total{reason="peer_gone"} 0' in text
