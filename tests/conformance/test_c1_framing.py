"""Autobahn 1.x: text and binary messages of lengths 0 to 65536 (every length encoding and its
edges), sent whole and in chops; and lengths at and beyond the 1 MiB limit."""

import os

import pytest

from rawws import OP_BINARY, OP_TEXT, build_frame
from wscase import MAX_MESSAGE, close_normally, expect_echo, send_and_fail

LENGTHS = [0, 1, 125, 126, 127, 128, 65535, 65536]


def payload_of(opcode, n):
    return (b"*" * n) if opcode == OP_TEXT else os.urandom(n)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("n", LENGTHS)
def test_1_x_whole(ws, opcode, n):
    payload = payload_of(opcode, n)
    ws.send_frame(opcode, payload)
    expect_echo(ws, opcode, payload)
    close_normally(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("n,chop", [(65536, 997), (65536, 1), (126, 1), (300, 7)])
def test_1_x_chopped(ws, opcode, n, chop):
    payload = payload_of(opcode, n)
    ws.send_raw(build_frame(opcode, payload), chop=chop)
    expect_echo(ws, opcode, payload)
    close_normally(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_1_x_at_limit(ws, opcode):
    payload = payload_of(opcode, MAX_MESSAGE)
    ws.send_frame(opcode, payload)
    expect_echo(ws, opcode, payload)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_1_x_over_limit_1009(ws, opcode):
    send_and_fail(ws, build_frame(opcode, payload_of(opcode, MAX_MESSAGE + 1)), 1009)


def test_1_x_64bit_length_with_msb_set(ws):
    # RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0.
    head = bytes([0x82, 0x80 | 127]) + (1 << 63 | 5).to_bytes(8, "big") + b"\x00\x00\x00\x00"
    send_and_fail(ws, head + b"hello", {1002, 1009})


def test_1_x_many_frames_one_write(ws):
    payloads = [os.urandom(n) for n in (0, 1, 125, 126, 127, 1000, 65536, 3)]
    ws.send_raw(b"".join(build_frame(OP_BINARY, p) for p in payloads))
    for p in payloads:
        expect_echo(ws, OP_BINARY, p)
    close_normally(ws)


@pytest.mark.parametrize("n,length_bytes", [(0, 2), (125, 2), (125, 8), (65535, 8)])
def test_1_x_non_minimal_length_encoding(ws, n, length_bytes):
    # RFC 6455 requires senders to use the minimal length encoding; a server may either accept
    # the frame or fail the connection with 1002, but nothing else (no hang, no other code).
    payload = os.urandom(n)
    ws.send_raw(build_frame(OP_BINARY, payload, length_bytes=length_bytes))
    f = ws.recv_server_frame()
    if f.opcode == 0x8:
        assert f.close_code == 1002, f"non-minimal length: close {f.close_code}, expected 1002 or an echo"
        ws.send_raw_tolerant(build_frame(0x8, f.payload[:2]))
        ws.expect_tcp_close()
    else:
        assert f.opcode == OP_BINARY, f"expected an echo or close 1002, got {f}"
        rest = f.payload
        while not f.fin:
            f = ws.recv_server_frame()
            rest += f.payload
        assert rest == payload
