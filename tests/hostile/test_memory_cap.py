"""Memory-cap runs: the server in a cgroup v1 memory group limited to 200 MB (kernel socket
memory charged there too), against each attack that OOM-killed it there: idle connections
until refused, 40,000 half-sent handshakes, 200 clients each holding a 1 MiB partial message,
one ping flooder.

In every run the server is never OOM-killed (the group's oom_kill count does not move and
the process lives), the connections opened before the run (50 bystanders) survive, and a
control client keeps getting its echoes before, during and after. Above its high-water mark
(--memory-high-water, 85% of the limit by default) the server is expected to refuse new work:
503 to new connections and upgrades, 1013 to a message that needs a new assembly buffer.
The governor's figures in /metrics are checked too: ringws_memory_limit_bytes is the group's
limit, and every refusal the clients saw is counted in ringws_shed_total{what="connection"|
"upgrade"|"message"}. Skipped, with the reason, where cgroup v1 memory is not available or not
writable.
"""

import time

import hostile as h

MESSAGE = 1 << 20  # the partial messages' declared size: --max-message's default, so allowed


def wait_quiet(server, name, settle=1.0, timeout=30):
    """Waits (no assertion) until a counter stops moving for `settle` s, the server dies, or
    `timeout` passes: the server has taken in what the attack sent, or refused it."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline and server.alive():
        try:
            v = h.metric(server, name)
        except (OSError, AssertionError):
            return
        if v != last:
            last, since = v, time.monotonic()
        elif time.monotonic() - since >= settle:
            return
        time.sleep(0.2)


SHED = ("connection", "upgrade", "message")


class Governor:
    """The memory governor's figures in /metrics, read when the run starts and compared at the
    end: the limit it read from its cgroup, and what it shed, by kind."""

    def __init__(self, server, cgroup):
        self.server, self.cgroup = server, cgroup
        self.problems = []
        self.start = self._read()
        limit = self.start["limit"]
        if limit is None:
            self.problems.append("the server reports no ringws_memory_limit_bytes in /metrics: it does not read its "
                                 "cgroup's memory limit (a governor needs it for --memory-high-water)")
        elif abs(limit - cgroup.limit) > h.MiB:
            self.problems.append(f"the server reports ringws_memory_limit_bytes {limit:,.0f}, its cgroup's limit is "
                                 f"{cgroup.limit:,}")

    def _read(self):
        m = h.scrape(self.server)
        get = lambda name, **labels: m.samples.get((name, frozenset(labels.items())))  # noqa: E731
        return {"limit": get("ringws_memory_limit_bytes"), "used": get("ringws_memory_used_bytes"),
                "capacity": get("ringws_handshakes_refused_total", reason="capacity"),
                **{w: get("ringws_shed_total", what=w) for w in SHED}}

    def check_shed(self, refusals, kinds, what, descriptors_may_bind=False):
        """At the end (server alive): the shed counters of `kinds` grew by at least `refusals`.
        With `descriptors_may_bind`, refusals for capacity (the descriptor table's reserve)
        count too: on epoll the process's one table (RLIMIT_NOFILE, 20,000 here) fills before
        the 200 MB do, and those refusals are capacity, not memory."""
        if self.start["limit"] is None or not self.server.alive():
            return self.problems  # already said, or moot
        end = self._read()
        if any(end[k] is None for k in kinds):
            self.problems.append(f"no ringws_shed_total{{what=\"{'|'.join(kinds)}\"}} in /metrics")
        else:
            shed = sum(end[k] - (self.start[k] or 0) for k in kinds)
            capacity = (end["capacity"] or 0) - (self.start["capacity"] or 0) if descriptors_may_bind else 0
            if shed + capacity < refusals:
                self.problems.append(f"the clients saw {refusals:,} {what}, ringws_shed_total{{what=\"{'|'.join(kinds)}\"}} "
                                     f"grew by {shed:,.0f}" + (f" and capacity refusals by {capacity:,.0f}"
                                                               if descriptors_may_bind else ""))
        return self.problems


def test_idle_connections_until_refused(capped):
    """Batches of 10,000 idle connections, each batch held by its own ringws-load, until a batch
    is refused (503, or connections that fail to open): the cap is reached, not passed."""
    s, cg = capped(app="echo", threads=4)
    gov = Governor(s, cg)
    scene = h.Scene(s, cgroup=cg)
    scene.start("idle connections opened until refused")
    batch, held, refused, total = 10_000, [], None, 0
    problems = []
    try:
        for i in range(8):  # 80,000: the 4 reactors' tables hold that; the memory must give out first
            load = h.Load("idle", s.url + "/", "--connections", batch, "--rate", 10000, "--hold", 900,
                          "--source-ips", f"127.0.0.{i + 1}", "--handshake-timeout", 10)
            opened, failed = load.wait_ready(120)
            total += opened
            if failed or not s.alive():
                refused = load.stop()  # fewer than asked: it ends by itself and closes its own
                load.close()
                break
            held.append(load)
        scene.control.wait_echoes("during", 5)
        if refused is not None and s.alive():
            c = refused["counts"]
            print(f"refused after {total:,} idle connections: {c['failed']:,} failed "
                  f"(HTTP 503: {c['http_503']:,}, other HTTP {c['http_other']:,}, connect {c['failed_connect']:,}, "
                  f"timeout {c['failed_timeout']:,}); {cg.describe()}")
        for i, load in enumerate(held):
            c = load.stop()["counts"]
            if c["closed_by_server"]:
                problems.append(f"{c['closed_by_server']:,} of the {batch:,} idle connections of batch {i + 1}, open "
                                f"before the cap was reached, were closed by the server")
    finally:
        for load in held:
            load.close()
    scene.over()
    problems = scene.problems() + problems
    if refused is not None:
        problems += gov.check_shed(refused["counts"]["http_503"], ("connection", "upgrade"), "503 refusals",
                                   descriptors_may_bind=True)
    else:
        problems += gov.problems
    if refused is None and s.alive():
        problems.append(f"all {total:,} idle connections opened in the 200 MB cgroup, none refused: the run never "
                        f"reached the cap ({cg.describe()})")
    h.fail_on(problems)


def test_40000_half_sent_handshakes(capped):
    s, cg = capped(app="echo", threads=4)
    gov = Governor(s, cg)
    scene = h.Scene(s, cgroup=cg)
    accepted_before = h.metric(s, "ringws_connections_accepted_total")
    scene.start("40,000 half-sent handshakes")
    load = h.Load("half-handshake", s.url + "/", "--connections", 40_000, "--rate", 10000, "--hold", 900,
                  "--workers", 3, "--source-ips", "127.0.0.1-8", "--handshake-timeout", 10)
    try:
        load.wait_ready(120)
        # Until the server has taken every connection (or died): bounded, not asserted.
        deadline = time.monotonic() + 30
        while s.alive() and time.monotonic() < deadline:
            try:
                if h.metric(s, "ringws_connections_accepted_total") - accepted_before >= 40_000:
                    break
            except (OSError, AssertionError):
                break
            time.sleep(0.2)
        scene.control.wait_echoes("during", 5)
        summary = load.stop()
    finally:
        load.close()
    scene.over()
    c = summary["counts"]
    print(f"half handshakes: {c['partial_sent']:,} held, HTTP 503 {c['http_503']:,}, closed by the server "
          f"{c['closed_by_server']:,}, failed {c['failed']:,}; {cg.describe()}")
    h.fail_on(scene.problems() + gov.check_shed(c["http_503"], ("connection", "upgrade"), "503 refusals",
                                                        descriptors_may_bind=True))


def test_200_partial_messages_of_1_MiB(capped):
    s, cg = capped(app="echo", threads=2)
    gov = Governor(s, cg)
    scene = h.Scene(s, cgroup=cg)
    scene.start("200 clients each holding a 1 MiB message 1 byte short")
    load = h.Load("partial-message", s.url + "/", "--connections", 200, "--size", MESSAGE, "--tail", 1,
                  "--hold", 900)
    try:
        load.wait_ready(120)
        wait_quiet(s, "ringws_bytes_received_total")
        scene.control.wait_echoes("during", 5)
        summary = load.stop()
    finally:
        load.close()
    scene.over()
    c, codes = summary["counts"], summary["close_codes"]
    print(f"partial messages: {c['partial_sent']} sent all but their last byte; closed by the server "
          f"{c['closed_by_server']} (close codes {codes}, without a close frame {c['closed_no_frame']}); "
          f"{cg.describe()}")
    problems = scene.problems()
    unexpected = {k: v for k, v in codes.items() if k != "1013" and v}
    if s.alive() and unexpected:
        problems.append(f"partial messages under memory pressure were closed with {unexpected}; expected 1013 (try "
                        f"again later) for a message that needs a new assembly buffer above the high-water mark")
    h.fail_on(problems + gov.check_shed(codes["1013"], ("message",), "messages closed with 1013"))


def test_one_ping_flooder(capped):
    s, cg = capped(app="echo", threads=2)
    gov = Governor(s, cg)
    scene = h.Scene(s, cgroup=cg)
    scene.start("one ping flooder that never reads")
    flood = h.Load("ping-flood", s.url + "/", "--connections", 1, "--duration", 10, "--messages", 20_000_000)
    try:
        summary = flood.wait(180)
    finally:
        flood.close()
    scene.over()
    c = summary["counts"]
    print(f"ping flood: {c['pings_sent']:,} pings sent, closed by the server {c['closed_by_server']}; {cg.describe()}")
    h.fail_on(scene.problems() + gov.problems)
