"""A python-websockets server that stresses a client's RFC 6455 handling: it pings each new
client, echoes every message back split into 3 fragments, and on the text "close-me" sends
close 4000. Prints {"event":"listening","port":N} like ringws. Run with /usr/bin/python3."""

import asyncio
import json
import signal

import websockets


async def handler(ws, path=None):
    await ws.ping(b"hello")
    async for msg in ws:
        if msg == "close-me":
            await ws.close(4000, "asked")
            return
        third = max(1, len(msg) // 3)
        await ws.send(iter([msg[:third], msg[third:2 * third], msg[2 * third:]]))


async def main():
    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(s, stop.set_result, None)
    async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"event": "listening", "port": port}), flush=True)
        await stop


asyncio.run(main())
