"""When the descriptor table is nearly full, the server keeps a reserve for plain requests:
new connections may still get /healthz (public port) and /metrics (admin listener) answered,
but not become WebSocket connections (503). The server runs with RLIMIT_NOFILE lowered to 256 (io_uring: the fixed-file
table of its one reactor; epoll: the process's table), so the reserve is reached with a few
hundred connections."""

import resource
import socket
import urllib.request

from rawws import handshake_request

NOFILE = 256


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def get(server, path, port=None):
    with urllib.request.urlopen(f"http://127.0.0.1:{port or server.port}{path}", timeout=10) as r:
        return r.status, r.read().decode()


def upgrade_status(server):
    """The status line of one upgrade attempt; the socket is kept open when it is 101."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(handshake_request("127.0.0.1", server.port)[0])
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    if status != 101:
        s.close()
        return status, None
    return status, s


def metric(text, name, **labels):
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[1])
    raise AssertionError(f"{want} not in /metrics")


def test_plain_requests_are_answered_when_the_table_is_nearly_full(ringws):
    s = ringws(app="echo", threads=1, preexec_fn=low_nofile)
    held, refused = [], None
    try:
        for _ in range(NOFILE + 10):  # bounded: the reserve is reached well before
            status, sock = upgrade_status(s)
            if status != 101:
                refused = status
                break
            held.append(sock)
        assert refused == 503, f"after {len(held)} WebSocket connections the next upgrade got {refused}"
        assert len(held) >= NOFILE // 2, f"only {len(held)} WebSocket connections before the reserve"
        # The reserve serves what a balancer and a scraper need, again and again.
        for _ in range(5):
            assert get(s, "/healthz") == (200, "ok\n")
            status, text = get(s, "/metrics", port=s.admin_port)  # the admin listener shares the table
            assert status == 200
        assert metric(text, "ringws_handshakes_refused_total", reason="capacity") >= 1
        # Room again once WebSocket connections close.
        for sock in held[:10]:
            sock.close()
        del held[:10]
        for _ in range(50):
            status, sock = upgrade_status(s)
            if status == 101:
                held.append(sock)
                break
        assert status == 101, "no upgrade admitted after ten connections closed"
    finally:
        for sock in held:
            sock.close()
