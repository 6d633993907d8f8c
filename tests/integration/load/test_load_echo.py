"""ringws-load echo against ringws, Node's ws and a fragmenting python-websockets server:
every reply is matched to its request, and the counts add up."""

import load_servers as ls


def check_echo(r, connections, messages):
    assert r.returncode == 0, r.stdout + r.stderr
    c = r.counts
    assert c["opened"] == connections
    assert c["failed"] == 0
    assert c["bad_replies"] == 0
    assert c["protocol_errors"] == 0
    assert r.summary["rtt"]["count"] >= messages
    # One in flight per connection: at most `connections` requests were unanswered at the end.
    assert c["messages_sent"] - c["messages_received"] <= connections
    assert c["messages_received"] >= messages


def test_raw_echo(echo_server):
    r = ls.run_load("echo", echo_server.url, "--connections", 20, "--size", 64, "--messages", 4000,
                    "--duration", 60, "--workers", 2, "--quiet")
    check_echo(r, 20, 4000)
    assert r.summary["messages_per_s"] > 0


def test_raw_echo_large_messages(echo_server):
    # 100 KB: 64-bit length encoding both ways, many reads per message.
    r = ls.run_load("echo", echo_server.url, "--connections", 4, "--size", 100_000, "--messages", 200,
                    "--duration", 60, "--quiet")
    check_echo(r, 4, 200)


def test_shootout_echo(shootout_server):
    r = ls.run_load("echo", shootout_server.url, "--protocol", "shootout", "--connections", 10, "--size", 120,
                    "--messages", 2000, "--duration", 60, "--quiet")
    check_echo(r, 10, 2000)


def test_fixed_rate_echo_sends_what_the_rate_allows(echo_server):
    # 500 msgs/s for 1 s: the count is set by the schedule, not by the server's speed.
    r = ls.run_load("echo", echo_server.url, "--connections", 5, "--rate", 500, "--duration", 1, "--quiet")
    assert r.returncode == 0, r.stdout
    assert 400 <= r.counts["messages_sent"] <= 501
    assert r.counts["bad_replies"] == 0


def test_fragmented_replies_pings_and_server_close():
    """A server that fragments every reply and pings first: replies reassemble, pings are
    answered; the counts show it."""
    server = ls.start_fragmenting()
    try:
        r = ls.run_load("echo", server.url, "--connections", 3, "--size", 300, "--messages", 300,
                        "--duration", 60, "--quiet")
        check_echo(r, 3, 300)
        assert r.counts["pings_received"] == 3
    finally:
        server.stop()
