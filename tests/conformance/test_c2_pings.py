"""Autobahn 2.x: pings and pongs."""

import os

import pytest

from rawws import OP_PING, OP_PONG, OP_TEXT, build_frame
from wscase import close_normally, expect_echo, expect_pong, send_and_fail


@pytest.mark.parametrize("payload", [b"", b"Hello, world!", bytes([0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF]),
                                     b"*" * 125], ids=["empty", "text", "binary", "125"])
def test_2_ping_gets_pong(ws, payload):
    ws.send_frame(OP_PING, payload)
    expect_pong(ws, payload)
    close_normally(ws)


def test_2_5_ping_126_bytes_1002(ws):
    send_and_fail(ws, build_frame(OP_PING, b"*" * 126, length_bytes=2), 1002)


def test_2_6_ping_125_chopped(ws):
    payload = os.urandom(125)
    ws.send_raw(build_frame(OP_PING, payload), chop=1)
    expect_pong(ws, payload)
    close_normally(ws)


@pytest.mark.parametrize("payload", [b"", b"unsolicited pong payload"])
def test_2_7_unsolicited_pong_ignored(ws, payload):
    ws.send_frame(OP_PONG, payload)
    ws.send_frame(OP_TEXT, b"after pong")
    expect_echo(ws, OP_TEXT, b"after pong")  # nothing came before the echo
    close_normally(ws)


def test_2_9_unsolicited_pong_then_ping(ws):
    ws.send_raw(build_frame(OP_PONG, b"unsolicited") + build_frame(OP_PING, b"solicited"))
    expect_pong(ws, b"solicited")
    close_normally(ws)


@pytest.mark.parametrize("chop", [None, 1], ids=["whole", "chopped"])
def test_2_10_ten_pings_in_a_row(ws, chop):
    # RFC 6455 5.5.3: an endpoint that has not yet answered earlier pings MAY answer only the
    # most recent one. ringws does (at most one pong waits per connection, so a client that
    # pings without reading cannot grow the server): the pongs are the pings' payloads in
    # order, possibly with some skipped, and always end with the last one.
    payloads = [f"payload-{i}".encode() for i in range(10)]
    ws.send_raw(b"".join(build_frame(OP_PING, p) for p in payloads), chop=chop)
    seen = []
    while not seen or seen[-1] != payloads[-1]:
        f = ws.recv_server_frame()
        assert f.opcode == OP_PONG, f"expected pong, got {f}"
        assert f.payload in payloads, f"pong payload {f.payload!r} was never sent"
        seen.append(f.payload)
    positions = [payloads.index(p) for p in seen]
    assert positions == sorted(set(positions)), f"pongs out of order or repeated: {seen}"
    close_normally(ws)


def test_2_unmasked_ping_1002(ws):
    send_and_fail(ws, build_frame(OP_PING, b"unmasked", mask=False), 1002)
