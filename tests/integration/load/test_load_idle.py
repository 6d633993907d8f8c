"""ringws-load idle: the counts it reports match what the server holds."""

import json
import signal
import tempfile
from pathlib import Path

import load_servers as ls


def test_idle_2000_two_workers_two_source_ips(echo_server):
    r = ls.run_load("idle", echo_server.url, "--connections", 2000, "--workers", 2,
                    "--source-ips", "127.0.0.1-127.0.0.2", "--rate", 4000, "--hold", 1, "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "READY open=2000 failed=0" in r.stdout.splitlines()
    c = r.counts
    assert (c["attempted"], c["opened"], c["failed"], c["closed_by_server"]) == (2000, 2000, 0, 0)
    assert c["open_at_stop"] == 2000
    assert c["closed_by_client"] == 2000  # we closed them all at the end
    assert r.summary["workers_reported"] == 2
    assert r.summary["target_reached"] is True
    assert r.summary["settings"]["source_ips"] == ["127.0.0.1", "127.0.0.2"]
    assert r.summary["handshake"]["count"] == 2000


def test_ready_count_matches_the_servers_sockets(echo_server):
    """While ringws-load holds its connections, ss counts the same number at the server."""
    with tempfile.TemporaryDirectory() as d:
        js = Path(d) / "s.json"
        proc, out = ls.start_load("idle", echo_server.url, "--connections", 1500, "--workers", 3,
                                  "--source-ips", "127.0.0.1-3", "--hold", 60, json_path=js)
        try:
            line = ls.wait_for_line(out, "READY", proc)
            assert line == "READY open=1500 failed=0"
            assert ls.established(echo_server.port) == 1500
            proc.send_signal(signal.SIGINT)  # ends the hold early
            assert proc.wait(timeout=30) == 0, out.read_text()
            s = json.loads(js.read_text())
            assert s["interrupted"] is True
            assert s["counts"]["open_at_stop"] == 1500
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.unlink()


def test_closed_by_server_is_counted():
    """ringws sends close 1001 to every client on SIGTERM: all of them are counted."""
    server = ls.start_ringws(app="echo", threads=2, drain_seconds=1)
    with tempfile.TemporaryDirectory() as d:
        js = Path(d) / "s.json"
        proc, out = ls.start_load("idle", server.url, "--connections", 300, "--hold", 60, json_path=js)
        try:
            ls.wait_for_line(out, "READY open=300", proc)
            server.signal(signal.SIGTERM)
            server.proc.wait(timeout=20)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            c = json.loads(js.read_text())["counts"]
            assert c["closed_by_server"] == 300
            assert c["protocol_errors"] == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.unlink()
            server.stop()


def test_pings_are_answered():
    """ringws pings after 1 s of silence and closes a client silent for 3 s: held for 5 s,
    ringws-load's pongs keep every connection open."""
    server = ls.start_ringws(app="echo", threads=1, ping_interval=1, idle_timeout=3)
    try:
        r = ls.run_load("idle", server.url, "--connections", 50, "--hold", 5, "--quiet")
        assert r.returncode == 0, r.stdout
        c = r.counts
        assert c["pings_received"] >= 50
        assert c["closed_by_server"] == 0
        assert c["open_at_stop"] == 50
    finally:
        server.stop()


def test_refused_connections_fail_and_exit_nonzero():
    # A port nothing listens on: every connection fails, READY says so, exit code 1.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = ls.run_load("idle", f"ws://127.0.0.1:{port}/", "--connections", 20, "--hold", 0, "--quiet")
    assert r.returncode == 1
    assert "READY open=0 failed=20" in r.stdout.splitlines()
    assert r.counts["failed_connect"] == 20
    assert r.summary["target_reached"] is False


def test_fewer_than_asked_exits_nonzero():
    """ringws holds at most 50 connections per reactor here: 30 of 80 handshakes fail, READY
    says so, and the run exits 1 without holding."""
    server = ls.start_ringws(app="echo", threads=1, max_connections=50)
    try:
        r = ls.run_load("idle", server.url, "--connections", 80, "--hold", 30, "--connect-timeout", 10,
                        "--handshake-timeout", 5, "--quiet")
        assert r.returncode == 1
        assert "READY open=50 failed=30" in r.stdout.splitlines()
        assert r.counts["opened"] == 50
        assert r.counts["failed"] == 30
        assert r.summary["target_reached"] is False
    finally:
        server.stop()
