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
    assert report.summary_line(rows, 100) == (
        "SUMMARY clients_at_p95_500ms=1500 echo_p50_us=315 echo_p99_us=7553 echo_msgs_per_s=108919")


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
