"""Slowloris: 5,000 connections send an upgrade request one byte a second and never finish it.

Each connection costs the server a slot and a handshake buffer for as long as it is allowed to
dribble. --handshake-timeout bounds that from connect to a complete request, however slowly
the bytes come: every one of them must be closed, their slots returned, and the server must
keep serving the connections it already has.
"""

import hostile as h

CONNECTIONS = 5000
HANDSHAKE_TIMEOUT = 3  # seconds; the default (10) would only make the run longer
RUN_BOUND = 60  # seconds the dribble may go on before the tool stops by itself
RSS_BUDGET = 64 * h.MiB


def test_slowloris_5000_closed_by_the_handshake_timeout(start_server):
    s = start_server(app="echo", threads=2, handshake_timeout=HANDSHAKE_TIMEOUT)
    scene = h.Scene(s)
    timeouts_before = h.metric(s, "ringws_connections_closed_total", reason="handshake_timeout")
    scene.start(f"a slowloris of {CONNECTIONS:,} connections")
    slow = h.Load("slowloris", s.url + "/", "--connections", CONNECTIONS, "--rate", 5000, "--interval", 1,
                  "--duration", RUN_BOUND, "--source-ips", "127.0.0.1-2")
    try:
        opened, failed = slow.wait_ready(60)
        scene.control.wait_echoes("during", 3)
        summary = slow.wait(RUN_BOUND + 60)
    finally:
        slow.close()
    scene.over()
    c = summary["counts"]
    problems = scene.problems(rss_budget=RSS_BUDGET)
    if opened + failed != CONNECTIONS or c["opened"] != CONNECTIONS:
        problems.append(f"only {c['opened']:,} of {CONNECTIONS:,} slowloris connections were accepted "
                        f"(READY open={opened} failed={failed}; {summary['last_error']})")
    left = c["opened"] - c["closed_by_server"]
    if left:
        problems.append(f"{left:,} of {c['opened']:,} slowloris connections were still open after {RUN_BOUND} s of "
                        f"one byte a second: --handshake-timeout {HANDSHAKE_TIMEOUT} must close a request that never "
                        f"completes, however slowly its bytes come")
    after = summary["closed_after"]
    print(f"slowloris: {c['closed_by_server']:,} closed by the server after {after['min_us'] / 1e6:.1f}-"
          f"{after['max_us'] / 1e6:.1f} s, {c['slow_bytes']:,} bytes dribbled, HTTP answers: 503 {c['http_503']}, "
          f"other {c['http_other']}")
    if s.alive():
        timeouts = h.metric(s, "ringws_connections_closed_total", reason="handshake_timeout") - timeouts_before
        if timeouts < c["closed_by_server"]:
            problems.append(f"the server counted {timeouts:g} handshake timeouts for {c['closed_by_server']:,} "
                            f"slowloris connections it closed")
        try:
            h.wait_for_metric(s, "ringws_slab_slots_in_use", lambda v: v <= scene.base_slots, 30,
                              "slots of the closed slowloris connections")
        except AssertionError as e:
            problems.append(str(e))
    h.fail_on(problems)
