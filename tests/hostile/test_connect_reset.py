"""Connect and reset: tens of thousands of connections that end with a RST right after
connect (or after half a request), before the server has seen anything to act on.

Each is accepted, may have an operation in flight when the RST lands, and must give back its
slot and descriptor. Afterwards ringws_slab_slots_in_use and ringws_connections_open return
to what they were, memory does not grow, and the connections already open are unaffected.
"""

import pytest

import hostile as h

RSS_BUDGET = 64 * h.MiB


@pytest.mark.parametrize("count,extra", [
    pytest.param(50_000, (), id="connect-reset"),
    pytest.param(20_000, ("--send-partial",), id="half-request-reset"),
])
def test_connect_and_reset_leaves_nothing_behind(start_server, count, extra):
    s = start_server(app="echo", threads=2)
    scene = h.Scene(s)
    accepted_before = h.metric(s, "ringws_connections_accepted_total")
    what = f"{count:,} connect-and-resets" + (" after half a request" if extra else "")
    scene.start(what)
    resets = h.Load("connect-reset", s.url + "/", "--connections", count, "--rate", 10000, "--duration", 60,
                    "--workers", 2, "--source-ips", "127.0.0.1-4", *extra)
    try:
        scene.control.wait_echoes("during", 3)
        summary = resets.wait(180)
    finally:
        resets.close()
    scene.over()
    c = summary["counts"]
    problems = scene.problems(rss_budget=RSS_BUDGET)
    if c["attempted"] != count or c["resets"] < count * 0.9:
        problems.append(f"only {c['resets']:,} of {count:,} connections were made and reset "
                        f"({c['failed']:,} failed: {summary['last_error']})")
    if s.alive():
        accepted = h.metric(s, "ringws_connections_accepted_total") - accepted_before
        print(f"{what}: {c['resets']:,} reset by the client, {accepted:,.0f} accepted by the server")
        for name, base in (("ringws_slab_slots_in_use", scene.base_slots),
                           ("ringws_connections_open", scene.base_open)):
            try:
                h.wait_for_metric(s, name, lambda v, base=base: v <= base, 30,
                                  f"after {what}, back to the baseline of {base:g}")
            except AssertionError as e:
                problems.append(f"{e}: slots of reset connections leak")
    h.fail_on(problems)
