"""Runs moto's server mode (all services) on 127.0.0.1 and a free port, for the tests in this
folder: `PYTHON_WITH_MOTO moto_server.py` prints `MOTO_READY port=N` once it listens and
serves until SIGTERM/SIGINT or until its stdin closes (so it never outlives the test run).
Runs under a Python that has moto 5 (tests/deploy/aws_env.py finds one), not Debian's."""

import signal
import sys
import threading

from moto.server import ThreadedMotoServer


def main():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"MOTO_READY port={port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
