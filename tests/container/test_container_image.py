"""ringws's container image (Containerfile, built by scripts/container.sh build): how it is
made, that it serves (/healthz, echo, chat), which backend it runs on under each seccomp
profile, that SIGTERM drains it and it exits 0, that it governs memory against the
container's limit, and that the drain watcher in the same image drains a ringws container
when its target is deregistered (moto's ELBv2).

Backends, as container runtimes refuse io_uring:
- podman's default profile answers ENOSYS for io_uring (it does not list the calls);
- a profile that answers EPERM is Docker 25's behaviour (made here from podman's profile);
- deploy/aws/allow_io_uring.py over podman's profile allows io_uring, as the CloudFormation
  template's user data does over Docker's on EC2 hosts.
"""

import asyncio
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import websockets

from container_env import ulimit_args
from rawws import OP_TEXT, RawWS, http_exchange

REPO = Path(__file__).resolve().parents[2]
PODMAN_PROFILE = Path("/usr/share/containers/seccomp.json")
IO_URING = ["io_uring_enter", "io_uring_register", "io_uring_setup"]
SERVER = ["--port", "0", "--admin-listen", "127.0.0.1:0", "--threads", "1", "--drain-seconds", "2"]
WAIT = 30


def get(port, path):
    return http_exchange("127.0.0.1", port, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def backend_info(admin_port):
    status, _, body = get(admin_port, "/metrics")
    assert status == 200
    m = re.search(r'^ringws_backend_info\{backend="([^"]*)",reason="((?:[^"\\]|\\.)*)"\} 1$', body.decode(), re.M)
    assert m, body.decode()[:2000]
    return m.group(1), m.group(2)


def echo_round_trip(port):
    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{port}/", ping_interval=None, close_timeout=5) as ws:
            await ws.send("héllo from the host")
            assert await asyncio.wait_for(ws.recv(), WAIT) == "héllo from the host"
            data = os.urandom(70000)
            await ws.send(data)
            assert await asyncio.wait_for(ws.recv(), WAIT) == data

    asyncio.run(asyncio.wait_for(go(), 2 * WAIT))


def chat_round_trip(port):
    """Two clients in one room: a message published by one reaches both (the publisher too)."""
    async def go():
        url = f"ws://127.0.0.1:{port}/ws?room=lobby"
        async with websockets.connect(url, ping_interval=None) as a, websockets.connect(url, ping_interval=None) as b:
            hello = {}
            for name, ws in (("a", a), ("b", b)):
                first = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert first["type"] == "hello", first
                hello[name] = first["id"]
                joined = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert joined["type"] == "joined" and joined["room"] == "lobby", joined
            await a.send(json.dumps({"type": "publish", "room": "lobby", "data": {"text": "hi from a container"}}))
            for ws in (a, b):
                got = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                assert got["type"] == "message" and got["room"] == "lobby", got
                assert got["from"] == hello["a"] and got["data"] == {"text": "hi from a container"}, got
                assert got["offset"] == joined["offset"] + 1 and got["epoch"] == joined["epoch"], got

    asyncio.run(asyncio.wait_for(go(), 2 * WAIT))


def podman_profile(engine):
    if engine != "podman" or not PODMAN_PROFILE.is_file():
        pytest.skip(f"needs podman's default seccomp profile at {PODMAN_PROFILE}")
    return json.loads(PODMAN_PROFILE.read_text())


def eperm_profile(engine, tmp_path):
    """podman's profile with io_uring refused with EPERM, as Docker 25's default refuses it."""
    profile = podman_profile(engine)
    profile["syscalls"] = [r for r in profile["syscalls"]] + [
        {"names": IO_URING, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
    path = tmp_path / "seccomp-eperm.json"
    path.write_text(json.dumps(profile))
    return path


def io_uring_profile(engine, tmp_path):
    podman_profile(engine)
    path = tmp_path / "seccomp-io_uring.json"
    subprocess.run(["python3", str(REPO / "deploy" / "aws" / "allow_io_uring.py"), str(PODMAN_PROFILE), str(path)],
                   check=True, timeout=60)
    return path


# --- the image ------------------------------------------------------------------------------

def test_image_is_built_as_specified(image_info):
    config = image_info.get("Config") or {}
    print(f"image size: {image_info.get('Size')} bytes")
    assert config.get("Entrypoint") == ["/usr/local/bin/ringws"], config
    user = str(config.get("User", ""))
    assert user and user.split(":")[0] not in ("", "0", "root"), f"the image must run as a non-root user: {user!r}"
    assert str(config.get("StopSignal")) in ("SIGTERM", "15"), config.get("StopSignal")
    assert "8080/tcp" in (config.get("ExposedPorts") or {}), config
    assert not config.get("Healthcheck") and not image_info.get("HealthCheck"), "no HEALTHCHECK: the ALB checks /healthz"
    assert not config.get("Cmd"), "arguments after the image name are the server's; there is no default command"


def test_runtime_libraries_only(engine, image):
    script = ("for c in gcc cc g++ c++ cmake make ld as; do command -v $c && exit 10; done; "
              "ldd /usr/local/bin/ringws | grep 'not found' && exit 11; "
              "ls /usr/include/liburing.h /usr/include/wslay 2>/dev/null && exit 12; "
              "/usr/bin/python3 -c 'import boto3' || exit 13; "
              "test -r /usr/local/lib/ringws/drain_watcher.py || exit 14; id -u")
    r = subprocess.run([engine, "run", "--rm", *ulimit_args(), "--entrypoint", "/bin/sh", image, "-c", script],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert r.stdout.strip().splitlines()[-1] != "0", "runs as root"


def test_arguments_go_to_the_server(engine, image):
    r = subprocess.run([engine, "run", "--rm", *ulimit_args(), image, "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "usage: ringws" in r.stdout + r.stderr, r.stdout + r.stderr
    r = subprocess.run([engine, "run", "--rm", *ulimit_args(), image, "--no-such-flag"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr


# --- serving, and the backend under each profile ----------------------------------------------

def test_default_profile_runs_on_epoll_and_serves(engine, containers):
    """podman's default profile: io_uring answers ENOSYS; ringws falls back to epoll, says so
    in its log and /metrics, and serves /healthz and an echo."""
    c = containers(["--app", "echo", *SERVER])
    assert c.listening["backend"] == "epoll", c.listening
    fallback = c.events("backend_fallback")
    assert len(fallback) == 1 and fallback[0]["level"] == "warn", c.logs()
    # podman's profile answers ENOSYS for the calls it does not list; Docker >= 25's, EPERM.
    assert fallback[0]["error"] == ("ENOSYS" if engine == "podman" else "EPERM"), fallback
    if fallback[0]["error"] == "ENOSYS":
        assert "seccomp" in fallback[0].get("reason", "").lower(), fallback
    assert get(c.port, "/healthz")[:3:2] == (200, b"ok\n")
    assert get(c.port, "/metrics")[0] == 404  # never on the public port
    assert backend_info(c.admin_port)[0] == "epoll"
    echo_round_trip(c.port)


def test_eperm_profile_runs_on_epoll_chat(engine, containers, tmp_path):
    """Docker 25's behaviour (EPERM): epoll, and a chat round trip."""
    c = containers(SERVER, engine_args=["--security-opt", f"seccomp={eperm_profile(engine, tmp_path)}"])
    assert c.listening["backend"] == "epoll", c.listening
    fallback = c.events("backend_fallback")
    assert [f["error"] for f in fallback] == ["EPERM"], c.logs()
    assert backend_info(c.admin_port)[0] == "epoll"
    chat_round_trip(c.port)


def test_io_uring_allowed_by_the_profile_the_template_makes(engine, containers, tmp_path):
    c = containers(["--app", "echo", *SERVER],
                   engine_args=["--security-opt", f"seccomp={io_uring_profile(engine, tmp_path)}"])
    assert c.listening["backend"] == "io_uring", c.logs()
    assert not c.events("backend_fallback"), c.logs()
    assert backend_info(c.admin_port)[0] == "io_uring"
    echo_round_trip(c.port)
    chat_c = containers(SERVER, engine_args=["--security-opt", f"seccomp={io_uring_profile(engine, tmp_path)}"])
    chat_round_trip(chat_c.port)


def test_io_uring_required_but_refused_exits_4(containers):
    c = containers(["--backend", "io_uring", *SERVER], listening=False)
    from aws_env import wait_until

    wait_until(lambda: c.state()[0] in ("exited", "stopped"), WAIT, "the container to exit")
    assert c.state()[1] == 4, c.logs()
    assert "ENOSYS" in c.logs() or "EPERM" in c.logs() or os.strerror(38) in c.logs(), c.logs()


# --- stopping, memory -----------------------------------------------------------------------------

def test_stop_drains_with_1001_and_exits_0(containers):
    c = containers(["--app", "echo", *SERVER])
    clients = [RawWS.connect("127.0.0.1", c.port) for _ in range(4)]
    clients[0].send_text("before the stop")
    assert clients[0].recv_message() == (OP_TEXT, b"before the stop")
    code = c.stop(timeout=30)  # SIGTERM (STOPSIGNAL), SIGKILL only after 30 s
    for client in clients:
        client.expect_close(1001, timeout=WAIT)
        client.close()
    assert code == 0, c.logs()
    drained = c.events("draining")
    assert drained and drained[0].get("signal") == "SIGTERM", c.logs()
    assert c.events("stopped"), c.logs()


def test_memory_limit_is_the_containers(containers):
    """The governor reads the container's cgroup limit (the task definition's memory)."""
    c = containers(SERVER, engine_args=["--memory", "256m"])
    assert int(c.listening["memory_limit"]) == 256 << 20, c.listening
    assert c.listening["memory_limit_source"].startswith("cgroup"), c.listening


# --- the drain watcher from the image, beside a ringws container ---------------------------------

def test_watcher_container_drains_the_server_container(engine, image, containers):
    """Both containers on the host's loopback, as the containers of an awsvpc task share one:
    the watcher (the image, entrypoint python3) reads moto's ELBv2 and POSTs ringws's admin
    listener when the target is deregistered."""
    import aws_env

    if aws_env.moto_python() is None or not aws_env.have_debian_boto3():
        pytest.skip("needs moto (a Python with moto >= 5) and Debian's python3-boto3 on the host")
    server = containers(["--app", "echo", *SERVER])
    moto = aws_env.MotoServer()
    try:
        ec2, elb = moto.client("ec2"), moto.client("elbv2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        tg = elb.create_target_group(Name=f"ringws-{uuid.uuid4().hex[:12]}", Protocol="HTTP", Port=8080, VpcId=vpc,
                                     TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": "10.0.1.23", "Port": 8080}])
        env = {"RINGWS_TARGET_GROUP_ARN": tg, "RINGWS_TARGET_ID": "10.0.1.23", "RINGWS_TARGET_PORT": "8080",
               "RINGWS_ADMIN_URL": f"http://127.0.0.1:{server.admin_port}", "RINGWS_POLL_SECONDS": "0.5",
               "RINGWS_ELBV2_ENDPOINT": moto.url, **aws_env.FAKE_KEYS}
        engine_args = [x for k, v in env.items() for x in ("-e", f"{k}={v}")]
        watcher = containers(["/usr/local/lib/ringws/drain_watcher.py"], engine_args=engine_args,
                             entrypoint="/usr/bin/python3", listening=False)
        aws_env.wait_until(lambda: any(e.get("state") == "healthy" for e in watcher.events("target_state")), 2 * WAIT,
                           "the watcher to read the target healthy")
        clients = [RawWS.connect("127.0.0.1", server.port) for _ in range(3)]
        elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": "10.0.1.23", "Port": 8080}])
        aws_env.wait_until(lambda: watcher.events("drain_requested"), 2 * WAIT, "the watcher's drain request")
        for client in clients:
            client.expect_close(1001, timeout=WAIT)
            client.close()
        assert get(server.port, "/healthz")[0] == 503
        assert server.state()[0] == "running"
        assert watcher.stop(timeout=20) == 0, watcher.logs()
        assert server.stop(timeout=30) == 0, server.logs()
    finally:
        moto.stop()
