// The shootout app's broadcast through Node's ws: 600 clients on two reactors, 5 broadcasts
// from different senders; every client gets every broadcast once, each sender its result.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startServer } from './server.mjs';

const CLIENTS = 600;
const SENDERS = [0, 150, 299, 451, 599];

let server;
before(async () => { server = await startServer({ app: 'shootout', threads: 2 }); });
after(async () => { await server.stop(); });

async function openAll(url, n, batch = 100) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, async () => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      await once(ws, 'open');
      return ws;
    })));
  }
  return out;
}

test('echo returns the same message', async () => {
  const [ws] = await openAll(server.url, 1);
  const msg = JSON.stringify({ type: 'echo', payload: { a: [1, 2, 3], s: 'ü€' } });
  ws.send(msg);
  const [data] = await once(ws, 'message');
  assert.equal(data.toString(), msg);
  ws.close();
  await once(ws, 'close');
});

test(`broadcast to ${CLIENTS} clients from ${SENDERS.length} senders`, { timeout: 120000 }, async () => {
  const clients = await openAll(server.url, CLIENTS);
  const messages = new Map(SENDERS.map((i) => [i, JSON.stringify({ type: 'broadcast', payload: { from: i, pad: 'p'.repeat(200) } })]));
  const expected = [...messages.values()].sort();

  const done = clients.map((ws, i) => new Promise((resolve, reject) => {
    const got = [];
    const results = [];
    const wantResults = messages.has(i) ? 1 : 0;
    const timer = setTimeout(() => reject(new Error(`client ${i}: got ${got.length} broadcasts, ${results.length} results`)), 60000);
    ws.on('message', (data) => {
      try { onMessage(data); } catch (e) { clearTimeout(timer); reject(e); }
    });
    const onMessage = (data) => {
      const text = data.toString();
      const obj = JSON.parse(text);
      if (obj.type === 'broadcastResult') {
        assert.deepEqual(obj.payload, JSON.parse(messages.get(i)).payload, `client ${i}: foreign result`);
        assert.ok(got.includes(messages.get(i)), `client ${i}: result before its own broadcast copy`);
        results.push(obj);
      } else {
        assert.ok(expected.includes(text), `client ${i}: unexpected ${text.slice(0, 100)}`);
        got.push(text);
      }
      if (got.length === expected.length && results.length === wantResults) {
        clearTimeout(timer);
        ws.removeAllListeners('message');
        resolve({ got, results });
      }
    };
  }));
  for (const [i, m] of messages) clients[i].send(m);
  const all = await Promise.all(done);
  for (const [i, { got, results }] of all.entries()) {
    assert.deepEqual([...got].sort(), expected, `client ${i}: duplicates or missing`);
    assert.equal(results.length, messages.has(i) ? 1 : 0);
  }
  // Nothing extra: each client's next message is the answer to its own echo.
  await Promise.all(clients.map(async (ws, i) => {
    const probe = JSON.stringify({ type: 'echo', payload: i });
    const next = once(ws, 'message');
    ws.send(probe);
    const [data] = await next;
    assert.equal(data.toString(), probe, `client ${i}: extra message`);
  }));
  await Promise.all(clients.map((ws) => { const c = once(ws, 'close'); ws.close(); return c; }));
  assert.ok(server.alive());
});
