"""Several instances joined through Redis (--redis): a room spans them, every member gets
every message once, in offset order; recovery works across instances; a Redis outage keeps
local rooms working and recovery tells the truth afterwards; presence counts every instance
and forgets a killed one. Each test starts its own redis-server (tests/integration/
redis_server.py) on a free port."""

import asyncio
import json
import signal
import subprocess

import pytest

from chat_client import Chat, ascrape, close_all, is_joined, run, wait_until
from ringws_server import ringws_binary

WAIT = 30.0  # bound on waits that span a reconnect (backoff up to 10 s)


def start_instances(ringws, redis, n, **kw):
    kw.setdefault("history_size", 500)
    # These tests publish as fast as they can to check order and counts, not the rate limits
    # (test_chat_rate_limits.py): off.
    kw.setdefault("publish_rate", 0)
    kw.setdefault("message_rate", 0)
    return [ringws(app="chat", threads=2, redis=redis.url, redis_timeout=2, **kw) for _ in range(n)]


async def backplane_up(server):
    m = await ascrape(server)
    return m.get("ringws_backplane_up") == 1


async def all_up(servers):
    for s in servers:
        await wait_until(lambda s=s: backplane_up(s), timeout=WAIT, what="ringws_backplane_up 1")


def test_a_room_over_three_instances_gets_every_message_once_in_offset_order(ringws, redis):
    servers = start_instances(ringws, redis, 3)

    async def main():
        await all_up(servers)
        members = []
        for s in servers:
            for _ in range(4):
                c = await Chat.open(s, "/ws")
                members.append((c, await c.join("all")))
        epochs = {j["epoch"] for _, j in members}
        assert len(epochs) == 1, epochs
        # Joins on other instances may still be syncing: a first message through every
        # instance shows each member's stream has started.
        publishers = [members[0][0], members[4][0], members[8][0]]  # one per instance
        per = 20

        async def publish(p):
            for i in range(per):
                await p.send({"type": "publish", "room": "all", "data": {"p": p.id, "i": i}})

        await asyncio.gather(*(publish(p) for p in publishers))
        total = per * len(publishers)
        for c, joined in members:
            got = [await c.recv(timeout=WAIT) for _ in range(total)]
            assert all(g["type"] == "message" for g in got), got[:3]
            offsets = [g["offset"] for g in got]
            assert offsets == list(range(joined["offset"] + 1, joined["offset"] + total + 1)), offsets
            for p in publishers:
                assert [g["data"]["i"] for g in got if g["data"]["p"] == p.id] == list(range(per))
        for c, _ in members:
            await c.expect_nothing_before("sentinel")
        published = received = 0
        for s in servers:
            m = await ascrape(s)
            published += m.get("ringws_backplane_published_total")
            received += m.get("ringws_backplane_received_total")
            assert m.get("ringws_backplane_local_only_total") == 0
            assert m.get("ringws_backplane_gaps_total") == 0
        assert published == total
        assert received >= total * len(servers)  # each instance's home got each message once (plus markers)
        await close_all([c for c, _ in members])

    run(main())


def test_a_client_recovers_on_another_instance_with_since(ringws, redis):
    a, b, c = start_instances(ringws, redis, 3)

    async def main():
        await all_up([a, b, c])
        pub = await Chat.open(b, "/ws")
        await pub.join("rec")
        reader = await Chat.open(a, "/ws")
        await reader.join("rec")
        for i in range(3):
            await pub.send({"type": "publish", "room": "rec", "data": i})
        seen = [await reader.recv() for _ in range(3)]
        for _ in range(3):
            await pub.recv()
        await reader.close()
        for i in range(3, 8):  # published while the reader is away
            await pub.send({"type": "publish", "room": "rec", "data": i})
        for _ in range(5):
            await pub.recv()
        last = seen[-1]
        back = await Chat.open(c, f"/ws?room=rec&since={last['offset']}&epoch={last['epoch']}")
        joined = await back.recv()
        assert is_joined(joined, "rec") and joined["recovered"] is True, joined
        replay = [await back.recv() for _ in range(5)]
        assert [m["data"] for m in replay] == [3, 4, 5, 6, 7]
        assert [m["offset"] for m in replay] == list(range(last["offset"] + 1, last["offset"] + 6))
        await pub.send({"type": "publish", "room": "rec", "data": 8})
        live = await back.recv()
        assert live["data"] == 8 and live["offset"] == last["offset"] + 6
        # A wrong epoch is never recovered.
        other = await Chat.open(a, "/ws")
        got = await other.join("rec", since={"offset": last["offset"], "epoch": "another"})
        assert got["recovered"] is False
        await other.expect_nothing_before("sentinel")
        await close_all([pub, back, other])

    run(main())


def test_a_redis_outage_keeps_local_rooms_working_and_recovery_tells_the_truth(ringws, redis):
    a, b = start_instances(ringws, redis, 2)

    async def main():
        await all_up([a, b])
        a1, a2 = await Chat.open(a, "/ws"), await Chat.open(a, "/ws")
        b1 = await Chat.open(b, "/ws")
        for cl in (a1, a2, b1):
            await cl.join("out")
        await a1.send({"type": "publish", "room": "out", "data": "before"})
        before = [await cl.recv() for cl in (a1, a2, b1)]
        assert len({m["offset"] for m in before}) == 1
        global_epoch = before[0]["epoch"]

        redis.signal(signal.SIGSTOP)  # Redis stops answering; its sockets stay open
        await wait_until(lambda: _not(backplane_up(a)), timeout=WAIT, what="instance a's backplane down")
        await a1.send({"type": "publish", "room": "out", "data": "during"})
        during = [await cl.recv(timeout=WAIT) for cl in (a1, a2)]
        assert [m["data"] for m in during] == ["during", "during"]
        local_epoch = during[0]["epoch"]
        assert local_epoch != global_epoch, "a local-only message must not claim the global epoch"
        assert during[0]["offset"] == before[0]["offset"] + 1

        redis.kill()  # SIGKILL, then an empty Redis on the same port
        redis.start()
        await all_up([a, b])
        m = await ascrape(a)
        assert m.get("ringws_backplane_reconnects_total") >= 1
        assert m.get("ringws_backplane_local_only_total") >= 1
        # b1 never got the local-only message: the next thing it sees is after the outage.
        await b1.expect_nothing_before("sentinel-b")
        # Truth: the old epoch's history is gone with Redis's data, the local epoch was never
        # global: both say recovered false. Publishing works across instances again.
        for since in ({"offset": before[0]["offset"], "epoch": global_epoch},
                      {"offset": during[0]["offset"], "epoch": local_epoch}):
            probe = await Chat.open(b, "/ws")
            got = await probe.join("out", since=since)
            assert got["recovered"] is False, (since, got)
            await probe.close()

        async def crosses():
            await b1.send({"type": "publish", "room": "out", "data": "after"})
            got = await a1.recv(timeout=WAIT)
            assert got["data"] == "after", got
            await a2.recv(timeout=WAIT)
            return await b1.recv(timeout=WAIT)

        after = await crosses()
        assert after["epoch"] not in (global_epoch, local_epoch)
        exact = await Chat.open(a, "/ws")
        got = await exact.join("out", since={"offset": after["offset"], "epoch": after["epoch"]})
        assert got["recovered"] is True, got
        await close_all([a1, a2, b1, exact])

    run(main())


async def _not(coro):
    return not await coro


def test_presence_counts_every_instance_and_forgets_a_killed_one(ringws, redis):
    servers = start_instances(ringws, redis, 3, presence_members=True)

    async def main():
        await all_up(servers)
        members = []
        for s in servers:
            for _ in range(2):
                c = await Chat.open(s, "/ws")
                await c.join("pres")
                members.append(c)
        asker = await Chat.open(servers[0], "/ws")

        async def presence():
            await asker.send({"type": "presence", "room": "pres"})
            got = await asker.recv()
            assert got["type"] == "presence" and got["room"] == "pres", got
            return got

        got = await wait_until(lambda: _count(presence, 6), timeout=WAIT, what="presence count 6")
        assert sorted(got["members"]) == sorted(c.id for c in members)
        servers[2].expected_returncode = -signal.SIGKILL
        servers[2].signal(signal.SIGKILL)
        servers[2].proc.wait()
        got = await wait_until(lambda: _count(presence, 4), timeout=WAIT, what="presence count 4 after SIGKILL")
        assert sorted(got["members"]) == sorted(c.id for c in members[:4])
        await close_all(members[:4] + [asker])

    run(main())


async def _count(presence, n):
    got = await presence()
    return got if got["count"] == n else None


def test_redis_commands_per_publish_do_not_grow_with_members(ringws, redis):
    (s,) = start_instances(ringws, redis, 1, history_size=100)

    async def main():
        await all_up([s])
        per_publish = []
        for members in (1, 40):
            clients = [await Chat.open(s, "/ws") for _ in range(members)]
            room = f"cost{members}"
            for c in clients:
                await c.join(room)
            before = redis.info_commandstats()
            for i in range(20):
                await clients[0].send({"type": "publish", "room": room, "data": i})
                for c in clients:
                    await c.recv()
            after = redis.info_commandstats()
            per_publish.append({k: (after.get(k, 0) - before.get(k, 0)) / 20 for k in ("evalsha", "publish", "xadd")})
            await close_all(clients)
        assert per_publish[0] == per_publish[1], per_publish
        assert per_publish[0]["publish"] == 1 and per_publish[0]["xadd"] == 1

    run(main())


def test_a_bad_redis_url_is_a_usage_error():
    for url in ("http://x", "redis://", "redis://host:99999/0", "rediss://host:6379"):
        p = subprocess.run([str(ringws_binary()), "--port", "0", "--admin-listen", "off", "--redis", url],
                           capture_output=True, timeout=10)
        assert p.returncode == 2, (url, p.returncode, p.stderr)
        assert b"--redis" in p.stderr, p.stderr
