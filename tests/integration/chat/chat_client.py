"""Helpers for the chat tests: a python-websockets chat client with bounded waits, plain HTTP
GETs, and a Prometheus text parser. Every wait has a deadline, so a silent server fails a test
instead of hanging it."""

import asyncio
import json
import math
import re
import time

import websockets

from rawws import http_exchange

WAIT = 10.0  # seconds: the bound on any single expected event


class Chat:
    """One chat connection. open() reads the hello; recv() returns parsed JSON objects."""

    def __init__(self, ws, hello):
        self.ws = ws
        self.hello = hello
        self.id = hello["id"]

    @classmethod
    async def open(cls, server, path="/ws", **kw):
        kw.setdefault("max_size", None)
        kw.setdefault("ping_interval", None)
        kw.setdefault("max_queue", None)
        kw.setdefault("compression", None)
        ws = await asyncio.wait_for(websockets.connect(server.url + path, **kw), WAIT)
        hello = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        assert hello.get("type") == "hello" and isinstance(hello.get("id"), str) and hello["id"], hello
        return cls(ws, hello)

    @property
    def reactor(self):
        """Ids are <instance>.<reactor>.<slot>.<generation>: the second field names the reactor
        that owns the connection."""
        return int(self.id.split(".")[1], 16)

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj, separators=(",", ":")))

    async def recv_text(self, timeout=WAIT):
        msg = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(msg, str), f"server sent a binary message: {msg[:60]!r}"
        return msg

    async def recv(self, timeout=WAIT):
        return json.loads(await self.recv_text(timeout))

    async def join(self, room, **extra):
        """Joins `room` and returns its "joined" (extra fields: since=..., events=True)."""
        await self.send({"type": "join", "room": room, **extra})
        got = await self.recv()
        assert is_joined(got, room), got
        return got

    async def leave(self, room):
        await self.send({"type": "leave", "room": room})
        assert await self.recv() == {"type": "left", "room": room}

    async def expect_error(self, code):
        got = await self.recv()
        assert got.get("type") == "error" and got.get("code") == code, f"expected error {code}, got {got}"
        assert isinstance(got.get("reason"), str), got
        return got

    async def expect_nothing_before(self, sentinel_room):
        """Proves no stray message is queued: joins a fresh room and asserts the next message is
        its joined (anything delivered earlier would come first on this connection)."""
        await self.send({"type": "join", "room": sentinel_room})
        got = await self.recv()
        assert is_joined(got, sentinel_room), f"unexpected message: {got}"

    async def close(self):
        await asyncio.wait_for(self.ws.close(), WAIT)


async def open_many(server, n, path="/ws", **kw):
    out = []
    for i in range(0, n, 20):
        out += await asyncio.gather(*(Chat.open(server, path, **kw) for _ in range(min(20, n - i))))
    return out


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients))


def is_joined(got, room):
    """A "joined" for `room` as docs/protocol.md describes it: the room's current offset and
    epoch, and "recovered" only after a join with since."""
    return (isinstance(got, dict) and got.get("type") == "joined" and got.get("room") == room
            and isinstance(got.get("offset"), int) and got["offset"] >= 0
            and isinstance(got.get("epoch"), str) and got["epoch"] != ""
            and set(got) <= {"type", "room", "offset", "epoch", "recovered"})


def http_get(server, path, extra=(), admin=False):
    """(status, headers, body) of a plain GET, on the public port or the admin listener."""
    port = server.admin_port if admin else server.port
    req = "\r\n".join([f"GET {path} HTTP/1.1", f"Host: {server.host}:{port}", *extra, "", ""]).encode()
    return http_exchange(server.host, port, req)


def upgrade_status(server, path="/ws", extra=()):
    """The HTTP status a WebSocket upgrade request gets (the connection is closed afterwards)."""
    from rawws import handshake_request

    req, _ = handshake_request(server.host, server.port, path=path, extra=extra)
    status, _, _ = http_exchange(server.host, server.port, req)
    return status


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    """Parsed Prometheus text: samples keyed by (name, frozenset(labels)), plus TYPE lines."""

    def __init__(self, text):
        self.samples, self.types = {}, {}
        for line in text.splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split()
                if len(parts) >= 4 and parts[1] == "TYPE":
                    self.types[parts[2]] = parts[3]
                continue
            m = _SAMPLE.match(line)
            assert m, f"not a Prometheus sample line: {line!r}"
            name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
            labels = dict(_LABEL.findall(labels_text))
            v = float(value)
            assert not math.isnan(v), line
            key = (name, frozenset(labels.items()))
            assert key not in self.samples, f"duplicate sample {line!r}"
            self.samples[key] = v

    def get(self, name, **labels):
        key = (name, frozenset(labels.items()))
        assert key in self.samples, f"no sample {name}{labels or ''}"
        return self.samples[key]

    def series(self, name):
        """{labels-dict-as-tuple: value} of every sample named `name`."""
        return {tuple(sorted(dict(k[1]).items())): v for k, v in self.samples.items() if k[0] == name}


def scrape(server):
    status, headers, body = http_get(server, "/metrics", admin=True)
    assert status == 200, (status, body[:200])
    assert headers.get("content-type", "").startswith("text/plain"), headers
    return Metrics(body.decode())


async def ascrape(server):
    return await asyncio.to_thread(scrape, server)


async def wait_until(predicate, timeout=WAIT, interval=0.05, what="condition"):
    """Polls a (possibly async) predicate until true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        r = predicate()
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return r
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def run(coro):
    return asyncio.run(coro)
