"""Server pings, idle clients, and clients that answer pings and so stay."""

import asyncio
import time

import pytest
import websockets

from rawws import OP_CLOSE, OP_PING, OP_TEXT, Closed, RawWS


def test_server_pings_a_silent_client(ringws):
    s = ringws(ping_interval=1, idle_timeout=30)
    with RawWS.connect(s.host, s.port) as ws:
        f = ws.recv_server_frame(timeout=6)
        assert f.opcode == OP_PING, f"expected a ping, got {f}"


def test_unanswering_client_is_closed_after_idle_timeout(ringws):
    s = ringws(ping_interval=1, idle_timeout=3)
    with RawWS.connect(s.host, s.port) as ws:
        start = time.monotonic()
        pings, close = 0, None
        deadline = start + 12
        while True:
            try:
                f = ws.recv_server_frame(timeout=max(0.01, deadline - time.monotonic()))
            except Closed:
                break  # TCP closed, with or without a close frame first
            except TimeoutError:
                pytest.fail(f"silent client still connected after 12 s (--idle-timeout 3), {pings} pings seen")
            if f.opcode == OP_PING:
                pings += 1  # never answered
            elif f.opcode == OP_CLOSE:
                close = f
            else:
                pytest.fail(f"unexpected frame {f}")
        assert pings >= 1, "closed without having pinged the client"
        if close is not None and close.close_code is not None:
            assert close.close_code in (1000, 1001, 1006, 1008, 1011), close.close_code


def test_client_answering_pings_stays_connected(ringws):
    s = ringws(ping_interval=1, idle_timeout=3)

    async def go():
        # websockets answers server pings by itself; it sends nothing else for 6 s.
        async with websockets.connect(s.url, ping_interval=None) as ws:
            await asyncio.sleep(6)
            await ws.send("still here")
            assert await asyncio.wait_for(ws.recv(), 5) == "still here"

    asyncio.run(asyncio.wait_for(go(), 30))


def test_raw_client_answering_pings_stays_connected(ringws):
    s = ringws(ping_interval=1, idle_timeout=3)
    with RawWS.connect(s.host, s.port) as ws:
        end = time.monotonic() + 6
        pings = 0
        while time.monotonic() < end:
            try:
                f = ws.recv_server_frame(timeout=max(0.01, end - time.monotonic()))
            except TimeoutError:
                break
            assert f.opcode == OP_PING, f"expected only pings, got {f}"
            pings += 1
            ws.send_frame(0xA, f.payload)
        assert pings >= 2
        ws.send_text("alive")
        assert ws.recv_message() == (OP_TEXT, b"alive")
