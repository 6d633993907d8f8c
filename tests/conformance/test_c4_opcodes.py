"""Autobahn 4.x: reserved opcodes fail with 1002, also after a valid message and when followed
by a ping."""

import pytest

from rawws import OP_PING, OP_TEXT, build_frame
from wscase import expect_echo, send_and_fail

RESERVED = [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]


@pytest.mark.parametrize("opcode", RESERVED)
def test_4_reserved_opcode_empty(ws, opcode):
    send_and_fail(ws, build_frame(opcode), 1002)


@pytest.mark.parametrize("opcode", RESERVED)
def test_4_reserved_opcode_with_payload_after_text_then_ping(ws, opcode):
    ws.send_raw_tolerant(build_frame(OP_TEXT, b"Hello, world!") + build_frame(opcode, b"reserved opcode payload")
                         + build_frame(OP_PING))
    expect_echo(ws, OP_TEXT, b"Hello, world!")
    ws.expect_close(1002)  # and no pong: the ping after the failure is not answered
