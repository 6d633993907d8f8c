"""Kernel profiles for the tuning runs (scripts/tuning/profiles/NAME): record the old values,
apply the profile's, restore the old ones on every way out.

A profile file holds one directive a line ('#' starts a comment):

  sysctl KEY = VALUE      set KEY (dotted, as sysctl(8) names it) to VALUE; a field written
                          '_' keeps the current field ("sysctl net.ipv4.tcp_rmem = 1024 8192 _")
  sysctl KEY >= VALUE     raise KEY to VALUE if it is lower; never lower it
  notrack                 where connections are tracked (nf_conntrack loaded and in use in this
                          network namespace): raw-table NOTRACK rules for the server's port(s),
                          both directions (--dport and --sport) in both chains (PREROUTING and
                          OUTPUT), so that its connections take no conntrack entry; without
                          iptables, nf_conntrack_max is raised instead. Where nf_conntrack is
                          loaded but tracks nothing, no rule is added (one would turn tracking
                          on for every other connection)

A profile is applied for the life of a `with Applied(...)` block (scripts/lib/tuning.py
applies one per cell and run). Before it changes anything it writes a state file
(default /run/ringws-tuning/state.json) with every old value and every rule it is about to
add; the block's exit restores them and removes the file, and SIGINT, SIGTERM and SIGHUP are
turned into exceptions (a trap) so that they leave through the block too. A run killed with
SIGKILL leaves the state file: the next application restores from it first (if the process
that wrote it is gone), and so does `scripts/tuning.sh --restore` or
`python3 scripts/lib/tuning_profile.py restore`. Every change is printed.

Only root may apply or restore a profile on the real /proc/sys. Tests point --sysctl-root at a
directory tree shaped like /proc/sys and --iptables at a fake command.

CLI (for tests, and to hold a profile around any command):
  tuning_profile.py show NAME                   what NAME would change, from the current values
  tuning_profile.py run NAME [--port P]... -- CMD ARGS   apply, run CMD, restore
  tuning_profile.py restore                     restore what a killed run left applied
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PROFILE_DIR = Path(__file__).resolve().parents[1] / "tuning" / "profiles"
STATE_FILE = Path("/run/ringws-tuning/state.json")
CONNTRACK_MAX_KEY = "net.netfilter.nf_conntrack_max"
CONNTRACK_FALLBACK = 2097152  # nf_conntrack_max when the port cannot be exempted (no iptables)
RULE_COMMENT = "ringws-tuning"


class ProfileError(Exception):
    pass


class Interrupted(BaseException):
    """Raised by the signal trap, so that `finally` blocks run on SIGINT, SIGTERM, SIGHUP."""

    def __init__(self, signum):
        super().__init__(f"signal {signum}")
        self.signum = signum


def say(msg):
    print(f"profile: {msg}", file=sys.stderr, flush=True)


# --- profile files ----------------------------------------------------------------------------

_LINE = re.compile(r"^sysctl\s+([A-Za-z0-9_.\-/]+)\s*(>=|=)\s*(.+?)\s*$")


def parse_profile(text, name="profile"):
    """A profile's text -> [{"kind": "sysctl", "key", "op", "value"} | {"kind": "notrack"}]."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line == "notrack":
            out.append({"kind": "notrack"})
            continue
        m = _LINE.match(line)
        if not m:
            raise ProfileError(f"{name}:{n}: cannot read {raw.strip()!r} (want 'sysctl KEY = VALUE', "
                               f"'sysctl KEY >= VALUE' or 'notrack')")
        key, op, value = m.groups()
        if op == ">=" and not re.fullmatch(r"\d+", value):
            raise ProfileError(f"{name}:{n}: '>=' takes one integer, got {value!r}")
        out.append({"kind": "sysctl", "key": key, "op": op, "value": " ".join(value.split())})
    return out


def profile_names(directory=PROFILE_DIR):
    return sorted(p.name for p in Path(directory).iterdir() if p.is_file() and not p.name.startswith("."))


def load_profile(name, directory=PROFILE_DIR):
    path = Path(directory) / name
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not path.is_file():
        raise ProfileError(f"no profile {name!r} in {directory} (have: {', '.join(profile_names(directory))})")
    return parse_profile(path.read_text(), name)


# --- sysctls -----------------------------------------------------------------------------------

def sysctl_path(root, key):
    return Path(root) / key.replace(".", "/")


def read_sysctl(root, key):
    return " ".join(sysctl_path(root, key).read_text().split())


def write_sysctl(root, key, value):
    sysctl_path(root, key).write_text(value + "\n")


def target_value(current, directive):
    """What a sysctl directive sets, given the current value; None: leave it as it is."""
    if directive["op"] == ">=":
        return directive["value"] if int(current.split()[0]) < int(directive["value"]) else None
    want = directive["value"].split()
    have = current.split()
    if "_" in want:
        if len(want) != len(have):
            raise ProfileError(f"{directive['key']}: {len(want)} fields for a value of {len(have)} ({current!r})")
        want = [h if w == "_" else w for w, h in zip(want, have)]
    value = " ".join(want)
    return None if value == current else value


def conntrack_loaded(root):
    return sysctl_path(root, CONNTRACK_MAX_KEY).exists()


def conntrack_tracking():
    """Whether a new loopback connection in this network namespace gets a conntrack entry.
    nf_conntrack can be loaded and still track nothing: its hooks are registered in a
    namespace only once a rule there needs them (NAT, a state match, a CT target). One
    connection to a listener of our own, looked up in /proc/net/nf_conntrack (or, without that
    file, seen as a growth of nf_conntrack_count)."""
    import socket
    listing = Path("/proc/net/nf_conntrack")
    count = Path("/proc/sys/net/netfilter/nf_conntrack_count")
    before = int(count.read_text()) if count.exists() else 0
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            a, _ = srv.accept()
            with a:
                try:
                    needle = f"dport={port} "
                    with open(listing) as f:
                        return any(needle in line for line in f)
                except OSError:  # no listing, or not root: the count, which others' connections also move
                    return count.exists() and int(count.read_text()) > before


def notrack_rules(ports):
    """The raw-table rules for `ports`: both directions, both chains."""
    rules = []
    for port in ports:
        for chain in ("PREROUTING", "OUTPUT"):
            for side in ("--dport", "--sport"):
                rules.append([chain, "-p", "tcp", side, str(port), "-m", "comment", "--comment", RULE_COMMENT,
                              "-j", "NOTRACK"])
    return rules


# --- the plan ------------------------------------------------------------------------------------

def plan(directives, root="/proc/sys", ports=(), iptables="iptables", tracking=None):
    """What applying `directives` would do now: {"sysctls": [(key, old, new)], "rules": [rule],
    "notes": [text]}. Reads, changes nothing. `tracking`: whether connections are tracked in
    this network namespace (None: find out, on the real /proc/sys; assumed on a test tree)."""
    out = {"sysctls": [], "rules": [], "notes": []}
    seen = set()
    for d in directives:
        if d["kind"] == "sysctl":
            if not sysctl_path(root, d["key"]).exists():
                out["notes"].append(f"{d['key']}: not on this kernel, left out")
                continue
            old = read_sysctl(root, d["key"])
            new = target_value(old, d)
            if d["key"] in seen:
                raise ProfileError(f"{d['key']} is set twice")
            seen.add(d["key"])
            if new is None:
                out["notes"].append(f"{d['key']}: already {old}")
            else:
                out["sysctls"].append((d["key"], old, new))
        elif d["kind"] == "notrack":
            if tracking is None:
                tracking = conntrack_tracking() if Path(root).resolve() == Path("/proc/sys") else True
            if not conntrack_loaded(root):
                out["notes"].append("nf_conntrack is not loaded: no connection tracking to exempt")
            elif not tracking:
                # A NOTRACK rule would itself turn tracking on for every other connection in
                # the namespace (the CT target registers conntrack's hooks), and cost its rule
                # walk on every packet: measured here, +23% kernel CPU per broadcast frame.
                out["notes"].append("nf_conntrack is loaded but tracks nothing in this network namespace (no rule "
                                    "uses it): nothing to exempt, no rule added")
            elif not ports:
                out["notes"].append("notrack: no server port given, nothing exempted")
            elif iptables and shutil.which(iptables):
                out["rules"] += notrack_rules(ports)
            else:
                old = read_sysctl(root, CONNTRACK_MAX_KEY)
                if int(old) < CONNTRACK_FALLBACK and CONNTRACK_MAX_KEY not in seen:
                    out["sysctls"].append((CONNTRACK_MAX_KEY, old, str(CONNTRACK_FALLBACK)))
                    seen.add(CONNTRACK_MAX_KEY)
                out["notes"].append(f"no {iptables}: raising {CONNTRACK_MAX_KEY} instead of exempting the port")
    return out


def describe(p):
    lines = [f"sysctl {k}: {old} -> {new}" for k, old, new in p["sysctls"]]
    lines += ["iptables -t raw -A " + " ".join(r) for r in p["rules"]]
    return lines + p["notes"]


# --- state file ------------------------------------------------------------------------------------

def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_state(path, state):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def restore_state(state, iptables="iptables", check_owner=True):
    """Puts back what `state` recorded: every sysctl to its old value, every rule removed.
    Returns the number of problems (each printed); goes on past them."""
    problems = 0
    root = state["sysctl_root"]
    for key, old, new in reversed(state["sysctls"]):
        try:
            now = read_sysctl(root, key)
            if now != old:
                write_sysctl(root, key, old)
                say(f"restored {key}: {now} -> {old}" + ("" if now == new else f" (it was {now}, not the {new} we set)"))
        except OSError as e:
            problems += 1
            say(f"could not restore {key} to {old}: {e}")
    for rule in reversed(state["rules"]):
        r = subprocess.run([state.get("iptables") or iptables, "-t", "raw", "-D", *rule], capture_output=True,
                           text=True)
        if r.returncode == 0:
            say("removed iptables -t raw " + " ".join(rule))
        elif "does a matching rule exist" in r.stderr or "Bad rule" in r.stderr or "No chain" in r.stderr:
            pass  # never added: the run was killed between recording it and adding it
        else:
            problems += 1
            say(f"could not remove iptables -t raw {' '.join(rule)}: {r.stderr.strip()}")
    return problems


def restore_leftover(state_file=STATE_FILE, iptables="iptables", force=False):
    """Restores what a run that is gone left applied. Returns True if there was something.
    Refuses (ProfileError) while the run that wrote it is alive, unless `force`."""
    path = Path(state_file)
    if not path.exists():
        return False
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ProfileError(f"{path} cannot be read ({e}): look at it and remove it by hand")
    if state.get("pid") and pid_alive(state["pid"]) and state["pid"] != os.getpid() and not force:
        raise ProfileError(f"profile {state.get('profile')!r} is applied by a run that is still going (pid "
                           f"{state['pid']}); its state is in {path}")
    say(f"restoring what profile {state.get('profile')!r} (pid {state.get('pid')}, {state.get('started')}) left "
        f"applied, from {path}")
    if restore_state(state, iptables):
        raise ProfileError(f"some of {path} could not be restored: the file is kept")
    path.unlink()
    return True


# --- applying ---------------------------------------------------------------------------------------

def require_root(root):
    if Path(root).resolve() == Path("/proc/sys") and os.geteuid() != 0:
        raise ProfileError("kernel profiles change system-wide settings: run as root")


class Applied:
    """`with Applied(name, ports=[...]):` the profile holds inside the block only."""

    def __init__(self, name, ports=(), root="/proc/sys", state_file=STATE_FILE, iptables="iptables",
                 directory=PROFILE_DIR, quiet=False, tracking=None):
        self.name, self.ports, self.root, self.tracking = name, list(ports), root, tracking
        self.state_file, self.iptables, self.quiet = Path(state_file), iptables, quiet
        self.directives = load_profile(name, directory)
        self.state = None

    def __enter__(self):
        require_root(self.root)
        restore_leftover(self.state_file, self.iptables)
        p = plan(self.directives, self.root, self.ports, self.iptables, self.tracking)
        if not p["sysctls"] and not p["rules"]:
            if p["notes"] and not self.quiet:
                say(f"{self.name}: nothing to change ({'; '.join(p['notes'])})")
            return self
        # Everything that is about to change is on disk before the first change.
        self.state = {"pid": os.getpid(), "profile": self.name, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                      "sysctl_root": str(self.root), "iptables": self.iptables, "sysctls": [], "rules": []}
        self.state["sysctls"] = [list(s) for s in p["sysctls"]]
        self.state["rules"] = p["rules"]
        write_state(self.state_file, self.state)
        try:
            for key, old, new in p["sysctls"]:
                write_sysctl(self.root, key, new)
                say(f"{self.name}: {key}: {old} -> {read_sysctl(self.root, key)}")
            for rule in p["rules"]:
                subprocess.run([self.iptables, "-t", "raw", "-A", *rule], check=True, capture_output=True, text=True)
                say(f"{self.name}: iptables -t raw -A {' '.join(rule)}")
            for note in p["notes"]:
                say(f"{self.name}: {note}")
        except BaseException:
            self.restore()
            raise
        return self

    def restore(self):
        if self.state is None:
            return
        problems = restore_state(self.state, self.iptables)
        if problems:
            say(f"{problems} setting(s) not restored: {self.state_file} is kept for --restore")
        else:
            try:
                self.state_file.unlink()
            except FileNotFoundError:
                pass
        self.state = None

    def __exit__(self, *exc):
        self.restore()
        return False


class trap_signals:
    """`with trap_signals():` SIGINT, SIGTERM and SIGHUP raise Interrupted inside the block (so
    profiles are restored on the way out); the old handlers come back after it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.old = {s: signal.getsignal(s) for s in self.SIGNALS}

        def handler(signum, frame):
            raise Interrupted(signum)
        for s in self.SIGNALS:
            signal.signal(s, handler)
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)
        return False


# --- CLI ------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(prog="tuning_profile.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sysctl-root", default="/proc/sys", help=argparse.SUPPRESS)
    ap.add_argument("--state-file", default=str(STATE_FILE), help="where the old values are kept while applied")
    ap.add_argument("--iptables", default="iptables", help=argparse.SUPPRESS)
    ap.add_argument("--profiles", default=str(PROFILE_DIR), help=argparse.SUPPRESS)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("show")
    s.add_argument("name")
    s.add_argument("--port", type=int, action="append", default=[])
    r = sub.add_parser("run")
    r.add_argument("name")
    r.add_argument("--port", type=int, action="append", default=[])
    sub.add_parser("restore")
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    try:
        if args.cmd == "show":
            p = plan(load_profile(args.name, args.profiles), args.sysctl_root, args.port, args.iptables)
            print("\n".join(describe(p)) or f"{args.name}: nothing to change")
            return 0
        require_root(args.sysctl_root)
        if args.cmd == "restore":
            if not restore_leftover(args.state_file, args.iptables):
                say(f"nothing to restore ({args.state_file} does not exist)")
            return 0
        if not cmd:
            ap.error("run: give a command after --")
        with trap_signals():
            with Applied(args.name, args.port, args.sysctl_root, args.state_file, args.iptables, args.profiles):
                child = subprocess.Popen(cmd)
                try:
                    return child.wait()
                finally:
                    if child.poll() is None:
                        child.terminate()
                        try:
                            child.wait(10)
                        except subprocess.TimeoutExpired:
                            child.kill()
                            child.wait()
    except ProfileError as e:
        say(str(e))
        return 2
    except Interrupted as e:
        say(f"interrupted ({e}); restored")
        return 128 + e.signum


if __name__ == "__main__":
    sys.exit(main())
