"""Client text in the JSON logs: a request path and an X-Forwarded-For entry full of quotes
and backslashes (and a byte that is not UTF-8) must stay inside their strings. Every stdout
line must parse as one JSON object, and no member the client wrote may appear."""

import base64
import json
import os
import time
from pathlib import Path

from rawws import OP_TEXT, RawWS, expected_accept, http_exchange

# Quote-laden and control-free, as a request line and header values allow.
PATH = '/x","level":"error","injected":"path\\'
FORWARDED = b'198.51.100.1, 203.0.113.9"}{"injected":"xff\\\xff'
# The right-most entry (the one the server trusts), as the log should show it.
LOGGED_ADDRESS = '203.0.113.9"}{"injected":"xff\\\ufffd'


def upgrade_request(path, origin, forwarded):
    key = base64.b64encode(os.urandom(16)).decode()
    head = (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n").encode()
    return head + b"X-Forwarded-For: " + forwarded + b"\r\n\r\n", key


def log_events(server, wanted, timeout=5.0):
    """stdout as JSON objects once `wanted` events are in it; stdout must be valid UTF-8."""
    deadline = time.monotonic() + timeout
    while True:
        raw = Path(server.out.name).read_bytes()
        text = raw.decode("utf-8")  # strict: an invalid byte copied raw into a log fails here
        lines = text[: text.rfind("\n") + 1].splitlines()
        events = [json.loads(line) for line in lines]
        names = [e.get("event") for e in events]
        if all(w in names for w in wanted) or time.monotonic() > deadline:
            return lines, events
        time.sleep(0.05)


def test_client_text_cannot_add_members_to_log_lines(ringws):
    s = ringws(app="echo", log_connections=True, trust_proxy=True, allowed_origins="https://good.example")

    # Accepted: websocket_open logs the address and the path.
    ws = RawWS(s.host, s.port)
    with ws:
        req, key = upgrade_request(PATH, "https://good.example", FORWARDED)
        ws.send_raw(req)
        status, headers = ws.read_http_head()
        assert status == 101
        assert headers.get("sec-websocket-accept") == expected_accept(key)
        ws.send_text("hi")
        assert ws.recv_message() == (OP_TEXT, b"hi")

    # Refused for its Origin: handshake_refused logs the address.
    req, _ = upgrade_request(PATH, "https://evil.example", FORWARDED)
    status, _, _ = http_exchange(s.host, s.port, req)
    assert status == 403

    lines, events = log_events(s, ["websocket_open", "handshake_refused"])
    for line, event in zip(lines, events):
        assert isinstance(event, dict), line
        assert "injected" not in event, line
        assert event.get("level") in ("debug", "info", "warn"), line  # nothing is an error here
    opens = [e for e in events if e.get("event") == "websocket_open"]
    refusals = [e for e in events if e.get("event") == "handshake_refused"]
    assert len(opens) == 1 and len(refusals) == 1, lines
    assert opens[0]["path"] == PATH
    assert opens[0]["address"] == LOGGED_ADDRESS
    assert refusals[0]["status"] == 403 and refusals[0]["reason"] == "origin"
    assert refusals[0]["address"] == LOGGED_ADDRESS
