"""The HTTP side of ringws: plain endpoints, upgrade refusals, limits on the request head,
requests that arrive slowly or not at all, and an upgrade that carries frames with it."""

import base64
import os
import time

import pytest

from rawws import OP_TEXT, Closed, RawWS, build_frame, expected_accept, handshake_request, http_exchange


def get(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n".encode()


def test_healthz_is_200(echo_server):
    status, _, _ = http_exchange(echo_server.host, echo_server.port, get("/healthz"))
    assert status == 200


def test_plain_get_elsewhere_is_404(echo_server):
    status, _, _ = http_exchange(echo_server.host, echo_server.port, get("/nothing-here"))
    assert status == 404


def test_post_is_405_with_allow_get(echo_server):
    req = b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
    status, headers, _ = http_exchange(echo_server.host, echo_server.port, req)
    assert status == 405
    assert headers.get("allow", "").replace(" ", "").upper().split(",") == ["GET"], headers


def test_websocket_version_8_is_426_naming_13(echo_server):
    req, _ = handshake_request(echo_server.host, echo_server.port, version="8")
    status, headers, _ = http_exchange(echo_server.host, echo_server.port, req)
    assert status == 426
    assert headers.get("sec-websocket-version") == "13", headers


def test_missing_key_is_400(echo_server):
    req = get("/", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
    status, _, _ = http_exchange(echo_server.host, echo_server.port, req)
    assert status == 400


@pytest.mark.parametrize("upgrade", ["Upgrade: h2c\r\n", ""])
def test_websocket_headers_without_the_websocket_token_are_400_not_the_page(echo_server, upgrade):
    # A failed WebSocket handshake: answering it with the demo page would look like success.
    key = base64.b64encode(os.urandom(16)).decode()
    req = get("/", f"Connection: Upgrade\r\n{upgrade}Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
    status, headers, body = http_exchange(echo_server.host, echo_server.port, req)
    assert status == 400
    assert "text/html" not in headers.get("content-type", ""), headers
    assert b"<html" not in body.lower()


def test_unknown_upgrade_without_websocket_headers_is_a_plain_get(echo_server):
    status, headers, body = http_exchange(echo_server.host, echo_server.port,
                                          get("/", "Connection: Upgrade\r\nUpgrade: h2c\r\n"))
    assert status == 200
    assert headers.get("content-type", "").startswith("text/html"), headers


def test_absolute_form_target_upgrades_and_serves(echo_server):
    host = f"{echo_server.host}:{echo_server.port}"
    status, _, body = http_exchange(echo_server.host, echo_server.port,
                                    f"GET HTTP://{host}/healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert status == 200 and body == b"ok\n"
    with RawWS.connect(echo_server.host, echo_server.port, path=f"http://{host}/ws?room=a") as ws:
        ws.send_text("absolute")
        assert ws.recv_message() == (OP_TEXT, b"absolute")
    status, _, _ = http_exchange(echo_server.host, echo_server.port,
                                 f"GET http://user@{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    assert status == 400


@pytest.mark.parametrize("key", ["abc", "not base64 at all!!", base64.b64encode(os.urandom(15)).decode(),
                                 base64.b64encode(os.urandom(17)).decode()])
def test_bad_key_is_400(echo_server, key):
    req, _ = handshake_request(echo_server.host, echo_server.port, key=key)
    status, _, _ = http_exchange(echo_server.host, echo_server.port, req)
    assert status == 400


@pytest.mark.parametrize("request_bytes", [b"HELLO\r\n\r\n", b"GET\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"])
def test_garbage_request_line_is_400(echo_server, request_bytes):
    status, _, _ = http_exchange(echo_server.host, echo_server.port, request_bytes)
    assert status == 400


def oversized_head_answer(s, pad):
    """Sends an upgrade whose head is about `pad` bytes and returns the status (None when the
    server just closes). With --handshake-timeout 30, an answer within 8 s is the limit at work,
    not the timeout."""
    req, _ = handshake_request(s.host, s.port, extra=[f"X-Pad: {'a' * pad}"])
    try:
        status, _, _ = http_exchange(s.host, s.port, req, timeout=8)
    except TimeoutError:
        pytest.fail(f"no answer within 8 s to a {len(req)}-byte head (limit exceeded, expected 431 or close)")
    return status


def test_head_over_max_header_bytes_is_431_or_closed(ringws):
    s = ringws(handshake_timeout=30)  # default limit 8192; this head is about 10 KB
    status = oversized_head_answer(s, 10000)
    assert status in (431, None), f"expected 431 or a closed connection, got {status}"


def test_head_over_small_limit_is_431_but_under_it_upgrades(ringws):
    s = ringws(max_header_bytes=1024, handshake_timeout=30)
    status = oversized_head_answer(s, 1500)
    assert status in (431, None), f"expected 431 or a closed connection, got {status}"
    # A head within the limit (about 700 bytes) still upgrades.
    with RawWS.connect(s.host, s.port, extra=[f"X-Pad: {'a' * 500}"]) as ws:
        ws.send_text("fits")
        assert ws.recv_message() == (OP_TEXT, b"fits")


def test_head_over_limit_in_many_small_writes_is_431_or_closed(ringws):
    s = ringws(max_header_bytes=1024, handshake_timeout=30)
    req, _ = handshake_request(s.host, s.port, extra=[f"X-Pad-{i}: {'b' * 90}" for i in range(20)])
    try:
        status, _, _ = http_exchange(s.host, s.port, req, timeout=8, chop=100)
    except TimeoutError:
        pytest.fail("no answer within 8 s to a head over the limit sent in 100-byte writes")
    assert status in (431, None), f"expected 431 or a closed connection, got {status}"


def test_request_one_byte_at_a_time_upgrades(echo_server):
    ws = RawWS(echo_server.host, echo_server.port)
    with ws:
        req, key = handshake_request(echo_server.host, echo_server.port, path="/slow")
        ws.send_raw(req, chop=1, delay=0.002)
        status, headers = ws.read_http_head()
        assert status == 101
        assert headers.get("sec-websocket-accept") == expected_accept(key)
        # and the frame after it, one byte at a time too
        ws.send_raw(build_frame(OP_TEXT, b"byte by byte"), chop=1, delay=0.002)
        assert ws.recv_message() == (OP_TEXT, b"byte by byte")


def test_upgrade_on_any_path(echo_server):
    for path in ("/ws?room=x", "/a/b/c", "/?"):
        with RawWS.connect(echo_server.host, echo_server.port, path=path) as ws:
            ws.send_text(path)
            assert ws.recv_message() == (OP_TEXT, path.encode())


def test_frames_in_the_same_write_as_the_request(echo_server):
    frames = build_frame(OP_TEXT, b"first") + build_frame(OP_TEXT, b"second")
    with RawWS.connect(echo_server.host, echo_server.port, trailing=frames) as ws:
        assert ws.recv_message() == (OP_TEXT, b"first")
        assert ws.recv_message() == (OP_TEXT, b"second")


def test_silent_client_is_dropped_after_handshake_timeout(ringws):
    s = ringws(handshake_timeout=2)
    ws = RawWS(s.host, s.port)
    with ws:
        try:
            data = ws.read_until_closed(timeout=8)
        except TimeoutError:
            pytest.fail("server kept a silent connection open for 8 s with --handshake-timeout 2")
        # It may say 408 on its way out; it must not upgrade or answer anything else.
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]


def test_partial_request_is_dropped_after_handshake_timeout(ringws):
    s = ringws(handshake_timeout=2)
    ws = RawWS(s.host, s.port)
    with ws:
        ws.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            data = ws.read_until_closed(timeout=8)
        except TimeoutError:
            pytest.fail("server kept an incomplete request open for 8 s with --handshake-timeout 2")
        assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]


def test_server_healthy_after_bad_requests(echo_server):
    for bad in (b"\x00" * 100 + b"\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 3000 + b"\r\n"):
        try:
            http_exchange(echo_server.host, echo_server.port, bad, timeout=5)
        except (Closed, TimeoutError):
            pass
    assert echo_server.alive()
    status, _, _ = http_exchange(echo_server.host, echo_server.port, get("/healthz"))
    assert status == 200
