"""SIGTERM: open WebSockets get close 1001 and the server exits 0 (checked by the fixture)."""

import signal

from rawws import OP_TEXT, RawWS


def test_sigterm_sends_1001_and_exits_0(ringws):
    s = ringws()
    clients = [RawWS.connect(s.host, s.port) for _ in range(10)]
    for c in clients:
        c.send_text("hi")
        assert c.recv_message() == (OP_TEXT, b"hi")
    s.signal(signal.SIGTERM)
    for c in clients:
        c.expect_close(1001, timeout=15)
        c.close()
    s.proc.wait(20)
    assert s.proc.returncode == 0


def test_sigint_exits_0(ringws):
    s = ringws()
    with RawWS.connect(s.host, s.port) as c:
        s.signal(signal.SIGINT)
        c.expect_close(1001, timeout=15)
    s.proc.wait(20)
    assert s.proc.returncode == 0
