"""ringws-load broadcast (websocket-shootout's method) and storm: counts, not timings."""

import pytest

import load_servers as ls


@pytest.mark.parametrize("workers", [1, 3])
def test_broadcast_steps_count_every_delivery(shootout_server, workers):
    # A generous limit so that both steps pass on a loaded machine: the test is about counts.
    # With 3 workers a broadcast is done only when every worker's clients have it.
    r = ls.run_load("broadcast", shootout_server.url, "--step", 50, "--max", 100, "--samples", 5,
                    "--concurrent", 2, "--limit-ms", 20000, "--workers", workers, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    s = r.summary
    assert [st["clients"] for st in s["steps"]] == [50, 100]
    assert all(st["passed"] and st["samples"] == 5 for st in s["steps"])
    assert s["clients_passing"] == 100
    c = s["counts"]
    assert c["messages_sent"] == 10
    # Every client receives every broadcast of its step, and each sender one broadcastResult.
    assert c["messages_received"] == 50 * 5 + 100 * 5 + 10
    assert c["failed"] == 0
    assert s["workers_reported"] == workers
    assert s["rtt"]["count"] == 10


def test_broadcast_stops_at_the_limit(shootout_server):
    # A limit no real broadcast meets: the first step fails and capacity is 0 (exit 1).
    r = ls.run_load("broadcast", shootout_server.url, "--step", 20, "--max", 100, "--samples", 3,
                    "--limit-ms", 0.001, "--quiet")
    assert r.returncode == 1
    assert len(r.summary["steps"]) == 1
    assert r.summary["steps"][0]["passed"] is False
    assert r.summary["clients_passing"] == 0


def test_storm(echo_server):
    r = ls.run_load("storm", echo_server.url, "--rate", 200, "--duration", 1, "--quiet")
    assert r.returncode == 0, r.stdout
    c = r.counts
    assert c["attempted"] >= 150
    assert c["opened"] == c["attempted"]
    assert c["failed"] == 0
    assert c["closed_by_client"] == c["opened"]  # every cycle ended with our close frame answered
    assert r.summary["handshakes_per_s"] > 0
