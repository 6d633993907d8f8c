"""The drain (DESIGN.md section 3): after SIGTERM /healthz is 503, new upgrades get 503, every
client gets close 1001 spread over --drain-seconds, and the process exits 0."""

import json
import signal
import threading
import time

from chat_client import http_get, is_joined, scrape, upgrade_status
from rawws import RawWS

DRAIN = 3
CLIENTS = 20
MARGIN = 5.0  # seconds past the window: scheduling slack on a busy 2-core machine


def test_sigterm_drain_sequence(ringws):
    s = ringws(app="chat", threads=2, drain_seconds=DRAIN)
    clients = [RawWS.connect(s.host, s.port, path="/ws?room=lobby", timeout=DRAIN + MARGIN) for _ in range(CLIENTS)]
    for c in clients:
        # hello, then joined: the client is fully set up before the signal.
        assert b'"hello"' in c.recv_message()[1]
        assert is_joined(json.loads(c.recv_message()[1]), "lobby")
    assert http_get(s, "/healthz")[0] == 200

    closed_at, errors = [None] * CLIENTS, []

    def wait_close(i, c):
        try:
            c.expect_close(1001, timeout=DRAIN + MARGIN)
            closed_at[i] = time.monotonic()
        except Exception as e:  # reported below, with the client's number
            errors.append(f"client {i}: {e}")

    threads = [threading.Thread(target=wait_close, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)

    # /healthz turns 503 and new upgrades are refused with 503, while the drain runs.
    deadline = t0 + DRAIN
    health = None
    while time.monotonic() < deadline:
        health = http_get(s, "/healthz")[0]
        if health == 503:
            break
        time.sleep(0.05)
    assert health == 503, f"/healthz answered {health} after SIGTERM"
    assert upgrade_status(s) == 503
    m = scrape(s)
    assert m.get("ringws_draining") == 1
    assert m.get("ringws_handshakes_refused_total", reason="draining") == 1

    for t in threads:
        t.join(DRAIN + MARGIN + 2)
    for c in clients:
        c.close()
    assert not errors, "\n".join(errors)
    assert all(t is not None for t in closed_at)
    last = max(closed_at) - t0
    spread = max(closed_at) - min(closed_at)
    assert last <= DRAIN + MARGIN, f"last close {last:.2f}s after SIGTERM"
    # Jittered batches over the window, not everyone at once.
    assert spread > 0.5, f"all {CLIENTS} closes within {spread:.3f}s"

    s.proc.wait(DRAIN + MARGIN + 10)
    assert s.proc.returncode == 0
