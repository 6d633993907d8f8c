"""A client that sends echo requests but never reads must not make the server buffer without
bound: it is closed once its backlog passes --max-backlog, and everyone else carries on."""

import errno
import os
import select
import time

import pytest

from rawws import OP_BINARY, OP_CLOSE, OP_PING, RawWS, build_frame, server_frames

CHUNK = 64 * 1024
MAX_SEND = 512 * 1024 * 1024  # bytes: a bound, far above kernel buffers plus the backlog
SEND_WINDOW = 40.0  # seconds


def test_slow_consumer_is_closed_and_server_stays_healthy(ringws):
    s = ringws(app="echo", max_backlog=65536)
    slow = RawWS.connect(s.host, s.port, rcvbuf=4096)
    frame = build_frame(OP_BINARY, os.urandom(CHUNK))
    sent, end = 0, time.monotonic() + SEND_WINDOW
    closed_while_sending = False
    slow.sock.setblocking(False)
    view, off = frame, 0
    try:
        while sent < MAX_SEND and time.monotonic() < end:
            _, writable, _ = select.select([], [slow.sock], [], 0.5)
            if not writable:
                continue
            try:
                n = slow.sock.send(view[off:])
            except BlockingIOError:
                continue
            except OSError as e:
                if e.errno in (errno.EPIPE, errno.ECONNRESET):
                    closed_while_sending = True
                    break
                raise
            sent += n
            off += n
            if off == len(view):
                off = 0
    finally:
        slow.sock.setblocking(True)

    # Now read what the server sent: echoes, maybe a close 1008, then the end of the stream.
    try:
        data = slow.read_until_closed(timeout=15)
    except TimeoutError:
        pytest.fail(f"server still holds a client that never read, after {sent} bytes sent "
                    f"(closed_while_sending={closed_while_sending})")
    finally:
        slow.close()
    frames = server_frames(data)
    for op, payload in frames:
        if op == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            assert code in (1008, 1013), f"slow consumer closed with {code}, expected 1008"
        else:
            assert op in (OP_BINARY, OP_PING), f"unexpected opcode {op}"
    # Less than everything was echoed: the server dropped it rather than buffer it all.
    echoed = sum(len(p) for op, p in frames if op == OP_BINARY)
    assert echoed < sent

    # The server still serves others (with a message that fits their own 64 KiB backlog).
    assert s.alive()
    with RawWS.connect(s.host, s.port) as ok:
        payload = os.urandom(30000)
        ok.send_binary(payload)
        assert ok.recv_message() == (OP_BINARY, payload)
