"""Autobahn 3.x: reserved bits set with no extension negotiated fail with 1002."""

import pytest

from rawws import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, build_frame, close_payload
from wscase import expect_echo, send_and_fail


def test_3_1_rsv1_text(ws):
    send_and_fail(ws, build_frame(OP_TEXT, b"Hello, world!", rsv=4), 1002)


def test_3_2_rsv2_after_valid_text(ws):
    # Sent in one write: the valid message is echoed before the connection fails.
    ws.send_raw_tolerant(build_frame(OP_TEXT, b"Hello, world!") + build_frame(OP_TEXT, b"Hello, world!", rsv=2)
                + build_frame(OP_PING))
    expect_echo(ws, OP_TEXT, b"Hello, world!")
    ws.expect_close(1002)


def test_3_3_rsv3_after_valid_text_chopped(ws):
    # The server may fail on the bad header while the rest is still arriving.
    ws.send_raw_tolerant(build_frame(OP_TEXT, b"Hello, world!") + build_frame(OP_TEXT, b"Hello, world!", rsv=3),
                         chop=1)
    expect_echo(ws, OP_TEXT, b"Hello, world!")
    ws.expect_close(1002)


@pytest.mark.parametrize("opcode,rsv,payload", [
    (OP_TEXT, 4, b"rsv 4"),
    (OP_BINARY, 5, b"\x00\xff\xfe"),
    (OP_PING, 6, b"ping"),
    (OP_CLOSE, 7, close_payload(1000)),
    (OP_TEXT, 1, b"rsv 1"),
])
def test_3_4_to_3_7_rsv_on_each_kind(ws, opcode, rsv, payload):
    send_and_fail(ws, build_frame(opcode, payload, rsv=rsv), 1002)
