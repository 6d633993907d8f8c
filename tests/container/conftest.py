"""Fixtures for the container tests: the engine (podman or docker), the image under test
($RINGWS_IMAGE, default ringws:latest; scripts/container.sh test sets both), and containers
run on the host's network, removed by ID when a test ends.

scripts/container.sh build makes the image; these tests never build it themselves, and fail
(not skip) when it is missing, since "the image builds" is the first thing they check."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent / "deploy"))
sys.path.insert(2, str(HERE.parent / "integration"))

from container_env import Container, engine_name  # noqa: E402


@pytest.fixture(scope="session")
def engine():
    name = engine_name()
    if name is None or shutil.which(name) is None:
        pytest.fail("neither podman nor docker is installed: run scripts/container.sh build", pytrace=False)
    return name


@pytest.fixture(scope="session")
def image(engine):
    name = os.environ.get("RINGWS_IMAGE", "ringws:latest")
    r = subprocess.run([engine, "image", "inspect", name], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.fail(f"no image {name}: build it with scripts/container.sh build (--debootstrap where no registry "
                    f"is reachable)", pytrace=False)
    return name


@pytest.fixture(scope="session")
def image_info(engine, image):
    r = subprocess.run([engine, "image", "inspect", image], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(r.stdout)[0]


@pytest.fixture
def containers(engine, image, request):
    """containers(args, engine_args=(), entrypoint=None) -> a started Container; each is
    removed by ID afterwards, its logs printed when the test failed."""
    made = []

    def start(args=(), engine_args=(), entrypoint=None, listening=True):
        c = Container(engine, image, args, engine_args, entrypoint)
        made.append(c)
        return c.wait_listening() if listening else c

    yield start
    for c in made:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"--- logs of {c.id[:12]} ({' '.join(c.cmd)}):\n{c.logs()}")
        c.remove()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.rep_call = rep
