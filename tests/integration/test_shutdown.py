"""SIGTERM: open WebSockets get close 1001 and the server exits 0 (checked by the fixture)."""

import signal

from rawws import OP_TEXT, RawWS, handshake_request, http_exchange


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


def test_draining_refuses_upgrades_and_health_with_503(ringws):
    # DESIGN.md section 3: while draining after SIGTERM, /healthz says 503 (the load balancer
    # stops routing) and new upgrades are refused with 503. A client that does not answer the
    # server's close keeps the server draining long enough to ask.
    s = ringws()
    holder = RawWS.connect(s.host, s.port)
    s.signal(signal.SIGTERM)
    f = holder.recv_server_frame(timeout=15)
    assert f.opcode == 0x8 and f.close_code == 1001, f
    status, _, _ = http_exchange(s.host, s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 503, f"/healthz while draining: {status or 'no response (connection refused or closed)'}"
    req, _ = handshake_request(s.host, s.port)
    status, _, _ = http_exchange(s.host, s.port, req)
    assert status == 503, f"upgrade while draining: {status or 'no response (connection refused or closed)'}"
    holder.close()
    s.proc.wait(20)
    assert s.proc.returncode == 0
