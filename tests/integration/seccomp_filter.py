"""tests/tools/seccomp_exec.py as a command prefix for tests: a process that is refused
io_uring the way a container runtime refuses it."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "tests" / "tools" / "seccomp_exec.py"
# Debian's interpreter: python3-seccomp is installed for it, not for the python3 on PATH.
PYTHON = "/usr/bin/python3"
IO_URING_CALLS = ("io_uring_setup", "io_uring_enter", "io_uring_register")


def wrapper(errno_name, deny=IO_URING_CALLS):
    """The prefix that runs a command with `deny` answering errno_name (EPERM, ENOSYS)."""
    return [PYTHON, str(LAUNCHER), "--deny", ",".join(deny), "--errno", errno_name, "--"]


def unavailable_reason():
    """Why the launcher cannot run here, or None."""
    if not Path(PYTHON).is_file():
        return f"{PYTHON} not found"
    r = subprocess.run([PYTHON, "-c", "import seccomp"], capture_output=True, text=True)
    if r.returncode != 0:
        return "python3-seccomp is not installed (scripts/install-deps.sh installs it)"
    return None
