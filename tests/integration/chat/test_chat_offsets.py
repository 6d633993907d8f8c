"""Message offsets and epochs, history and recovery, and presence in one process (no --redis):
docs/protocol.md, "Offsets, epochs and recovery" and "Presence"."""

import asyncio

from chat_client import Chat, close_all, is_joined, open_many, run


def test_offsets_are_consecutive_per_room_across_reactors_and_in_order(ringws):
    s = ringws(app="chat", threads=2, publish_rate=0)  # 25 publishes at once each: no rate limit here

    async def main():
        members = await open_many(s, 8)
        joined = [await m.join("seq") for m in members]
        assert {j["epoch"] for j in joined} == {joined[0]["epoch"]}
        start = joined[-1]["offset"]
        per = 25
        # Publishers on both reactors, interleaved.
        for i in range(per):
            for p in members[:4]:
                await p.send({"type": "publish", "room": "seq", "data": {"from": p.id, "i": i}})
        total = per * 4
        for m in members:
            got = [await m.recv() for _ in range(total)]
            offsets = [g["offset"] for g in got]
            assert offsets == list(range(start + 1, start + total + 1)), offsets[:10]
            assert {g["epoch"] for g in got} == {joined[0]["epoch"]}
            for p in members[:4]:  # per-publisher order
                assert [g["data"]["i"] for g in got if g["from"] == p.id] == list(range(per))
        await close_all(members)

    run(main())


def test_recovery_replays_the_gap_from_history_then_live_messages(ringws):
    s = ringws(app="chat", threads=2, history_size=50)

    async def main():
        a, b = await open_many(s, 2)
        j = await a.join("hist")
        await b.join("hist")
        for i in range(5):
            await a.send({"type": "publish", "room": "hist", "data": i})
        seen = [await b.recv() for _ in range(5)]
        last = seen[2]  # b saw offsets up to here, then "disconnected"
        await b.close()
        c = await Chat.open(s, f"/ws?room=hist&since={last['offset']}&epoch={last['epoch']}")
        got = await c.recv()
        assert is_joined(got, "hist") and got["recovered"] is True, got
        assert got["offset"] == j["offset"] + 5
        replay = [await c.recv() for _ in range(2)]
        assert [m["offset"] for m in replay] == [last["offset"] + 1, last["offset"] + 2]
        assert [m["data"] for m in replay] == [3, 4]
        await a.send({"type": "publish", "room": "hist", "data": 5})
        live = await c.recv()
        assert live["offset"] == last["offset"] + 3 and live["data"] == 5
        # Too old (beyond history) or another epoch: recovered false, nothing replayed.
        d = await Chat.open(s, "/ws")
        got = await d.join("hist", since={"offset": last["offset"], "epoch": "not-this-one"})
        assert got["recovered"] is False
        await d.expect_nothing_before("sentinel")
        await close_all([a, c, d])

    run(main())


def test_without_history_only_an_exact_offset_recovers(ringws):
    s = ringws(app="chat", threads=1)

    async def main():
        a, b = await open_many(s, 2)
        await a.join("nohist")
        await b.join("nohist")
        await a.send({"type": "publish", "room": "nohist", "data": 1})
        m1 = await b.recv()
        await a.send({"type": "publish", "room": "nohist", "data": 2})
        m2 = await b.recv()
        c = await Chat.open(s, "/ws")
        exact = await c.join("nohist", since={"offset": m2["offset"], "epoch": m2["epoch"]})
        assert exact["recovered"] is True and exact["offset"] == m2["offset"]
        d = await Chat.open(s, "/ws")
        gap = await d.join("nohist", since={"offset": m1["offset"], "epoch": m1["epoch"]})
        assert gap["recovered"] is False
        await d.expect_nothing_before("sentinel")
        await close_all([a, b, c, d])

    run(main())


def test_presence_counts_members_on_every_reactor_and_lists_them(ringws):
    s = ringws(app="chat", threads=2, presence_members=True)

    async def main():
        members = await open_many(s, 6)
        for m in members:
            await m.join("here")
        asker = await Chat.open(s, "/ws")
        await asker.send({"type": "presence", "room": "here"})
        got = await asker.recv()
        assert got["type"] == "presence" and got["room"] == "here" and got["count"] == 6, got
        assert sorted(got["members"]) == sorted(m.id for m in members)
        await members[0].close()
        await asyncio.sleep(0.2)
        await asker.send({"type": "presence", "room": "here"})
        got = await asker.recv()
        assert got["count"] == 5 and members[0].id not in got["members"], got
        await close_all(members[1:] + [asker])

    run(main())


def test_join_and_leave_events_reach_members_that_asked(ringws):
    s = ringws(app="chat", threads=2)

    async def main():
        watcher, quiet = await open_many(s, 2)
        await watcher.join("ev", events=True)
        await quiet.join("ev")
        got = await watcher.recv()
        assert got == {"type": "member_joined", "room": "ev", "id": quiet.id}, got
        await quiet.leave("ev")
        got = await watcher.recv()
        assert got == {"type": "member_left", "room": "ev", "id": quiet.id}, got
        await quiet.expect_nothing_before("sentinel")
        await close_all([watcher, quiet])

    run(main())
