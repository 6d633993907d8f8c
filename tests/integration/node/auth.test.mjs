// --auth jwt and the rate limits through Node's ws: the token in Sec-WebSocket-Protocol (as a
// browser sends it) answered with ringws.v1, 401 without one, joins and publishes only where
// the token allows, "user" from the token, rate_limited with retry_after_ms, and close 4001.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startServer } from './server.mjs';

const SECRET = 'node-integration-secret-of-more-than-32-bytes';
let server;
let secretFile;

// An HS256 token, signed with Node's crypto (the server verifies with OpenSSL).
function token(claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}
const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  secretFile = join(mkdtempSync(join(tmpdir(), 'ringws-node-auth-')), 'secret');
  writeFileSync(secretFile, SECRET + '\n');
  server = await startServer({ app: 'chat', threads: 2, auth: 'jwt', jwtSecretFile: secretFile,
                               publishRate: 1, publishBurst: 2, jwtLeeway: 0, tokenGrace: 1 });
});
after(async () => { await server.stop(); });

async function connect(tok, path = '/ws') {
  const ws = new WebSocket(server.url + path, ['ringws.v1', 'bearer.' + tok], { perMessageDeflate: false });
  const queue = [];
  const waiters = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    if (waiters.length) waiters.shift()(m); else queue.push(m);
  });
  await once(ws, 'open');
  const client = {
    ws,
    next(ms = 10000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message within ' + ms + ' ms')), ms);
        waiters.push((m) => { clearTimeout(timer); resolve(m); });
      });
    },
    send(obj) { ws.send(JSON.stringify(obj)); },
    async close() { ws.close(1000); await once(ws, 'close'); },
  };
  client.hello = await client.next();
  return client;
}

test('the token rides in Sec-WebSocket-Protocol and ringws.v1 is answered', async () => {
  const c = await connect(token({ sub: 'nina', exp: now() + 60, rooms: ['lobby'], publish: ['lobby'] }));
  assert.equal(c.ws.protocol, 'ringws.v1');
  assert.equal(c.hello.type, 'hello');
  assert.equal(c.hello.user, 'nina');
  await c.close();
});

test('no token, a forged one or an expired one: 401', async () => {
  const forged = token({ sub: 'x', exp: now() + 60 }).replace(/\.[^.]+$/, '.' + Buffer.alloc(32).toString('base64url'));
  for (const protocols of [[], ['ringws.v1'], ['ringws.v1', 'bearer.' + forged],
                           ['ringws.v1', 'bearer.' + token({ sub: 'x', exp: now() - 10 })]]) {
    const ws = new WebSocket(server.url + '/ws', protocols);
    const [, res] = await Promise.race([once(ws, 'unexpected-response'),
                                        once(ws, 'open').then(() => { throw new Error('opened'); })]);
    assert.equal(res.statusCode, 401);
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    ws.terminate();
  }
});

test('joins and publishes only where the token allows; user is the subject', async () => {
  const c = await connect(token({ sub: 'olga', exp: now() + 60, rooms: ['lobby', 'team:*'], publish: ['lobby'] }));
  c.send({ type: 'join', room: 'team:blue' });
  const joinedTeam = await c.next();
  assert.equal(joinedTeam.type, 'joined');
  assert.equal(joinedTeam.room, 'team:blue');
  assert.ok(Number.isInteger(joinedTeam.offset) && typeof joinedTeam.epoch === 'string', JSON.stringify(joinedTeam));
  c.send({ type: 'join', room: 'private' });
  assert.equal((await c.next()).code, 'forbidden');
  c.send({ type: 'publish', room: 'team:blue', data: 1 });
  assert.equal((await c.next()).code, 'forbidden');
  c.send({ type: 'join', room: 'lobby' });
  const joinedLobby = await c.next();
  assert.equal(joinedLobby.type, 'joined');
  assert.equal(joinedLobby.room, 'lobby');
  assert.ok(Number.isInteger(joinedLobby.offset) && typeof joinedLobby.epoch === 'string', JSON.stringify(joinedLobby));
  c.send({ type: 'publish', room: 'lobby', data: { name: 'someone else' } });
  const m = await c.next();
  assert.equal(m.type, 'message');
  assert.equal(m.user, 'olga');
  assert.equal(m.from, c.hello.id);
  assert.equal(m.offset, joinedLobby.offset + 1);
  // Over --publish-burst 2 at 1 a second (the forbidden publish took a token too): refused
  // with a retry time.
  c.send({ type: 'publish', room: 'lobby', data: 2 });
  const refused = await c.next();
  assert.equal(refused.code, 'rate_limited');
  assert.ok(refused.retry_after_ms > 0 && refused.retry_after_ms <= 1000, JSON.stringify(refused));
  await c.close();
});

test('token_expiring, then close 4001 when the token runs out', async () => {
  const c = await connect(token({ sub: 'pia', exp: now() + 3 }));
  const warning = await c.next(10000);
  assert.equal(warning.type, 'token_expiring');
  const [code, reason] = await once(c.ws, 'close');
  assert.equal(code, 4001);
  assert.equal(String(reason), 'token expired');
});
