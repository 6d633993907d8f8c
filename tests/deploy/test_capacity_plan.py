"""scripts/capacity.py and scripts/lib/capacity_plan.py on worked examples, each figure
computed by hand in the comments, and the command on recorded density.sh / latency.sh output."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "lib"))

import capacity_plan as cp  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
CAPACITY = REPO / "scripts" / "capacity.py"

# A small task and workload whose figures are easy to follow by hand.
TASK = {"memory_bytes": 10_000_000, "high_water": 0.8, "vcpus": 1, "cpu_baseline": 1.0, "net_bps": 8e6,
        "wire_overhead": 52, "ping_interval": 25, "min_tasks": 2, "azs": 2}
SERVER = {"bytes_per_conn": 4000, "base_bytes": 0, "cpu_us_per_msg": 10}
WORKLOAD = {"users": 10_000, "rooms": 1_000, "msgs_per_sec": 100, "msg_bytes": 100, "session_minutes": 60}


def test_per_user_rates():
    u = cp.per_user(WORKLOAD, dict(cp.TASK_DEFAULTS, **TASK))
    assert u["members_per_room"] == 10
    assert u["publish_per_s"] == pytest.approx(0.01)          # 100 / 10,000
    assert u["deliver_per_s"] == pytest.approx(0.1)           # 100 x 10 members / 10,000
    assert u["ping_per_s"] == pytest.approx(math.exp(-0.25) / 25)  # 0.031152: silent 25 s with p = e^-0.25
    # 0.1 x (100 + 2 header + 52) + 0.031152 x (2 + 52) = 15.4 + 1.68221
    assert u["out_bytes_per_s"] == pytest.approx(17.08221, rel=1e-5)


def test_memory_bound_capacity_and_drain_headroom():
    p = cp.plan(WORKLOAD, SERVER, TASK)
    c = p["capacity"]
    assert c["bounds"]["memory"] == 2000                 # 10 MB x 0.8 / 4,000 B
    assert c["bounds"]["cpu"] == 708_455                 # 1e6 us / (0.141152 msgs/s x 10 us) = 708,455.6
    assert c["bounds"]["network"] == 58_540              # 1e6 B/s / 17.08221 B/s
    assert (c["binding"], c["capacity"]) == ("memory", 2000)
    # 6 tasks cannot both hold 10,000 users (>= 1,667 each) and stay drain-safe (<= 2,000 x 5/6
    # = 1,666); 7 can: targets 1,429-1,666 run 7 tasks, and 1,666 <= 2,000 x 6/7.
    assert (p["tasks"], p["target"]) == (7, 1666)
    assert p["after_drain_per_task"] == pytest.approx(10_000 / 6)
    assert p["drain_headroom"] == pytest.approx(2000 - 10_000 / 6)


@pytest.mark.parametrize("users,cap,min_tasks,expected", [
    (10_000, 2000, 2, (7, 1666)),
    (100, 2000, 2, (2, 1000)),         # the minimum: a target up to half the capacity stays drain-safe
    (3_999, 2000, 2, (3, 1333)),       # 3 x 1,333 = 3,999; a drain leaves 1,999.5 each
    (4_000, 2000, 2, (4, 1333)),
    (1_000_000, 214_913, 2, (6, 179_094)),
    (100, 2000, 5, (5, 1600)),         # --min-tasks 5
])
def test_tasks_and_target(users, cap, min_tasks, expected):
    n, t = cp.tasks_and_target(users, cap, min_tasks)
    assert (n, t) == expected
    assert max(min_tasks, math.ceil(users / t)) == n, "target tracking must run exactly the planned tasks"
    assert t * n / (n - 1) <= cap + 1e-9 and users / (n - 1) <= cap


def test_cpu_and_network_bounds():
    busy = dict(WORKLOAD, msgs_per_sec=10_000)  # 1 publish and 10 deliveries per user per second
    p = cp.plan(busy, SERVER, TASK)
    # per user: 1 + 10 + e^-25/25 (about 0) messages/s x 10 us = 110 us/s; 1e6 / 110 = 9,090
    assert p["capacity"]["bounds"]["cpu"] == 9090
    # out: 10 x (100 + 2 + 52) = 1,540 B/s per user; 1e6 / 1,540 = 649, below memory's 2,000
    assert p["capacity"]["bounds"]["network"] == 649 and p["capacity"]["binding"] == "network"
    chatty = dict(WORKLOAD, msgs_per_sec=10_000, msg_bytes=1000)
    q = cp.plan(chatty, dict(SERVER, cpu_us_per_msg=0.1), dict(TASK, memory_bytes=1e9))
    # out per user: 10 x (1000 + 4 + 52) = 10,560 B/s (+ pings ~0): 1e6 / 10,560 = 94
    assert q["capacity"]["bounds"]["network"] == 94 and q["capacity"]["binding"] == "network"


def test_alb_lcus_and_costs():
    p = cp.plan(WORKLOAD, SERVER, TASK)
    dims = p["lcu_dimensions"]
    assert dims["active connections"] == pytest.approx(10_000 / 3000)
    assert dims["new connections"] == pytest.approx(10_000 / 3600 / 25)
    # bytes: publishes 100/s x (100 + 6 masked header), deliveries 1,000/s x 102, pings and pongs
    # 311.52/s x 8, handshakes 2.78/s x 400: 10,600 + 102,000 + 2,492 + 1,111 = 116,203 B/s,
    # 0.41833 GB/hour
    assert p["alb_gb_per_hour"] == pytest.approx(0.41833, rel=1e-4)
    assert p["lcu_binding"] == "active connections" and p["lcus"] == pytest.approx(3.3333, rel=1e-4)
    m = p["monthly"]
    assert m["EC2 (t3.medium)"] == pytest.approx(7 * 0.0416 * 730)
    assert m["ALB hours"] == pytest.approx(0.0225 * 730)
    assert m["ALB LCUs"] == pytest.approx(10_000 / 3000 * 0.008 * 730)
    assert m["Valkey nodes"] == pytest.approx(2 * 0.052 * 730)
    assert p["monthly_total"] == pytest.approx(sum(m.values()))


def test_egress_tiers():
    assert cp.egress_cost(100) == pytest.approx(9.0)
    assert cp.egress_cost(20 * 1024) == pytest.approx(10 * 1024 * 0.09 + 10 * 1024 * 0.085)
    assert cp.egress_cost(200 * 1024) == pytest.approx(
        10 * 1024 * 0.09 + 40 * 1024 * 0.085 + 100 * 1024 * 0.07 + 50 * 1024 * 0.05)


def test_seed_figure_reproduced():
    """The seed's about 56,000 connections per t3.medium: 3.5 GiB at 64 KB each."""
    assert int(3.5 * cp.GIB / 65536) == 57_344
    p = cp.plan({"users": 1_000_000, "rooms": 20_000, "msgs_per_sec": 0, "msg_bytes": 280},
                {"bytes_per_conn": 65536, "base_bytes": 0, "cpu_us_per_msg": 9}, {})
    # the template's 3,456 MiB x 85% / 64 KiB = 3,456 x 16 x 0.85 = 47,001
    assert p["capacity"]["bounds"]["memory"] == 47_001 and p["capacity"]["binding"] == "memory"


def run(*args):
    return subprocess.run([sys.executable, str(CAPACITY), *args], capture_output=True, text=True, timeout=120)


def test_command_on_recorded_measurements():
    r = run("--density", str(DATA / "density.csv"), "--latency", str(DATA / "latency.csv"), "--users", "1000000",
            "--rooms", "20000", "--msgs-per-sec", "3333.3", "--msg-bytes", "280")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("# Capacity plan: 1,000,000 concurrent users")
    for needle in ("**tasks (t3.medium, one task each)**", "**target tracking: ConnectionsOpen (Average) per task**",
                   "headroom left for a draining task's clients", "ALB LCUs", "**monthly cost**",
                   "| active connections | 333.3 |"):
        assert needle in out, needle
    j = json.loads(run("--density", str(DATA / "density.csv"), "--latency", str(DATA / "latency.csv"), "--users",
                       "1000000", "--rooms", "20000", "--msgs-per-sec", "3333.3", "--json").stdout)
    # the figures come from the files: the density fit and the worst echo CPU median
    assert j["server"]["bytes_per_conn"] == pytest.approx(3965, abs=1)
    assert j["server"]["cpu_us_per_msg"] > 0
    assert str(j["tasks"]) in out and f"{j['target']:,}" in out


def test_command_errors():
    r = run("--users", "10")
    assert r.returncode == 2 and "--density" in r.stderr
    old = run("--density", str(DATA / "density.csv"), "--latency", str(REPO / "tests/scripts/data/latency-ringws-small.csv"),
              "--users", "1000")
    assert old.returncode != 0 and "no server CPU figures" in old.stderr
    given = run("--bytes-per-connection", "65536", "--cpu-per-message-us", "9", "--users", "1000000")
    assert given.returncode == 0 and "65,536 B per connection (given)" in given.stdout
