"""The broadcast-cost report: rows from SYNC lines and samples, medians, ratios taken run by
run, the warnings, and the outputs, on a recorded short run of this machine
(scripts/broadcast-cost.sh --clients 1000 --broadcasts 100 --runs 2 --in-flight 1,4
--peer uws=...) and on rows with known figures."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))
import broadcast_cost as driver  # noqa: E402
import broadcast_cost_report as report  # noqa: E402
import server_probe as probe  # noqa: E402

SAMPLE = Path(__file__).parent / "data" / "broadcast-cost-small.csv"


def tcp(segs, data=None, sockets=3000, retrans=0):
    return {"segs_out": segs, "data_segs_out": segs if data is None else data, "segs_in": 0, "bytes_sent": 0,
            "bytes_acked": 0, "bytes_retrans": retrans * 300, "retrans_segs": retrans, "data_segs_in": 0,
            "sockets_before": sockets, "sockets_after": sockets, "sockets_both": sockets}


def row(server, k, run, user_s, sys_s, segs, clients=3000, completed=400, delivered=None):
    connected = {"clients": clients, "sent": 0, "received": 0, "step": 1}
    done = {"clients": clients, "completed": completed, "timeouts": 0,
            "delivered": clients * completed if delivered is None else delivered, "results": completed,
            "measure_s": 2.0}
    return report.make_row(server, k, run, connected, done, {"user_s": user_s, "sys_s": sys_s, "sched_s": 0.0},
                           tcp(segs, sockets=clients))


def test_parse_sync_lines():
    phase, d = probe.parse_sync("SYNC done clients=3000 sent=400 received=1200400 step=1 completed=400 "
                                 "timeouts=0 delivered=1200000 results=400 measure_s=5.25\n")
    assert phase == "done"
    assert d["delivered"] == 1200000 and d["measure_s"] == 5.25 and isinstance(d["clients"], int)


def test_row_divides_by_the_delivered_frames():
    r = row("ringws", 4, 1, user_s=0.6, sys_s=12.0, segs=1_200_400)
    assert r["delivered"] == r["expected"] == 1_200_000
    assert r["user_us"] == pytest.approx(0.5)
    assert r["sys_us"] == pytest.approx(10.0)
    assert r["cpu_us"] == pytest.approx(10.5)
    assert r["segs_per_frame"] == pytest.approx(1_200_400 / 1_200_000)
    assert report.problems(r) == []


def test_a_short_delivery_and_lost_sockets_are_flagged():
    r = row("x", 1, 1, 1, 1, 100, delivered=1_199_000)
    r["sockets_after"] = 2990
    p = report.problems(r)
    assert any("expected 1,200,000" in x for x in p)
    assert any("2990" in x for x in p)


def test_medians_and_min_max_over_runs():
    rows = [row("ringws", 4, i, 0, s, 1_200_000) for i, s in enumerate([14.4, 12.0, 13.2], 1)]
    st = report.aggregate(rows)[4]["ringws"]["cpu_us"]
    assert st["median"] == pytest.approx(11.0) and st["min"] == pytest.approx(10.0)
    assert st["max"] == pytest.approx(12.0) and st["n"] == 3


def test_ratios_are_taken_within_each_run():
    # Run 1 on a quiet machine, run 2 on a busy one: both servers twice as slow in run 2.
    rows = [row("ringws", 4, 1, 0, 12.0, 1_200_000), row("uws", 4, 1, 0, 4.0, 300_000),
            row("ringws", 4, 2, 0, 24.0, 1_200_000), row("uws", 4, 2, 0, 8.0, 300_000)]
    rt = report.ratios(rows, "uws")[4]["ringws"]
    assert rt["cpu_us"]["min"] == pytest.approx(3.0) and rt["cpu_us"]["max"] == pytest.approx(3.0)
    assert rt["segs_per_frame"]["median"] == pytest.approx(4.0)
    assert "uws" not in report.ratios(rows, "uws")[4]


def test_recorded_run_reproduces_its_summary():
    rows = report.read_csv(SAMPLE)
    assert len(rows) == 8 and report.servers_in_order(rows) == ["ringws", "uws"]
    # The run printed: SUMMARY ringws@1=4.50us,1.001seg uws@1=5.80us,1.001seg ringws@4=4.55us,1.002seg uws@4=2.85us,0.432seg
    assert report.summary_line(rows) == ("SUMMARY ringws@1=4.50us,1.001seg uws@1=5.80us,1.001seg "
                                         "ringws@4=4.55us,1.002seg uws@4=2.85us,0.432seg")
    assert all(r["delivered"] == r["expected"] == 100_000 for r in rows)


def test_csv_round_trip(tmp_path):
    rows = report.read_csv(SAMPLE)
    report.write_csv(tmp_path / "again.csv", rows)
    assert report.read_csv(tmp_path / "again.csv") == rows


def test_markdown_table_ratios_and_notes():
    rows = report.read_csv(SAMPLE)
    settings = {"clients": 1000, "broadcasts": 100, "padding": 200, "runs": 2}
    md = report.markdown(rows, "test machine", "scripts/broadcast-cost.sh ...", settings, "uws", ["a note"])
    assert "| 4 | uws | 0.25 (0.20-0.30) | 2.60 | 2.85 (2.80-2.90) | 0.432 (0.412-0.452) |" in md
    assert "| 4 | ringws | 1.60x (1.55-1.64) |" in md
    assert "Retransmitted segments" in md
    assert "uws@1 at most 0.00% (2 of 2 runs); ringws@4 at most 0.12% (2 of 2 runs)" in md
    assert "Note: a note" in md and "Machine: test machine" in md
    assert "clock ticks of 10 ms, 0.100 us per frame at 100,000 frames" in md
    assert "Warning" not in md


def test_json_holds_rows_medians_ratios(tmp_path):
    rows = report.read_csv(SAMPLE)
    report.write_json(tmp_path / "b.json", rows, {"cpu": "x", "cores": 2}, {"clients": 1000}, "cmd", "uws")
    doc = json.loads((tmp_path / "b.json").read_text())
    assert doc["machine"]["cores"] == 2 and len(doc["rows"]) == 8
    assert doc["medians"]["4"]["uws"]["segs_per_frame"]["median"] == pytest.approx((0.45166 + 0.41167) / 2)
    assert doc["ratios"]["1"]["ringws"]["cpu_us"]["median"] == pytest.approx((4.2 / 5.7 + 4.8 / 5.9) / 2)
    assert doc["warnings"] == []


def test_server_list_configs_peers_and_names():
    class A:
        binary, threads, server_args = "/b/ringws", 1, "--x 1"
        config = ["io_uring=--backend io_uring", "epoll=--backend epoll"]
        peer = ["uws=/s/uws --port {port}"]
    s = driver.server_list(A)
    assert [n for n, _ in s] == ["io_uring", "epoll", "uws"]
    assert s[1][1][-4:] == ["--backend", "epoll", "--x", "1"]
    assert s[2][1] == ["/s/uws", "--port", "{port}"]
    A.peer = ["uws=/s/uws"]
    with pytest.raises(SystemExit):
        driver.server_list(A)
