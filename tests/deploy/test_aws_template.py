"""deploy/aws/ringws.yaml, the CloudFormation stack: linted (cfn-lint, where installed),
deployed into moto's CloudFormation (mock_aws) as far as moto supports it, and read to assert
what matters for ringws behind an ALB. The scaling metric is checked against ringws's own EMF
output, from a ringws started with the task definition's own command line.

moto 5.2's CloudFormation creates the load balancer, listeners and rules, target group, security
groups, IAM, launch template, Auto Scaling group, log group, cluster, task definition and service;
it has no capacity provider, scaling target or policy, nor ElastiCache (tests/deploy/moto_deploy.py
creates those through their APIs from the template's properties), and it drops target group and
load balancer attributes, the task's network mode and the service's load balancer and network
settings (applied through the APIs, and read from the template).
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

import aws_env
import cfn_template
from rawws import RawWS, http_exchange
from ringws_server import ringws_binary

REPO = Path(__file__).resolve().parents[2]
STACK = "ringws-test"
# What ECS can give a task on a t3.medium: the agent registers MemTotal less what the kernel
# keeps, "about 3.7-3.8 GiB"; the containers' hard limits must fit under the low end.
T3_MEDIUM_REGISTERED_MIB_FLOOR = int(3.7 * 1024)  # 3,788 MiB
USER_DATA_LIMIT = 16 * 1024  # EC2's limit, before base64


@pytest.fixture(scope="module")
def template():
    return cfn_template.load()


# What a deployment with the default Auth (jwt) must pass: the tokens' key and the pages' origins.
AUTH_PARAMS = {"JwtPublicKeyParameter": "ringws/jwt-public-key", "AllowedOrigins": "https://chat.example.com"}


@pytest.fixture(scope="module")
def resolver(template):
    return cfn_template.Resolver(template, params=AUTH_PARAMS, stack_name=STACK)


def timing(template, key):
    return int(template["Mappings"]["Timing"]["ringws"][key])


def container(resolver, name):
    td = resolver.resource("TaskDefinition")
    return next(c for c in td["ContainerDefinitions"] if c["Name"] == name)


def flag(command, name):
    return command[command.index(name) + 1]


@pytest.fixture(scope="module")
def deployed():
    """moto_deploy.py's report (defaults), and a second one with a certificate (HTTPS)."""
    py = aws_env.moto_python()
    if py is None:
        pytest.skip("no Python with moto >= 5 (set RINGWS_MOTO_PYTHON)")
    out = {}
    for name, extra in (("http", []), ("https", ["--certificate"])):
        r = subprocess.run([py, str(aws_env.HERE / "moto_deploy.py"), *extra], capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr[-4000:]
        out[name] = json.loads(r.stdout)
    return out


# --- lint and deploy ------------------------------------------------------------------------

def test_cfn_lint_finds_nothing():
    lint = aws_env.cfn_lint()
    if lint is None:
        pytest.skip("cfn-lint is not installed")
    r = subprocess.run([lint, "--format", "parseable", str(cfn_template.TEMPLATE)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_deploys_into_moto(deployed, template):
    for name, d in deployed.items():
        assert d["stack_status"] == "CREATE_COMPLETE", (name, d["stack_status"])
        supported = set(template["Resources"]) - set(d["unsupported"])
        created = {k for k, (_, status) in d["resources"].items() if status == "CREATE_COMPLETE"}
        # HttpsListener and HttpsPrivatePaths exist only with a certificate.
        conditional = {"HttpsListener", "HttpsPrivatePaths"} if name == "http" else set()
        assert supported - conditional <= created, supported - conditional - created
        for resource, report in d["via_api"].items():
            assert "error" not in report, (resource, report)
        print(f"{name}: moto's CloudFormation created {len(created)} resources; through the APIs: "
              f"{sorted(d['via_api'])}")
    assert deployed["http"]["outputs"]["URL"].startswith("http://")
    assert deployed["https"]["outputs"]["URL"].startswith("https://")
    assert deployed["https"]["outputs"]["WebSocketURL"].startswith("wss://")


# --- the target group, the listeners, and what they must not route ---------------------------

def test_health_check_and_balancing(template, resolver, deployed):
    tg = deployed["http"]["target_group"]
    assert tg["HealthCheckPath"] == "/healthz" and tg["HealthCheckProtocol"] == "HTTP"
    assert tg["Matcher"]["HttpCode"] == "200"
    assert tg["TargetType"] == "ip" and tg["Port"] == 8080
    attrs = deployed["http"]["api_target_group_attributes"]
    assert attrs["load_balancing.algorithm.type"] == "least_outstanding_requests"
    assert int(attrs["deregistration_delay.timeout_seconds"]) == timing(template, "DeregistrationDelay")
    lb = deployed["http"]["api_load_balancer_attributes"]
    assert lb["idle_timeout.timeout_seconds"] == str(template["Parameters"]["IdleTimeoutSeconds"]["Default"]) == "60"


def test_timings_agree(template, resolver):
    drain, close = timing(template, "DrainSeconds"), timing(template, "CloseTimeout")
    poll, delay = timing(template, "WatcherPollSeconds"), timing(template, "DeregistrationDelay")
    ringws = container(resolver, "ringws")
    command = ringws["Command"]
    assert int(flag(command, "--drain-seconds")) == drain and int(flag(command, "--close-timeout")) == close
    # The ALB keeps connections for the delay: ringws must have closed them all before it ends.
    assert delay > drain + close, (delay, drain, close)
    assert delay >= poll + drain + close + 5, "no margin after the watcher's poll"
    # ECS's SIGKILL comes stopTimeout after SIGTERM: a drain started by SIGTERM must end first
    # (ringws exits by drain + close + 1 s at the latest).
    stop = int(ringws["StopTimeout"])
    assert stop > drain + close + 1 and stop <= 120, stop
    # Pings keep a silent client inside the ALB's idle timeout.
    assert int(flag(command, "--ping-interval")) < template["Parameters"]["IdleTimeoutSeconds"]["MinValue"]
    watcher = container(resolver, "drain-watcher")
    env = {e["Name"]: str(e["Value"]) for e in watcher["Environment"]}
    assert int(env["RINGWS_POLL_SECONDS"]) == poll


def test_metrics_and_admin_are_not_routed(template, resolver, deployed):
    for name, d in deployed.items():
        for listener in d["listeners"]:
            private = [r for r in listener["rules"] if r["Priority"] != "default" and any(
                "/metrics" in c.get("PathPatternConfig", {}).get("Values", []) for c in r["Conditions"])]
            assert private, (name, listener["port"], "no rule for /metrics")
            action = private[0]["Actions"][0]
            assert action["Type"] == "fixed-response" and action["FixedResponseConfig"]["StatusCode"] == "404"
            values = private[0]["Conditions"][0]["PathPatternConfig"]["Values"]
            assert "/admin/*" in values
        assert {l["port"] for l in d["listeners"]} == ({80} if name == "http" else {80, 443})
    ringws = container(resolver, "ringws")
    assert flag(ringws["Command"], "--admin-listen").startswith("127.0.0.1:"), "the admin listener must be private"
    assert [p["ContainerPort"] for p in ringws["PortMappings"]] == [8080]
    assert resolver.resource("TargetGroup")["Port"] == 8080


# --- the task ---------------------------------------------------------------------------------------

def test_task_definition(template, resolver, deployed):
    td = resolver.resource("TaskDefinition")
    # awsvpc (not bridge, whose NAT would add conntrack state to every connection), on EC2 (io_uring
    # is refused on Fargate), one task per instance.
    assert td["NetworkMode"] == "awsvpc" and td["RequiresCompatibilities"] == ["EC2"]
    assert deployed["http"]["api_task_definition"]["networkMode"] == "awsvpc"
    service = resolver.resource("Service")
    assert {"Type": "distinctInstance"} in service["PlacementConstraints"]
    assert deployed["http"]["api_service"]["loadBalancers"][0]["containerPort"] == 8080
    params = template["Parameters"]
    assert params["MaxInstances"]["Default"] >= 2 * params["MaxTasks"]["Default"], "deployments double the tasks"
    assert resolver.resource("AutoScalingGroup")["MaxSize"] == params["MaxInstances"]["Default"]
    lt = resolver.resource("LaunchTemplate")["LaunchTemplateData"]
    assert lt["InstanceType"] == "t3.medium"
    assert template["Parameters"]["AmiId"]["Default"] == \
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    assert deployed["http"]["launch_template"]["InstanceType"] == "t3.medium"

    # Memory: ECS reserves the sum of the containers' hard limits; it must fit a t3.medium.
    containers = {c["name"]: c for c in deployed["http"]["task_definition"]["containerDefinitions"]}
    total = sum(int(c["memory"]) for c in containers.values())
    assert "memory" not in td and total <= T3_MEDIUM_REGISTERED_MIB_FLOOR, total
    assert int(deployed["http"]["task_definition"]["containerDefinitions"][0]["memory"]) == 3456

    ringws = containers["ringws"]
    assert ringws["essential"] is True
    assert {"name": "nofile", "softLimit": 1048576, "hardLimit": 1048576} in ringws["ulimits"]
    assert int(ringws["stopTimeout"]) == timing(template, "StopTimeout")
    for c in containers.values():
        log = c["logConfiguration"]
        assert log["logDriver"] == "awslogs"
        assert log["options"]["mode"] == "non-blocking" and log["options"]["max-buffer-size"], log
        # The template creates the group, so the driver need not (awslogs-create-group).
        assert log["options"]["awslogs-group"] in deployed["http"]["log_groups"]

    # The watcher: not essential (its end never stops the task), the same image, pointed at
    # the task's own target group and at ringws's loopback admin listener.
    watcher = containers["drain-watcher"]
    assert watcher["essential"] is False and watcher["image"] == ringws["image"]
    assert watcher["entryPoint"] == ["/usr/bin/python3", "/usr/local/lib/ringws/drain_watcher.py"]
    env = {e["name"]: e["value"] for e in watcher["environment"]}
    assert env["RINGWS_TARGET_GROUP_ARN"] == deployed["http"]["target_group"]["TargetGroupArn"]
    assert env["RINGWS_ADMIN_URL"] == "http://" + flag(ringws["command"], "--admin-listen")
    assert env["RINGWS_TARGET_PORT"] == "8080"
    policy = resolver.resource("TaskRole")["Policies"][0]["PolicyDocument"]["Statement"]
    assert policy == [{"Effect": "Allow", "Action": "elasticloadbalancing:DescribeTargetHealth", "Resource": "*"}]


def test_security_groups(deployed, resolver):
    groups = deployed["http"]["security_groups"]
    ids = {name: g["GroupId"] for name, g in groups.items()}

    def sources(name, port):
        out = set()
        for p in groups[name]["IpPermissions"]:
            if p["IpProtocol"] == "-1" or p.get("FromPort", 0) <= port <= p.get("ToPort", 65535):
                out |= {g["GroupId"] for g in p.get("UserIdGroupPairs", [])}
                out |= {r["CidrIp"] for r in p.get("IpRanges", [])} | {r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])}
        return out

    assert sources("TaskSecurityGroup", 8080) == {ids["AlbSecurityGroup"], ids["TaskSecurityGroup"]}
    assert sources("TaskSecurityGroup", 9090) == {ids["TaskSecurityGroup"]}  # each other only
    assert sources("RedisSecurityGroup", 6379) == {ids["TaskSecurityGroup"]}
    assert groups["InstanceSecurityGroup"]["IpPermissions"] == []
    assert "0.0.0.0/0" in sources("AlbSecurityGroup", 443)
    # moto keeps no IPv6 ranges from a template: read them there.
    alb = resolver.resource("AlbSecurityGroup")["SecurityGroupIngress"]
    assert {(r["FromPort"], r.get("CidrIp") or r.get("CidrIpv6")) for r in alb} == {
        (80, "0.0.0.0/0"), (443, "0.0.0.0/0"), (80, "::/0"), (443, "::/0")}


def test_capacity_provider_and_valkey(deployed, resolver):
    api = deployed["http"]["via_api"]
    cp = api["CapacityProvider"]["autoScalingGroupProvider"]
    assert cp["managedScaling"]["status"] == "ENABLED"
    assert api["ClusterCapacityProviders"] == ["ringws-test-cp"]
    valkey = resolver.resource("Valkey")
    assert valkey["Engine"] == "valkey" and valkey["NumCacheClusters"] == 2 and valkey["MultiAZEnabled"] is True
    groups = api["Valkey"]
    assert groups and groups[0]["Status"] == "available"


# --- scaling on ringws's own EMF metric ---------------------------------------------------------------

def es256_key(tmp_path):
    """An EC P-256 key pair made with openssl, as a backend would hold it."""
    private = tmp_path / "jwt-private.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(private)],
                   check=True, capture_output=True, timeout=60)
    public = subprocess.run(["openssl", "ec", "-in", str(private), "-pubout"], check=True, capture_output=True,
                            text=True, timeout=60).stdout
    return {"private_file": private, "public_pem": public}


def upgrade_status(port, target, origin=None):
    extra = f"Origin: {origin}\r\n" if origin else ""
    request = (f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n")
    c = RawWS("127.0.0.1", port)
    try:
        c.send_raw(request.encode())
        status, _ = c.read_http_head()  # a 101 leaves the connection open: read its head only
        return status
    finally:
        c.close()


def check_task_auth(port, origins, jwt_key):
    """The task's command line admits a token the backend signed, from its pages only."""
    mint = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "mint-token.py"), "--key-file",
                           str(jwt_key["private_file"]), "--sub", "alice", "--rooms", "lobby"],
                          check=True, capture_output=True, text=True, timeout=60)
    token = mint.stdout.strip()
    page = origins.split(",")[0]
    assert upgrade_status(port, "/ws", page) == 401, "an upgrade without a token must be refused"
    assert upgrade_status(port, f"/ws?token={token}", page) == 101
    assert upgrade_status(port, f"/ws?token={token}", "https://evil.example") == 403


def emf_from_ringws(command, jwt_key=None):
    """Runs build/ringws with the task definition's command line (addresses and the EMF interval
    changed for a test) and returns its first EMF object."""
    args = list(command)
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = "0"
    args[args.index("--admin-listen") + 1] = "127.0.0.1:0"
    args[args.index("--emf-interval") + 1] = "1"
    env = dict(os.environ)
    if "--auth" in args:  # the task's public key arrives in a variable (ECS Secrets from SSM)
        assert flag(args, "--jwt-public-key-file") == "env:RINGWS_JWT_PUBLIC_KEY"
        env["RINGWS_JWT_PUBLIC_KEY"] = jwt_key["public_pem"]
    redis = None
    if "--redis" in args:  # the task's backplane: a local redis-server stands in for Valkey
        from redis_server import RedisServer

        redis = RedisServer()
        args[args.index("--redis") + 1] = redis.url
    proc = subprocess.Popen([str(ringws_binary()), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            obj = json.loads(line)
            if obj.get("event") == "listening":
                status, _, _ = http_exchange("127.0.0.1", int(obj["port"]),
                                             b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                assert status == 404, "/metrics must not be served on the public port"
                if "--auth" in args:
                    check_task_auth(int(obj["port"]), flag(args, "--allowed-origins"), jwt_key)
            if "_aws" in obj:
                return obj
        raise AssertionError(f"no EMF line from ringws {' '.join(args)}:\n{''.join(lines)}{proc.stderr.read()}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if redis:
                redis.stop()


def test_scaling_metric_is_what_ringws_emits(resolver, deployed, tmp_path):
    ringws = container(resolver, "ringws")
    emf = emf_from_ringws(ringws["Command"], jwt_key=es256_key(tmp_path))
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    metrics = {m["Name"]: m.get("Unit") for m in directive["Metrics"]}
    (dimension_set,) = directive["Dimensions"]
    emitted = [{"Name": name, "Value": emf[name]} for name in dimension_set]

    spec = resolver.resource("ConnectionsScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    custom = spec["CustomizedMetricSpecification"]
    assert custom["MetricName"] == "ConnectionsOpen" and "ConnectionsOpen" in emf
    assert custom["Namespace"] == directive["Namespace"]
    assert custom["Dimensions"] == emitted, (custom["Dimensions"], emitted)
    assert custom["Statistic"] == "Average"
    assert custom.get("Unit", metrics["ConnectionsOpen"]) == metrics["ConnectionsOpen"]
    assert int(spec["TargetValue"]) >= 1
    # And the same as moto's Application Auto Scaling holds for the deployed stack.
    (policy,) = deployed["http"]["via_api"]["ConnectionsScalingPolicy"]
    held = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert held["Namespace"] == directive["Namespace"] and held["Dimensions"] == emitted
    assert held["MetricName"] == "ConnectionsOpen" and held["Statistic"] == "Average"
    (target,) = deployed["http"]["via_api"]["ScalableTarget"]
    assert target["ResourceId"] == policy["ResourceId"] == \
        f"service/{deployed['http']['outputs']['ClusterName']}/{deployed['http']['outputs']['ServiceName']}"


def test_backplane_flag(template):
    for on in (cfn_template.Resolver(template, params={"Backplane": "on", **AUTH_PARAMS}, stack_name=STACK),
               cfn_template.Resolver(template, params=AUTH_PARAMS, stack_name=STACK)):  # on by default
        command = container(on, "ringws")["Command"]
        assert flag(command, "--redis") == "redis://<Valkey.PrimaryEndPoint.Address>:<Valkey.PrimaryEndPoint.Port>"
    off = cfn_template.Resolver(template, params={"Backplane": "off", **AUTH_PARAMS}, stack_name=STACK)
    assert "--redis" not in container(off, "ringws")["Command"] and "" not in container(off, "ringws")["Command"]


def test_auth_jwt_by_default(template, resolver, deployed):
    """Tokens by default: the key from SSM as a variable, the pages' origins, and a rule that
    refuses a stack with Auth jwt but no key or no origins."""
    command = container(resolver, "ringws")["Command"]
    assert flag(command, "--auth") == "jwt"
    assert flag(command, "--jwt-public-key-file") == "env:RINGWS_JWT_PUBLIC_KEY"
    assert flag(command, "--allowed-origins") == AUTH_PARAMS["AllowedOrigins"]
    assert container(resolver, "ringws")["Secrets"] == [
        {"Name": "RINGWS_JWT_PUBLIC_KEY", "ValueFrom": AUTH_PARAMS["JwtPublicKeyParameter"]}]
    (policy,) = resolver.resource("TaskExecutionRole")["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "ssm:GetParameters"
    assert statement["Resource"].endswith(":parameter/" + AUTH_PARAMS["JwtPublicKeyParameter"]), statement
    ringws = next(c for c in deployed["http"]["task_definition"]["containerDefinitions"] if c["name"] == "ringws")
    assert "--auth" in ringws["command"] and ringws.get("secrets"), ringws
    rule = template["Rules"]["JwtNeedsAKeyAndOrigins"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Auth"}, "jwt"]}
    asserted = json.dumps(rule["Assertions"])
    assert "JwtPublicKeyParameter" in asserted and "AllowedOrigins" in asserted
    # Auth none: none of it.
    off = cfn_template.Resolver(template, params={"Auth": "none"}, stack_name=STACK)
    command = container(off, "ringws")["Command"]
    assert "--auth" not in command and "--allowed-origins" not in command and "" not in command
    assert "Secrets" not in container(off, "ringws") and "Policies" not in off.resource("TaskExecutionRole")


# --- the user data: io_uring for the hosts' Docker ------------------------------------------------------

def user_data(template, **params):
    r = cfn_template.Resolver(template, params=params, stack_name=STACK, ref=lambda n: f"{STACK}-{n}")
    return r.resource("LaunchTemplate")["LaunchTemplateData"]["UserData"]


def test_user_data_embeds_allow_io_uring(template):
    text = user_data(template)
    assert len(text.encode()) <= USER_DATA_LIMIT, len(text.encode())
    script = (aws_env.REPO / "deploy" / "aws" / "allow_io_uring.py").read_text()
    code = script.split('"""', 2)[2].strip()  # the file without its shebang and docstring
    assert code in text, "the user data's copy of allow_io_uring.py differs from deploy/aws/allow_io_uring.py"
    assert f"ECS_CLUSTER={STACK}-Cluster" in text


def podman_profile():
    path = "/usr/share/containers/seccomp.json"
    if os.path.exists(path):
        return open(path).read()
    # Where podman is absent: a minimal profile in the same format.
    return json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                       "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]})


def run_user_data(tmp_path, text, docker_version="25.0.8", curl_fails=False):
    """Runs the user data under bash with stand-ins for dockerd, curl and systemctl, every path
    it writes under tmp_path/root. Returns (exit code, output, calls of the stand-ins)."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls"
    source = tmp_path / "docker-default.json"
    source.write_text(podman_profile())
    (stubs / "dockerd").write_text(f"#!/bin/sh\necho \"dockerd $*\" >> {calls}\n"
                                   f"echo 'Docker version {docker_version}, build 71907ca'\n")
    (stubs / "systemctl").write_text(f"#!/bin/sh\necho \"systemctl $*\" >> {calls}\n")
    curl = f"#!/bin/sh\necho \"curl $*\" >> {calls}\n"
    if curl_fails:
        curl += "exit 22\n"
    else:
        curl += ('out=""; while [ $# -gt 0 ]; do [ "$1" = -o ] && out="$2"; shift; done\n'
                 f'case "$out" in "") exit 2;; esac\ncp {source} "$out"\n')
    (stubs / "curl").write_text(curl)
    for f in stubs.iterdir():
        f.chmod(0o755)
    root = tmp_path / "root"
    (root / "etc" / "docker").mkdir(parents=True)
    (root / "etc" / "docker" / "daemon.json").write_text('{"log-driver": "json-file"}')
    script = tmp_path / "user-data.sh"
    script.write_text(text)
    env = dict(os.environ, PATH=f"{stubs}:/usr/bin:/bin", RINGWS_ROOT=str(root))
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=120)
    return r.returncode, r.stdout + r.stderr, calls.read_text() if calls.exists() else "", root


def test_user_data_makes_a_profile_that_allows_io_uring(template, tmp_path):
    code, out, calls, root = run_user_data(tmp_path, user_data(template))
    assert code == 0, out
    assert "dockerd --version" in calls and "curl -fsSL --retry 3 --max-time 30 -o" in calls and \
        "https://raw.githubusercontent.com/moby/moby/v25.0.8/profiles/seccomp/default.json" in calls, calls
    daemon = json.loads((root / "etc" / "docker" / "daemon.json").read_text())
    assert daemon == {"log-driver": "json-file", "seccomp-profile": f"{root}/etc/docker/seccomp-ringws.json"}
    profile = json.loads((root / "etc" / "docker" / "seccomp-ringws.json").read_text())
    allowed = [r for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and "io_uring_setup" in r["names"]]
    assert allowed and sorted(allowed[0]["names"]) == ["io_uring_enter", "io_uring_register", "io_uring_setup"]
    refused = [r for r in profile["syscalls"] if r["action"] != "SCMP_ACT_ALLOW" and
               any(n.startswith("io_uring") for n in r.get("names", []))]
    assert not refused
    assert "systemctl restart docker" in calls
    ecs = (root / "etc" / "ecs" / "ecs.config").read_text()
    assert re.search(rf"^ECS_CLUSTER={STACK}-Cluster$", ecs, re.M) and "ECS_AWSVPC_BLOCK_IMDS=true" in ecs


def test_user_data_without_a_profile_keeps_dockers(template, tmp_path):
    code, out, calls, root = run_user_data(tmp_path, user_data(template), curl_fails=True)
    assert code == 0, out
    assert "Docker's default stays (epoll)" in out
    assert json.loads((root / "etc" / "docker" / "daemon.json").read_text()) == {"log-driver": "json-file"}
    assert "systemctl" not in calls


@pytest.mark.parametrize("mode,expected", [("unconfined", "unconfined"), ("docker-default", None)])
def test_user_data_other_profiles(template, tmp_path, mode, expected):
    code, out, calls, root = run_user_data(tmp_path, user_data(template, SeccompProfile=mode))
    assert code == 0, out
    daemon = json.loads((root / "etc" / "docker" / "daemon.json").read_text())
    assert daemon.get("seccomp-profile") == expected
    assert "curl" not in calls
    assert ("systemctl restart docker" in calls) == (expected is not None)
