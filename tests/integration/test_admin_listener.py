"""The admin listener (--admin-listen, private): /metrics and POST /admin/drain live there and
never on the public port, which keeps /healthz for the load balancer and the demo page only
with --demo."""

import signal

from rawws import RawWS, handshake_request, http_exchange


def get(host, port, path):
    return http_exchange(host, port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def test_metrics_only_on_the_admin_listener(ringws):
    s = ringws()
    assert s.admin_port and s.admin_port != s.port
    assert get(s.host, s.port, "/metrics")[0] == 404
    status, headers, body = get(s.host, s.admin_port, "/metrics")
    assert status == 200 and b"ringws_connections_open" in body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    for port in (s.port, s.admin_port):
        assert get(s.host, port, "/healthz")[:3:2] == (200, b"ok\n")


def test_no_websocket_and_only_the_drain_posted_on_the_admin_listener(ringws):
    s = ringws()
    req, _ = handshake_request(s.host, s.admin_port)
    assert http_exchange(s.host, s.admin_port, req)[0] == 404
    post = b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    assert http_exchange(s.host, s.admin_port, post)[0] == 405


def test_demo_page_only_with_demo(ringws):
    with_demo = ringws(demo=True)
    status, headers, body = get(with_demo.host, with_demo.port, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert get(with_demo.host, with_demo.admin_port, "/")[0] == 404
    without = ringws(demo=False)
    assert get(without.host, without.port, "/")[0] == 404


def test_post_admin_drain_drains_and_keeps_serving(ringws):
    s = ringws(drain_seconds=1)
    clients = [RawWS.connect(s.host, s.port) for _ in range(3)]
    status, _, body = http_exchange(s.host, s.admin_port,
                                    b"POST /admin/drain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert (status, body) == (202, b"draining\n")
    for c in clients:
        c.expect_close(1001, timeout=15)
        c.close()
    assert get(s.host, s.port, "/healthz")[0] == 503
    assert get(s.host, s.admin_port, "/metrics")[0] == 200  # the operator still sees it
    assert s.alive()
    events = s.stdout_events()
    assert any(e.get("event") == "drain_requested" for e in events)
    assert any(e.get("event") == "draining" and e.get("exit") is False for e in events)
    s.signal(signal.SIGTERM)
    s.proc.wait(20)
    assert s.proc.returncode == 0


def test_admin_listen_off_and_a_taken_admin_port(ringws, tmp_path):
    s = ringws(admin_listen="off")
    assert s.admin_port is None
    import subprocess

    from ringws_server import ringws_binary

    r = subprocess.run([str(ringws_binary()), "--port", "0", "--admin-listen", f"127.0.0.1:{s.port}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "--admin-listen" in r.stderr
