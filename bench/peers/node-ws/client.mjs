// An independent client for checking ringws-load's figures (bench/load/README.md), built on
// Node's ws rather than on ringws-load's own code:
//   node client.mjs echo --url URL --connections C --size S --duration SEC [--rate R]
//   node client.mjs idle --url URL --connections N --hold SEC
// Prints one JSON line with what it measured.
import WebSocket from 'ws';
const mode = process.argv[2];
const arg = (n, d) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : d; };
const url = arg('--url'), n = Number(arg('--connections', '10')), size = Number(arg('--size', '32'));
const duration = Number(arg('--duration', '5')), rate = Number(arg('--rate', '0')), hold = Number(arg('--hold', '2'));
const socks = []; let open = 0, failed = 0, msgs = 0, measuring = false; const rtts = [];
const payload = Buffer.alloc(Math.max(size, 8), 'x');
const send = (ws) => { payload.writeDoubleLE(performance.now(), 0); ws.send(payload); };
const done = () => new Promise((r) => { const t = setInterval(() => { if (open + failed === n) { clearInterval(t); r(); } }, 10); });
for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('open', () => { open++; socks.push(ws); });
  ws.on('error', () => { failed++; });
  ws.on('message', (d) => {
    if (!measuring) return;
    msgs++; rtts.push(performance.now() - d.readDoubleLE(0));
    if (rate === 0) send(ws);
  });
}
await done();
if (mode === 'idle') {
  console.log(JSON.stringify({ mode, open, failed }));
  await new Promise((r) => setTimeout(r, hold * 1000));
} else {
  measuring = true; const t0 = performance.now();
  let timer;
  if (rate === 0) socks.forEach(send);
  else { let sent = 0, k = 0; timer = setInterval(() => { const due = Math.floor((performance.now() - t0) / 1000 * rate); while (sent < due) { send(socks[k++ % socks.length]); sent++; } }, 1); }
  await new Promise((r) => setTimeout(r, duration * 1000));
  measuring = false; clearInterval(timer);
  const secs = (performance.now() - t0) / 1000; rtts.sort((a, b) => a - b);
  const pct = (q) => rtts.length ? Math.round(rtts[Math.min(rtts.length - 1, Math.ceil(q / 100 * rtts.length) - 1)] * 1000) : 0;
  console.log(JSON.stringify({ mode, open, failed, msgs, msgs_per_s: Math.round(msgs / secs), p50_us: pct(50), p99_us: pct(99) }));
}
socks.forEach((ws) => ws.terminate());
process.exit(0);
