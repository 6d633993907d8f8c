"""ringws-load --phase-sync: the SYNC lines come at the phase boundaries, the tool waits for
stdin between them, and their counts are exact. A script samples the server's CPU and TCP
counters at these points (scripts/broadcast-cost.sh, scripts/latency.sh)."""

import json

import load_servers as ls


def test_broadcast_phase_sync_counts_exactly_and_holds_the_connections(shootout_server, tmp_path):
    js = tmp_path / "s.json"
    run = ls.SyncedLoad("broadcast", shootout_server.url, "--step", 60, "--max", 60, "--samples", 7,
                        "--concurrent", 3, "--limit-ms", 20000, "--workers", 2, json_path=js)
    try:
        phase, c = run.next_sync()
        assert phase == "connected" and c["clients"] == 60 and c["received"] == 0 and c["step"] == 1
        # Nothing is sent before the go-ahead, and the clients stay open.
        assert ls.established(int(shootout_server.url.rsplit(":", 1)[1].strip("/"))) == 60
        run.go()
        phase, d = run.next_sync()
        assert phase == "done"
        assert d["completed"] == 7 and d["timeouts"] == 0
        assert d["delivered"] == 60 * 7 and d["results"] == 7
        assert d["received"] == 60 * 7 + 7 and d["sent"] == 7
        # Still connected while the script samples the server.
        assert ls.established(int(shootout_server.url.rsplit(":", 1)[1].strip("/"))) == 60
        run.go()
        run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    assert run.proc.returncode == 0
    s = json.loads(js.read_text())
    assert s["steps"][0]["delivered"] == 420 and s["steps"][0]["results"] == 7
    assert s["counts"]["broadcasts_received"] == 420 and s["settings"]["phase_sync"] is True


def test_echo_phase_sync_measures_only_after_the_go_ahead(echo_server, tmp_path):
    js = tmp_path / "e.json"
    run = ls.SyncedLoad("echo", echo_server.url, "--connections", 8, "--duration", 0.5, "--workers", 2,
                        json_path=js)
    try:
        phase, c = run.next_sync()
        assert phase == "connected" and c["clients"] == 8 and c["sent"] == 0
        run.go()
        phase, d = run.next_sync()
        assert phase == "done" and d["clients"] == 8
        assert d["measured"] > 0 and 0.4 < d["measure_s"] < 5
        # Closed loop: at most one message per connection is still in flight.
        assert d["sent"] - d["received"] <= 8
        run.go()
        run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    assert run.proc.returncode == 0
    s = json.loads(js.read_text())
    assert s["rtt"]["count"] == d["measured"]  # the replies after "done" are read, not measured


def test_eof_on_stdin_lets_the_run_go_on(shootout_server):
    # Callers that do not answer (stdin at EOF) get the ordinary run.
    r = ls.run_load("broadcast", shootout_server.url, "--step", 20, "--max", 20, "--samples", 3,
                    "--limit-ms", 20000, "--phase-sync", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SYNC connected" in r.stdout and "SYNC done" in r.stdout
    assert r.summary["steps"][0]["delivered"] == 60
