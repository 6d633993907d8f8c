"""The density report's arithmetic and outputs, on a recorded sample (a real run of
scripts/density.sh --steps 0,5000,10000 on the development machine) and on synthetic rows
with known slopes."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))
import density_report as report  # noqa: E402

SAMPLE = Path(__file__).parent / "data" / "density-ringws-10k.csv"


def synthetic(user_per_conn, kernel_per_conn, base_user=10 << 20, base_kernel=2 << 20, steps=(0, 1000, 2000, 4000)):
    return [{"server": "x", "connections": n, "open": n, "failed": 0, "rss_bytes": base_user + user_per_conn * n,
             "pss_bytes": 0, "cg_kernel_bytes": base_kernel + kernel_per_conn * n, "cg_tcp_bytes": 0,
             "cg_usage_bytes": 0, "meminfo_slab_bytes": 0, "sockstat_tcp_inuse": 0, "sockstat_tcp_mem_pages": 0,
             "slab_tcp_bytes": 0, "alive": 1} for n in steps]


def test_least_squares_recovers_an_exact_line():
    slope, intercept = report.least_squares([0, 1, 2, 3], [5, 8, 11, 14])
    assert slope == pytest.approx(3)
    assert intercept == pytest.approx(5)


def test_least_squares_refuses_what_cannot_be_fitted():
    with pytest.raises(ValueError):
        report.least_squares([7], [1])
    with pytest.raises(ValueError):
        report.least_squares([3, 3], [1, 2])


def test_fit_on_known_slopes_and_projection():
    f = report.fit(synthetic(64, 3880))
    assert f["user_B"] == pytest.approx(64)
    assert f["kernel_B"] == pytest.approx(3880)
    assert f["total_B"] == pytest.approx(3944)
    # (4 GiB - 12 MiB fixed) / 3944 B
    assert f["projected_4GiB"] == int(((4 << 30) - (12 << 20)) / 3944)
    assert f["projected_3_5GiB"] < f["projected_4GiB"]


def test_a_dead_step_is_left_out_of_the_fit_and_reported():
    rows = synthetic(100, 4000)
    rows.append(dict(rows[-1], connections=8000, open=8000, rss_bytes=0, cg_kernel_bytes=0, alive=0))
    f = report.fit(rows)
    assert f["user_B"] == pytest.approx(100)
    assert f["died"]


def test_recorded_sample_matches_what_the_run_printed():
    rows = report.read_rows(SAMPLE)
    assert [r["open"] for r in rows] == [0, 5000, 10000]
    f = report.fit(rows)
    # The run printed: SUMMARY user_B=87 kernel_B=3883 total_B=3969 projected_4GiB=1076741
    assert report.summary_line(f) == "SUMMARY user_B=87 kernel_B=3883 total_B=3969 projected_4GiB=1076741"


def test_csv_round_trip(tmp_path):
    rows = report.read_rows(SAMPLE)
    report.write_rows(tmp_path / "again.csv", rows)
    assert report.read_rows(tmp_path / "again.csv") == rows


def test_markdown_has_a_row_per_server_and_ratios():
    fits = {"ringws": report.fit(synthetic(64, 3880)), "node-ws": report.fit(synthetic(6000, 4050))}
    md = report.markdown(fits, "test machine", "scripts/density.sh --compare node-ws")
    assert "| ringws | 64 | 3880 | 3944 |" in md
    assert "| node-ws | 6000 | 4050 | 10050 |" in md
    assert "node-ws: total 2.55x the bytes per connection" in md


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    report.plot({"ringws": report.read_rows(SAMPLE)}, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_steps_double_up_to_the_maximum():
    assert report.default_steps(100000) == [0, 10000, 20000, 40000, 80000, 100000]
    assert report.default_steps(10000) == [0, 10000]


def test_no_projection_without_a_kernel_figure():
    # A server measured without a memory cgroup of its own has nothing charged: no kernel
    # figure, so no total and no projection (once, 56 million connections in 4 GiB were printed).
    rows = synthetic(64, 0, base_kernel=0)
    f = report.fit(rows)
    assert not f["kernel_measured"]
    assert f["projected_4GiB"] is None and f["projected_3_5GiB"] is None
    assert report.summary_line(f) == "SUMMARY user_B=64 kernel_B=none total_B=none projected_4GiB=none"
    md = report.markdown({"ringws": f}, "test machine", "scripts/density.sh --pid 1 --url ws://x:1/")
    assert "no kernel figure" in md and "56," not in md
    both = report.markdown({"ringws": report.fit(synthetic(64, 3880)), "other": f}, "m", "c")
    assert "other: no ratio" in both


def test_proc_cgroup_lines():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))
    import density  # noqa: E402
    v1 = "13:memory:/user.slice/ringws\n12:cpu,cpuacct:/\n0::/user.slice\n"
    assert density.parse_proc_cgroup(v1, "memory", 1) == "/user.slice/ringws"
    assert density.parse_proc_cgroup(v1, "cpu", 1) == "/"
    assert density.parse_proc_cgroup(v1, "memory", 2) == "/user.slice"
    assert density.parse_proc_cgroup("12:cpu,cpuacct:/\n", "memory", 1) is None
