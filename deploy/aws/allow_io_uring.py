#!/usr/bin/env python3
"""Allows io_uring in a container seccomp profile (Docker's or podman's JSON format).

Docker 25 and later leave io_uring_setup, io_uring_enter and io_uring_register out of their
default profile, so containers get EPERM for them (podman's profile: ENOSYS) and ringws runs
on its epoll backend. ECS task definitions cannot choose a seccomp profile, but an EC2 host's
Docker daemon can (/etc/docker/daemon.json "seccomp-profile"). The CloudFormation template's
user data fetches the default profile of the Docker version installed on the instance, runs
this script over it, and makes the result the daemon's default, so that every container on
the host keeps the rest of Docker's default profile and gains io_uring.

    allow_io_uring.py IN.json OUT.json      (- for stdin or stdout)

The three calls are removed from any rule that does not allow them, and one rule allowing
them is added. Python 3.6 or later, standard library only (Amazon Linux 2023's python3).
Exit status: 0, or 1 when IN is not a seccomp profile.
"""

import json
import sys

IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
ALLOW = "SCMP_ACT_ALLOW"


def allow_io_uring(profile):
    if not isinstance(profile, dict) or "defaultAction" not in profile or not isinstance(profile.get("syscalls"), list):
        raise ValueError("not a seccomp profile (no defaultAction or syscalls)")
    kept = []
    for rule in profile["syscalls"]:
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        if rule.get("action") != ALLOW and any(n in IO_URING for n in names):
            names = [n for n in names if n not in IO_URING]
            if not names:
                continue
            rule = dict(rule, names=names)
            rule.pop("name", None)
        kept.append(rule)
    kept.append({"names": list(IO_URING), "action": ALLOW, "comment": "io_uring for ringws (deploy/aws/allow_io_uring.py)"})
    out = dict(profile)
    out["syscalls"] = kept
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "usage: allow_io_uring.py IN.json OUT.json\n")
        return 2
    src, dst = argv
    try:
        profile = json.load(sys.stdin if src == "-" else open(src))
        result = allow_io_uring(profile)
    except (OSError, ValueError) as e:
        sys.stderr.write("allow_io_uring: %s: %s\n" % (src, e))
        return 1
    text = json.dumps(result, indent=1) + "\n"
    if dst == "-":
        sys.stdout.write(text)
    else:
        with open(dst, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
