"""--auth jwt with real clients (python-websockets, raw sockets): 401 at the upgrade for what is
missing, bad or expired, with the reason in the log and never the token; tokens in the query and
in Sec-WebSocket-Protocol; every algorithm; joins and publishes only where the token allows;
"user" is the token's subject; token_expiring, refresh and close 4001; --read-only-rooms."""

import asyncio
import json
import time

import pytest
import websockets

from chat_client import WAIT, Chat, http_get, is_joined, run, scrape, upgrade_status, wait_until
from tokens import key_pair_files, mint_token, secret_file, token


def jwt_server(ringws, tmp_path, **kw):
    kw.setdefault("threads", 2)
    return ringws(app="chat", auth="jwt", jwt_secret_file=secret_file(tmp_path), **kw)


def refusal_details(server):
    return [e.get("detail") for e in server.stdout_events() if e.get("event") == "handshake_refused"]


def test_missing_bad_or_expired_tokens_get_401_with_the_reason_only_in_the_log(ringws, tmp_path):
    s = jwt_server(ringws, tmp_path)
    now = int(time.time())
    bad = {
        "missing_token": "/ws",
        "expired": "/ws?token=" + token(exp=now - 3600),
        "not_yet_valid": "/ws?token=" + token(nbf=now + 3600),
        "bad_signature": "/ws?token=" + mint_token.mint("alice", secret=b"x" * 40),
        "alg_none": "/ws?token=" + token(header_alg="none").rsplit(".", 1)[0] + ".",
        "bad_base64": "/ws?token=" + token().replace(".", "=.", 1),
        "missing_exp": "/ws?token=" + token(exp=False),
        "malformed": "/ws?token=not-a-token",
        "too_long": "/ws?token=" + token(extra={"pad": "x" * 5000}),
    }
    for detail, path in bad.items():
        status, headers, body = http_get(s, path, extra=("Upgrade: websocket", "Connection: Upgrade",
                                                           "Sec-WebSocket-Version: 13",
                                                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="))
        assert status == 401, (detail, status)
        assert headers.get("www-authenticate", "").startswith("Bearer"), headers
        assert body == b"Unauthorized\n", body  # nothing about why
    details = refusal_details(s)
    for detail in bad:
        assert detail in details, f"no handshake_refused with detail {detail}: {details}"
    m = scrape(s)
    assert m.get("ringws_handshakes_refused_total", reason="unauthorized") == len(bad)
    assert m.get("ringws_auth_failures_total", reason="expired") == 1
    # The secret and the tokens never reach the log.
    out = s.stdout()
    assert "integration-tests-hs256-secret" not in out
    for path in bad.values():
        if "token=" in path and len(path) > 20:
            assert path.split("token=")[1][:40] not in out


def test_token_in_query_or_subprotocol_and_the_user_is_the_tokens_subject(ringws, tmp_path):
    s = jwt_server(ringws, tmp_path, log_connections=True)
    alice = token("alice", rooms=["lobby"], publish=["lobby"])
    bob = token("bob", rooms=["lobby"], publish=["lobby"])

    async def main():
        a = await Chat.open(s, "/ws?room=lobby&token=" + alice)
        # The browser way: ringws.v1 beside bearer.<token>; the server answers ringws.v1 only.
        ws = await asyncio.wait_for(websockets.connect(s.url + "/ws?room=lobby", subprotocols=["ringws.v1", "bearer." + bob],
                                                       ping_interval=None, compression=None), WAIT)
        assert ws.subprotocol == "ringws.v1"
        hello = json.loads(await ws.recv())
        b = Chat(ws, hello)
        assert hello["user"] == "bob"
        assert is_joined(await a.recv(), "lobby")
        assert is_joined(await b.recv(), "lobby")
        # Whatever a client writes in its data, "user" is its token's subject.
        await b.send({"type": "publish", "room": "lobby", "data": {"name": "alice", "text": "it is me, alice"}})
        for c in (a, b):
            m = await c.recv()
            assert m["type"] == "message" and m["user"] == "bob" and m["from"] == b.id, m
            assert list(m) == ["type", "room", "offset", "epoch", "from", "user", "ts", "data"], m
        await a.send({"type": "publish", "room": "lobby", "data": "hi"})
        for c in (a, b):
            m = await c.recv()
            assert m["user"] == "alice" and m["from"] == a.id
        await a.close()
        await b.close()

    run(main())
    opens = [e for e in s.stdout_events() if e.get("event") == "websocket_open"]
    assert sorted(e["user"] for e in opens) == ["alice", "bob"]
    assert all("token" not in e["path"] for e in opens), opens
    assert alice[:40] not in s.stdout() and bob[:40] not in s.stdout()


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_rs256_and_es256_servers_take_their_own_algorithm_only(ringws, tmp_path, kind):
    private, public = key_pair_files(tmp_path, kind)
    s = ringws(app="chat", threads=1, auth="jwt", jwt_public_key_file=public)
    good = mint_token.mint("carol", key_path=private, rooms=["*"])

    async def main():
        c = await Chat.open(s, "/ws?token=" + good)
        assert c.id and (await asyncio.sleep(0)) is None
        await c.close()

    run(main())
    # Algorithm confusion: an HS256 token whose "secret" is the server's public key.
    with open(public, "rb") as f:
        confused = mint_token.mint("mallory", secret=f.read(), rooms=["*"])
    assert upgrade_status(s, "/ws?token=" + confused) == 401
    assert "alg_mismatch" in refusal_details(s)


def test_joins_and_publishes_only_where_the_token_allows(ringws, tmp_path):
    s = jwt_server(ringws, tmp_path)
    t = token("dana", rooms=["lobby", "team:*"], publish=["lobby"])

    async def main():
        c = await Chat.open(s, "/ws?token=" + t)
        await c.join("lobby")
        await c.join("team:red")
        for room in ("secret", "team", "lobby2"):
            await c.send({"type": "join", "room": room})
            await c.expect_error("forbidden")
        await c.send({"type": "publish", "room": "team:red", "data": 1})
        await c.expect_error("forbidden")
        await c.send({"type": "publish", "room": "lobby", "data": 2})
        m = await c.recv()
        assert m["type"] == "message" and m["data"] == 2 and m["user"] == "dana"
        # Forbidden URL rooms are refused the same way; the connection stays usable.
        d = await Chat.open(s, "/ws?room=secret&room=lobby&token=" + t)
        await d.expect_error("forbidden")
        assert is_joined(await d.recv(), "lobby")
        await d.expect_nothing_before("team:x")
        await c.close()
        await d.close()

    run(main())


def test_token_expiring_refresh_and_close_4001(ringws, tmp_path):
    # Leeway 0 and a 2-second grace: tokens a few seconds long expire within the test.
    s = jwt_server(ringws, tmp_path, jwt_leeway=0, token_grace=2)

    async def main():
        now = int(time.time())
        c = await Chat.open(s, "/ws?token=" + token("erin", exp=now + 4, rooms=["a", "b"]))
        await c.join("a")
        await c.join("b")
        warning = await c.recv(timeout=WAIT)
        assert warning["type"] == "token_expiring" and 0 < warning["expires_in_ms"] <= 4000, warning
        # A refresh for another user, or a bad token, changes nothing.
        await c.send({"type": "refresh", "token": token("mallory", ttl=60)})
        await c.expect_error("wrong_user")
        await c.send({"type": "refresh", "token": "junk"})
        await c.expect_error("bad_token")
        await c.send({"type": "refresh"})
        await c.expect_error("bad_token")
        # The real refresh: 8 more seconds, and room "b" no longer allowed.
        await c.send({"type": "refresh", "token": token("erin", exp=now + 8, rooms=["a"])})
        assert await c.recv() == {"type": "refreshed"}
        assert await c.recv() == {"type": "left", "room": "b"}
        # Past the first token's expiry the connection is still open and serves requests.
        while time.time() < now + 5:
            await asyncio.sleep(0.1)
        await c.send({"type": "join", "room": "b"})
        await c.expect_error("forbidden")
        warning = await c.recv(timeout=WAIT)
        assert warning["type"] == "token_expiring", warning
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await c.recv(timeout=WAIT)
        assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "token expired"
        assert time.time() >= now + 8  # never before exp (plus the leeway, 0 here)

    run(main())
    # The close is counted when the server's teardown ends, maybe after the client saw it.
    run(wait_until(lambda: scrape(s).get("ringws_connections_closed_total", reason="token_expired") == 1,
                   what="the token_expired close counted"))
    assert scrape(s).get("ringws_token_refreshes_total") == 1


def test_refresh_without_auth_and_read_only_rooms(ringws):
    s = ringws(app="chat", threads=1, read_only_rooms="announce,news:*")

    async def main():
        c = await Chat.open(s)
        assert "user" not in c.hello, c.hello
        await c.join("announce")
        await c.join("news:today")
        await c.join("chat")
        for room in ("announce", "news:today"):
            await c.send({"type": "publish", "room": room, "data": 1})
            await c.expect_error("forbidden")
        await c.send({"type": "publish", "room": "chat", "data": 1})
        m = await c.recv()
        assert m["type"] == "message" and "user" not in m, m
        await c.send({"type": "refresh", "token": "x.y.z"})
        await c.expect_error("auth_disabled")
        await c.close()

    run(main())
    assert any(e.get("event") == "auth_disabled" for e in s.stdout_events())


def test_start_warns_once_about_unchecked_origins_with_jwt(ringws, tmp_path):
    open_origins = jwt_server(ringws, tmp_path, threads=1)
    assert [e["event"] for e in open_origins.stdout_events()].count("origins_unchecked") == 1
    listed = jwt_server(ringws, tmp_path, threads=1, allowed_origins="https://chat.example")
    events = [e["event"] for e in listed.stdout_events()]
    assert "origins_unchecked" not in events and "auth_disabled" not in events


def test_dev_mode_mints_tokens_on_the_public_port_only(ringws, tmp_path):
    s = ringws(app="chat", threads=1, auth="jwt", dev_token_secret=secret_file(tmp_path))
    status, headers, body = http_get(s, "/dev/token?name=frank")
    assert status == 200 and headers["content-type"].startswith("application/json")
    minted = json.loads(body)
    assert minted["expires_in"] == 600
    assert http_get(s, "/dev/token?name=bad%20name")[0] == 400
    assert http_get(s, "/dev/token?name=frank", admin=True)[0] == 404
    assert any(e.get("event") == "dev_tokens" for e in s.stdout_events())

    async def main():
        c = await Chat.open(s, "/ws?token=" + minted["token"])
        await c.join("anything")
        await c.close()

    run(main())
    # Without dev mode the endpoint does not exist.
    plain = jwt_server(ringws, tmp_path, threads=1)
    assert http_get(plain, "/dev/token?name=frank")[0] == 404
