"""Clients that vanish at awkward moments or send noise: the server answers what it must,
never crashes, and keeps serving (the fixture then checks exit 0 and no sanitizer report)."""

import asyncio
import json
import os
import random
import socket
import struct

import websockets

from rawws import OP_BINARY, OP_CLOSE, OP_TEXT, Closed, RawWS, build_frame, handshake_request, http_exchange


def reset(ws):
    # SO_LINGER 0: close() sends a reset instead of a FIN.
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.close()


def assert_serving(s):
    assert s.alive(), "ringws exited"
    status, _, _ = http_exchange(s.host, s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200
    with RawWS.connect(s.host, s.port) as ws:
        ws.send_text("still serving")
        assert ws.recv_message() == (OP_TEXT, b"still serving")


def test_clients_vanishing_at_every_stage(ringws):
    s = ringws()
    req, _ = handshake_request(s.host, s.port)
    big = build_frame(OP_BINARY, os.urandom(300000))
    for abrupt in (False, True):
        drop = reset if abrupt else RawWS.close
        for cut in (1, len(req) // 2, len(req) - 1):  # inside the request
            ws = RawWS(s.host, s.port)
            ws.send_raw(req[:cut])
            drop(ws)
        for partial in (big[:1], big[:5], big[:100000]):  # inside a frame
            ws = RawWS.connect(s.host, s.port)
            ws.send_raw(partial)
            drop(ws)
        ws = RawWS.connect(s.host, s.port)  # inside a fragmented message
        ws.send_raw(build_frame(OP_TEXT, b"part one", fin=False))
        drop(ws)
        ws = RawWS.connect(s.host, s.port)  # with a large echo still being written to it
        ws.send_raw(big + big + big)
        drop(ws)
        ws = RawWS.connect(s.host, s.port)  # after sending close, before reading the reply
        ws.send_close(1000)
        drop(ws)
    assert_serving(s)


def test_random_bytes_after_upgrade_never_crash(ringws):
    s = ringws()
    rng = random.Random(6455)  # fixed seed: a failure can be replayed
    codes = {}
    for i in range(60):
        noise = bytes(rng.getrandbits(8) for _ in range(rng.choice((2, 10, 200, 5000))))
        with RawWS.connect(s.host, s.port, timeout=5) as ws:
            ws.send_raw_tolerant(noise)
            # Either the server fails the connection, or it waits for the rest of a frame
            # the noise began: both are fine, as long as what it sends is well formed.
            try:
                while True:
                    f = ws.recv_server_frame(timeout=0.3)
                    if f.opcode == OP_CLOSE:
                        codes[f.close_code] = codes.get(f.close_code, 0) + 1
                        c = f.close_code  # the noise may itself be a close frame, echoed
                        assert c is None or c in (1000, 1001, 1002, 1003) or 1007 <= c <= 1014 or 3000 <= c <= 4999, (
                            f"noise case {i}: close {c}")
                        break
            except (Closed, TimeoutError):
                pass
    assert codes, "60 runs of noise never produced a close frame"
    assert_serving(s)


def test_broadcast_while_clients_come_and_go(ringws):
    s = ringws(app="shootout", threads=2)

    async def go():
        stayers = [await websockets.connect(s.url, ping_interval=None) for _ in range(50)]
        msgs = [json.dumps({"type": "broadcast", "payload": i}) for i in range(20)]

        rng = random.Random(1001)

        async def churn():
            for _ in range(100):
                ws = await websockets.connect(s.url, ping_interval=None)
                if rng.random() < 0.5:
                    ws.transport.abort()  # gone without a close handshake
                else:
                    await ws.close()

        async def send():
            for m in msgs:
                await stayers[0].send(m)
                await asyncio.sleep(0.005)

        await asyncio.gather(churn(), send())
        # Every stayer received all 20 broadcasts exactly once, in the sender's order.
        for idx, ws in enumerate(stayers):
            got = []
            while len(got) < len(msgs):
                obj = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if obj["type"] == "broadcast":
                    got.append(obj["payload"])
            assert got == list(range(20)), f"stayer {idx} got {got}"
        for ws in stayers:
            await ws.close()

    asyncio.run(asyncio.wait_for(go(), 120))
    assert s.alive()
