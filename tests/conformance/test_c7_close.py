"""Autobahn 7.x: the closing handshake, close codes and reasons."""

import pytest

from rawws import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, build_frame, close_payload
from wscase import expect_echo, send_and_fail

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


def test_7_1_1_echo_then_close(ws):
    ws.send_frame(OP_TEXT, b"Hello World!")
    expect_echo(ws, OP_TEXT, b"Hello World!")
    ws.send_close(1000)
    ws.expect_close(1000, reply=False)


def test_7_1_2_two_closes(ws):
    ws.send_raw_tolerant(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_CLOSE, close_payload(1000)))
    ws.expect_close(1000, reply=False)  # exactly one close back, then TCP closed


def test_7_1_3_ping_after_close_ignored(ws):
    ws.send_raw_tolerant(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_PING, b"after close"))
    ws.expect_close(1000, reply=False)  # no pong comes before or after


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_7_1_4_data_after_close_ignored(ws, opcode):
    ws.send_raw_tolerant(build_frame(OP_CLOSE, close_payload(1000)) + build_frame(opcode, b"after close"))
    ws.expect_close(1000, reply=False)


def test_7_1_6_large_message_then_close(ws):
    payload = b"BAsd7&jh23" * 26214  # 262,140 bytes
    ws.send_raw(build_frame(OP_TEXT, payload) + build_frame(OP_CLOSE, close_payload(1000)))
    expect_echo(ws, OP_TEXT, payload)
    ws.expect_close(1000, reply=False)


def test_7_3_1_empty_close(ws):
    ws.send_frame(OP_CLOSE, b"")
    # No status received: the reply may be empty or 1000.
    ws.expect_close({None, 1000}, reply=False)


def test_7_3_2_one_byte_close_1002(ws):
    send_and_fail(ws, build_frame(OP_CLOSE, b"\x03"), 1002)


def test_7_3_3_close_1000_no_reason(ws):
    ws.send_close(1000)
    ws.expect_close(1000, reply=False)


def test_7_3_4_close_1000_with_reason(ws):
    ws.send_close(1000, "Hello World!")
    ws.expect_close(1000, reply=False)


def test_7_3_5_close_with_123_byte_reason(ws):
    ws.send_close(1000, "*" * 123)
    ws.expect_close(1000, reply=False)


def test_7_3_6_close_with_124_byte_reason_1002(ws):
    # 126 bytes of payload: a control frame over 125 bytes.
    send_and_fail(ws, build_frame(OP_CLOSE, close_payload(1000, "*" * 124)), 1002)


def test_7_5_1_close_reason_invalid_utf8_1007(ws):
    send_and_fail(ws, build_frame(OP_CLOSE, close_payload(1000, KOSME_BAD)), 1007)


def test_7_close_reason_split_code_point_chopped(ws):
    # A valid reason whose multi-byte characters arrive in separate TCP writes.
    ws.send_raw(build_frame(OP_CLOSE, close_payload(1000, "κόσμε €😀")), chop=1)
    ws.expect_close(1000, reply=False)


KOSME_BAD = "κόσμε".encode() + b"\xed\xa0\x80" + b"edited"


@pytest.mark.parametrize("code", VALID_CODES)
def test_7_7_valid_code_echoed(ws, code):
    ws.send_close(code)
    # As in Autobahn 7.7: the server answers with the same code, or with 1000.
    ws.expect_close({code, 1000}, reply=False)


@pytest.mark.parametrize("code", INVALID_CODES)
def test_7_9_invalid_code_1002(ws, code):
    send_and_fail(ws, build_frame(OP_CLOSE, close_payload(code)), 1002)


def test_7_server_closes_tcp_after_close_handshake(ws):
    # The client answers nothing and keeps its end open: the server must close TCP itself.
    ws.send_close(1000)
    f = ws.recv_server_frame()
    assert f.opcode == OP_CLOSE and f.close_code == 1000, f
    ws.expect_tcp_close(timeout=15)


def test_7_unmasked_close_1002(ws):
    send_and_fail(ws, build_frame(OP_CLOSE, close_payload(1000), mask=False), 1002)
