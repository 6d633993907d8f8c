"""Direct clients (no proxy): the server learns each TCP peer's address, for --max-per-address
and the connection logs: accept4 reports it on the epoll backend; the io_uring backend, whose
multishot accept cannot, looks it up with IORING_OP_FIXED_FD_INSTALL. Kernels before 6.8 lack
that operation; the io_uring server then says so in a warning and these tests skip there."""

import asyncio
import json

import pytest
import websockets


def needs_fd_install(server):
    if server.listening.get("backend") == "io_uring" and "FIXED_FD_INSTALL" not in server.listening.get("ring_flags", ""):
        pytest.skip("io_uring backend on a kernel without IORING_OP_FIXED_FD_INSTALL (6.8+)")


async def connect_from(server, source):
    return await websockets.connect(f"ws://127.0.0.1:{server.port}/", local_addr=(source, 0), open_timeout=5)


def test_max_per_address_counts_direct_clients_by_their_address(ringws):
    s = ringws(app="echo", max_per_address=2)
    needs_fd_install(s)

    async def go():
        a = await connect_from(s, "127.0.0.5")
        b = await connect_from(s, "127.0.0.5")
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as refused:
            await connect_from(s, "127.0.0.5")
        assert refused.value.status_code == 429
        other = await connect_from(s, "127.0.0.6")  # another address has its own count
        await a.close()
        await asyncio.sleep(0.3)  # the close reaches the server and frees one place
        again = await connect_from(s, "127.0.0.5")
        for ws in (b, other, again):
            await ws.close()

    asyncio.run(go())


def test_connection_logs_carry_the_peer_address(ringws):
    s = ringws(app="echo", log_connections=True)
    needs_fd_install(s)

    async def go():
        ws = await connect_from(s, "127.0.0.7")
        await ws.send("x")
        await ws.recv()
        await ws.close()

    asyncio.run(go())
    events = [json.loads(line) for line in s.stdout().splitlines() if line.startswith("{")]
    opens = [e for e in events if e.get("event") == "websocket_open"]
    assert opens and opens[0]["address"] == "127.0.0.7"
