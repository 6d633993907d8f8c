// The echo app through Node's ws client: text and binary echo, ping/pong, close codes,
// the message size limit, and server pings.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { startServer } from './server.mjs';

async function open(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 0 });
  await once(ws, 'open');
  return ws;
}

function nextMessage(ws, ms = 20000) {
  return new Promise((resolve, reject) => {
    const onClose = (code, reason) => {
      clearTimeout(timer);
      reject(new Error(`expected a message, got close ${code} ${reason}`));
    };
    const timer = setTimeout(() => { ws.off('close', onClose); reject(new Error('no message in time')); }, ms);
    ws.once('close', onClose);
    ws.once('message', (data, isBinary) => {
      clearTimeout(timer);
      ws.off('close', onClose);
      resolve({ data, isBinary });
    });
  });
}

function closed(ws, ms = 20000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no close in time')), ms);
    ws.once('close', (code, reason) => { clearTimeout(timer); resolve({ code, reason: reason.toString() }); });
  });
}

describe('echo app with ws', () => {
  let server;
  before(async () => { server = await startServer({ app: 'echo' }); });
  after(async () => { await server.stop(); });

  for (const size of [0, 1, 125, 126, 65535, 65536, 1 << 20]) {
    test(`text echo ${size} bytes`, async () => {
      const ws = await open(server.url);
      const text = 'é'.repeat(size >> 1) + 'a'.repeat(size & 1);
      assert.equal(Buffer.byteLength(text), size);
      ws.send(text);
      const { data, isBinary } = await nextMessage(ws);
      assert.equal(isBinary, false);
      assert.equal(data.toString('utf8'), text);
      ws.close(1000);
      assert.equal((await closed(ws)).code, 1000);
    });

    test(`binary echo ${size} bytes`, async () => {
      const ws = await open(server.url);
      const buf = randomBytes(size);
      ws.send(buf);
      const { data, isBinary } = await nextMessage(ws);
      assert.equal(isBinary, true);
      assert.ok(buf.equals(data));
      ws.close();
      await closed(ws);
    });
  }

  test('message over 1 MiB closes with 1009', async () => {
    const ws = await open(server.url);
    const done = closed(ws);
    ws.on('error', () => {}); // the write may fail once the server has closed
    ws.send(Buffer.alloc((1 << 20) + 1, 7));
    assert.equal((await done).code, 1009);
  });

  test('ping gets a pong with the same payload', async () => {
    const ws = await open(server.url);
    for (const payload of [Buffer.alloc(0), Buffer.from('node ping'), randomBytes(125)]) {
      const pong = once(ws, 'pong');
      ws.ping(payload);
      const [data] = await pong;
      assert.ok(payload.equals(data), `pong ${data.toString('hex')} != ping ${payload.toString('hex')}`);
    }
    ws.close();
    await closed(ws);
  });

  for (const [code, reason] of [[1000, ''], [1000, 'bye'], [3000, 'custom'], [4999, '']]) {
    test(`client close ${code} ${JSON.stringify(reason)} is echoed`, async () => {
      const ws = await open(server.url);
      const done = closed(ws);
      ws.close(code, reason);
      assert.equal((await done).code, code);
    });
  }

  test('100 clients echo concurrently', async () => {
    const clients = await Promise.all(Array.from({ length: 100 }, () => open(server.url)));
    await Promise.all(clients.map(async (ws, i) => {
      for (let j = 0; j < 10; j++) {
        const m = `client ${i} message ${j}`;
        ws.send(m);
        assert.equal((await nextMessage(ws)).data.toString(), m);
      }
    }));
    await Promise.all(clients.map((ws) => { const d = closed(ws); ws.close(); return d; }));
  });
});

describe('server pings', () => {
  let server;
  before(async () => { server = await startServer({ app: 'echo', pingInterval: 1, idleTimeout: 3 }); });
  after(async () => { await server.stop(); });

  test('a silent client is pinged and, answering, stays connected', async () => {
    const ws = await open(server.url);
    let pings = 0;
    ws.on('ping', () => { pings += 1; }); // ws answers with a pong by itself
    await new Promise((r) => setTimeout(r, 5000));
    assert.ok(pings >= 1, 'no ping from the server in 5 s with --ping-interval 1');
    assert.equal(ws.readyState, WebSocket.OPEN);
    ws.send('still open');
    assert.equal((await nextMessage(ws)).data.toString(), 'still open');
    ws.close();
    await closed(ws);
  });
});
