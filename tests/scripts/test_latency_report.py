"""The latency report's arithmetic, on a recorded sample (a real, small run of
scripts/latency.sh on the development machine) and on ringws-load JSON shaped inputs."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))
import latency_report as report  # noqa: E402

SAMPLE = Path(__file__).parent / "data" / "latency-ringws-small.csv"


def echo_report(p50, p99, rate, code=0):
    return {"rtt": {"p50_us": p50, "p90_us": p50 * 2, "p99_us": p99, "p99_9_us": p99 * 2, "max_us": p99 * 3},
            "messages_per_s": rate, "exit_code": code}


def test_broadcast_capacity_is_the_largest_passing_step():
    rep = {"steps": [{"clients": 1000, "p50_ms": 10, "p95_ms": 20, "timeouts": 0},
                     {"clients": 2000, "p50_ms": 100, "p95_ms": 499.9, "timeouts": 0},
                     {"clients": 3000, "p50_ms": 300, "p95_ms": 650, "timeouts": 0}]}
    rows = report.broadcast_rows("s", rep, 95, 500)
    assert [r["passed"] for r in rows] == [1, 1, 0]
    assert report.capacity(rows) == 2000


def test_a_step_with_timeouts_does_not_pass():
    rows = report.broadcast_rows("s", {"steps": [{"clients": 500, "p50_ms": 1, "p95_ms": 2, "timeouts": 1}]}, 95, 500)
    assert report.capacity(rows) == 0


def test_echo_medians_over_runs():
    rows = [report.echo_row("s", 100, i, echo_report(p50, p50 * 10, rate))
            for i, (p50, rate) in enumerate([(300, 1000), (100, 3000), (200, 2000)], 1)]
    med = report.echo_medians(rows)[100]
    assert med["p50_us"] == 200 and med["msgs_per_s"] == 2000 and med["runs"] == 3


def test_recorded_sample_reproduces_the_summary_the_run_printed():
    rows = report.read_rows(SAMPLE)
    # The run printed: SUMMARY clients_at_p95_500ms=1500 echo_p50_us=315 echo_p99_us=7553 echo_msgs_per_s=108919
    # (recorded before the server's CPU was measured: its columns read as 0, appended at the end).
    assert report.summary_line(rows, 100) == (
        "SUMMARY clients_at_p95_500ms=1500 echo_p50_us=315 echo_p99_us=7553 echo_msgs_per_s=108919 "
        "echo_server_user_us=0.00 echo_server_sys_us=0.00")


def test_csv_round_trip(tmp_path):
    rows = report.read_rows(SAMPLE)
    report.write_rows(tmp_path / "again.csv", rows)
    assert report.read_rows(tmp_path / "again.csv") == rows


def test_markdown_ratios_between_servers():
    a = report.broadcast_rows("ringws", {"steps": [{"clients": 14000, "p50_ms": 1, "p95_ms": 2, "timeouts": 0}]}, 95, 500)
    a.append(report.echo_row("ringws", 100, 1, echo_report(100, 1000, 100000)))
    b = report.broadcast_rows("node-ws", {"steps": [{"clients": 7000, "p50_ms": 1, "p95_ms": 2, "timeouts": 0}]}, 95, 500)
    b.append(report.echo_row("node-ws", 100, 1, echo_report(200, 2000, 50000)))
    md = report.markdown({"ringws": a, "node-ws": b}, "m", "c", 95, 500)
    assert "node-ws: broadcast capacity 0.50x" in md
    assert "node-ws at 100 connections: echo msgs/s 0.50x, p50 2.00x" in md


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    report.plot({"ringws": report.read_rows(SAMPLE)}, tmp_path / "l.png", 500)
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"


def test_server_cpu_per_echoed_message():
    cpu = {"user_s": 0.25, "sys_s": 4.75, "sched_s": 5.0, "t": 5.0}
    r = report.echo_row("ringws", 100, 1, echo_report(300, 3000, 100000), cpu=cpu, messages=500000)
    assert r["server_user_us"] == pytest.approx(0.5)
    assert r["server_sys_us"] == pytest.approx(9.5)
    plain = report.echo_row("ringws", 100, 1, echo_report(300, 3000, 100000))
    assert plain["server_user_us"] == plain["server_sys_us"] == 0


def test_cpu_medians_summary_and_ratios_between_two_configurations():
    def run(name, i, user, system):
        return report.echo_row(name, 100, i, echo_report(300, 3000, 100000),
                               cpu={"user_s": user, "sys_s": system}, messages=1_000_000)
    a = [run("io_uring", i, u, s) for i, (u, s) in enumerate([(0.5, 9.0), (0.4, 8.0), (0.6, 10.0)], 1)]
    b = [run("epoll", i, u, s) for i, (u, s) in enumerate([(0.8, 10.0), (0.7, 9.0), (0.9, 11.0)], 1)]
    med = report.echo_medians(a)[100]
    assert med["server_user_us"] == pytest.approx(0.5) and med["server_sys_us"] == pytest.approx(9.0)
    assert med["server_cpu_us"] == pytest.approx(9.5)
    assert report.summary_line(a, 100).endswith("echo_server_user_us=0.50 echo_server_sys_us=9.00")
    md = report.markdown({"io_uring": a, "epoll": b}, "m", "c", 95, 500)
    assert "| io_uring | - | 100 | 300 | 3000 | 100,000 | 0.50 | 9.00 | 3 |" in md  # no broadcast phase: "-"
    assert "epoll at 100 connections: echo msgs/s 1.00x, p50 1.00x, server CPU/msg 1.14x" in md  # 10.8 / 9.5
    assert "broadcast capacity" not in md.split("Ratios")[1]


def test_old_csv_without_cpu_columns_reads_as_zero(tmp_path):
    rows = report.read_rows(SAMPLE)
    assert all(r["server_user_us"] == 0 and r["server_sys_us"] == 0 for r in rows)


def test_server_list_names_ringws_configurations_node_and_peers():
    import latency

    class A:
        binary, threads, broadcast_max, compare = "/b/ringws", 0, 20000, "node-ws"
        server_args = "--x 1"
        config = ["io_uring=--backend io_uring", "epoll=--backend epoll"]
        peer = ["uws=/s/uws --port {port}"]
    s = latency.server_list(A)
    assert [(n, k) for n, k, _ in s] == [("io_uring", "ringws"), ("epoll", "ringws"), ("node-ws", "node-ws"),
                                         ("uws", "peer")]
    assert s[1][2][-4:] == ["--backend", "epoll", "--x", "1"]
    assert "--threads" in s[0][2] and s[0][2][s[0][2].index("--threads") + 1] == "2"
    A.config, A.compare, A.peer = [], None, []
    assert [n for n, _, _ in latency.server_list(A)] == ["ringws"]  # the default: one, named as before
