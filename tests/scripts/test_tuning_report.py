"""The tuning matrix and report (scripts/lib/tuning_report.py): the cells and their flags, the
--only filters, the run order, the CSV schema, medians, spreads, winners, the findings that
beat their spread, the Markdown and the plots; and scripts/tuning.sh's dry run and its refusal
without root."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "lib"))
import tuning_report as report  # noqa: E402
from unprivileged import as_nobody  # noqa: E402

RESULTS = REPO / "docs" / "results" / "tuning" / "tuning.csv"
REQUIRED = ["backend", "profile", "uring_setup", "uring_idle_wait", "buffer_size", "buffer_count", "uring_ring_fd",
            "uring_sqpoll", "epoll_mode", "bytes_per_conn_user", "bytes_per_conn_kernel", "echo_user_us_per_msg",
            "echo_kernel_us_per_msg", "echo_p99_us", "broadcast_clients", "broadcast_us_per_frame", "handshakes_per_s"]


# --- the matrix ---------------------------------------------------------------------------------

def test_full_matrix_covers_every_setting():
    cells = {c["cell"]: c for c in report.full_matrix()}
    assert len(cells) == len(report.full_matrix())  # names are unique
    u = [c for c in cells.values() if c["backend"] == "io_uring"]
    assert {c["uring_setup"] for c in u} >= {"best", "coop", "plain"}
    assert {c["uring_idle_wait"] for c in u} == {"poll", "recv", "recv-multishot"}
    assert len({c["buffer_size"] for c in u}) >= 3 and len({c["buffer_count"] for c in u}) >= 3
    assert {c["uring_ring_fd"] for c in u} == {"registered", "plain"}
    assert {c["uring_sqpoll"] for c in u} == {0, 1}
    assert {c["epoll_mode"] for c in cells.values() if c["backend"] == "epoll"} == {"level", "edge"}
    assert {c["profile"] for c in cells.values()} == {"default", "density", "latency", "many-conns"}
    for c in cells.values():  # every reference is a cell, differing from it
        if c["reference"]:
            assert c["reference"] in cells
            assert any(c[k] != cells[c["reference"]][k] for k in report.SETTINGS)


def test_quick_matrix_is_a_subset_in_its_order():
    quick = report.matrix(quick=True)
    assert [c["cell"] for c in quick] == report.QUICK
    full = {c["cell"]: c for c in report.full_matrix()}
    assert all(c == full[c["cell"]] for c in quick)


def test_server_args():
    cells = {c["cell"]: c for c in report.full_matrix()}
    assert report.server_args(cells["uring"]) == [
        "--backend", "io_uring", "--uring-setup", "best", "--uring-idle-wait", "poll", "--buffer-size", "4096",
        "--buffer-count", "2048", "--uring-ring-fd", "registered"]
    assert "--uring-sqpoll" in report.server_args(cells["uring.sqpoll"])
    assert report.server_args(cells["epoll.edge"]) == ["--backend", "epoll", "--epoll-mode", "edge",
                                                       "--buffer-size", "4096"]
    assert report.server_args(cells["uring+latency"]) == report.server_args(cells["uring"])


def test_only_filters():
    cells = report.full_matrix()
    names = lambda f: [c["cell"] for c in report.select(cells, f)]  # noqa: E731
    assert names(["backend=epoll,profile=default"]) == ["epoll", "epoll.edge"]
    assert names(["*+latency"]) == ["uring+latency", "epoll+latency"]
    assert names(["uring", "epoll.edge"]) == ["uring", "epoll.edge"]
    assert names(["uring_idle_wait=recv"]) == ["uring.recv"]
    assert names([]) == [c["cell"] for c in cells]
    with pytest.raises(ValueError, match="not a setting"):
        report.select(cells, ["colour=blue"])


def test_runs_are_interleaved():
    cells = [{"cell": n} for n in "abc"]
    assert [(r, c["cell"]) for r, c in report.run_order(cells, 3)] == [
        (1, "a"), (1, "b"), (1, "c"), (2, "c"), (2, "b"), (2, "a"), (3, "a"), (3, "b"), (3, "c")]


# --- rows, statistics, findings -----------------------------------------------------------------------

def row(cell, run, reference=None, **figures):
    base = next(c for c in report.full_matrix() if c["cell"] == cell) if cell in report.QUICK else \
        {**report.URING, "cell": cell, "reference": reference}
    r = {k: base[k] for k in ["cell", "reference"] + report.SETTINGS}
    r.update(run=run, server_args="--x", threads=2, ring_flags="SINGLE_ISSUER|DEFER_TASKRUN")
    r.update(figures)
    return r


def test_csv_schema_and_round_trip(tmp_path):
    for col in REQUIRED:
        assert col in report.COLUMNS
    rows = [row("uring", 1, bytes_per_conn_user=71.5, bytes_per_conn_kernel=3880.25, echo_p99_us=900.0,
                broadcast_clients=12000, error=""),
            row("epoll", 1, bytes_per_conn_user=None, error="density: the server exited")]
    report.write_rows(tmp_path / "t.csv", rows)
    header = (tmp_path / "t.csv").read_text().splitlines()[0].split(",")
    assert header == report.COLUMNS
    back = report.read_rows(tmp_path / "t.csv")
    assert back[0]["bytes_per_conn_kernel"] == 3880.25 and back[0]["broadcast_clients"] == 12000
    assert back[0]["ring_flags"] == "SINGLE_ISSUER|DEFER_TASKRUN"
    assert back[1]["bytes_per_conn_user"] is None and back[1]["uring_setup"] == "-"
    assert back[1]["error"] == "density: the server exited"


@pytest.mark.skipif(not RESULTS.exists(), reason="no committed quick matrix yet")
def test_the_committed_quick_matrix_has_the_schema():
    header = RESULTS.read_text().splitlines()[0].split(",")
    assert header == report.COLUMNS
    rows = report.read_rows(RESULTS)
    assert {r["cell"] for r in rows} == set(report.QUICK)
    for cell in report.QUICK:  # one row per cell and run, at least 3 runs
        runs = sorted(r["run"] for r in rows if r["cell"] == cell)
        assert runs == list(range(1, len(runs) + 1)) and len(runs) >= 3
    for r in rows:
        for col in REQUIRED:
            assert r[col] is not None, (r["cell"], r["run"], col)


def test_stats_and_spread():
    rows = [row("uring", i, echo_p99_us=v) for i, v in enumerate([900, 1200, 1000], 1)]
    rows.append(row("uring", 4, echo_p99_us=None))
    s = report.stats(rows, "uring", "echo_p99_us")
    assert s == {"median": 1000, "min": 900, "max": 1200, "n": 3}
    assert report.spread_text(s, 0) == "1,000 (900-1,200)"
    assert report.stats(rows, "epoll", "echo_p99_us") is None


def test_findings_only_beyond_the_spread():
    rows = []
    for i in (1, 2, 3):
        rows.append(row("uring", i, bytes_per_conn_kernel=3880 + i, echo_p99_us=1000 + 100 * i))
        rows.append(row("uring.recv-ms", i, bytes_per_conn_kernel=4700 + i, echo_p99_us=1050 + 100 * i))
    found = report.findings(rows)
    assert [(f[0], f[1], f[2]) for f in found] == [("uring.recv-ms", "uring", "bytes_per_conn_kernel")]
    text = report.finding_text(found[0])
    assert "**uring.recv-ms** vs uring: kernel 4,702 B/conn against 3,882" in text and "worse" in text
    # Two runs each are not enough.
    assert report.findings([r for r in rows if r["run"] < 3]) == []


def test_chance_of_ranges_not_overlapping():
    assert report.chance_of_no_overlap(3, 3) == pytest.approx(0.1)  # 2 * 3! 3! / 6!
    assert report.chance_of_no_overlap(5, 5) == pytest.approx(2 / 252)
    rows = [row(c, i, **figures(i)) for c in ("uring", "uring.recv-ms") for i in (1, 2, 3)]
    made, expected = report.expected_by_chance(rows)
    assert made == len(report.FIGURES) - len(report.EXPLAIN_ONLY) and expected == pytest.approx(made * 0.1)


def test_winner_and_clear_winner():
    rows = [row("uring", i, broadcast_clients=c) for i, c in enumerate([12000, 14000, 12000], 1)]
    rows += [row("epoll", i, broadcast_clients=c) for i, c in enumerate([10000, 11000, 9000], 1)]
    assert report.winner(rows, "broadcast_clients") == ("uring", True)
    rows += [row("epoll.edge", i, broadcast_clients=c) for i, c in enumerate([12000, 10000, 11000], 1)]
    assert report.winner(rows, "broadcast_clients") == ("uring", False)  # overlaps epoll.edge's range


def figures(k):
    return {"bytes_per_conn_user": 70 + k, "bytes_per_conn_kernel": 3880 + 10 * k, "bytes_per_conn_total": 3950 + 11 * k,
            "echo_msgs_per_s": 50000 + k, "echo_user_us_per_msg": 1.2, "echo_kernel_us_per_msg": 6.0 + k,
            "echo_cpu_us_per_msg": 7.2 + k, "echo_p50_us": 500, "echo_p99_us": 3000 + k,
            "broadcast_clients": 12000, "broadcast_us_per_frame": 3.5, "broadcast_user_us_per_frame": 0.2,
            "broadcast_kernel_us_per_frame": 3.3, "handshakes_per_s": 9000, "handshake_cpu_us": 40.0}


def test_markdown_has_a_table_per_figure_winners_and_the_machine():
    rows = [row(c, i, **figures(j * 100 + i)) for j, c in enumerate(["uring", "uring.recv-ms", "epoll"])
            for i in (1, 2, 3)]
    md = report.markdown(rows, {"command": "scripts/tuning.sh --quick", "machine": "2 CPUs", "kernel": "6.18.44",
                                "cpu": "AMD EPYC", "cores": 2, "others": "cc1plus 400 s", "runs": 3,
                                "elapsed_s": 600})
    for title, cols in report.TABLES:
        assert f"## {title}" in md
    assert md.count("| winner |") == len(report.TABLES)
    assert "Kernel 6.18.44, CPU AMD EPYC, 2 cores" in md and "What else ran: cc1plus 400 s" in md
    assert "## What we learned" in md
    assert "**uring.recv-ms** vs uring: kernel" in md  # 3,981-3,983 against 3,881-3,883
    assert "| uring | 71 (71-73) |" not in md  # medians, then the range
    assert "| uring | 72 (71-73) | 3,900 (3,890-3,910) |" in md
    assert "SINGLE_ISSUER DEFER_TASKRUN" in md  # '|' would break the table


def test_plots(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [row(c, i, **figures(j * 100 + i)) for j, c in enumerate(["uring", "epoll"]) for i in (1, 2, 3)]
    rows.append(row("uring+density", 1, error="density: failed"))  # a cell with no figures still plots
    names = report.plot(rows, tmp_path)
    assert names == ["bytes.png", "cpu.png", "p99.png", "broadcast.png", "handshakes.png"]
    for n in names:
        assert (tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- scripts/tuning.sh ------------------------------------------------------------------------------

TUNING = [sys.executable, str(REPO / "scripts" / "lib" / "tuning.py")]


def test_dry_run_prints_the_matrix_and_runs_nothing(tmp_path):
    state = tmp_path / "state.json"
    r = subprocess.run(as_nobody([*TUNING, "--quick", "--dry-run", "--state-file", str(state)]), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"quick matrix: {len(report.QUICK)} cell(s) x 3 run(s)" in out
    for cell in report.QUICK:
        assert f"\n{cell} " in out
    assert "--uring-idle-wait recv-multishot" in out
    assert "order: uring#1 " in out and " uring#2 " in out
    assert "profile latency would change" in out and "net.core.busy_poll" in out
    assert "(dry run: nothing was started or changed)" in out
    assert not state.exists() and not (REPO / "results" / "tuning-dry").exists()


def test_dry_run_with_only_and_the_sqpoll_warning():
    r = subprocess.run([*TUNING, "--dry-run", "--only", "uring.sqpoll", "--runs", "1"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "full matrix: 1 cell(s) x 1 run(s)" in r.stdout and "--uring-sqpoll" in r.stdout
    if (os.cpu_count() or 1) <= 2:
        assert "warning: uring.sqpoll" in r.stdout
    r = subprocess.run([*TUNING, "--dry-run", "--only", "nothing-matches"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "no cell matches" in r.stderr


def test_refused_without_root(tmp_path):
    for extra in ([], ["--restore"]):
        r = subprocess.run(as_nobody([*TUNING, "--quick", "--state-file", str(tmp_path / "s.json"), "--out",
                                      str(tmp_path / "out"), *extra]), capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "must run as root" in r.stderr, r.stderr
        assert not (tmp_path / "out").exists()
