"""A room member that never reads is closed once its backlog passes --max-backlog; the server's
memory stays bounded and the other members keep receiving everything."""

import asyncio
import json
import struct

from chat_client import Chat, ascrape, is_joined, run, wait_until
from rawws import OP_CLOSE, OP_TEXT, RawWS, server_frames

BACKLOG = 65536
DATA = "d" * 4000  # a few KiB per message
BATCH = 8  # 32 KB in flight: under the backlog cap, so readers that keep up are never slow
MAX_MESSAGES = 3000  # bound: 12 MB, well above the kernel socket buffers (4 MB) plus the backlog
RSS_SLACK = 16 << 20


def _slow_closed(s):
    async def check():
        m = await ascrape(s)
        return m if m.get("ringws_slow_consumers_total") >= 1 else None
    return check


def test_slow_room_member_is_closed_memory_stays_bounded_others_receive(ringws):
    # --close-timeout 1: a slow consumer sits in the closing state (its 1008 queued behind bytes
    # it never reads) until the close deadline, and is counted closed only then.
    # The rate limits off: this test floods a room on purpose (test_chat_rate_limits.py floods
    # at the default limits).
    s = ringws(app="chat", threads=2, max_backlog=BACKLOG, close_timeout=1, message_rate=0, publish_rate=0)
    slow = RawWS.connect(s.host, s.port, path="/ws?room=flood", rcvbuf=4096)
    assert b'"hello"' in slow.recv_message()[1]
    assert is_joined(json.loads(slow.recv_message()[1]), "flood")

    async def main():
        pub = await Chat.open(s, "/ws?room=flood")
        good = await Chat.open(s, "/ws?room=flood")
        for c in (pub, good):
            assert is_joined(await c.recv(), "flood")
        counts = {pub.id: 0, good.id: 0}

        async def consume(c):
            while True:
                m = await c.recv(timeout=30)
                assert m["type"] == "message" and m["from"] == pub.id and m["data"]["pad"] == DATA, m
                assert m["data"]["i"] == counts[c.id], f"{c.id}: message {m['data']['i']} out of order"
                counts[c.id] += 1

        readers = [asyncio.create_task(consume(c)) for c in (pub, good)]
        m0 = await ascrape(s)
        baseline = m0.get("ringws_process_resident_memory_bytes")
        peak, published = baseline, 0
        slow_closed = 0
        while published < MAX_MESSAGES:
            for _ in range(BATCH):
                await pub.send({"type": "publish", "room": "flood", "data": {"i": published, "pad": DATA}})
                published += 1
            # Let the readers keep up: the publisher and the good member must never be slow.
            await wait_until(lambda: min(counts.values()) >= published, timeout=20, interval=0.002,
                             what="the good members to keep up")
            if published % (8 * BATCH):
                continue
            m = await ascrape(s)
            peak = max(peak, m.get("ringws_process_resident_memory_bytes"))
            slow_closed = m.get("ringws_slow_consumers_total")
            if slow_closed >= 1 and published >= 10 * BATCH:
                break
        print(f"slow consumer closed after {published} messages; RSS {baseline} -> peak {peak}")
        if slow_closed < 1:
            m = await wait_until(_slow_closed(s), timeout=10, interval=0.2,
                                 what=f"the slow consumer to be closed after {published} messages")
            peak = max(peak, m.get("ringws_process_resident_memory_bytes"))
            slow_closed = m.get("ringws_slow_consumers_total")
        assert slow_closed == 1, f"slow consumers closed: {slow_closed} after {published} messages"
        assert peak <= baseline + RSS_SLACK, f"RSS grew from {baseline} to {peak}"
        # Everyone else got every message, in order.
        await wait_until(lambda: min(counts.values()) == published, timeout=20, what="all messages delivered")
        for t in readers:
            t.cancel()
        m = await ascrape(s)
        assert m.get("ringws_connections_open") == 2
        assert m.get("ringws_connections_closed_total", reason="slow_consumer") == 1
        # The room lives on for the remaining members.
        await pub.send({"type": "publish", "room": "flood", "data": "after"})
        for c in (pub, good):
            assert (await c.recv())["data"] == "after"
        await pub.close()
        await good.close()
        return published

    published = run(main())
    # The slow client finds its stream ended: whatever fit in the buffers, then a close 1008
    # or nothing (a reset can discard the tail).
    try:
        data = slow.read_until_closed(timeout=15)
    finally:
        slow.close()
    frames = server_frames(data)
    for op, payload in frames:
        if op == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            assert code == 1008, f"slow consumer closed with {code}"
        else:
            assert op == OP_TEXT, op
    delivered = sum(1 for op, _ in frames if op == OP_TEXT)
    assert delivered < published
