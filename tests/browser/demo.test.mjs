// Headless Chromium against the demo chat page served by a real ringws process.
// Usage: tests/browser/run.sh build/ringws, or RINGWS_BIN=build/ringws node --test demo.test.mjs,
// or node demo.test.mjs build/ringws.
// Chromium: Debian's /usr/bin/chromium (override with CHROMIUM); playwright-core drives it over CDP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.RINGWS_BIN || process.argv.slice(2).find((a) => !a.startsWith('-'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 10_000;  // every wait is bounded by this (reconnects get a few of them)

if (!BIN) throw new Error('set RINGWS_BIN or pass the ringws binary path');

// Starts ringws and resolves once its "listening" log line names the port.
function startServer(port = 0, extraArgs = []) {
  const proc = spawn(BIN, ['--port', String(port), '--host', '127.0.0.1', '--threads', '2', '--demo', '--admin-listen', '127.0.0.1:0',
                           ...extraArgs],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no "listening" line within 10 s')), WAIT);
    exited.then(({ code, signal }) => reject(new Error(`server exited early: ${code ?? signal}`)));
    // Keep reading stdout to the end so that the server never blocks on a full pipe.
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let ev;
      try { ev = JSON.parse(line); } catch { return; }
      if (ev.event === 'listening' && Number.isInteger(ev.port)) {
        clearTimeout(timer);
        resolve(ev.port);
      }
    });
  });
  return { proc, exited, listening };
}

// The lifecycle contract: SIGTERM drains and exits 0.
async function stopServer(server) {
  server.stopped = true;
  server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 40_000);  // past the drain window
  const { code, signal } = await server.exited;
  clearTimeout(timer);
  assert.equal(signal, null, `server died of ${signal}`);
  assert.equal(code, 0, 'server exit code after SIGTERM');
}

// Cleanup after a failure: must not throw over the error that got us here.
function killServer(server) {
  if (server && !server.stopped && server.proc.exitCode === null) server.proc.kill('SIGKILL');
}

function launchBrowser() {
  // Playwright adds --headless and a fresh temporary --user-data-dir per launch itself.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page in its own browser context (own cookies and storage: a separate user).
async function openPage(browser, url) {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(WAIT);
  // Every frame the server sends this page, to check what the server delivered
  // rather than only what the page chose to render.
  page.frames_ = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => page.frames_.push(String(f.payload))));
  await page.goto(url);
  return page;
}

async function joinRoom(page, room, name) {
  if (name) await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#join');
  await page.waitForSelector(`#status[data-room="${room}"][data-state="open"]`);
}

async function send(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

// The .msg element whose text part is exactly `text`, once it is there.
async function waitForMessage(page, text) {
  const msg = page.locator('#messages .msg').filter({ has: page.locator('.text', { hasText: text }) });
  await msg.first().waitFor();
  return msg.first();
}

test('two pages in one room chat; a page in another room hears nothing', async () => {
  const server = startServer();
  const browser = await launchBrowser();
  try {
    const base = `http://127.0.0.1:${await server.listening}`;
    const [a, b, c] = await Promise.all([openPage(browser, base), openPage(browser, base),
                                         openPage(browser, base)]);
    await joinRoom(a, 'browser-test', 'alice');
    await joinRoom(b, 'browser-test', 'bob');
    await joinRoom(c, 'other-room', 'carol');

    // Markup in the text must arrive as text, not as elements.
    const said = `hello from A <b>${Date.now()}</b> & "quotes"`;
    await send(a, said);
    const onB = await waitForMessage(b, said);
    assert.equal(await onB.locator('.who').textContent(), 'alice');
    assert.equal(await onB.locator('.text').textContent(), said);
    assert.match(await onB.locator('time').textContent(), /\d/);
    assert.equal(await b.locator('#messages b').count(), 0, 'user text was parsed as HTML');
    await waitForMessage(a, said);  // the publisher gets its own message too

    // C's own message is a marker: once it is back, A's message would have reached C too
    // if the server had sent it there.
    await send(c, 'marker from C');
    await waitForMessage(c, 'marker from C');
    assert.ok(!c.frames_.some((f) => f.includes('hello from A')), 'C received a frame of another room');
    assert.equal(await c.locator('#messages .msg').count(), 1);
    assert.equal(await b.locator('#messages .msg', { hasText: 'marker from C' }).count(), 0);

    // Switching rooms: C leaves other-room, joins browser-test and hears A from then on.
    await joinRoom(c, 'browser-test');
    assert.ok(c.frames_.some((f) => JSON.parse(f).type === 'left'), 'no "left" after switching');
    await send(a, 'second from A');
    await waitForMessage(c, 'second from A');
    await waitForMessage(b, 'second from A');

    const dir = mkdtempSync(join(tmpdir(), 'ringws-browser-'));
    const shot = join(dir, 'page-b.png');
    await b.screenshot({ path: shot });
    console.log(`screenshot of page B: ${shot}`);

    await browser.close();
    await stopServer(server);
  } finally {
    await browser.close();
    killServer(server);
  }
});

test('a page reconnects after the server drains it with 1001', async () => {
  // A short drain window keeps the test quick; the page's backoff does not depend on it.
  const first = startServer(0, ['--drain-seconds', '2']);
  const browser = await launchBrowser();
  let second;
  try {
    const port = await first.listening;
    const page = await openPage(browser, `http://127.0.0.1:${port}`);
    await joinRoom(page, 'drain-test', 'dana');

    // SIGTERM with the page connected: the drain sends it 1001, then the server exits 0.
    await stopServer(first);
    await page.locator('#messages .sys', { hasText: 'disconnected (1001)' }).waitFor();
    assert.equal(await page.getAttribute('#status', 'data-room'), null);

    // A new instance on the same address stands in for the balancer's other target.
    second = startServer(port);
    await second.listening;
    await page.waitForSelector('#status[data-room="drain-test"][data-state="open"]',
                               { timeout: 3 * WAIT });
    await send(page, 'back again');
    await waitForMessage(page, 'back again');

    await browser.close();
    await stopServer(second);
  } finally {
    await browser.close();
    killServer(first);
    killServer(second);
  }
});

// A redis-server of the test's own on a free port (no persistence); null when it cannot run.
async function startRedis() {
  const { createServer } = await import('node:net');
  const port = await new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
  const dir = mkdtempSync(join(tmpdir(), 'ringws-redis-'));
  let proc;
  try {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                                  '--dir', dir, '--daemonize', 'no'], { stdio: 'ignore' });
  } catch { return null; }
  const failed = new Promise((resolve) => { proc.on('error', () => resolve(true)); proc.on('exit', () => resolve(true)); });
  const { connect } = await import('node:net');
  for (let i = 0; i < 200; i++) {
    const ok = await Promise.race([failed.then(() => 'dead'), new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    })]);
    if (ok === 'dead') return null;
    if (ok === true) return { proc, url: `redis://127.0.0.1:${port}/0` };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  return null;
}

test('a drain in the middle of a conversation loses no message on the page (two instances, Redis)', async (t) => {
  const redis = await startRedis();
  if (!redis) { t.skip('redis-server cannot run here (apt-get install -y redis-server)'); return; }
  const args = ['--redis', redis.url, '--history-size', '100', '--drain-seconds', '2'];
  const x = startServer(0, args);
  const y = startServer(0, args);
  const browser = await launchBrowser();
  let x2;
  try {
    const portX = await x.listening, portY = await y.listening;
    const a = await openPage(browser, `http://127.0.0.1:${portX}/?room=talk&name=ann`);
    const b = await openPage(browser, `http://127.0.0.1:${portY}/?room=talk&name=bob`);
    for (const p of [a, b]) await p.waitForSelector('#status[data-room="talk"][data-state="open"]');
    await send(b, 'one');
    await send(a, 'two');
    await waitForMessage(a, 'two');
    await waitForMessage(a, 'one');
    // Drain A's instance (SIGTERM): A is closed with 1001 and retries; B keeps talking meanwhile.
    await stopServer(x);
    await a.locator('#messages .sys', { hasText: 'disconnected (1001)' }).waitFor();
    for (const text of ['three', 'four', 'five']) await send(b, text);
    await waitForMessage(b, 'five');
    // Another instance takes A's address (the balancer's other target); A reconnects with since.
    x2 = startServer(portX, args);
    await x2.listening;
    await a.waitForSelector('#status[data-room="talk"][data-state="open"][data-recovered="true"]', { timeout: 3 * WAIT });
    await waitForMessage(a, 'five');
    await send(b, 'six');
    await waitForMessage(a, 'six');
    const texts = await a.locator('#messages .msg .text').allTextContents();
    assert.deepEqual(texts, ['one', 'two', 'three', 'four', 'five', 'six'], 'every message once, in order');
    await browser.close();
    await stopServer(y);
    await stopServer(x2);
  } finally {
    await browser.close();
    killServer(x);
    killServer(y);
    killServer(x2);
    redis.proc.kill('SIGTERM');
  }
});

test('dev mode: pages get tokens for their names, and messages show the token\'s user', async () => {
  // --auth jwt with --dev-token-secret: the page mints a token for the typed name at
  // /dev/token and offers it in Sec-WebSocket-Protocol; the server stamps "user" on messages.
  const dir = mkdtempSync(join(tmpdir(), 'ringws-browser-'));
  const secret = join(dir, 'dev-secret');
  writeFileSync(secret, 'a-development-secret-of-at-least-32-bytes\n');
  const server = startServer(0, ['--auth', 'jwt', '--dev-token-secret', secret]);
  const browser = await launchBrowser();
  try {
    const base = `http://127.0.0.1:${await server.listening}`;
    const [a, b] = await Promise.all([openPage(browser, base), openPage(browser, base)]);
    await joinRoom(a, 'dev-room', 'alice');
    await joinRoom(b, 'dev-room', 'bob');
    assert.match(await a.locator('#auth-note').textContent(), /production/);
    assert.equal(await a.isVisible('#auth'), true);

    await send(a, 'signed by my token');
    const onB = await waitForMessage(b, 'signed by my token');
    assert.equal(await onB.locator('.who').textContent(), 'alice');
    const frame = b.frames_.map((f) => { try { return JSON.parse(f); } catch { return {}; } })
      .find((m) => m.type === 'message' && m.data && m.data.text === 'signed by my token');
    assert.equal(frame.user, 'alice');
    // The hello names the page's own user too.
    assert.ok(b.frames_.some((f) => f.includes('"type":"hello"') && f.includes('"user":"bob"')));

    await browser.close();
    await stopServer(server);
  } finally {
    await browser.close();
    killServer(server);
  }
});
