"""The chat protocol with python-websockets: rooms, fan-out across reactors, joins from the URL
query, join/leave semantics."""

import asyncio
import json
import time

import pytest

from chat_client import Chat, close_all, is_joined, open_many, run


def check_message(got, room, sender, data_text, t_before, t_after):
    """A message as docs/protocol.md describes it: from = the sender's hello id, ts the server's
    wall clock in ms when it arrived, data the JSON value as sent."""
    assert got["type"] == "message", got
    assert got["room"] == room, got
    assert got["from"] == sender.id, got
    assert isinstance(got["ts"], int), got
    # A plausible ms epoch: between just before the send and just after the receipt (1 s slack
    # for clock granularity).
    assert t_before * 1000 - 1000 <= got["ts"] <= t_after * 1000 + 1000, (got["ts"], t_before, t_after)
    assert got["data"] == json.loads(data_text), got


def test_two_clients_in_a_room_see_each_others_messages_and_another_room_does_not(ringws):
    s = ringws(app="chat", threads=1)

    async def main():
        a, b, other = await open_many(s, 3)
        assert len({a.id, b.id, other.id}) == 3, "hello ids must be distinct"
        await a.join("lobby")
        await b.join("lobby")
        await other.join("elsewhere")
        for sender in (a, b):
            data = json.dumps({"text": f"hi from {sender.id}", "n": [1, 2.5, None, True], "s": "ü€\u2028"},
                              separators=(",", ":"), ensure_ascii=False)
            t0 = time.time()
            await sender.send('{"type":"publish","room":"lobby","data":' + data + "}")
            texts = [await a.recv_text(), await b.recv_text()]
            t1 = time.time()
            for text in texts:
                check_message(json.loads(text), "lobby", sender, data, t0, t1)
                # data is the JSON value exactly as sent, byte for byte (compact input here).
                assert text.endswith('"data":' + data + "}"), text
        # The client in another room got none of it.
        await other.expect_nothing_before("sentinel")
        await close_all([a, b, other])

    run(main())


async def publish_and_read(c, room, data_text):
    await c.send('{"type":"publish","room":"' + room + '","data":' + data_text + "}")
    return await c.recv_text()


def test_data_is_the_same_json_value_written_compactly(ringws):
    """docs/protocol.md: data is the JSON value the publisher sent, validated and written
    compactly (white space dropped, numbers and escapes in simdjson's canonical spelling)."""
    s = ringws(app="chat", threads=1)

    async def main():
        c = await Chat.open(s, "/ws?room=r")
        assert is_joined(await c.recv(), "r")
        for data in ['{ "a" : [1, 2] }', "1.50", "1e2", '"\\u00e9\\/"', "[true, false, null, -0, 0.25]"]:
            text = await publish_and_read(c, "r", data)
            got = json.loads(text)["data"]
            assert got == json.loads(data), (data, text)
            raw = text[text.index('"data":') + len('"data":'):-1]
            assert " " not in raw, f"data not written compactly: {raw!r}"
        await c.close()

    run(main())


def test_integers_beyond_64_bits_are_refused_as_documented(ringws):
    s = ringws(app="chat", threads=1)

    async def main():
        c = await Chat.open(s, "/ws?room=r")
        assert is_joined(await c.recv(), "r")
        await c.send(json.dumps({"type": "publish", "room": "r"})[:-1] + ', "data": 123456789012345678901234567890}')
        got = await c.recv()
        await c.close()
        assert got.get("type") == "error" and got.get("code") == "bad_json", got

    run(main())


def test_room_spanning_two_reactors_delivers_every_publish_once_to_every_member(ringws):
    s = ringws(app="chat", threads=2)

    async def main():
        clients = await open_many(s, 40)
        # Connections spread over the reactors; open more (bounded) if they have not yet.
        while len({c.reactor for c in clients}) < 2 and len(clients) < 200:
            clients += await open_many(s, 20)
        reactors = {c.reactor for c in clients}
        assert reactors == {0, 1}, f"clients only on reactors {reactors}"
        await asyncio.gather(*(c.join("span") for c in clients))
        # Publishers from both reactors, each ending with an "end" marker: a member has all it
        # will get from a publisher once that publisher's end arrives (one sender's messages to
        # one room keep their order).
        publishers = [next(c for c in clients if c.reactor == 0), next(c for c in clients if c.reactor == 1),
                      clients[-1]]
        publishers = list({p.id: p for p in publishers}.values())
        per_publisher = 5
        for p in publishers:
            for i in range(per_publisher):
                await p.send({"type": "publish", "room": "span", "data": {"from": p.id, "i": i}})
            await p.send({"type": "publish", "room": "span", "data": {"from": p.id, "end": True}})

        async def collect(c):
            got, ended = [], set()
            while len(ended) < len(publishers):
                m = await c.recv()
                assert m["type"] == "message" and m["room"] == "span", m
                assert m["from"] == m["data"]["from"], m
                if m["data"].get("end"):
                    ended.add(m["from"])
                else:
                    assert m["from"] not in ended, f"message after its sender's end: {m}"
                    got.append((m["from"], m["data"]["i"]))
            return got

        results = await asyncio.gather(*(collect(c) for c in clients))
        want = sorted((p.id, i) for p in publishers for i in range(per_publisher))
        for c, got in zip(clients, results):
            assert sorted(got) == want, f"client {c.id} got {sorted(got)}"
        await close_all(clients)

    run(main())


def test_join_from_url_query_with_percent_encoding(ringws):
    s = ringws(app="chat", threads=1)

    async def main():
        # "a%3Ab" is a:b, "x%2Ey_z-1" is x.y_z-1.
        c = await Chat.open(s, "/ws?room=a%3Ab&foo=bar&room=x%2Ey_z-1")
        assert is_joined(await c.recv(), "a:b")
        assert is_joined(await c.recv(), "x.y_z-1")
        # It is really a member of both: a second client publishes to each.
        d = await Chat.open(s, "/chat?room=x.y_z-1")
        assert is_joined(await d.recv(), "x.y_z-1")
        await d.join("a:b")
        await d.send({"type": "publish", "room": "a:b", "data": 1})
        await d.send({"type": "publish", "room": "x.y_z-1", "data": 2})
        for room, value in (("a:b", 1), ("x.y_z-1", 2)):
            got = await c.recv()
            assert (got["type"], got["room"], got["from"], got["data"]) == ("message", room, d.id, value)
        # An invalid name in the query gets the same error a join message would.
        e = await Chat.open(s, "/ws?room=bad%20name&room=ok")
        await e.expect_error("bad_room")
        assert is_joined(await e.recv(), "ok")
        await close_all([c, d, e])

    run(main())


def test_join_is_idempotent_leave_works_and_publish_after_leave_is_not_joined(ringws):
    s = ringws(app="chat", threads=1)

    async def main():
        a, b = await open_many(s, 2)
        await a.join("r")
        await a.join("r")  # again: joined, and still one membership
        await b.join("r")
        await b.send({"type": "publish", "room": "r", "data": "once"})
        assert (await a.recv())["data"] == "once"
        assert (await b.recv())["data"] == "once"
        await a.expect_nothing_before("s1")  # no second copy for the double join
        await a.leave("r")
        await b.send({"type": "publish", "room": "r", "data": "after"})
        assert (await b.recv())["data"] == "after"
        await a.expect_nothing_before("s2")  # a left: no copy
        await a.send({"type": "publish", "room": "r", "data": 1})
        await a.expect_error("not_joined")
        await a.send({"type": "leave", "room": "r"})
        await a.expect_error("not_joined")
        # Rejoining works.
        await a.join("r")
        await b.send({"type": "publish", "room": "r", "data": "back"})
        assert (await a.recv())["data"] == "back"
        await close_all([a, b])

    run(main())
