"""A client completes the handshake, then sends pings as fast as it can and never reads.

Every ping asks for a pong. A server that queues each pong for a client that never takes them
grows by about 180 B per ping, without bound: one such client OOM-killed the server in a
200 MB cgroup in about a second (test_memory_cap.py runs that case). The server must keep at
most one pending pong per connection (the latest) and count control frames against
--max-backlog, so its memory stays flat while everyone else keeps being served.
"""

import hostile as h

PINGS = 2_000_000  # ~262 MB of pings in all: bounds the run, and what a leaking server can grow (~360 MB)
RSS_BUDGET = 64 * h.MiB  # the flooder's backlog (1 MiB), buffers, allocator slack: far below that


def test_ping_flood_that_never_reads(start_server):
    s = start_server(app="echo", threads=2)
    scene = h.Scene(s)
    scene.start(f"a ping flood of up to {PINGS:,} pings that never reads")
    flood = h.Load("ping-flood", s.url + "/", "--connections", 1, "--payload", 125, "--duration", 10,
                   "--messages", PINGS)
    try:
        summary = flood.wait(180)
    finally:
        flood.close()
    scene.over()
    c = summary["counts"]
    pings = c["pings_sent"]
    problems = scene.problems(rss_budget=RSS_BUDGET)
    if c["opened"] != 1:
        problems.append(f"the flooder never completed its handshake: {summary['last_error']}")
    elif pings < 1000:
        problems.append(f"the flood did not run: {pings} pings sent ({summary['last_error']})")
    if scene.rss.growth > RSS_BUDGET and pings:
        problems.append(f"that is ~{scene.rss.growth / pings:.0f} B per ping from a client that reads nothing: its "
                        f"pongs are queued without bound; expected at most one pending pong per connection, and "
                        f"control frames counted against --max-backlog")
    print(f"ping flood: {pings:,} pings sent, closed by server: {c['closed_by_server']}; server RSS "
          f"{scene.rss.start / h.MiB:.1f} -> peak {scene.rss.peak / h.MiB:.1f} MiB")
    if s.alive():
        try:
            h.wait_for_metric(s, "ringws_connections_open", lambda v: v <= scene.base_open, 30,
                              "the flooder's connection after it went away")
        except AssertionError as e:
            problems.append(str(e))
    h.fail_on(problems)
