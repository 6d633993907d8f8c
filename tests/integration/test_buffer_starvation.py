"""When the provided buffer ring runs dry, receives fail with -ENOBUFS; the server parks those
connections and retries once buffers come back, and never closes a connection for it
(DESIGN.md, io_uring rules). A ring of 16 small buffers and 200 clients sending at once
forces it: buffers come back to the kernel once per loop iteration, and 64 KiB messages
keep every connection readable across many iterations."""

import asyncio
import os
import urllib.request

import websockets


def metric(server, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_starved_buffer_ring_delays_but_loses_nothing(ringws):
    s = ringws(app="echo", threads=1, buffer_count=16, buffer_size=512)

    async def go():
        clients = [await websockets.connect(f"ws://127.0.0.1:{s.port}/", ping_interval=None, max_size=None)
                   for _ in range(200)]
        payloads = [os.urandom(65536) for _ in clients]
        for _ in range(3):
            await asyncio.gather(*(ws.send(p) for ws, p in zip(clients, payloads)))
            echoes = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 60) for ws in clients))
            assert echoes == payloads
        for ws in clients:
            await ws.close()

    asyncio.run(go())
    assert metric(s, "ringws_buffer_starvation_total") > 0, "the test did not starve the ring"
    text = urllib.request.urlopen(f"http://127.0.0.1:{s.port}/metrics", timeout=5).read().decode()
    assert 'ringws_connections_closed_total{reason="internal"} 0' in text
    assert 'ringws_connections_closed_total{reason="peer_gone"} 0' in text
