// The chat app through Node's ws: two members of a room see each other's messages (the
// publisher its own too), a client in another room sees none, URL-query joins, errors.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startServer } from './server.mjs';

let server;
before(async () => { server = await startServer({ app: 'chat', threads: 2 }); });
after(async () => { await server.stop(); });

// A "joined" (docs/protocol.md): the room, its current offset and epoch.
function assertJoined(got, room) {
  assert.equal(got.type, 'joined');
  assert.equal(got.room, room);
  assert.ok(Number.isInteger(got.offset) && got.offset >= 0, `offset: ${JSON.stringify(got)}`);
  assert.ok(typeof got.epoch === 'string' && got.epoch.length > 0, `epoch: ${JSON.stringify(got)}`);
}

// A client whose incoming messages queue up, read one at a time with a bounded wait.
async function connect(path = '/ws') {
  const ws = new WebSocket(server.url + path, { perMessageDeflate: false });
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'server sent a binary message');
    const text = data.toString();
    if (waiters.length) waiters.shift()(text); else queue.push(text);
  });
  await once(ws, 'open');
  const client = {
    ws,
    nextText(ms = 10000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message within ' + ms + ' ms')), ms);
        waiters.push((t) => { clearTimeout(timer); resolve(t); });
      });
    },
    async next(ms) { return JSON.parse(await client.nextText(ms)); },
    send(obj) { ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); },
    async join(room) {
      client.send({ type: 'join', room });
      assertJoined(await client.next(), room);
    },
    async close() { ws.close(1000); await once(ws, 'close'); },
  };
  const hello = await client.next();
  assert.equal(hello.type, 'hello');
  assert.match(hello.id, /^[0-9a-f]{12}\.[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]+$/);
  client.id = hello.id;
  return client;
}

test('two members of a room see each other, another room does not', async () => {
  const a = await connect();
  const b = await connect();
  const other = await connect();
  await a.join('lobby');
  await b.join('lobby');
  await other.join('elsewhere');
  for (const [sender, text] of [[a, 'hello from a'], [b, 'and from b']]) {
    const data = { text, list: [1, 'two', null, false], nested: { 'ü€': 3.25 } };
    const t0 = Date.now();
    sender.send({ type: 'publish', room: 'lobby', data });
    for (const member of [a, b]) {
      const raw = await member.nextText();
      const m = JSON.parse(raw);
      assert.equal(m.type, 'message');
      assert.equal(m.room, 'lobby');
      assert.equal(m.from, sender.id);
      assert.ok(Number.isInteger(m.ts) && m.ts >= t0 - 1000 && m.ts <= Date.now() + 1000, `ts ${m.ts}`);
      assert.deepEqual(m.data, data);
      assert.ok(raw.endsWith('"data":' + JSON.stringify(data) + '}'), raw);
    }
  }
  // A join round trip: a stray message for `other` would have arrived before this answer.
  other.send({ type: 'join', room: 'sentinel' });
  assertJoined(await other.next(), 'sentinel');
  await Promise.all([a.close(), b.close(), other.close()]);
});

test('rooms from the URL query, and errors keep the connection usable', async () => {
  const c = await connect('/ws?room=news&room=a%3Ab');
  // One "joined" per URL room; rooms with different home reactors may answer in either order.
  const first = await c.next(), second = await c.next();
  const byRoom = Object.fromEntries([first, second].map((j) => [j.room, j]));
  assertJoined(byRoom.news, 'news');
  assertJoined(byRoom['a:b'], 'a:b');
  const cases = [
    ['bad_json', '{"type":'],
    ['unknown_type', { type: 'dance', room: 'news' }],
    ['bad_room', { type: 'join', room: 'no spaces' }],
    ['not_joined', { type: 'publish', room: 'sports', data: 1 }],
    ['missing_data', { type: 'publish', room: 'news' }],
  ];
  for (const [code, msg] of cases) {
    c.send(msg);
    const e = await c.next();
    assert.equal(e.type, 'error', JSON.stringify(e));
    assert.equal(e.code, code, JSON.stringify(e));
  }
  c.ws.send(Buffer.from('{"type":"join","room":"x"}'), { binary: true });
  assert.equal((await c.next()).code, 'binary_not_supported');
  c.send({ type: 'publish', room: 'a:b', data: 'still here' });
  const m = await c.next();
  assert.equal(m.type, 'message');
  assert.equal(m.data, 'still here');
  await c.close();
});
