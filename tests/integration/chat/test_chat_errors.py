"""Every error code of docs/protocol.md, and that the connection stays usable after each."""

import json

from chat_client import Chat, is_joined, run

MAX_ROOM_NAME = 8
MAX_ROOMS = 3
MAX_PUBLISH = 100


def start(ringws):
    # The join and publish limits off: each case is followed by a join, publish and leave
    # (test_chat_rate_limits.py covers rate_limited).
    return ringws(app="chat", threads=1, max_room_name=MAX_ROOM_NAME, max_rooms_per_connection=MAX_ROOMS,
                  max_publish_bytes=MAX_PUBLISH, join_rate=0, publish_rate=0)


async def still_usable(c, room="ok"):
    """A join and a publish round trip: the connection survived the error."""
    await c.join(room)
    await c.send({"type": "publish", "room": room, "data": {"alive": True}})
    got = await c.recv()
    assert got["type"] == "message" and got["data"] == {"alive": True} and got["from"] == c.id, got
    await c.leave(room)


CASES = [
    # (code, message as sent: str is sent as text, bytes as binary)
    ("bad_json", "not json"),
    ("bad_json", '{"type":"join","room":"x"'),  # truncated
    ("bad_json", "[1,2]"),  # JSON, but not an object
    ("bad_json", "42"),
    ("bad_json", ""),
    ("binary_not_supported", b'{"type":"join","room":"x"}'),
    ("unknown_type", "{}"),
    ("unknown_type", '{"type":5,"room":"x"}'),
    ("unknown_type", '{"type":"shout","room":"x"}'),
    ("bad_room", '{"type":"join"}'),
    ("bad_room", '{"type":"join","room":""}'),
    ("bad_room", '{"type":"join","room":7}'),
    ("bad_room", '{"type":"join","room":"a b"}'),
    ("bad_room", '{"type":"join","room":"caf\u00e9"}'),
    ("bad_room", '{"type":"join","room":"a/b"}'),
    ("bad_room", '{"type":"publish","room":"a?","data":1}'),
    ("room_name_too_long", json.dumps({"type": "join", "room": "r" * (MAX_ROOM_NAME + 1)})),
    ("room_name_too_long", json.dumps({"type": "leave", "room": "r" * (MAX_ROOM_NAME + 1)})),
    ("not_joined", '{"type":"publish","room":"nowhere","data":1}'),
    ("not_joined", '{"type":"leave","room":"nowhere"}'),
]


def test_each_error_code_and_the_connection_stays_usable(ringws):
    s = start(ringws)

    async def main():
        c = await Chat.open(s)
        for code, message in CASES:
            await c.send(message)
            try:
                await c.expect_error(code)
            except AssertionError as e:
                raise AssertionError(f"sent {message!r}: {e}") from None
            await still_usable(c)
        await c.close()

    run(main())


def test_room_name_length_limit_is_inclusive(ringws):
    s = start(ringws)

    async def main():
        c = await Chat.open(s)
        await c.join("r" * MAX_ROOM_NAME)
        await c.send({"type": "join", "room": "r" * (MAX_ROOM_NAME + 1)})
        await c.expect_error("room_name_too_long")
        await still_usable(c)
        await c.close()

    run(main())


def test_too_many_rooms(ringws):
    s = start(ringws)

    async def main():
        c = await Chat.open(s)
        rooms = [f"r{i}" for i in range(MAX_ROOMS)]
        for r in rooms:
            await c.join(r)
        await c.join(rooms[0])  # rejoining a room it is in is no new room
        await c.send({"type": "join", "room": "one.more"})
        await c.expect_error("too_many_rooms")
        # The refused join did not make it a member.
        await c.send({"type": "publish", "room": "one.more", "data": 1})
        await c.expect_error("not_joined")
        # The existing memberships still work, and leaving frees a place.
        await c.send({"type": "publish", "room": rooms[1], "data": "x"})
        assert (await c.recv())["data"] == "x"
        await c.leave(rooms[0])
        await c.join("one.more")
        await c.close()
        # The limit is per connection: another client may join as many.
        d = await Chat.open(s)
        for r in rooms:
            await d.join(r)
        await d.close()

    run(main())


def test_too_many_rooms_from_the_url_query(ringws):
    s = start(ringws)

    async def main():
        query = "&".join(f"room=q{i}" for i in range(MAX_ROOMS + 1))
        c = await Chat.open(s, "/ws?" + query)
        for i in range(MAX_ROOMS):
            assert is_joined(await c.recv(), f"q{i}")
        await c.expect_error("too_many_rooms")
        await c.send({"type": "publish", "room": "q0", "data": 0})
        assert (await c.recv())["data"] == 0
        await c.close()

    run(main())


def test_missing_data(ringws):
    s = start(ringws)

    async def main():
        c = await Chat.open(s)
        await c.join("r")
        await c.send({"type": "publish", "room": "r"})
        await c.expect_error("missing_data")
        # null is data, not missing data.
        await c.send({"type": "publish", "room": "r", "data": None})
        got = await c.recv()
        assert got["type"] == "message" and got["data"] is None, got
        await still_usable(c)
        await c.close()

    run(main())


def test_payload_too_large(ringws):
    s = start(ringws)

    async def main():
        c, other = await Chat.open(s), await Chat.open(s)
        await c.join("r")
        await other.join("r")
        fits = '"' + "x" * (MAX_PUBLISH - 2) + '"'  # exactly MAX_PUBLISH bytes of JSON
        over = '"' + "x" * (MAX_PUBLISH - 1) + '"'
        await c.send('{"type":"publish","room":"r","data":' + over + "}")
        await c.expect_error("payload_too_large")
        await c.send('{"type":"publish","room":"r","data":' + fits + "}")
        got = await c.recv()
        assert got["type"] == "message" and got["data"] == json.loads(fits), got
        # The member saw only the one that fit.
        got = await other.recv()
        assert got["type"] == "message" and got["data"] == json.loads(fits), got
        await other.expect_nothing_before("sentinel")
        await still_usable(c)
        await c.close()
        await other.close()

    run(main())
