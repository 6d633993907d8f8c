"""Rate limits with real clients: publishes and joins refused with rate_limited and
retry_after_ms, 1008 after --rate-limit-refusals, the engine's limit on every message (pings
get no pong past it), and the flood case the defaults are chosen for: a client flooding a room
with the largest publishes cannot get a member that reads at 1 MB/s closed as a slow consumer,
and is itself limited and then closed. A control run without the publish limit shows the same
member does get closed, so the test measures the limit and not the machine."""

import asyncio
import json
import struct
import threading
import time

import websockets

from chat_client import WAIT, Chat, is_joined, run, scrape, wait_until
from rawws import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawWS


async def expect_rate_limited(c):
    got = await c.expect_error("rate_limited")
    assert isinstance(got.get("retry_after_ms"), int) and got["retry_after_ms"] > 0, got
    return got["retry_after_ms"]


def test_publish_and_join_limits_answer_rate_limited_with_retry_after(ringws):
    s = ringws(app="chat", threads=1, publish_rate=2, publish_burst=2, join_rate=1, join_burst=2,
               rate_limit_refusals=5)

    async def main():
        c = await Chat.open(s)
        await c.join("a")
        await c.join("b")
        await c.send({"type": "join", "room": "c"})
        retry = await expect_rate_limited(c)
        assert retry <= 1000
        await asyncio.sleep(retry / 1000)
        await c.join("c")
        for i in range(3):
            await c.send({"type": "publish", "room": "a", "data": i})
        for i in range(2):
            assert (await c.recv())["data"] == i
        retry = await expect_rate_limited(c)
        assert retry <= 500
        await asyncio.sleep(retry / 1000)
        await c.send({"type": "publish", "room": "a", "data": "after the wait"})
        assert (await c.recv())["data"] == "after the wait"
        await c.close()

    run(main())
    m = scrape(s)
    assert m.get("ringws_rate_limited_total", limit="publish") == 1
    assert m.get("ringws_rate_limited_total", limit="join") == 1


def test_a_client_that_keeps_going_is_closed_with_1008(ringws):
    s = ringws(app="chat", threads=1, publish_rate=1, publish_burst=1, rate_limit_refusals=3)

    async def main():
        c = await Chat.open(s, "/ws?room=r")
        assert is_joined(await c.recv(), "r")
        for i in range(10):
            await c.send({"type": "publish", "room": "r", "data": i})
        assert (await c.recv())["data"] == 0
        # The first refusal, then three that came before its retry time: answered; the
        # fourth of those (more than --rate-limit-refusals 3) closes.
        for _ in range(4):
            await expect_rate_limited(c)
        try:
            extra = await c.recv()
            raise AssertionError(f"a message after 4 refusals: {extra}")
        except websockets.ConnectionClosed as e:
            assert e.rcvd.code == 1008 and e.rcvd.reason == "rate limit", e

    run(main())
    # The close is counted when the server's teardown ends, which may follow the client's
    # receipt of the close frame.
    run(wait_until(lambda: scrape(s).get("ringws_connections_closed_total", reason="rate_limited") == 1,
                   what="the rate_limited close counted"))


def test_the_message_limit_counts_every_message_and_ping(ringws):
    s = ringws(app="echo", threads=1, message_rate=5, message_burst=5, rate_limit_refusals=3)
    ws = RawWS.connect(s.host, s.port)
    try:
        for i in range(6):
            ws.send_text(f"m{i}")
        for i in range(5):
            assert ws.recv_message() == (OP_TEXT, f"m{i}".encode())
        op, error = ws.recv_message()
        assert op == OP_TEXT and b'"code":"rate_limited"' in error and b'"retry_after_ms":' in error, error
        # Pings over the limit get no pong; sent without waiting, the fourth (more than
        # --rate-limit-refusals 3 not waited out) closes.
        for i in range(4):
            ws.send_frame(OP_PING, f"p{i}".encode())
        f = ws.recv_server_frame()
        while f.opcode == OP_PONG:  # at most the pongs of pings within the limit (none here)
            f = ws.recv_server_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1008, f
    finally:
        ws.close()


# --- the flood ---------------------------------------------------------------------------

DATA = "x" * 65000  # the largest publish under the default --max-publish-bytes (65536)
READ_RATE = 1_000_000  # bytes a second: the member's modest pace
PACED_SECONDS = 6


class PacedMember:
    """A room member on a raw socket with a 64 KiB receive buffer, reading at READ_RATE bytes a
    second in a thread: the server can only send it as fast as it reads. Counts the messages of
    the room and notes a close frame or the end of the stream."""

    def __init__(self, server, room):
        self.ws = RawWS.connect(server.host, server.port, path=f"/ws?room={room}", rcvbuf=65536)
        assert b'"hello"' in self.ws.recv_message()[1]
        assert is_joined(json.loads(self.ws.recv_message()[1]), room)
        self.messages = 0
        self.bytes = 0
        self.close_code = None
        self.ended = False
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        sock, buf, start = self.ws.sock, bytearray(), time.monotonic()
        sock.settimeout(0.2)
        while not self.stop:
            ahead = self.bytes / READ_RATE - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
            try:
                chunk = sock.recv(16384)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.ended = True
                return
            self.bytes += len(chunk)
            buf += chunk
            while len(buf) >= 2:
                n, p = buf[1] & 0x7F, 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n, p = struct.unpack_from("!H", buf, 2)[0], 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n, p = struct.unpack_from("!Q", buf, 2)[0], 10
                if len(buf) < p + n:
                    break
                op = buf[0] & 0xF
                if op == OP_TEXT and b'"type":"message"' in buf[p:p + 40]:
                    self.messages += 1
                elif op == OP_CLOSE:
                    self.close_code = struct.unpack_from("!H", buf, p)[0] if n >= 2 else 0
                del buf[:p + n]

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.ws.close()


async def flood(server, member, paced_seconds, pace):
    """A flooder in the member's room: first `paced_seconds` of the largest publishes as fast as
    the limits let through (honouring retry_after_ms when `pace`), then as fast as it can with no
    regard for them. Returns (publishes accepted, rate_limited errors, close code)."""
    c = await Chat.open(server, "/ws?room=flood", max_queue=None)
    assert is_joined(await c.recv(), "flood")
    accepted = refused = 0
    close_code = None
    replies = asyncio.Queue()

    async def reader():
        try:
            while True:
                m = await c.recv(timeout=60)
                if m.get("type") == "message" and m.get("from") != c.id:
                    continue
                await replies.put(m)
        except websockets.ConnectionClosed as e:
            await replies.put({"type": "closed", "code": e.rcvd.code if e.rcvd else None})

    task = asyncio.create_task(reader())
    end = time.monotonic() + paced_seconds
    while time.monotonic() < end and member.close_code is None and not member.ended:
        await c.send({"type": "publish", "room": "flood", "data": DATA})
        reply = await asyncio.wait_for(replies.get(), WAIT)
        if reply["type"] == "message":
            accepted += 1
        elif reply["type"] == "error" and reply["code"] == "rate_limited":
            refused += 1
            if pace:
                await asyncio.sleep(reply["retry_after_ms"] / 1000)
        else:
            close_code = reply.get("code")
            break
    # Then it stops honouring the limits: everything at once.
    if close_code is None and pace:
        try:
            for _ in range(200):
                await c.send({"type": "publish", "room": "flood", "data": DATA})
        except websockets.ConnectionClosed:
            pass
        while close_code is None:
            reply = await asyncio.wait_for(replies.get(), WAIT)
            if reply["type"] == "message":
                accepted += 1
            elif reply["type"] == "error":
                refused += 1
            else:
                close_code = reply.get("code")
    task.cancel()
    await c.ws.close()
    return accepted, refused, close_code


def test_a_flooder_at_the_default_limits_cannot_get_a_1_mb_s_reader_closed(ringws):
    s = ringws(app="chat", threads=2)  # the default limits
    member = PacedMember(s, "flood")
    try:
        accepted, refused, close_code = run(flood(s, member, PACED_SECONDS, pace=True))
        print(f"flooder: {accepted} publishes of {len(DATA)} B accepted, {refused} refused, closed with {close_code}")
        # The flooder was limited, and closed once it ignored the limits.
        assert refused >= 1
        assert close_code == 1008
        # It published for PACED_SECONDS at 10 a second plus its burst: well over the member's
        # backlog, so the backlog cap alone would not have saved the member.
        assert accepted * len(DATA) > 2 * (1 << 20), accepted

        # The member reads everything the flooder got through, at its own pace, and stays open.
        async def probe():
            deadline = time.monotonic() + 30
            while member.messages < accepted and time.monotonic() < deadline and not member.ended:
                await asyncio.sleep(0.1)
            p = await Chat.open(s, "/ws?room=flood")
            assert is_joined(await p.recv(), "flood")
            await p.send({"type": "publish", "room": "flood", "data": "probe"})
            assert (await p.recv())["data"] == "probe"
            deadline = time.monotonic() + 10
            while member.messages < accepted + 1 and time.monotonic() < deadline and not member.ended:
                await asyncio.sleep(0.05)
            await p.close()

        run(probe())
        assert member.close_code is None and not member.ended, (member.close_code, member.ended)
        assert member.messages == accepted + 1, (member.messages, accepted)
        m = scrape(s)
        assert m.get("ringws_slow_consumers_total") == 0
        assert m.get("ringws_connections_closed_total", reason="rate_limited") == 1
        assert m.get("ringws_rate_limited_total", limit="publish") >= 1
    finally:
        member.close()


def test_control_without_the_publish_limit_the_same_flood_closes_the_reader(ringws):
    s = ringws(app="chat", threads=2, publish_rate=0, message_rate=0)
    member = PacedMember(s, "flood")
    try:
        accepted, refused, close_code = run(flood(s, member, 30, pace=False))
        deadline = time.monotonic() + 15
        while member.close_code is None and not member.ended and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"control: {accepted} publishes accepted; the member closed with {member.close_code}, ended {member.ended}, read {member.bytes} B, {member.messages} messages")
        assert refused == 0
        assert member.close_code == 1008 or member.ended, "the unlimited flood did not overrun the member"
        # Counted once its close handshake ends (its 1008 waits behind bytes it never reads).
        run(wait_until(lambda: scrape(s).get("ringws_slow_consumers_total") >= 1, timeout=20,
                       what="the member counted as a slow consumer"))
    finally:
        member.close()
