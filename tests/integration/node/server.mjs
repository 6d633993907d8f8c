// Starts ringws for a Node test and stops it by PID with SIGTERM, checking that it exits 0
// with no sanitizer report. The binary comes from $RINGWS_BIN (default build/ringws).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'];

export function ringwsBinary() {
  return path.resolve(process.env.RINGWS_BIN ?? path.join(repo, 'build', 'ringws'));
}

export async function startServer(options = {}) {
  const args = ['--host', '127.0.0.1', '--port', '0', '--admin-listen', '127.0.0.1:0', '--app', options.app ?? 'echo',
    '--threads', String(options.threads ?? 2)];
  // The default drain window (25 s, for an ALB) would outlast the stop timeout.
  options = { drainSeconds: 2, ...options };
  for (const [name, value] of Object.entries(options)) {
    if (name === 'app' || name === 'threads') continue;
    args.push('--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), String(value));
  }
  const proc = spawn(ringwsBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const listening = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line within 15 s:\n${stdout}\n${stderr}`)), 15000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ringws exited with ${code} before listening:\n${stdout}\n${stderr}`));
    });
    proc.stdout.on('data', (d) => {
      stdout += d;
      for (const line of stdout.split('\n')) {
        try {
          const ev = JSON.parse(line);
          if (ev.event === 'listening') { clearTimeout(timer); resolve(ev); return; }
        } catch { /* not a whole JSON line yet */ }
      }
    });
  });
  // Keep draining stdout so a chatty server never blocks on a full pipe.
  proc.stdout.on('data', () => {});
  const port = Number(listening.port);
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = once(proc, 'exit');
        proc.kill('SIGTERM');
        const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('ringws did not exit within 20 s of SIGTERM')), 20000).unref());
        await Promise.race([exited, timeout]).catch((e) => { proc.kill('SIGKILL'); throw e; });
      }
      const problems = [];
      if (proc.exitCode !== 0) problems.push(`exit code ${proc.exitCode} (signal ${proc.signalCode}), expected 0`);
      for (const m of SANITIZER_MARKERS) if (stderr.includes(m)) problems.push(`sanitizer report (${m})`);
      if (problems.length) throw new Error(`${problems.join('; ')}\n${args.join(' ')}\nstderr:\n${stderr.slice(-4000)}`);
    },
  };
}
