"""Hostile chat clients: a room member that never reads, upgrades whose URL rooms overflow
--max-backlog before the client could read anything, and the stale memberships such an
upgrade left behind (a room that never empties, and a later connection in the same slot
receiving that room's messages without having joined it). docs/protocol.md has the protocol.
"""

import json
import struct

import hostile as h
from hostile import is_joined
from rawws import OP_CLOSE, OP_TEXT, RawWS, handshake_request, server_frames

RSS_BUDGET = 64 * h.MiB
ROOM_NAME = 64  # --max-room-name's default
ROOMS = 16  # --max-rooms-per-connection's default


def read_json(ws):
    op, payload = ws.recv_message()
    assert op == OP_TEXT, f"binary message from the chat server: {payload[:60]!r}"
    return json.loads(payload)


def open_chat(server, path="/ws", **kw):
    ws = RawWS.connect(server.host, server.port, path=path, **kw)
    hello = read_json(ws)
    assert hello.get("type") == "hello", hello
    return ws


def send_json(ws, obj):
    ws.send_text(json.dumps(obj, separators=(",", ":")))


def long_rooms(tag, n=ROOMS):
    """n room names of the longest allowed length, distinct per tag."""
    return [(f"{tag}-{i:02d}-").ljust(ROOM_NAME, "y") for i in range(n)]


def url_with_rooms(rooms):
    return "/ws?" + "&".join("room=" + r for r in rooms)


def close_codes(data):
    """Close codes of the complete frames in `data` (server frames, unmasked)."""
    return [struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
            for opcode, payload in server_frames(data) if opcode == OP_CLOSE]


# These tests flood rooms, or probe the server with a control client's publishes, faster than
# the default rate limits allow: they run with the limits off. The flood at the default limits
# is tests/integration/chat/test_chat_rate_limits.py.
NO_RATE_LIMITS = {"message_rate": 0, "publish_rate": 0, "join_rate": 0}


# --- a room member that never reads ---------------------------------------------------------

BACKLOG = 65536
DATA = "d" * 4000
BATCH = 8  # 32 KB in flight: the publisher and the good member never pass the backlog
MAX_MESSAGES = 3000  # 12 MB: well above the kernel's socket buffers (4 MB) plus the backlog


def test_non_reading_room_member_is_closed_and_forgotten(start_server):
    # --close-timeout 1: the slow member's 1008 waits behind bytes it never reads, until then.
    s = start_server(app="chat", threads=2, max_backlog=BACKLOG, close_timeout=1, **NO_RATE_LIMITS)
    scene = h.Scene(s, app="chat", path="/ws")
    rooms_before = h.metric(s, "ringws_rooms")
    # It joins "flood" and "flood-only" (no one else's), reads its replies, then never reads again.
    slow = open_chat(s, url_with_rooms(["flood", "flood-only"]), rcvbuf=4096)
    # One joined per room; rooms with different home reactors may answer in either order.
    replies = {j.get("room"): j for j in (read_json(slow), read_json(slow))}
    for r in ("flood", "flood-only"):
        assert is_joined(replies.get(r), r), replies
    pub, good = open_chat(s, "/ws?room=flood"), open_chat(s, "/ws?room=flood")
    for c in (pub, good):
        assert is_joined(read_json(c), "flood")
    scene.start("a room member that never reads")
    published, slow_closed = 0, 0
    problems = []
    try:
        while published < MAX_MESSAGES:
            for _ in range(BATCH):
                send_json(pub, {"type": "publish", "room": "flood", "data": {"i": published, "pad": DATA}})
                published += 1
            for c in (pub, good):
                for i in range(published - BATCH, published):
                    m = read_json(c)
                    assert m.get("type") == "message" and m["data"]["i"] == i, f"expected message {i}, got {str(m)[:120]}"
            if published % (8 * BATCH) == 0:
                slow_closed = h.metric(s, "ringws_slow_consumers_total")
                if slow_closed >= 1:
                    break
        if slow_closed < 1:
            slow_closed = h.wait_for_metric(s, "ringws_slow_consumers_total", lambda v: v >= 1, 15,
                                            f"the member that never reads, after {published} messages of 4 KB")
    except AssertionError as e:
        problems.append(f"{e}: a member that never reads must be closed (1008) once more than --max-backlog "
                        f"{BACKLOG} bytes wait for it")
    print(f"slow member closed after {published} messages")
    try:
        codes = close_codes(slow.read_until_closed(timeout=15))
        if any(code != 1008 for code in codes):
            problems.append(f"the slow member was closed with {codes}, expected 1008")
    except TimeoutError:
        problems.append("the server still holds the TCP connection of the member that never reads")
    finally:
        slow.close()
    # Its memberships are gone: "flood-only" (it alone had joined it) disappears.
    if not problems:
        try:
            h.wait_for_metric(s, "ringws_rooms", lambda v: v <= rooms_before + 1, 15,
                              "the slow member's rooms (only 'flood' should be left besides the control's)")
        except AssertionError as e:
            problems.append(f"{e}: the memberships of a connection closed as a slow consumer were not all removed")
    # The room lives on for the others.
    send_json(pub, {"type": "publish", "room": "flood", "data": "after"})
    for c in (pub, good):
        m = read_json(c)
        if m.get("data") != "after":
            problems.append(f"a member that reads got {str(m)[:120]} instead of the message published after")
    pub.close()
    good.close()
    scene.over()
    h.fail_on(scene.problems(rss_budget=RSS_BUDGET) + problems)


# --- URL rooms that overflow the backlog ----------------------------------------------------

MIN_BACKLOG = 1024  # --max-backlog's minimum: a hello and 16 joined replies of long rooms exceed it
OVERFLOWING = 2000


def test_upgrades_whose_url_rooms_overflow_the_backlog(start_server):
    # No rate limits: the control client's publishes probe the server many times a second.
    s = start_server(app="chat", threads=2, max_backlog=MIN_BACKLOG, **NO_RATE_LIMITS)
    scene = h.Scene(s, app="chat", path="/ws")
    rooms_before = h.metric(s, "ringws_rooms")
    scene.start(f"{OVERFLOWING:,} upgrades whose URL rooms overflow --max-backlog {MIN_BACKLOG}")
    load = h.Load("idle", s.url + url_with_rooms(long_rooms("flood")), "--connections", OVERFLOWING,
                  "--rate", 2000, "--hold", 1, "--connect-timeout", 60)
    try:
        scene.control.wait_echoes("during", 3)
        summary = load.wait(120)
    finally:
        load.close()
    scene.over()
    c = summary["counts"]
    print(f"URL rooms: {c['opened']:,} upgraded, closed by the server {c['closed_by_server']:,} "
          f"(close codes {summary['close_codes']}), failed {c['failed']:,}")
    problems = scene.problems(rss_budget=RSS_BUDGET)
    if c["attempted"] != OVERFLOWING:
        problems.append(f"ringws-load made {c['attempted']} of {OVERFLOWING} upgrades: {summary['last_error']}")
    if s.alive():
        # Every such connection is gone once ringws-load is: their slots and their rooms too.
        try:
            h.wait_for_metric(s, "ringws_slab_slots_in_use", lambda v: v <= scene.base_slots, 30,
                              "slots of the upgrades with URL rooms, after they all closed")
        except AssertionError as e:
            problems.append(str(e))
        try:
            h.wait_for_metric(s, "ringws_rooms", lambda v: v <= rooms_before, 15,
                              f"rooms joined from the URL by {OVERFLOWING:,} connections that are all gone "
                              f"({rooms_before:g} before)")
        except AssertionError as e:
            problems.append(f"{e}: URL joins went on after the connection was closed as a slow consumer "
                            f"during its open, and those memberships are never removed")
    h.fail_on(problems)


# --- the stale-membership regression --------------------------------------------------------

STALE_CLIENTS = 20


def test_url_joins_after_a_slow_consumer_close_leave_no_stale_membership(start_server):
    """Clients upgrade with 16 long URL rooms each and never read: their hello and joined
    replies overflow --max-backlog 1024 during the open, so the server closes them as slow
    consumers while it is still joining their URL rooms. Once they are gone no room may be
    left, and fresh connections that joined nothing (one reactor, so they reuse the freed slots)
    must receive nothing when someone publishes into those rooms."""
    s = start_server(app="chat", threads=1, max_backlog=MIN_BACKLOG, **NO_RATE_LIMITS)
    problems = []
    all_rooms = []
    hostile = []
    for i in range(STALE_CLIENTS):
        rooms = long_rooms(f"stale{i:02d}")
        all_rooms += rooms
        ws = RawWS(s.host, s.port, rcvbuf=4096)
        req, _ = handshake_request(s.host, s.port, path=url_with_rooms(rooms))
        ws.sock.sendall(req)  # and never read
        hostile.append(ws)
    h.wait_for_metric(s, "ringws_connections_accepted_total", lambda v: v >= STALE_CLIENTS, 15,
                      "the upgrades with URL rooms")
    m = h.scrape(s)
    print(f"while they are connected: rooms {m.get('ringws_rooms'):g}, slow consumers "
          f"{m.get('ringws_slow_consumers_total'):g}, open {m.get('ringws_connections_open'):g}")
    for ws in hostile:
        ws.close()
    try:
        h.wait_for_metric(s, "ringws_connections_open", lambda v: v == 0, 30, "the closed clients' connections")
    except AssertionError as e:
        problems.append(str(e))
    try:
        h.wait_for_metric(s, "ringws_rooms", lambda v: v == 0, 15,
                          f"rooms of {STALE_CLIENTS} clients that are all gone")
    except AssertionError as e:
        problems.append(f"{e}: memberships joined from the URL after the connection was closed as a slow "
                        f"consumer during its open were never removed (the rooms leak)")
    # Fresh connections that joined nothing, in the freed slots; someone publishes everywhere.
    fresh = [open_chat(s) for _ in range(STALE_CLIENTS)]
    pub = open_chat(s)
    for room in all_rooms:
        for req, reply in (({"type": "join", "room": room}, "joined"),
                           ({"type": "publish", "room": room, "data": "for members only"}, "message"),
                           ({"type": "leave", "room": room}, "left")):
            send_json(pub, req)
            got = read_json(pub)
            assert got.get("type") == reply, f"{req} answered {got}"
    strays = {}
    for i, ws in enumerate(fresh):
        send_json(ws, {"type": "join", "room": "sentinel"})
        while True:
            got = read_json(ws)
            if is_joined(got, "sentinel"):
                break
            strays.setdefault(i, []).append(got.get("room"))
    if strays:
        n = sum(len(v) for v in strays.values())
        problems.append(f"{n} messages reached {len(strays)} fresh connections that never joined a room (e.g. from "
                        f"room {next(iter(strays.values()))[0]!r}): a stale membership of a closed connection "
                        f"delivered to the connection that reused its slot")
    for ws in fresh + [pub]:
        ws.close()
    h.fail_on(problems)
