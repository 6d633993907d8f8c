"""Helpers shared by the conformance cases: what "echoed", "failed with code X" and
"closed cleanly" mean, asserted precisely."""

from rawws import OP_CLOSE, OP_PONG, build_frame

MAX_MESSAGE = 1 << 20  # the server's default --max-message


def expect_echo(ws, opcode, payload, timeout=None):
    """The next frames form exactly one message: `payload` with `opcode`."""
    op, got = ws.recv_message(timeout=timeout, skip_pings=True)
    assert op == opcode, f"echo opcode {op:#x}, expected {opcode:#x}"
    assert len(got) == len(payload), f"echo of {len(got)} bytes, expected {len(payload)}"
    assert got == payload, "echo differs from what was sent"


def expect_pong(ws, payload, timeout=None):
    f = ws.recv_server_frame(timeout)
    assert f.opcode == OP_PONG, f"expected pong, got {f}"
    assert f.payload == payload, f"pong payload {f.payload!r}, expected {payload!r}"


def send_and_fail(ws, data, codes, chop=None, delay=0.0):
    """Sends bytes that must fail the connection; asserts the close code and the TCP close."""
    ws.send_raw_tolerant(data, chop=chop, delay=delay)
    return ws.expect_close(codes)


def close_normally(ws):
    """Client-initiated close 1000: the server answers 1000 and closes TCP."""
    ws.send_raw(build_frame(OP_CLOSE, b"\x03\xe8"))
    ws.expect_close(1000, reply=False)
