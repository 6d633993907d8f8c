"""SIGTERM: open WebSockets get close 1001 and the server exits 0 (checked by the fixture)."""

import signal
import time

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
    # stops routing) and new upgrades are refused with 503. A client that never answers the
    # server's close 1001 keeps the server draining (for its close timeout) long enough to ask
    # several times: each request comes from a new port, so SO_REUSEPORT spreads them over
    # the reactors, and every reactor must answer.
    s = ringws(drain_seconds=10)
    holder = RawWS.connect(s.host, s.port)
    s.signal(signal.SIGTERM)
    time.sleep(0.3)  # let the reactors see the signal
    req, _ = handshake_request(s.host, s.port)
    answers = []
    for what, request in [("healthz", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")] * 4 + [("upgrade", req)] * 2:
        try:
            status, _, _ = http_exchange(s.host, s.port, request, timeout=0.6)
        except (TimeoutError, ConnectionRefusedError) as e:
            status = type(e).__name__
        answers.append((what, status))
    assert all(status == 503 for _, status in answers), f"while draining, expected 503 to all: {answers}"
    holder.close()
    s.proc.wait(20)
    assert s.proc.returncode == 0


def test_sigusr1_drains_but_keeps_serving_until_sigterm(ringws):
    # The ECS drain watcher (deploy/) sends SIGUSR1 when the load balancer starts
    # deregistering the task: every WebSocket gets 1001, upgrades and /healthz get 503, and
    # the process stays up (answering HTTP) until ECS sends SIGTERM, when it exits 0 at once.
    s = ringws(drain_seconds=1)
    clients = [RawWS.connect(s.host, s.port) for _ in range(4)]
    s.proc.send_signal(signal.SIGUSR1)
    for c in clients:
        c.expect_close(1001, timeout=15)
        c.close()
    time.sleep(1.5)  # past the drain window: with SIGTERM the process would be gone by now
    assert s.alive(), "SIGUSR1 must not stop the process"
    status, _, body = http_exchange(s.host, s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    assert status == 503
    req, _ = handshake_request(s.host, s.port)
    assert http_exchange(s.host, s.port, req, timeout=5)[0] == 503
    assert any(e.get("event") == "draining" and e.get("signal") == "SIGUSR1" and e.get("exit") is False
               for e in s.stdout_events())
    s.signal(signal.SIGTERM)
    s.proc.wait(20)
    assert s.proc.returncode == 0
