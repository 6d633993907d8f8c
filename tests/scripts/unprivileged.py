"""Runs a repository script as the user nobody, for the tests that check that a script refuses
to run without root. The checkout may sit in a folder nobody cannot enter (`mktemp -d` makes
0700 folders; CI clones into one), so nobody runs a world-readable copy of scripts/."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_copy = None


def _scripts_copy():
    global _copy
    if _copy is None:
        root = Path(tempfile.mkdtemp(prefix="ringws-nobody-"))
        atexit.register(shutil.rmtree, root, True)
        os.chmod(root, 0o755)
        shutil.copytree(REPO / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
        _copy = root
    return _copy


def as_nobody(cmd):
    """`cmd` as nobody (when run as root), with paths into scripts/ pointing at the copy."""
    if os.geteuid() != 0:
        return cmd
    if not shutil.which("runuser"):
        pytest.skip("root without runuser: cannot drop privileges")
    scripts = REPO / "scripts"
    out = []
    for arg in cmd:
        p = Path(arg)
        out.append(str(_scripts_copy() / p.relative_to(REPO)) if p.is_absolute() and p.is_relative_to(scripts) else arg)
    return ["runuser", "-u", "nobody", "--", *out]
