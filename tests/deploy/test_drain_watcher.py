"""The drain watcher (deploy/aws/drain_watcher.py) against moto's ELBv2 in server mode, with a
real ringws: when the task's own target is deregistered, ringws drains (close 1001 to every
client) and keeps running until SIGTERM; the watcher logs each state it sees; lost AWS
credentials or a lost endpoint are logged and retried and never touch the server.

What moto 5.2 models, and so what these tests use:
- DeregisterTargets removes a target at once: DescribeTargetHealth answers `unused`
  (Target.NotRegistered) with no `draining` in between. The watcher treats "not registered
  after having been registered" as a deregistration too, and test_deregistered_ip_target_drains
  drives exactly the awsvpc flow (an `ip` target found through the task metadata endpoint).
- `draining` (Target.DeregistrationInProgress) is what moto answers for an `instance` target
  whose EC2 instance was terminated: test_draining_state_drains uses it, so the `draining`
  path is exercised against moto itself, not a stand-in.
The watcher's code path is the real one in both: boto3's elbv2 client, only its endpoint URL
pointed at moto.
"""

import importlib.util
import uuid

import pytest

import aws_env
from aws_env import JsonStub, Relay, WatcherProcess, container_credentials, task_metadata, wait_until
from rawws import OP_TEXT, RawWS, http_exchange

TASK_IP = "10.0.1.23"
PORT = 8080
METADATA_PATH = "/v4/0123/task"
WAIT = 60  # s: an upper bound for each awaited event, never a timing assertion


def load_watcher_module():
    spec = importlib.util.spec_from_file_location("drain_watcher", aws_env.WATCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the watcher's decisions, on their own ---------------------------------------------------

def test_tracker_drains_on_draining_and_on_deregistered_after_registered():
    w = load_watcher_module()
    t = w.Tracker()
    # Starting: ECS has not registered the task yet; never a drain.
    assert t.observe("unavailable", "Target.NotRegistered") == (True, False)
    assert t.observe("unused", "Target.NotRegistered") == (True, False)
    assert t.observe("initial", "Elb.RegistrationInProgress") == (True, False)
    assert t.observe("healthy", "") == (True, False)
    assert t.observe("healthy", "") == (False, False)
    # The ALB's deregistration: draining, then (connections gone) not registered.
    assert t.observe("draining", "Target.DeregistrationInProgress") == (True, True)
    assert t.observe("unused", "Target.NotRegistered") == (True, True)

    t = w.Tracker()
    t.observe("healthy", "")
    assert t.observe("unused", "Target.NotRegistered") == (True, True)  # between two polls
    t = w.Tracker()
    assert t.observe("unhealthy.draining", "Target.DeregistrationInProgress")[1]
    t = w.Tracker()
    t.observe("unhealthy", "Target.ResponseCodeMismatch")
    assert t.observe("unused", "Target.NotInUse") == (True, False)  # registered, AZ not enabled


def test_task_ip_region_and_backoff():
    w = load_watcher_module()
    assert w.task_ipv4(task_metadata(TASK_IP)) == TASK_IP
    assert w.task_ipv4({"Containers": [{"Networks": [{"NetworkMode": "host"}]}]}) is None
    assert w.region_from_arn("arn:aws:elasticloadbalancing:eu-west-3:123456789012:targetgroup/r/0f") == "eu-west-3"
    assert w.region_from_arn("nonsense") is None
    assert [w.backoff(5, n) for n in range(6)] == [5, 10, 20, 40, 60, 60]
    assert w.backoff(0.2, 10, cap=1) == 1


def test_no_target_group_is_a_configuration_error(debian_boto3):
    p = WatcherProcess({})
    try:
        assert p.proc.wait(30) == 2
        assert "RINGWS_TARGET_GROUP_ARN" in p.text()
    finally:
        p.stop()
        p.cleanup()


# --- against moto's server, with ringws ---------------------------------------------------

def ip_target_group(moto):
    ec2, elb = moto.client("ec2"), moto.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    tg = elb.create_target_group(Name=f"ringws-{uuid.uuid4().hex[:12]}", Protocol="HTTP", Port=PORT, VpcId=vpc,
                                 TargetType="ip", HealthCheckPath="/healthz")
    return tg["TargetGroups"][0]["TargetGroupArn"]


def watcher_env(server, tg_arn, endpoint, **extra):
    env = {"RINGWS_TARGET_GROUP_ARN": tg_arn, "RINGWS_TARGET_PORT": str(PORT),
           "RINGWS_ADMIN_URL": f"http://127.0.0.1:{server.admin_port}", "RINGWS_POLL_SECONDS": "0.2",
           "RINGWS_MAX_BACKOFF_SECONDS": "1", "RINGWS_ELBV2_ENDPOINT": endpoint}
    env.update(extra)
    return env


def states(watcher):
    return [(e["state"], e.get("reason", "")) for e in watcher.events("target_state")]


def healthz(server):
    return http_exchange(server.host, server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")[0]


def echo(client, text):
    client.send_text(text)
    assert client.recv_message() == (OP_TEXT, text.encode())


def server_events(server, name):
    return [e for e in server.stdout_events() if e.get("event") == name]


@pytest.fixture
def stubs():
    made = []

    def make(documents):
        s = JsonStub(documents)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def watchers():
    made = []

    def make(env):
        w = WatcherProcess(env)
        made.append(w)
        return w

    yield make
    for w in made:
        code = w.stop()
        if code != 0:
            print(w.text())
        w.cleanup()
        assert code == 0, f"the watcher exited {code} on SIGTERM"


def expect_drained(server, clients, watcher):
    """Every client gets 1001, ringws says it drained on request and keeps running (503 on
    /healthz), and the watcher logged its request."""
    for c in clients:
        c.expect_close(1001, timeout=WAIT)
        c.close()
    assert healthz(server) == 503
    assert server.alive(), "ringws must keep running after the drain until SIGTERM"
    assert any(e.get("first") is True for e in server_events(server, "drain_requested")), server.stdout()
    assert any(e.get("exit") is False for e in server_events(server, "draining")), server.stdout()
    requested = watcher.events("drain_requested")
    assert len(requested) == 1 and requested[0]["status"] == 202, watcher.text()


def test_deregistered_ip_target_drains(moto, ringws, stubs, watchers):
    server = ringws(app="echo", drain_seconds=1)
    tg = ip_target_group(moto)
    elb = moto.client("elbv2")
    metadata = stubs({METADATA_PATH: lambda: task_metadata(TASK_IP)})
    w = watchers(watcher_env(server, tg, moto.url, ECS_CONTAINER_METADATA_URI_V4=metadata.url + METADATA_PATH.rsplit("/", 1)[0],
                             **aws_env.FAKE_KEYS))
    # Before ECS registers the task: moto answers unavailable/Target.NotRegistered; no drain.
    wait_until(lambda: states(w), WAIT, "the watcher's first reading")
    assert w.events("target")[0]["id"] == TASK_IP
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
    wait_until(lambda: ("healthy", "") in states(w), WAIT, "the target to read healthy")
    clients = [RawWS.connect(server.host, server.port) for _ in range(5)]
    echo(clients[0], "before the deregistration")
    assert not w.events("drain_requested") and healthz(server) == 200

    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
    wait_until(lambda: w.events("drain_requested"), WAIT, "the watcher's drain request")
    expect_drained(server, clients, w)
    seen = states(w)
    assert seen.index(("healthy", "")) < seen.index(("unused", "Target.NotRegistered")), seen
    assert seen[0][1] == "Target.NotRegistered" and seen[0][0] in ("unavailable", "unused"), seen
    assert w.alive()


def test_draining_state_drains(moto, ringws, watchers):
    """moto's `draining`: an instance target whose instance is terminated."""
    server = ringws(app="echo", drain_seconds=1)
    ec2, elb = moto.client("ec2"), moto.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    tg = elb.create_target_group(Name=f"ringws-{uuid.uuid4().hex[:12]}", Protocol="HTTP", Port=PORT, VpcId=vpc,
                                 TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance, "Port": PORT}])
    w = watchers(watcher_env(server, tg, moto.url, RINGWS_TARGET_ID=instance, **aws_env.FAKE_KEYS))
    wait_until(lambda: ("healthy", "") in states(w), WAIT, "the target to read healthy")
    clients = [RawWS.connect(server.host, server.port) for _ in range(5)]
    echo(clients[-1], "still serving")

    ec2.terminate_instances(InstanceIds=[instance])
    wait_until(lambda: w.events("drain_requested"), WAIT, "the watcher's drain request")
    expect_drained(server, clients, w)
    assert ("draining", "Target.DeregistrationInProgress") in states(w), states(w)


def test_lost_endpoint_is_logged_and_retried(moto, ringws, stubs, watchers):
    server = ringws(app="echo", drain_seconds=1)
    tg = ip_target_group(moto)
    elb = moto.client("elbv2")
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
    relay = Relay(moto.port)
    # The metadata endpoint fails at first too: logged and retried.
    metadata = stubs({METADATA_PATH: lambda: task_metadata(TASK_IP)})
    metadata.failing.set()
    w = watchers(watcher_env(server, tg, relay.url, ECS_CONTAINER_METADATA_URI_V4=metadata.url + METADATA_PATH.rsplit("/", 1)[0],
                             **aws_env.FAKE_KEYS))
    try:
        wait_until(lambda: len(w.events("metadata_error")) >= 2, WAIT, "metadata errors")
        metadata.failing.clear()
        wait_until(lambda: ("healthy", "") in states(w), WAIT, "the target to read healthy")
        clients = [RawWS.connect(server.host, server.port) for _ in range(3)]

        relay.cut()
        wait_until(lambda: len(w.events("aws_error")) >= 3, WAIT, "the watcher to log failed polls")
        errors = w.events("aws_error")
        assert all(e["retry_in_s"] > 0 and e["error"] for e in errors), errors
        # The server is untouched: serving, not draining, its clients open.
        assert w.alive() and server.alive()
        assert healthz(server) == 200
        for c in clients:
            echo(c, "the endpoint is gone, the server is not")
        assert not w.events("drain_requested") and not server_events(server, "drain_requested")

        relay.restore()
        wait_until(lambda: w.events("aws_recovered"), WAIT, "the watcher to recover")
        elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
        wait_until(lambda: w.events("drain_requested"), WAIT, "the watcher's drain request")
        expect_drained(server, clients, w)
    finally:
        relay.cut()


def test_lost_credentials_are_logged_and_retried(moto, ringws, stubs, watchers):
    server = ringws(app="echo", drain_seconds=1)
    tg = ip_target_group(moto)
    elb = moto.client("elbv2")
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
    # The ECS agent's credentials endpoint for the task role (no keys in the environment).
    creds = stubs({"/creds": container_credentials})
    w = watchers(watcher_env(server, tg, moto.url, RINGWS_TARGET_ID=TASK_IP,
                             AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.url + "/creds"))
    wait_until(lambda: ("healthy", "") in states(w), WAIT, "the target to read healthy")
    clients = [RawWS.connect(server.host, server.port) for _ in range(3)]

    creds.failing.set()
    wait_until(lambda: len(w.events("aws_error")) >= 3, WAIT, "the watcher to log credential errors")
    names = {e["error"] for e in w.events("aws_error")}
    assert names & {"CredentialRetrievalError", "NoCredentialsError"}, names
    assert w.alive() and server.alive() and healthz(server) == 200
    for c in clients:
        echo(c, "no credentials, still serving")
    assert not w.events("drain_requested")

    creds.failing.clear()
    wait_until(lambda: w.events("aws_recovered"), WAIT, "the watcher to recover")
    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
    wait_until(lambda: w.events("drain_requested"), WAIT, "the watcher's drain request")
    expect_drained(server, clients, w)


def test_drain_request_retried_until_ringws_answers(moto, ringws, watchers):
    """The admin listener not answering yet (ringws restarting, or slow to start) is retried."""
    server = ringws(app="echo", drain_seconds=1)
    tg = ip_target_group(moto)
    elb = moto.client("elbv2")
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
    relay = Relay(server.admin_port)
    env = watcher_env(server, tg, moto.url, RINGWS_TARGET_ID=TASK_IP, **aws_env.FAKE_KEYS)
    env["RINGWS_ADMIN_URL"] = relay.url
    w = watchers(env)
    try:
        wait_until(lambda: ("healthy", "") in states(w), WAIT, "the target to read healthy")
        client = RawWS.connect(server.host, server.port)
        relay.cut()
        elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": TASK_IP, "Port": PORT}])
        wait_until(lambda: len(w.events("drain_request_failed")) >= 2, WAIT, "failed drain requests")
        assert healthz(server) == 200
        relay.restore()
        wait_until(lambda: w.events("drain_requested"), WAIT, "the watcher's drain request")
        expect_drained(server, [client], w)
    finally:
        relay.cut()
