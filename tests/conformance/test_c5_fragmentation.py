"""Autobahn 5.x: fragmentation. Control frames may not be fragmented, continuations need a
message to continue, a new message may not start inside one, and control frames may come
between fragments."""

import os

import pytest

from rawws import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, build_frame, close_payload
from wscase import close_normally, expect_echo, expect_pong, send_and_fail


def frags(opcode, parts, fin_last=True):
    out = b""
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        out += build_frame(opcode if i == 0 else OP_CONT, p, fin=last and fin_last)
    return out


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE], ids=["ping", "pong", "close"])
def test_5_1_5_2_fragmented_control_frame_1002(ws, opcode):
    first = close_payload(1000)[:1] if opcode == OP_CLOSE else b"frag"
    rest = close_payload(1000)[1:] if opcode == OP_CLOSE else b"mented"
    send_and_fail(ws, build_frame(opcode, first, fin=False) + build_frame(OP_CONT, rest), 1002)


@pytest.mark.parametrize("chop", [None, 1], ids=["whole", "chopped"])
def test_5_3_5_4_text_in_two_fragments(ws, chop):
    ws.send_raw(frags(OP_TEXT, [b"fragment1", b"fragment2"]), chop=chop)
    expect_echo(ws, OP_TEXT, b"fragment1fragment2")
    close_normally(ws)


@pytest.mark.parametrize("chop", [None, 1], ids=["whole", "chopped"])
def test_5_6_5_8_ping_between_fragments(ws, chop):
    data = (build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_PING, b"ping payload")
            + build_frame(OP_CONT, b"fragment2"))
    ws.send_raw(data, chop=chop)
    expect_pong(ws, b"ping payload")  # answered at once, not held until the message ends
    expect_echo(ws, OP_TEXT, b"fragment1fragment2")
    close_normally(ws)


def test_5_pong_between_fragments_ignored(ws):
    ws.send_raw(build_frame(OP_BINARY, b"\x01", fin=False) + build_frame(OP_PONG, b"x") + build_frame(OP_CONT, b"\x02"))
    expect_echo(ws, OP_BINARY, b"\x01\x02")
    close_normally(ws)


@pytest.mark.parametrize("fin", [True, False], ids=["fin", "nofin"])
@pytest.mark.parametrize("chop", [None, 1], ids=["whole", "chopped"])
def test_5_9_to_5_14_continuation_without_message_1002(ws, fin, chop):
    send_and_fail(ws, build_frame(OP_CONT, b"non-continuation payload", fin=fin) + build_frame(OP_TEXT, b"Hello, world!"),
                  1002, chop=chop)


def test_5_15_message_then_stray_continuation(ws):
    data = (frags(OP_TEXT, [b"fragment1", b"fragment2"]) + build_frame(OP_CONT, b"fragment3", fin=False)
            + build_frame(OP_TEXT, b"fragment4"))
    ws.send_raw_tolerant(data)
    expect_echo(ws, OP_TEXT, b"fragment1fragment2")
    ws.expect_close(1002)


@pytest.mark.parametrize("second", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_5_17_new_message_inside_fragmented_one_1002(ws, second):
    data = build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(second, b"fragment2")
    send_and_fail(ws, data, 1002)


def test_5_19_five_fragments_with_pings(ws):
    # A pause between frames, so the pings arrive while the message is incomplete on the server.
    frames = [
        (OP_TEXT, b"fragment1", False),
        (OP_CONT, b"fragment2", False),
        (OP_PING, b"pongme 1!", True),
        (OP_CONT, b"fragment3", False),
        (OP_CONT, b"fragment4", False),
        (OP_PING, b"pongme 2!", True),
        (OP_CONT, b"fragment5", True),
    ]
    for opcode, payload, fin in frames:
        ws.send_frame(opcode, payload, fin=fin)
        if opcode == OP_PING:
            expect_pong(ws, payload)
    expect_echo(ws, OP_TEXT, b"fragment1fragment2fragment3fragment4fragment5")
    close_normally(ws)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_5_many_one_byte_fragments(ws, opcode):
    payload = b"abcdefghij" * 100 if opcode == OP_TEXT else os.urandom(1000)
    ws.send_raw(frags(opcode, [payload[i:i + 1] for i in range(len(payload))]))
    expect_echo(ws, opcode, payload)
    close_normally(ws)


def test_5_empty_fragments(ws):
    ws.send_raw(frags(OP_TEXT, [b"", b"", b"x", b"", b""]))
    expect_echo(ws, OP_TEXT, b"x")
    close_normally(ws)


def test_5_fragmented_binary_large(ws):
    payload = os.urandom(200000)
    ws.send_raw(frags(OP_BINARY, [payload[i:i + 65536] for i in range(0, len(payload), 65536)]))
    expect_echo(ws, OP_BINARY, payload)
    close_normally(ws)


def test_5_fragments_over_limit_1009(ws):
    # Each fragment is small; the reassembled message passes 1 MiB.
    part = b"\x00" * (256 * 1024)
    data = frags(OP_BINARY, [part] * 4, fin_last=False) + build_frame(OP_CONT, b"\x00")
    send_and_fail(ws, data, 1009)


def test_5_close_between_fragments(ws):
    # Autobahn 7.1.5: a close inside a fragmented message ends it; the message is not echoed.
    ws.send_raw_tolerant(build_frame(OP_TEXT, b"fragment1", fin=False) + build_frame(OP_CLOSE, close_payload(1000))
                         + build_frame(OP_CONT, b"fragment2"))
    ws.expect_close(1000, reply=False)
