"""The readers behind the measuring scripts, on recorded output of this machine: `ss -Htin`
before and after 10 broadcasts to 4 clients of ringws (--app shootout, 2 in flight), sockets
of uWebSockets that retransmitted, and /proc/PID/stat of that ringws."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "lib"))
import server_probe as probe  # noqa: E402

DATA = Path(__file__).parent / "data"


def test_ss_sockets_and_counters():
    s = probe.parse_ss_tcp_info((DATA / "ss-ringws-4clients-after.txt").read_text())
    assert len(s) == 4
    sock = s[("127.0.0.1:34013", "127.0.0.1:34500")]
    assert sock["segs_out"] == 15 and sock["data_segs_out"] == 14
    assert sock["segs_in"] == 13 and sock["bytes_sent"] == 3749
    assert sock["bytes_retrans"] == 0 and sock["retrans_segs"] == 0  # absent: ss omits zeros


def test_ss_deltas_count_exactly_what_was_sent():
    before = probe.parse_ss_tcp_info((DATA / "ss-ringws-4clients-before.txt").read_text())
    after = probe.parse_ss_tcp_info((DATA / "ss-ringws-4clients-after.txt").read_text())
    d = probe.socket_deltas(before, after)
    # 10 broadcasts to 4 clients and 10 broadcastResults: 50 frames, one segment each.
    assert d["segs_out"] == 50 and d["data_segs_out"] == 50
    assert d["sockets_before"] == d["sockets_after"] == d["sockets_both"] == 4


def test_ss_deltas_ignore_sockets_not_in_both_samples():
    before = probe.parse_ss_tcp_info((DATA / "ss-ringws-4clients-before.txt").read_text())
    after = probe.parse_ss_tcp_info((DATA / "ss-ringws-4clients-after.txt").read_text())
    del after[("127.0.0.1:34013", "127.0.0.1:34500")]
    d = probe.socket_deltas(before, after)
    assert d["segs_out"] == 50 - 13 and d["sockets_both"] == 3 and d["sockets_after"] == 3


def test_ss_retransmissions():
    s = probe.parse_ss_tcp_info((DATA / "ss-uws-retrans.txt").read_text())
    assert len(s) == 4
    retrans = sorted((v["retrans_segs"], v["bytes_retrans"]) for v in s.values())
    assert retrans == [(0, 0), (0, 0), (1, 278), (1, 283)]
    # "bytes_retrans" and "data_segs_out" are not mistaken for their shorter names.
    v = next(v for v in s.values() if v["bytes_retrans"] == 278)
    assert v["bytes_sent"] == 28537 and v["segs_out"] == 44 and v["data_segs_out"] == 43


def test_ss_header_and_blank_lines_are_skipped():
    text = "Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n\n" + \
        (DATA / "ss-ringws-4clients-before.txt").read_text()
    assert len(probe.parse_ss_tcp_info(text)) == 4
    assert probe.parse_ss_tcp_info("") == {}


def test_proc_stat_of_ringws():
    a = probe.parse_proc_stat((DATA / "proc-stat-ringws-before.txt").read_text())
    assert a["pid"] == 20136 and a["comm"] == "ringws" and a["ppid"] == 20134
    assert (a["utime"], a["stime"]) == (0, 0)


def test_proc_stat_comm_with_spaces_and_parentheses():
    line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 10 0 0 0 123 45 0 0 20 0 3 0 100 1000 10 0\n"
    st = probe.parse_proc_stat(line)
    assert st["comm"] == "a (b) c" and st["ppid"] == 1 and (st["utime"], st["stime"]) == (123, 45)


def test_schedstat():
    assert probe.parse_schedstat("171401 2472306 2\n") == 171401


def test_cpu_sample_sums_a_process_tree(tmp_path):
    # A fake /proc: 10 (the server) with a child 11; 12 is someone else's.
    def proc(pid, ppid, ut, st, tasks):
        d = tmp_path / str(pid)
        (d / "task").mkdir(parents=True)
        (d / "stat").write_text(f"{pid} (p{pid}) S {ppid} 1 1 0 -1 0 0 0 0 0 {ut} {st} 0 0 20 0 1 0 1 1 1 0\n")
        for tid, ns in tasks.items():
            (d / "task" / str(tid)).mkdir()
            (d / "task" / str(tid) / "schedstat").write_text(f"{ns} 0 0\n")
    proc(10, 1, 100, 300, {10: 2_000_000_000, 13: 1_000_000_000})
    proc(11, 10, 5, 5, {11: 100_000_000})
    proc(12, 1, 999, 999, {12: 9_000_000_000})
    (tmp_path / "self").mkdir()
    assert sorted(probe.process_tree(10, tmp_path)) == [10, 11]
    c = probe.cpu_sample(10, tmp_path)
    assert c["user_s"] == pytest.approx(105 / probe.CLK_TCK)
    assert c["sys_s"] == pytest.approx(305 / probe.CLK_TCK)
    assert c["sched_s"] == pytest.approx(3.1)
    assert c["pids"] == 2


def test_named_values():
    assert probe.parse_named("epoll=--backend epoll", "--config") == ("epoll", "--backend epoll")
    assert probe.parse_named("uws=/x/uws --port {port}", "--peer") == ("uws", "/x/uws --port {port}")
    assert probe.parse_named("plain=", "--config") == ("plain", "")
    for bad in ("noequals", "=x", "a b=c"):
        with pytest.raises(ValueError):
            probe.parse_named(bad, "--config")


def test_ringws_argv_puts_extra_arguments_last():
    argv = probe.ringws_argv("/b/ringws", "shootout", 1, "--backend epoll --max-backlog '16 M'")
    assert argv[:3] == ["/b/ringws", "--app", "shootout"]
    assert "{port}" in argv and argv[-4:] == ["--backend", "epoll", "--max-backlog", "16 M"]
