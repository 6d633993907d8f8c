"""Limits with the chat app: message size, connection cap, allowed origins, per-address cap
behind a trusted proxy. Each refusal is also counted in /metrics by reason."""

import asyncio

import websockets

from chat_client import Chat, WAIT, ascrape, close_all, open_many, run, upgrade_status, wait_until


def refused(m, reason):
    return m.get("ringws_handshakes_refused_total", reason=reason)


def test_message_over_max_message_closes_1009(ringws):
    s = ringws(app="chat", threads=1, max_message=1000)

    async def main():
        c, other = await open_many(s, 2)
        await c.join("r")
        before = await ascrape(s)
        # Exactly at the limit is a message like any other.
        head, tail = '{"type":"publish","room":"r","data":"', '"}'
        at_limit = head + "x" * (1000 - len(head) - len(tail)) + tail
        assert len(at_limit) == 1000
        await c.send(at_limit)
        assert (await c.recv())["type"] == "message"
        await c.send('{"type":"publish","room":"r","data":"' + "x" * 2000 + '"}')
        try:
            got = await c.recv()
            raise AssertionError(f"expected close 1009, got {got}")
        except websockets.ConnectionClosed:
            pass
        assert c.ws.close_code == 1009, c.ws.close_code
        # Counted at teardown, which can come a moment after the client saw the close.
        expected = before.get("ringws_connections_closed_total", reason="too_big") + 1

        async def counted():
            return (await ascrape(s)).get("ringws_connections_closed_total", reason="too_big") == expected

        await wait_until(counted, what="the 1009 close counted as too_big")
        # Others are unaffected.
        await other.join("r")
        await other.close()

    run(main())


def test_max_connections_refuses_the_next_upgrade_with_503(ringws):
    n = 3
    s = ringws(app="chat", threads=2, max_connections=n)

    async def main():
        clients = await open_many(s, n)
        assert await asyncio.to_thread(upgrade_status, s) == 503
        try:
            await Chat.open(s)
            raise AssertionError("upgrade above --max-connections accepted")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 503
        m = await ascrape(s)
        assert refused(m, "capacity") == 2
        assert m.get("ringws_connections_open") == n
        # Plain HTTP is still served at the cap.
        # Once one closes, a new upgrade is accepted again.
        await clients.pop().close()
        await wait_until(lambda: _open_is(s, n - 1), what="connections_open to drop")
        clients.append(await Chat.open(s))
        assert await asyncio.to_thread(upgrade_status, s) == 503
        await close_all(clients)

    run(main())


async def _open_is(s, n):
    return (await ascrape(s)).get("ringws_connections_open") == n


def test_allowed_origins(ringws):
    s = ringws(app="chat", threads=1, allowed_origins="http://good.example,https://also.example")

    async def main():
        for origin in ("http://evil.example", "http://good.example.evil", "https://good.example"):
            assert await asyncio.to_thread(upgrade_status, s, "/ws", (f"Origin: {origin}",)) == 403, origin
        try:
            await Chat.open(s, origin="http://evil.example")
            raise AssertionError("upgrade from a foreign Origin accepted")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 403
        a = await Chat.open(s, origin="http://good.example")
        b = await Chat.open(s, origin="https://also.example")
        await a.join("r")
        m = await ascrape(s)
        assert refused(m, "origin") == 4
        assert m.get("ringws_connections_open") == 2
        await close_all([a, b])

    run(main())


def test_max_per_address_uses_the_rightmost_forwarded_for_entry(ringws):
    s = ringws(app="chat", threads=2, max_per_address=2, trust_proxy=True)

    def xff(value):
        return {"X-Forwarded-For": value}

    async def main():
        # Two from 10.0.0.5; the left entries are whatever the client claimed and do not count.
        a = await Chat.open(s, extra_headers=xff("203.0.113.9, 10.0.0.5"))
        b = await Chat.open(s, extra_headers=xff("198.51.100.7, 10.0.0.5"))
        status = await asyncio.to_thread(upgrade_status, s, "/ws", ("X-Forwarded-For: 203.0.113.9, 10.0.0.5",))
        assert status == 429
        try:
            await Chat.open(s, extra_headers=xff("10.0.0.5"))
            raise AssertionError("a third connection from 10.0.0.5 was accepted")
        except websockets.InvalidStatusCode as e:
            assert e.status_code == 429
        # Another address, even with 10.0.0.5 further left, is accepted.
        c = await Chat.open(s, extra_headers=xff("10.0.0.5, 10.0.0.6"))
        m = await ascrape(s)
        assert refused(m, "per_address") == 2
        # After one from 10.0.0.5 closes, 10.0.0.5 may connect again (the server notices the
        # close asynchronously: retry within a bound).
        await a.close()

        async def reconnect():
            try:
                return await Chat.open(s, extra_headers=xff("10.0.0.5"))
            except websockets.InvalidStatusCode as e:
                assert e.status_code == 429
                return None

        d = await wait_until(reconnect, timeout=WAIT, interval=0.1, what="a new connection from 10.0.0.5")
        await close_all([b, c, d])

    run(main())
