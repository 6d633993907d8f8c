// Node's ws as the comparison peer for ringws-load and the experiment scripts:
//   node server.mjs [--app echo|shootout] [--port 0] [--host 127.0.0.1]
// Prints {"event":"listening","port":N} on stdout, like ringws. Echo: every message back.
// Shootout (hashrocket/websocket-shootout): {"type":"echo"} back to the sender;
// {"type":"broadcast","payload":X} to every client, then {"type":"broadcastResult","payload":X}.
import { WebSocketServer } from 'ws';
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const app = arg('--app', 'echo');
const wss = new WebSocketServer({ host: arg('--host', '127.0.0.1'), port: Number(arg('--port', '0')), perMessageDeflate: false, clientTracking: true });
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => {
  if (app === 'echo') return ws.send(data, { binary: isBinary });
  let msg; try { msg = JSON.parse(data); } catch { return ws.send('{"type":"error","reason":"invalid JSON"}'); }
  if (msg.type === 'echo') return ws.send(data, { binary: false });
  if (msg.type !== 'broadcast') return ws.send('{"type":"error","reason":"unknown type"}');
  for (const c of wss.clients) c.send(data, { binary: false });
  ws.send(JSON.stringify({ type: 'broadcastResult', payload: msg.payload }));
}));
wss.on('listening', () => console.log(JSON.stringify({ event: 'listening', port: wss.address().port, app })));
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { for (const c of wss.clients) c.terminate(); wss.close(() => process.exit(0)); });
