"""Kernel profiles (scripts/lib/tuning_profile.py, scripts/tuning/profiles/): parsing, the
plan, apply and restore, on every way out: a normal end, an error, SIGINT and SIGTERM (the
trap), and SIGKILL in the middle of a run (the state file, consumed by the next run or by
`restore`). Nothing here touches the real /proc/sys or iptables: the profiles are applied to a
directory tree shaped like /proc/sys and a fake iptables that keeps its rules in a file."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib"
sys.path.insert(0, str(LIB))
import tuning_profile as tp  # noqa: E402
from unprivileged import as_nobody  # noqa: E402

CLI = [sys.executable, str(LIB / "tuning_profile.py")]

# The values of this machine's kernel (6.18) for every key a shipped profile names.
KERNEL = {
    "net.ipv4.tcp_rmem": "4096\t131072\t33554432", "net.ipv4.tcp_wmem": "4096\t16384\t4194304",
    "net.ipv4.tcp_mem": "287898\t383866\t575796", "net.ipv4.tcp_shrink_window": "0",
    "net.core.busy_poll": "0", "net.core.busy_read": "0", "net.ipv4.tcp_notsent_lowat": "4294967295",
    "net.ipv4.tcp_autocorking": "1", "net.core.somaxconn": "4096", "net.ipv4.tcp_max_syn_backlog": "2048",
    "net.core.netdev_max_backlog": "1000", "net.ipv4.ip_local_port_range": "32768\t60999",
    "fs.file-max": "2466174", "fs.nr_open": "1048576", "net.netfilter.nf_conntrack_max": "262144",
}

FAKE_IPTABLES = r"""#!/bin/sh
# A fake iptables: "-t raw -A RULE..." appends RULE to $RULES, "-t raw -D RULE..." removes one
# copy or fails the way iptables does.
rules="$(dirname "$0")/rules"
touch "$rules"
shift 2
op=$1; shift
rule="$*"
case $op in
  -A) echo "$rule" >> "$rules" ;;
  -D) if grep -qxF -- "$rule" "$rules"; then
        awk -v r="$rule" '!done && $0 == r { done = 1; next } { print }' "$rules" > "$rules.new" && mv "$rules.new" "$rules"
      else
        echo "iptables: Bad rule (does a matching rule exist in that chain?)." >&2; exit 1
      fi ;;
esac
"""


@pytest.fixture
def kernel(tmp_path):
    """A fake /proc/sys with KERNEL's values, a fake iptables, and a state file path."""
    root = tmp_path / "sys"
    for key, value in KERNEL.items():
        p = tp.sysctl_path(root, key)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(value + "\n")
    ipt = tmp_path / "bin" / "iptables"
    ipt.parent.mkdir()
    ipt.write_text(FAKE_IPTABLES)
    ipt.chmod(0o755)
    return {"root": root, "iptables": str(ipt), "rules": tmp_path / "bin" / "rules", "state": tmp_path / "state.json"}


def values(root):
    return {k: tp.read_sysctl(root, k) for k in KERNEL}


def original():
    return {k: " ".join(v.split()) for k, v in KERNEL.items()}


def rules(k):
    return k["rules"].read_text().splitlines() if k["rules"].exists() else []


def applied(name, k, ports=(12345,)):
    return tp.Applied(name, ports, root=k["root"], state_file=k["state"], iptables=k["iptables"], quiet=True)


# --- files and plans -----------------------------------------------------------------------------

def test_every_shipped_profile_parses():
    assert set(tp.profile_names()) >= {"default", "density", "latency", "many-conns"}
    for name in tp.profile_names():
        tp.load_profile(name)
    assert tp.load_profile("default") == []
    assert {"kind": "notrack"} in tp.load_profile("many-conns")


def test_bad_lines_and_names_are_refused():
    with pytest.raises(tp.ProfileError, match="cannot read"):
        tp.parse_profile("sysctl net.core.somaxconn 5", "x")
    with pytest.raises(tp.ProfileError, match="one integer"):
        tp.parse_profile("sysctl fs.file-max >= 1 2", "x")
    with pytest.raises(tp.ProfileError, match="no profile"):
        tp.load_profile("../../etc/passwd")


def test_target_values():
    d = tp.parse_profile("sysctl a.b = 1024 8192 _\nsysctl c.d >= 100")
    assert tp.target_value("4096 131072 33554432", d[0]) == "1024 8192 33554432"
    assert tp.target_value("1024 8192 33554432", d[0]) is None  # already so
    assert tp.target_value("50", d[1]) == "100"
    assert tp.target_value("200", d[1]) is None  # '>=' never lowers
    with pytest.raises(tp.ProfileError, match="fields"):
        tp.target_value("1 2", d[0])


def test_plan_prints_every_change(kernel):
    p = tp.plan(tp.load_profile("many-conns"), kernel["root"], [12345], kernel["iptables"])
    text = "\n".join(tp.describe(p))
    assert "sysctl net.core.somaxconn: 4096 -> 65535" in text
    assert "sysctl fs.file-max: 2466174 -> 4194304" in text
    assert "sysctl net.ipv4.ip_local_port_range: 32768 60999 -> 20000 65535" in text
    # Both directions, both chains.
    for chain in ("PREROUTING", "OUTPUT"):
        for side in ("--dport", "--sport"):
            assert f"-A {chain} -p tcp {side} 12345 " in text
    assert len(p["rules"]) == 4


def test_notrack_without_conntrack_or_without_iptables(kernel):
    d = tp.load_profile("many-conns")
    no_iptables = tp.plan(d, kernel["root"], [12345], iptables=str(kernel["root"] / "no-such-iptables"))
    assert not no_iptables["rules"]
    assert ("net.netfilter.nf_conntrack_max", "262144", str(tp.CONNTRACK_FALLBACK)) in no_iptables["sysctls"]
    tp.sysctl_path(kernel["root"], tp.CONNTRACK_MAX_KEY).unlink()
    p = tp.plan(d, kernel["root"], [12345], kernel["iptables"])
    assert not p["rules"] and any("not loaded" in n for n in p["notes"])


def test_no_rule_where_conntrack_is_loaded_but_tracks_nothing(kernel):
    # A NOTRACK rule would register conntrack's hooks and start tracking everyone else.
    p = tp.plan(tp.load_profile("many-conns"), kernel["root"], [12345], kernel["iptables"], tracking=False)
    assert not p["rules"] and any("tracks nothing" in n for n in p["notes"])
    with tp.Applied("many-conns", [12345], root=kernel["root"], state_file=kernel["state"],
                    iptables=kernel["iptables"], quiet=True, tracking=False):
        assert rules(kernel) == [] and values(kernel["root"])["net.core.somaxconn"] == "65535"
    assert values(kernel["root"]) == original()


def test_tracking_is_found_out_on_this_machine():
    if not Path("/proc/sys/net/netfilter/nf_conntrack_max").exists():
        pytest.skip("nf_conntrack is not loaded here")
    assert tp.conntrack_tracking() in (True, False)


# --- apply and restore ----------------------------------------------------------------------------

def test_apply_then_restore(kernel):
    with applied("many-conns", kernel):
        v = values(kernel["root"])
        assert v["net.core.somaxconn"] == "65535" and v["fs.nr_open"] == "4194304"
        assert len(rules(kernel)) == 4
        state = json.loads(kernel["state"].read_text())
        assert state["pid"] == os.getpid() and ["net.core.somaxconn", "4096", "65535"] in state["sysctls"]
    assert values(kernel["root"]) == original()
    assert rules(kernel) == [] and not kernel["state"].exists()


def test_restored_after_an_error(kernel):
    with pytest.raises(ZeroDivisionError):
        with applied("density", kernel):
            assert values(kernel["root"])["net.ipv4.tcp_rmem"] == "2048 16384 33554432"
            1 / 0
    assert values(kernel["root"]) == original() and not kernel["state"].exists()


def test_default_changes_nothing(kernel):
    with applied("default", kernel):
        assert values(kernel["root"]) == original()
        assert not kernel["state"].exists()


def test_a_live_runs_state_is_not_taken_over(kernel):
    tp.write_state(kernel["state"], {"pid": os.getppid(), "profile": "x", "sysctl_root": str(kernel["root"]),
                                     "sysctls": [], "rules": []})
    with pytest.raises(tp.ProfileError, match="still going"):
        with applied("latency", kernel):
            pass
    assert values(kernel["root"]) == original()


def cli(kernel, *args, **kw):
    return [*CLI, "--sysctl-root", str(kernel["root"]), "--state-file", str(kernel["state"]), "--iptables",
            kernel["iptables"], *args]


def start_run(kernel, name="many-conns"):
    """The CLI holding `name` around a long sleep; returns once the profile is applied."""
    proc = subprocess.Popen(cli(kernel, "run", name, "--port", "12345", "--", "sleep", "60"),
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            started = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            started = []
        if started and kernel["state"].exists():  # applied, and the command is running
            return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the profile was not applied: " + proc.communicate()[1])


def kill_hard(proc):
    """SIGKILL to the CLI, and to the sleep it started (by the PIDs in its children list)."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    proc.kill()
    proc.wait()
    for pid in children:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_trap_restores_on_ctrl_c_and_sigterm(kernel, sig):
    proc = start_run(kernel)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig
    assert values(kernel["root"]) == original()
    assert rules(kernel) == [] and not kernel["state"].exists()
    assert "restored net.core.somaxconn: 65535 -> 4096" in err


def test_killed_in_the_middle_then_restore(kernel):
    proc = start_run(kernel)
    kill_hard(proc)  # SIGKILL: no trap runs
    assert values(kernel["root"])["net.core.somaxconn"] == "65535"  # left applied
    assert kernel["state"].exists()
    r = subprocess.run(cli(kernel, "restore"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "restored net.core.somaxconn: 65535 -> 4096" in r.stderr
    assert values(kernel["root"]) == original()
    assert rules(kernel) == [] and not kernel["state"].exists()


def test_killed_in_the_middle_then_the_next_run_restores_first(kernel):
    proc = start_run(kernel, "latency")
    kill_hard(proc)
    assert values(kernel["root"])["net.core.busy_poll"] == "50"
    r = subprocess.run(cli(kernel, "run", "density", "--", "true"), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "restored net.core.busy_poll: 50 -> 0" in r.stderr  # the leftover first
    assert "density: net.ipv4.tcp_rmem: 4096 131072 33554432 -> 2048 16384 33554432" in r.stderr
    assert values(kernel["root"]) == original() and not kernel["state"].exists()


def test_killed_between_recording_and_adding_a_rule(kernel):
    # The state names rules about to be added; a kill before they were is still restored.
    tp.write_state(kernel["state"], {"pid": 999999999, "profile": "many-conns", "sysctl_root": str(kernel["root"]),
                                     "iptables": kernel["iptables"], "sysctls": [["net.core.somaxconn", "4096", "65535"]],
                                     "rules": tp.notrack_rules([12345])})
    tp.write_sysctl(kernel["root"], "net.core.somaxconn", "65535")
    assert tp.restore_leftover(kernel["state"], kernel["iptables"])
    assert values(kernel["root"]) == original() and not kernel["state"].exists()


def test_refused_without_root():
    # The real /proc/sys: refused before anything is read or written.
    for args in (["run", "many-conns", "--", "true"], ["restore"]):
        r = subprocess.run(as_nobody([*CLI, "--state-file", "/tmp/ringws-tuning-test-none.json", *args]),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "run as root" in r.stderr, r.stderr
