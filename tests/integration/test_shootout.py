"""The shootout app (websocket-shootout's protocol): echo and broadcast, from a few clients up
to a thousand spread over two reactors."""

import asyncio
import json
import os

import websockets


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def open_clients(url, n, concurrency=100):
    sem = asyncio.Semaphore(concurrency)

    async def one():
        async with sem:
            return await websockets.connect(url, ping_interval=None, max_size=None, close_timeout=5,
                                            open_timeout=30)

    return await asyncio.gather(*(one() for _ in range(n)))


async def close_clients(clients, concurrency=200):
    sem = asyncio.Semaphore(concurrency)

    async def one(ws):
        async with sem:
            await ws.close()

    await asyncio.gather(*(one(ws) for ws in clients))


async def recv_json(ws, timeout=30):
    text = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(text, str), f"shootout replied with a binary message: {text[:80]!r}"
    return text, json.loads(text)


def test_echo_returns_the_same_message(ringws):
    s = ringws(app="shootout")

    async def go():
        async with websockets.connect(s.url, ping_interval=None) as ws:
            for payload in ("hello", {"n": 1, "nested": [1, 2, {"x": "ü€"}]}, "", 12.5, None, "p" * 70000):
                msg = json.dumps({"type": "echo", "payload": payload})
                await ws.send(msg)
                text, _ = await recv_json(ws)
                assert text == msg

    run(go())


def test_broadcast_reaches_everyone_and_result_goes_to_sender(ringws):
    s = ringws(app="shootout", threads=2)

    async def go():
        clients = await open_clients(s.url, 6)
        sender, others = clients[0], clients[1:]
        payload = {"sent": "by client 0", "pad": "x" * 200}
        msg = json.dumps({"type": "broadcast", "payload": payload})
        await sender.send(msg)
        for ws in others:
            text, _ = await recv_json(ws)
            assert text == msg
        # The sender gets its own copy, then the result.
        text, _ = await recv_json(sender)
        assert text == msg
        _, result = await recv_json(sender)
        assert result["type"] == "broadcastResult"
        assert result["payload"] == payload
        # Nobody got anything else: the next message each receives is its own echo.
        for i, ws in enumerate(clients):
            probe = json.dumps({"type": "echo", "payload": i})
            await ws.send(probe)
            text, _ = await recv_json(ws)
            assert text == probe
        await close_clients(clients)

    run(go())


def test_bad_messages_do_not_break_the_connection(ringws):
    s = ringws(app="shootout")

    async def go():
        async with websockets.connect(s.url, ping_interval=None) as ws:
            for bad in ("not json", '{"type":"nope"}', '{"payload":1}', "{", b"\x00binary"):
                await ws.send(bad)
            probe = json.dumps({"type": "echo", "payload": "after the bad ones"})
            await ws.send(probe)
            seen = []
            while True:
                text = await asyncio.wait_for(ws.recv(), 30)
                if text == probe:
                    break
                seen.append(text)
                assert len(seen) <= 5, f"too many replies to 5 bad messages: {seen}"
            # Whatever it answers to bad input is still the protocol's JSON.
            for text in seen:
                assert isinstance(text, str), f"binary reply to a bad message: {text!r}"
                try:
                    json.loads(text)
                except ValueError:
                    raise AssertionError(f"reply to a bad message is not valid JSON: {text!r}") from None

    run(go())
    assert s.alive()


def broadcast_many(s, n_clients, senders):
    """n_clients connect; each sender index broadcasts one message concurrently; every client
    must receive every broadcast exactly once and each sender its result."""

    async def go():
        clients = await open_clients(s.url, n_clients)
        payloads = {i: {"from": i, "pad": os.urandom(100).hex()} for i in senders}
        messages = {i: json.dumps({"type": "broadcast", "payload": p}) for i, p in payloads.items()}
        expected = set(messages.values())

        async def collect(idx, ws):
            got, results = [], []
            want_results = 1 if idx in messages else 0
            while len(got) < len(expected) or len(results) < want_results:
                text, obj = await recv_json(ws, timeout=60)
                if obj.get("type") == "broadcastResult":
                    assert obj["payload"] == payloads.get(idx), f"client {idx}: foreign result {obj}"
                    assert messages[idx] in got, f"client {idx}: result before its own broadcast copy"
                    results.append(obj)
                else:
                    assert text in expected, f"client {idx}: unexpected message {text[:100]}"
                    got.append(text)
            assert sorted(got) == sorted(expected), f"client {idx}: duplicates or missing broadcasts"
            assert len(results) == want_results

        collectors = [asyncio.ensure_future(collect(i, ws)) for i, ws in enumerate(clients)]
        await asyncio.gather(*(clients[i].send(m) for i, m in messages.items()))
        await asyncio.gather(*collectors)
        # And nothing more: each client's next message is the answer to its own echo.
        async def probe(i, ws):
            m = json.dumps({"type": "echo", "payload": i})
            await ws.send(m)
            text, _ = await recv_json(ws)
            assert text == m, f"client {i}: extra message {text[:100]}"

        await asyncio.gather(*(probe(i, ws) for i, ws in enumerate(clients)))
        await close_clients(clients)

    run(go(), timeout=180)


def test_broadcast_to_1000_clients_two_reactors(ringws):
    s = ringws(app="shootout", threads=2)
    broadcast_many(s, 1000, senders=[0, 199, 401, 650, 999])
    assert s.alive()
