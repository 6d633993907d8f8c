"""stdout: CloudWatch Embedded Metric Format lines with --emf-interval, and JSON log lines."""

import asyncio
import time

import pytest

from chat_client import Chat, ascrape, close_all, open_many, run, upgrade_status, wait_until

DIMENSIONS = {"Service": "chat", "Stage": "test"}


def emf_lines(s):
    return [e for e in s.stdout_events() if "_aws" in e]


def check_emf_shape(line, now_ms):
    aws = line["_aws"]
    assert isinstance(aws["Timestamp"], int) and not isinstance(aws["Timestamp"], bool), aws
    assert abs(aws["Timestamp"] - now_ms) < 120_000, (aws["Timestamp"], now_ms)
    cwm = aws["CloudWatchMetrics"]
    assert isinstance(cwm, list) and len(cwm) == 1, cwm
    assert cwm[0]["Namespace"] == "Test"
    assert cwm[0]["Dimensions"] == [["Service", "Stage"]]
    names = [metric["Name"] for metric in cwm[0]["Metrics"]]
    assert {"ConnectionsOpen", "MessagesReceived"} <= set(names), names
    for metric in cwm[0]["Metrics"]:
        assert isinstance(metric["Name"], str)
        assert isinstance(metric.get("Unit", "None"), str)
        value = line.get(metric["Name"])
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{metric['Name']}: {value!r}"
        assert value >= 0
    for name, value in DIMENSIONS.items():
        assert line.get(name) == value, (name, line.get(name))


def test_emf_lines(ringws):
    s = ringws(app="chat", threads=2, emf_interval=1, emf_namespace="Test",
               emf_dimensions="Service=chat,Stage=test")

    async def main():
        clients = await open_many(s, 3)
        for c in clients:
            await c.join("r")
        # A line that sees the 3 clients.
        await wait_until(lambda: any(e["ConnectionsOpen"] == 3 for e in emf_lines(s)), timeout=10, interval=0.2,
                         what="an EMF line with ConnectionsOpen == 3")
        # Quiet now: once one more line is out, the per-interval deltas add up to the total.
        n0 = len(emf_lines(s))
        await wait_until(lambda: len(emf_lines(s)) > n0, timeout=10, interval=0.1, what="another EMF line")
        before = emf_lines(s)
        m0 = await ascrape(s)
        assert sum(e["MessagesReceived"] for e in before) == m0.get("ringws_messages_received_total")
        # k publishes, then the lines that follow count exactly k more received messages.
        k = 9
        for i in range(k):
            await clients[0].send({"type": "publish", "room": "r", "data": i})
        for c in clients:
            for i in range(k):
                assert (await c.recv())["data"] == i
        n1 = len(emf_lines(s))
        await wait_until(lambda: len(emf_lines(s)) > n1, timeout=10, interval=0.1, what="an EMF line after publishing")
        after = emf_lines(s)
        assert sum(e["MessagesReceived"] for e in after[len(before):]) == k
        assert sum(e["MessagesSent"] for e in after[len(before):]) >= 3 * k
        now_ms = int(time.time() * 1000)
        for line in after:
            check_emf_shape(line, now_ms)
        assert after[-1]["ConnectionsOpen"] == 3
        await close_all(clients)

    run(main())


def test_log_lines_are_json_with_connection_events_and_proxy_address(ringws):
    s = ringws(app="chat", threads=1, log_connections=True, trust_proxy=True,
               allowed_origins="http://good.example")

    async def main():
        c = await Chat.open(s, origin="http://good.example", extra_headers={"X-Forwarded-For": "192.0.2.1, 10.1.2.3"})
        assert await asyncio.to_thread(upgrade_status, s, "/ws", (
            "Origin: http://evil.example", "X-Forwarded-For: 192.0.2.1, 10.9.8.7")) == 403
        await c.close()
        await wait_until(lambda: any(e.get("event") == "websocket_close" for e in s.stdout_events()),
                         what="a websocket_close log line")

    run(main())
    events = s.stdout_events()  # raises if a line is not JSON
    for e in events:
        assert isinstance(e, dict), e
        assert e.get("level") in ("debug", "info", "warn", "error"), e
        assert isinstance(e.get("time"), str) and e["time"].endswith("Z"), e
        assert isinstance(e.get("event"), str) and e["event"], e
    by_event = {}
    for e in events:
        by_event.setdefault(e["event"], []).append(e)
    opened = by_event.get("websocket_open", [])
    assert len(opened) == 1 and opened[0].get("address") == "10.1.2.3", opened
    assert len(by_event.get("websocket_close", [])) == 1
    refused = by_event.get("handshake_refused", [])
    assert len(refused) == 1, refused
    assert refused[0].get("status") == 403 and refused[0].get("address") == "10.9.8.7", refused


def test_log_address_without_proxy_is_the_peer(ringws):
    """Without --trust-proxy the logged address is the TCP peer (read with
    IORING_OP_FIXED_FD_INSTALL, kernel 6.8+), and X-Forwarded-For is ignored."""
    s = ringws(app="chat", threads=1, log_connections=True)
    if "FIXED_FD_INSTALL" not in s.listening.get("ring_flags", ""):
        pytest.skip("kernel without IORING_OP_FIXED_FD_INSTALL: direct clients have no address")

    async def main():
        c = await Chat.open(s, extra_headers={"X-Forwarded-For": "10.1.2.3"})
        await c.close()

    run(main())
    opened = [e for e in s.stdout_events() if e.get("event") == "websocket_open"]
    assert len(opened) == 1 and opened[0].get("address") == "127.0.0.1", opened
