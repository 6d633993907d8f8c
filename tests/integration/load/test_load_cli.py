"""ringws-load refuses bad arguments with a clear message and exit code 2."""

import subprocess

import load_servers as ls


def run(*args):
    return subprocess.run([str(ls.load_bin()), *args], capture_output=True, text=True, timeout=30)


def test_help():
    p = run("--help")
    assert p.returncode == 0
    assert "broadcast" in p.stdout and "--source-ips" in p.stdout


def test_bad_arguments():
    for args, mentions in [
        ((), "MODE"),
        (("idle", "--url", "http://127.0.0.1:1/"), "ws://"),
        (("idle", "--url", "ws://no-such-host.invalid/"), "cannot resolve"),
        (("echo", "--url", "ws://127.0.0.1:1/", "--size", "abc"), "--size"),
        (("idle", "--url", "ws://127.0.0.1:1/", "--connections", "50000"), "--workers"),
    ]:
        p = run(*args)
        assert p.returncode == 2, (args, p.stderr)
        assert mentions in p.stderr, (args, p.stderr)
        assert "Sanitizer" not in p.stderr
