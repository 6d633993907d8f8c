"""HTTP on the chat port: /healthz, the demo page, 404, and /metrics content that follows what
the clients do."""

import asyncio

import websockets

from chat_client import Chat, close_all, http_get, open_many, run, scrape, upgrade_status, wait_until
from ringws_server import Server


def test_healthz_demo_page_and_404(ringws):
    s = ringws(app="chat", threads=1)
    status, headers, body = http_get(s, "/healthz")
    assert status == 200 and body.strip() == b"ok", (status, body)
    status, headers, body = http_get(s, "/")
    assert status == 200 and headers.get("content-type", "").startswith("text/html"), (status, headers)
    assert b"<html" in body.lower()  # the page itself is the browser test's subject
    assert http_get(s, "/no/such/page")[0] == 404


def test_sequential_requests_on_a_fresh_server_all_get_an_answer():
    """Each fresh server answers a few requests in a row: none may be closed without a response.
    (Seen failing: about 1 in 30 fresh servers closed the second or third connection with no
    bytes sent while counting it closed with reason http.)"""
    problems = []
    for i in range(30):
        s = Server(app="chat", threads=1)
        try:
            statuses = [http_get(s, "/healthz")[0] for _ in range(4)]
            if statuses != [200] * 4:
                problems.append(f"server {i}: statuses {statuses}")
        finally:
            problems += s.stop()
    assert not problems, "\n".join(problems)


def check_histogram(m, name):
    buckets = m.series(name + "_bucket")
    assert buckets, f"no {name}_bucket samples"
    assert m.types.get(name) == "histogram", m.types.get(name)

    def bound(labels):
        le = dict(labels)["le"]
        return float("inf") if le == "+Inf" else float(le)

    ordered = sorted(buckets.items(), key=lambda kv: bound(kv[0]))
    assert bound(ordered[-1][0]) == float("inf"), "no +Inf bucket"
    values = [v for _, v in ordered]
    assert values == sorted(values), f"buckets not cumulative: {ordered}"
    count = m.get(name + "_count")
    assert values[-1] == count, f"+Inf bucket {values[-1]} != _count {count}"
    total = m.get(name + "_sum")
    assert total >= 0
    return count, total


def test_metrics_follow_the_clients(ringws):
    s = ringws(app="chat", threads=2, max_message=1000, allowed_origins="http://good.example")
    origin = "http://good.example"

    async def main():
        m0 = await asyncio.to_thread(scrape, s)
        for name in ("ringws_connections_open", "ringws_rooms"):
            assert m0.types.get(name) == "gauge", name
        for name in ("ringws_messages_received_total", "ringws_messages_sent_total",
                     "ringws_connections_closed_total", "ringws_handshakes_refused_total"):
            assert m0.types.get(name) == "counter", name
        assert m0.get("ringws_connections_open") == 0
        assert m0.get("ringws_rooms") == 0
        count0, _ = check_histogram(m0, "ringws_delivery_latency_seconds")
        assert count0 == 0

        clients = await open_many(s, 5, origin=origin)
        m1 = await asyncio.to_thread(scrape, s)
        assert m1.get("ringws_connections_open") == 5
        assert m1.get("ringws_connections_upgraded_total") == 5

        # Rooms: three distinct rooms, one of them shared.
        await clients[0].join("a")
        await clients[1].join("a")
        await clients[2].join("b")
        await clients[3].join("c")
        m2 = await asyncio.to_thread(scrape, s)
        assert m2.get("ringws_rooms") == 3

        # Publishing: received and sent grow by at least what happened.
        k = 7
        for i in range(k):
            await clients[0].send({"type": "publish", "room": "a", "data": i})
        for c in clients[:2]:
            for i in range(k):
                assert (await c.recv())["data"] == i
        m3 = await asyncio.to_thread(scrape, s)
        received = m3.get("ringws_messages_received_total") - m2.get("ringws_messages_received_total")
        sent = m3.get("ringws_messages_sent_total") - m2.get("ringws_messages_sent_total")
        assert received == k, received
        assert sent >= 2 * k, sent  # each publish went to two members
        assert m3.get("ringws_fanout_deliveries_total") - m2.get("ringws_fanout_deliveries_total") >= 2 * k
        count3, sum3 = check_histogram(m3, "ringws_delivery_latency_seconds")
        assert count3 >= k, count3
        assert sum3 > 0

        # Leaving empties a room: the gauge drops.
        await clients[3].leave("c")
        assert (await asyncio.to_thread(scrape, s)).get("ringws_rooms") == 2

        # Closes by reason: a normal close, and a message over --max-message (1009, too_big).
        def closed(m, reason):
            return m.get("ringws_connections_closed_total", reason=reason)

        await clients[4].close()
        big = clients[3]
        await big.send('{"type":"publish","room":"a","data":"' + "x" * 2000 + '"}')
        try:
            await big.recv()
        except websockets.ConnectionClosed:
            pass
        assert big.ws.close_code == 1009

        async def settled():
            m = await asyncio.to_thread(scrape, s)
            return m if m.get("ringws_connections_open") == 3 else None

        m4 = await wait_until(settled, what="connections_open == 3")
        assert closed(m4, "normal") == closed(m3, "normal") + 1
        assert closed(m4, "too_big") == closed(m3, "too_big") + 1

        # Refusals by reason: a foreign Origin (403) and an unsupported version (426).
        assert await asyncio.to_thread(upgrade_status, s, "/ws", ("Origin: http://evil.example",)) == 403
        req_426 = await asyncio.to_thread(_upgrade_with_version, s, "8")
        assert req_426 == 426
        m5 = await asyncio.to_thread(scrape, s)

        def refused(m, reason):
            return m.get("ringws_handshakes_refused_total", reason=reason)

        assert refused(m5, "origin") == refused(m4, "origin") + 1
        assert refused(m5, "version") == refused(m4, "version") + 1
        assert m5.get("ringws_connections_open") == 3
        assert m5.get("ringws_draining") == 0
        await close_all(clients[:3])

    run(main())


def _upgrade_with_version(s, version):
    from rawws import handshake_request, http_exchange

    req, _ = handshake_request(s.host, s.port, path="/ws", extra=("Origin: http://good.example",), version=version)
    return http_exchange(s.host, s.port, req)[0]
