"""The echo app, seen by a real client library (python websockets) and by a raw client for
what a library refuses to send."""

import asyncio
import os

import pytest
import websockets

from rawws import OP_BINARY, OP_PING, OP_PONG, OP_TEXT, RawWS, build_frame

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def connect(server, path="/", **kw):
    kw.setdefault("max_size", None)
    kw.setdefault("ping_interval", None)
    kw.setdefault("close_timeout", 5)
    return websockets.connect(server.url + path, **kw)


def text_of(n):
    # Multi-byte characters too, cut to exactly n bytes on a character boundary.
    base = ("aé€😀" * (n // 10 + 1)).encode()
    out = base[:n]
    while True:
        try:
            out.decode()
            break
        except UnicodeDecodeError:
            out = out[:-1]
    return (out + b"x" * (n - len(out))).decode()


@pytest.mark.parametrize("size", SIZES)
def test_text_echo(echo_server, size):
    msg = text_of(size)
    assert len(msg.encode()) == size

    async def go():
        async with connect(echo_server) as ws:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 20)
            assert isinstance(got, str)
            assert got == msg

    run(go())


@pytest.mark.parametrize("size", SIZES)
def test_binary_echo(echo_server, size):
    msg = os.urandom(size)

    async def go():
        async with connect(echo_server) as ws:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 20)
            assert isinstance(got, bytes)
            assert got == msg

    run(go())


@pytest.mark.parametrize("kind", ["text", "binary"])
def test_message_over_max_message_closes_1009(echo_server, kind):
    msg = "a" * ((1 << 20) + 1) if kind == "text" else b"\x01" * ((1 << 20) + 1)

    async def go():
        async with connect(echo_server) as ws:
            try:
                await ws.send(msg)
            except websockets.ConnectionClosed:
                pass  # the server may fail the message on its header, while we still write
            with pytest.raises(websockets.ConnectionClosed):
                got = await asyncio.wait_for(ws.recv(), 20)
                pytest.fail(f"server echoed {len(got)} bytes over the limit")
            assert ws.close_code == 1009

    run(go())


def test_smaller_max_message_is_enforced(ringws):
    s = ringws(max_message=1000)

    async def go():
        async with connect(s) as ws:
            await ws.send(b"y" * 1000)
            assert await asyncio.wait_for(ws.recv(), 10) == b"y" * 1000
            # Over the limit only once reassembled: fragments of 400 bytes each.
            await ws.send([b"z" * 400, b"z" * 400, b"z" * 400])
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1009

    run(go())


def test_messages_in_order_pipelined(echo_server):
    async def go():
        async with connect(echo_server) as ws:
            msgs = [f"message {i}" for i in range(500)]
            for m in msgs:
                await ws.send(m)
            got = [await asyncio.wait_for(ws.recv(), 10) for _ in msgs]
            assert got == msgs

    run(go())


def test_fragmented_text_is_reassembled(echo_server):
    parts = ["frag", "mented ", "ü€😀 ", "", "text"]

    async def go():
        async with connect(echo_server) as ws:
            await ws.send(parts)  # an iterable goes out as one message in fragments
            assert await asyncio.wait_for(ws.recv(), 10) == "".join(parts)

    run(go())


def test_fragmented_binary_is_reassembled(echo_server):
    parts = [os.urandom(n) for n in (1, 125, 126, 70000, 0, 3)]

    async def go():
        async with connect(echo_server) as ws:
            await ws.send(parts)
            assert await asyncio.wait_for(ws.recv(), 10) == b"".join(parts)

    run(go())


@pytest.mark.parametrize("payload", [b"", b"hello", os.urandom(125)])
def test_ping_gets_pong_with_same_payload(echo_server, payload):
    async def go():
        async with connect(echo_server) as ws:
            waiter = await ws.ping(payload)  # resolves only on a pong with this payload
            await asyncio.wait_for(waiter, 10)

    run(go())


def test_ping_pong_raw_exact_payload(echo_server):
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_frame(OP_PING, b"raw ping \x00\xff")
        f = ws.recv_server_frame()
        assert (f.opcode, f.payload) == (OP_PONG, b"raw ping \x00\xff")


def test_client_close_1000_is_echoed(echo_server):
    async def go():
        async with connect(echo_server) as ws:
            await ws.send("before close")
            assert await ws.recv() == "before close"
            await ws.close(1000)
            assert ws.close_code == 1000

    run(go())


def test_client_close_1000_raw_server_closes_tcp(echo_server):
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_close(1000)
        ws.expect_close(1000, reply=False)


def test_client_close_3000_with_reason(echo_server):
    async def go():
        async with connect(echo_server) as ws:
            await ws.close(3000, "done here")
            assert ws.close_code == 3000

    run(go())


def test_unmasked_client_frame_closes_1002(echo_server):
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"not masked", mask=False))
        ws.expect_close(1002)


def test_rsv_bit_closes_1002(echo_server):
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"rsv1", rsv=4))
        ws.expect_close(1002)


def test_reserved_opcode_closes_1002(echo_server):
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(build_frame(0x3, b"opcode 3"))
        ws.expect_close(1002)


def test_invalid_utf8_text_closes_1007(echo_server):
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_raw(build_frame(OP_TEXT, b"valid then \xc3\x28 invalid"))
        ws.expect_close(1007)


def test_invalid_utf8_via_library_closes_1007(echo_server):
    # The library can be made to send raw bytes as text through its frame layer.
    async def go():
        async with connect(echo_server) as ws:
            from websockets.frames import OP_TEXT as LIB_OP_TEXT

            await ws.write_frame(True, LIB_OP_TEXT, b"\xed\xa0\x80")  # a UTF-16 surrogate
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1007

    run(go())


def test_many_clients_echo_concurrently(echo_server):
    async def one(i):
        async with connect(echo_server) as ws:
            for j in range(20):
                m = os.urandom(i * 37 % 3000)
                await ws.send(m)
                assert await asyncio.wait_for(ws.recv(), 20) == m

    async def go():
        await asyncio.gather(*(one(i) for i in range(100)))

    run(go())


def test_binary_echo_keeps_opcode_after_text(echo_server):
    with RawWS.connect(echo_server.host, echo_server.port) as ws:
        ws.send_text("t")
        ws.send_binary(b"\x00b")
        assert ws.recv_message() == (OP_TEXT, b"t")
        assert ws.recv_message() == (OP_BINARY, b"\x00b")
