"""Three ringws instances behind HAProxy, joined by Redis (scripts/local-alb.sh --instances 3
--redis), one room with members on all three. One instance is drained (SIGTERM) while
messages flow: its clients are closed with 1001, reconnect through the balancer with the
last offset they saw (since), and every client ends with every message exactly once, in
consecutive offset order.

Run: /usr/bin/python3 -m pytest tests/alb (needs haproxy and redis-server)."""

import asyncio
import json
import os
import signal

import pytest
import websockets

from local_alb import DRAIN_SECONDS, STEP_TIMEOUT, connections_open, is_joined

CLIENTS = 30
MESSAGES = 60
ROOM = "lobby"


class Member:
    """A chat client through the balancer that reconnects with since after a close."""

    def __init__(self, url):
        self.base = url + f"ws?room={ROOM}"
        self.messages = []     # every "message" received, on any connection, in arrival order
        self.joins = []        # every "joined"
        self.close_codes = []
        self.position = None   # (offset, epoch) of the last message or joined
        self.ws = None

    def url(self):
        if not self.position:
            return self.base
        return self.base + f"&since={self.position[0]}&epoch={self.position[1]}"

    async def connect(self):
        ws = await websockets.connect(self.url(), open_timeout=5, close_timeout=2, ping_interval=None, max_queue=None)
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello.get("type") == "hello", hello
        joined = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert is_joined(joined, ROOM), joined
        self.joins.append(joined)
        if self.position is None or joined.get("recovered") is not True:
            self.position = (joined["offset"], joined["epoch"])
        self.ws = ws

    async def run(self, deadline):
        loop = asyncio.get_running_loop()
        while True:
            try:
                async for raw in self.ws:
                    m = json.loads(raw)
                    if m.get("type") == "message":
                        self.messages.append(m)
                        self.position = (m["offset"], m["epoch"])
            except websockets.ConnectionClosed:
                pass
            self.close_codes.append(self.ws.close_code)
            if self.ws.close_code != 1001:
                return
            delay = 0.05
            while True:  # back through the balancer; the draining instance answers 503 for a while
                if loop.time() > deadline:
                    return
                try:
                    await self.connect()
                    break
                except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)


def test_draining_one_of_three_instances_loses_no_message(alb_redis):
    lb = alb_redis
    assert set(lb.instances) == {"a", "b", "c"} and lb.redis
    asyncio.run(_scenario(lb))


async def _scenario(lb):
    loop = asyncio.get_running_loop()
    members = [Member(lb.url) for _ in range(CLIENTS)]
    for m in members:
        await m.connect()
    counts = [await loop.run_in_executor(None, connections_open, lb.instances[n]["admin_url"]) for n in "abc"]
    assert sum(counts) == CLIENTS and all(counts), f"HAProxy did not spread the clients: {counts}"
    epochs = {m.joins[0]["epoch"] for m in members}
    assert len(epochs) == 1, epochs
    deadline = loop.time() + DRAIN_SECONDS + 3 * STEP_TIMEOUT
    readers = [asyncio.create_task(m.run(deadline)) for m in members]

    # The publisher talks to instance b directly: it is never drained.
    pub = await websockets.connect(lb.instances["b"]["url"].replace("http://", "ws://") + f"ws?room={ROOM}",
                                   ping_interval=None, max_queue=None)
    assert json.loads(await pub.recv())["type"] == "hello"
    assert is_joined(json.loads(await pub.recv()), ROOM)
    for i in range(MESSAGES):
        await pub.send(json.dumps({"type": "publish", "room": ROOM, "data": {"i": i}}))
        if i == MESSAGES // 3:
            os.kill(lb.instances["a"]["pid"], signal.SIGTERM)  # the drain: 1001 over DRAIN_SECONDS
        await asyncio.sleep(DRAIN_SECONDS * 2 / MESSAGES)
    # Wait (bounded) until every member has every message.
    while loop.time() < deadline and any(len({x["offset"] for x in m.messages}) < MESSAGES for m in members):
        await asyncio.sleep(0.1)
    await pub.close()
    for m in members:
        if m.ws:
            await m.ws.close()
    await asyncio.gather(*readers)

    moved = [m for m in members if 1001 in m.close_codes]
    assert moved, "no client was on the drained instance"
    first = members[0].joins[0]["offset"]
    for m in members:
        offsets = [x["offset"] for x in m.messages]
        assert offsets == list(range(first + 1, first + MESSAGES + 1)), \
            f"closes {m.close_codes}, joins {m.joins}, offsets {offsets}"
        assert [x["data"]["i"] for x in m.messages] == list(range(MESSAGES))
    for m in moved:
        assert all(j.get("recovered") is True for j in m.joins[1:]), m.joins
    assert lb.exit_status("a") is None or lb.exit_status("a") == 0
