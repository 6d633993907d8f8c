"""Autobahn 9.x, scaled to the 1 MiB limit: large messages whole, fragmented and chopped, and
1,000 small messages one at a time and pipelined. Bounded in count and time; no timing is
asserted."""

import os

import pytest

from rawws import OP_BINARY, OP_CONT, OP_TEXT, build_frame
from wscase import close_normally, expect_echo

SIZES = [64 << 10, 256 << 10, 1 << 20]


def payload_of(opcode, n):
    return (b"*" * n) if opcode == OP_TEXT else os.urandom(n)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("n", SIZES)
def test_9_1_9_2_large_messages(ws, opcode, n):
    payload = payload_of(opcode, n)
    for _ in range(3):
        ws.send_frame(opcode, payload)
        expect_echo(ws, opcode, payload, timeout=30)
    close_normally(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("frag", [64, 256, 1024, 4096, 16384, 65536, 1 << 20])
def test_9_3_9_4_fragmented_1mib(ws, opcode, frag):
    payload = payload_of(opcode, 1 << 20)
    parts = [payload[i:i + frag] for i in range(0, len(payload), frag)]
    data = b"".join(build_frame(opcode if i == 0 else OP_CONT, p, fin=i == len(parts) - 1) for i, p in enumerate(parts))
    ws.send_raw(data)
    expect_echo(ws, opcode, payload, timeout=60)
    close_normally(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("chop", [64, 1024, 16384])
def test_9_5_9_6_chopped_1mib(ws, opcode, chop):
    payload = payload_of(opcode, 1 << 20)
    ws.send_raw(build_frame(opcode, payload), chop=chop)
    expect_echo(ws, opcode, payload, timeout=60)
    close_normally(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
@pytest.mark.parametrize("n", [0, 16, 64, 256, 1024, 4096])
def test_9_7_9_8_thousand_messages_one_at_a_time(ws, opcode, n):
    payload = payload_of(opcode, n)
    for _ in range(1000):
        ws.send_frame(opcode, payload)
        expect_echo(ws, opcode, payload)
    close_normally(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_9_thousand_messages_pipelined(ws, opcode):
    payloads = [payload_of(opcode, i % 300) for i in range(1000)]
    ws.send_raw(b"".join(build_frame(opcode, p) for p in payloads))
    for p in payloads:
        expect_echo(ws, opcode, p)
    close_normally(ws)
