"""scripts/backplane-bench.sh: one room, one instance against three through Redis.

For each configuration ("one": a ringws instance without --redis; "three": three ringws
instances with --redis and a redis-server of its own, all on loopback):
  1. --members idle members join the room from the URL (`ringws-load idle --url
     ws://.../ws?room=bench`), spread evenly over the instances; they read and count what
     arrives;
  2. --samples probe members (python-websockets; also spread over the instances) join the
     room, and one publisher (on the first instance) publishes --messages messages at --rate
     per second, each carrying its CLOCK_MONOTONIC send time;
  3. each probe records arrival time - send time (same host, same clock): the delivery
     latency's p50 and p99 are over every probe's every message;
  4. over exactly the publish phase (first send to the last probe's last arrival) the
     servers' user + system CPU is read from /proc/PID/stat (ringws processes summed; Redis
     apart) and divided by the messages delivered (messages x members);
  5. with Redis, INFO commandstats before and after gives Redis commands per publish, and the
     publish phase is repeated with a room of --small-room members to show that it does not
     depend on the member count.
Each configuration runs --runs times (alternating); medians are printed, with every run, as a
Markdown table and a last line "SUMMARY ...". Everything started is stopped by PID.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[backplane-bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def redis_cmd(port, *args):
    parts = [f"*{len(args)}\r\n".encode()] + [b"$%d\r\n%s\r\n" % (len(str(a).encode()), str(a).encode()) for a in args]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(parts))
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            if not chunk or data.endswith(b"\r\n") and (not data.startswith(b"$") or data.count(b"\r\n") >= 2):
                break
        return data.decode(errors="replace")


def commandstats(port):
    out = {}
    for line in redis_cmd(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            out[name] = int(dict(kv.split("=") for kv in rest.split(","))["calls"])
    return out


class Procs:
    """Everything started, stopped by PID in reverse order."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, args):
        out = open(self.workdir / f"{name}.out", "w")
        err = open(self.workdir / f"{name}.err", "w")
        p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=out, stderr=err)
        self.procs.append((name, p))
        return p

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(40)
            except subprocess.TimeoutExpired:
                log(f"{name} (pid {p.pid}) still running 40 s after SIGTERM: SIGKILL")
                p.kill()
                p.wait()
        self.procs = []


def wait_for_line(path, needle, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if needle in line:
                return line
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name}: process exited {proc.returncode}: {text[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{path.name}: no {needle!r} within {timeout}s")


def start_servers(a, procs, config):
    servers = []
    redis_port = None
    # The publisher sends at --rate, which may pass chat's default per-connection limits
    # (10 publishes a second): the benchmark measures fan-out, so the limits are off.
    extra = ["--history-size", str(a.history_size), "--publish-rate", "0", "--message-rate", "0"]
    if config == "three":
        redis_port = free_port()
        rp = procs.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", str(procs.workdir), "--daemonize", "no"])
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis_cmd(redis_port, "PING").startswith("+PONG"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or rp.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        extra += ["--redis", f"redis://127.0.0.1:{redis_port}/0"]
    for i in range(3 if config == "three" else 1):
        name = f"{config}-ringws{i}"
        p = procs.start(name, [a.binary, "--app", "chat", "--host", "127.0.0.1", "--port", "0", "--threads",
                               str(a.threads), "--admin-listen", "off", "--drain-seconds", "1",
                               "--max-backlog", str(64 << 20), *extra])
        line = wait_for_line(procs.workdir / f"{name}.out", '"listening"', p, 20)
        servers.append((p, json.loads(line)["port"]))
    if config == "three":
        for p, _ in servers:
            wait_for_line(procs.workdir / f"{config}-ringws{servers.index((p, _))}.out", "backplane_up", p, 30)
    return servers, redis_port


def hold_members(a, procs, servers, config, room, members, tag):
    loads = []
    per = [members // len(servers) + (1 if i < members % len(servers) else 0) for i in range(len(servers))]
    for i, ((_, port), n) in enumerate(zip(servers, per)):
        if n == 0:
            continue
        name = f"{config}-{tag}-idle{i}"
        p = procs.start(name, [a.load, "idle", "--url", f"ws://127.0.0.1:{port}/ws?room={room}", "--connections",
                               str(n), "--rate", "5000", "--hold", "3600", "--quiet",
                               "--source-ips", "127.0.0.1-127.0.0.4"])
        loads.append((name, p))
    for name, p in loads:
        line = wait_for_line(procs.workdir / f"{name}.out", "READY", p, 120)
        if "failed=0" not in line:
            raise RuntimeError(f"{name}: {line}")
    return loads


async def probe_phase(a, servers, room, messages, rate, samples, want_latency=True):
    import websockets

    probes = []
    for i in range(samples):
        port = servers[i % len(servers)][1]
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws?room={room}", max_queue=None, ping_interval=None,
                                      compression=None, max_size=None)
        assert json.loads(await ws.recv())["type"] == "hello"
        j = json.loads(await ws.recv())
        assert j["type"] == "joined", j
        probes.append(ws)
    pub = probes[0]
    latencies = []
    done = asyncio.Event()
    remaining = [messages] * samples

    async def read(k, ws):
        while remaining[k]:
            m = json.loads(await ws.recv())
            if m.get("type") != "message":
                continue
            now = time.monotonic_ns()
            if want_latency:
                latencies.append((now - m["data"]["t"]) / 1e3)
            remaining[k] -= 1

    readers = [asyncio.create_task(read(k, ws)) for k, ws in enumerate(probes)]
    t0 = time.monotonic()
    for i in range(messages):
        await pub.send(json.dumps({"type": "publish", "room": room, "data": {"i": i, "t": time.monotonic_ns()}}))
        await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
    await asyncio.wait_for(asyncio.gather(*readers), timeout=60 + messages / rate)
    for ws in probes:
        await ws.close()
    return latencies


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def run_config(a, config, workdir):
    procs = Procs(workdir)
    try:
        servers, redis_port = start_servers(a, procs, config)
        hold_members(a, procs, servers, config, "bench", a.members, "big")
        time.sleep(a.settle)
        pids = [p.pid for p, _ in servers]
        redis_pid = next((p.pid for n, p in procs.procs if n == "redis"), None)
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        rcpu0 = cpu_seconds(redis_pid) if redis_pid else 0.0
        stats0 = commandstats(redis_port) if redis_port else {}
        t0 = time.monotonic()
        lat = asyncio.run(probe_phase(a, servers, "bench", a.messages, a.rate, a.samples))
        wall = time.monotonic() - t0
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
        rcpu = (cpu_seconds(redis_pid) - rcpu0) if redis_pid else 0.0
        stats1 = commandstats(redis_port) if redis_port else {}
        delivered = a.messages * (a.members + a.samples)
        result = {
            "config": config, "members": a.members + a.samples, "messages": a.messages, "wall_s": round(wall, 2),
            "p50_us": round(percentile(lat, 50)), "p99_us": round(percentile(lat, 99)),
            "server_cpu_s": round(cpu, 2), "cpu_us_per_delivery": round(cpu / delivered * 1e6, 3),
            "redis_cpu_s": round(rcpu, 2),
        }
        if redis_port:
            calls = {k: stats1.get(k, 0) - stats0.get(k, 0) for k in stats1}
            per = {k: round(v / a.messages, 3) for k, v in sorted(calls.items()) if v}
            result["redis_calls_per_publish_big_room"] = per
            # The same publish phase in a room of --small-room members.
            hold_members(a, procs, servers, config, "small", a.small_room, "small")
            time.sleep(1)
            s0 = commandstats(redis_port)
            asyncio.run(probe_phase(a, servers, "small", a.messages, a.rate, min(a.samples, 3), want_latency=False))
            s1 = commandstats(redis_port)
            result["redis_calls_per_publish_small_room"] = {
                k: round((s1.get(k, 0) - s0.get(k, 0)) / a.messages, 3) for k in sorted(s1) if s1.get(k, 0) - s0.get(k, 0)}
        return result
    finally:
        procs.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=str(REPO / "build" / "ringws"))
    ap.add_argument("--load", default=str(REPO / "build" / "bench" / "ringws-load"))
    ap.add_argument("--members", type=int, default=10000, help="idle members of the room (default 10000)")
    ap.add_argument("--samples", type=int, default=30, help="probe members that measure latency (default 30)")
    ap.add_argument("--messages", type=int, default=200, help="messages published per run (default 200)")
    ap.add_argument("--rate", type=float, default=20.0, help="messages per second (default 20)")
    ap.add_argument("--threads", type=int, default=1, help="reactors per instance (default 1)")
    ap.add_argument("--history-size", type=int, default=100, help="--history-size of every instance (default 100)")
    ap.add_argument("--small-room", type=int, default=10, help="members of the room for the commands check (default 10)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--configs", default="one,three")
    ap.add_argument("--out", default=str(REPO / "results" / "backplane"))
    a = ap.parse_args()
    for tool in (a.binary, a.load):
        if not os.access(tool, os.X_OK):
            sys.exit(f"backplane-bench: {tool} not found (cmake --build build)")
    if "three" in a.configs and shutil.which("redis-server") is None:
        sys.exit("backplane-bench: redis-server not found (apt-get install -y redis-server)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for run in range(a.runs):
        for config in a.configs.split(","):
            workdir = Path(tempfile.mkdtemp(prefix=f"backplane-bench-{config}-"))
            log(f"run {run + 1}/{a.runs}: {config}")
            r = run_config(a, config, workdir)
            r["run"] = run + 1
            log(json.dumps(r))
            results.append(r)
            shutil.rmtree(workdir, ignore_errors=True)
    (out / "runs.json").write_text(json.dumps(results, indent=1))
    lines = ["| config | run | members | p50 | p99 | server CPU per delivered message | Redis CPU |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['config']} | {r['run']} | {r['members']:,} | {r['p50_us']:,} us | {r['p99_us']:,} us | "
                     f"{r['cpu_us_per_delivery']} us | {r['redis_cpu_s']} s |")
    summary = []
    for config in a.configs.split(","):
        rs = [r for r in results if r["config"] == config]
        med = {k: statistics.median(r[k] for r in rs) for k in ("p50_us", "p99_us", "cpu_us_per_delivery")}
        lines.append(f"| **{config}, median** | | | {med['p50_us']:,} us | {med['p99_us']:,} us | "
                     f"{med['cpu_us_per_delivery']} us | |")
        summary.append(f"{config}_p50_us={med['p50_us']} {config}_p99_us={med['p99_us']} "
                       f"{config}_cpu_us_per_delivery={med['cpu_us_per_delivery']}")
    for r in results:
        if "redis_calls_per_publish_big_room" in r:
            lines.append(f"\nRun {r['run']}, Redis commands per publish: room of {r['members']:,}: "
                         f"{r['redis_calls_per_publish_big_room']}; room of {a.small_room + min(a.samples, 3)}: "
                         f"{r['redis_calls_per_publish_small_room']}")
    text = "\n".join(lines)
    (out / "backplane.md").write_text(text + "\n")
    print(text)
    print("SUMMARY " + " ".join(summary))


if __name__ == "__main__":
    main()
