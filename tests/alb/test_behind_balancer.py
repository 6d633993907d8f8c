"""Behind the balancer: two ringws instances behind HAProxy (scripts/local-alb.sh standing in
for the AWS ALB). One instance gets SIGTERM while chat clients are connected through the
balancer; its clients must move to the other instance without losing the room.

Run: /usr/bin/python3 -m pytest tests/alb  (RINGWS_BIN=path/to/ringws, default build/ringws).
Needs haproxy (apt-get install -y haproxy) and python3-websockets.
"""

import asyncio
import json
import os
import signal
import time

import pytest
import websockets

from local_alb import DRAIN_SECONDS, STEP_TIMEOUT, connections_open, http_get, is_joined

CLIENTS = 40
# The clients connect from another loopback address than HAProxy's, so the instances' logs
# show whether --trust-proxy took the address from X-Forwarded-For.
CLIENT_ADDRESS = "127.0.0.2"
EXIT_MARGIN = 10.0      # the drained instance exits within DRAIN_SECONDS + this
ROOM = "lobby"


class ChatClient:
    """One chat client through the balancer that reconnects when the server goes away."""

    def __init__(self, url):
        self.url = url + f"ws?room={ROOM}"
        self.ws = None
        self.id = None
        self.close_codes = []       # close codes of the connections that ended
        self.refused = []           # HTTP statuses of refused reconnect attempts
        self.messages = []          # "message" events received, on any connection
        self.reconnected = asyncio.Event()

    async def connect(self):
        """Opens a connection and waits for hello and the joined of the URL's room."""
        ws = await websockets.connect(self.url, open_timeout=5, close_timeout=2, ping_interval=None,
                                      local_addr=(CLIENT_ADDRESS, 0))
        hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello.get("type") == "hello", hello
        joined = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert is_joined(joined, ROOM), joined
        self.ws, self.id = ws, hello["id"]

    async def run(self, deadline):
        """Reads until the connection ends, then reconnects (with backoff, until deadline);
        only the first loss is followed by a reconnect, so the test sees one move per client."""
        await self._read()
        self.close_codes.append(self.ws.close_code)
        delay = 0.05
        while asyncio.get_running_loop().time() < deadline:
            try:
                await self.connect()
            except websockets.InvalidStatusCode as e:
                # The draining instance refuses upgrades with 503 until HAProxy has seen two
                # failed health checks; through the ALB a client sees the same.
                self.refused.append(e.status_code)
            except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake) as e:
                self.refused.append(repr(e))
            else:
                self.reconnected.set()
                await self._read()
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _read(self):
        try:
            async for raw in self.ws:
                event = json.loads(raw)
                if event.get("type") == "message":
                    self.messages.append(event)
        except websockets.ConnectionClosed:
            pass


def test_sigterm_moves_clients_to_the_other_instance(alb):
    assert set(alb.instances) == {"a", "b"}
    a, b = alb.instances["a"], alb.instances["b"]
    asyncio.run(_scenario(alb, a, b))


async def _scenario(alb, a, b):
    loop = asyncio.get_running_loop()

    async def blocking(fn, *args):
        return await loop.run_in_executor(None, fn, *args)

    async def wait_until(what, predicate, timeout=STEP_TIMEOUT, interval=0.05):
        deadline = loop.time() + timeout
        while True:
            value = await blocking(predicate)
            if value:
                return value
            if loop.time() >= deadline:
                pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
            await asyncio.sleep(interval)

    clients = [ChatClient(alb.url) for _ in range(CLIENTS)]
    for c in clients:
        await c.connect()
    # leastconn through HAProxy: both instances must hold some of the clients.
    counts = await wait_until(
        f"the instances' ringws_connections_open to add up to {CLIENTS}",
        lambda: (lambda n: n if sum(n) == CLIENTS else None)(
            (connections_open(a["admin_url"]), connections_open(b["admin_url"]))))
    on_a, on_b = counts
    assert on_a > 0 and on_b > 0, f"HAProxy did not spread the clients: a={on_a} b={on_b}"

    run_deadline = loop.time() + DRAIN_SECONDS + STEP_TIMEOUT
    readers = [asyncio.create_task(c.run(run_deadline)) for c in clients]
    try:
        sigterm_at = time.monotonic()
        os.kill(a["pid"], signal.SIGTERM)

        # While it drains, instance a still answers HTTP, with 503 on /healthz.
        def healthz_a():
            try:
                status, _ = http_get(a["url"] + "healthz")
            except OSError as e:
                pytest.fail(f"instance a stopped answering HTTP before /healthz said 503: {e!r}",
                            pytrace=False)
            return status == 503
        await wait_until("instance a's /healthz to answer 503", healthz_a, timeout=DRAIN_SECONDS)

        # HAProxy takes it out of rotation.
        down = await wait_until("HAProxy to mark instance a DOWN",
                                lambda: (lambda r: r if r["status"].startswith("DOWN") else None)(
                                    alb.server_stats("a")))
        a_alive_when_down = alb.exit_status("a") is None
        if a_alive_when_down:
            # It still ran, so the checks failed on its 503, not on a refused connection.
            assert (down["check_status"], down["check_code"]) == ("L7STS", "503"), down

        # Exactly a's clients were closed, each with 1001, and each found its way back.
        await wait_until(f"{on_a} clients to be closed and to reconnect",
                         lambda: len([c for c in clients if c.reconnected.is_set()]) >= on_a)
        moved = [c for c in clients if c.close_codes]
        assert len(moved) == on_a, f"{len(moved)} clients closed, instance a had {on_a}"
        assert all(c.close_codes == [1001] for c in moved), [c.close_codes for c in moved]
        assert all(c.reconnected.is_set() for c in moved)

        # Every client is now on instance b.
        await wait_until(f"instance b's ringws_connections_open to reach {CLIENTS}",
                         lambda: connections_open(b["admin_url"]) == CLIENTS)

        # A message published in the room reaches every client, the moved ones included.
        stayed = next(c for c in clients if not c.close_codes)
        marker = {"probe": "after-failover", "n": len(moved)}
        await stayed.ws.send(json.dumps({"type": "publish", "room": ROOM, "data": marker}))
        # And one from a moved client reaches the clients that never moved.
        marker2 = {"probe": "from-a-moved-client"}
        await moved[0].ws.send(json.dumps({"type": "publish", "room": ROOM, "data": marker2}))

        def got(c, data):
            return any(m["data"] == data and m["room"] == ROOM for m in c.messages)
        deadline = loop.time() + STEP_TIMEOUT
        while not all(got(c, marker) and got(c, marker2) for c in clients):
            if loop.time() >= deadline:
                missing = [c.id for c in clients if not (got(c, marker) and got(c, marker2))]
                pytest.fail(f"{len(missing)} clients did not receive both messages: {missing[:10]}",
                            pytrace=False)
            await asyncio.sleep(0.05)
        for c in clients:
            senders = {m["from"] for m in c.messages if m["data"] in (marker, marker2)}
            assert senders == {stayed.id, moved[0].id}, senders

        # Instance a exits 0, within its drain window plus a margin.
        remaining = DRAIN_SECONDS + EXIT_MARGIN - (time.monotonic() - sigterm_at)
        status = await wait_until(f"instance a to exit within {DRAIN_SECONDS}+{EXIT_MARGIN}s of SIGTERM",
                                  lambda: (lambda s: (s,) if s is not None else None)(alb.exit_status("a")),
                                  timeout=max(remaining, 0.1))
        assert status == (0,), f"instance a exited with {status[0]}"
        # Instance b and HAProxy carry on.
        assert alb.exit_status("b") is None and alb.exit_status("haproxy") is None
        assert alb.server_stats("b")["status"] == "UP"
        # Behind HAProxy, with --trust-proxy, each instance logs the client's address (the
        # right-most X-Forwarded-For entry), not HAProxy's 127.0.0.1.
        opens = alb.log_events("a", "websocket_open") + alb.log_events("b", "websocket_open")
        assert len(opens) == CLIENTS + len(moved), f"{len(opens)} websocket_open log lines"
        assert {o.get("address") for o in opens} == {CLIENT_ADDRESS}, opens[:3]
        refused = [r for c in moved for r in c.refused]
        print(f"clients a={on_a} b={on_b}; a DOWN with check {down['check_status']}/{down['check_code']}"
              f" while {'running' if a_alive_when_down else 'already exited'};"
              f" refused reconnect attempts: {len(refused)} {sorted(set(map(str, refused)))}")
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.gather(*(asyncio.wait_for(c.ws.close(), 5) for c in clients if c.ws is not None),
                             return_exceptions=True)
