#!/usr/bin/python3
"""ringws's drain watcher: a sidecar in the ECS task that starts ringws's drain when the load
balancer starts deregistering the task.

ECS stops a task behind an ALB by deregistering its target first; the ALB keeps the open
connections for the deregistration delay and then cuts them without a close frame, and only
after that does ECS send SIGTERM. Nothing tells the task that deregistration has begun, so
this watcher polls the target group's health for its own target (DescribeTargetHealth, as
awslabs' nlb-sidecar-for-ecs does) and, when the target turns `draining` (or is found
deregistered after having been registered), POSTs ringws's admin endpoint
(http://127.0.0.1:9090/admin/drain: the containers of an awsvpc task share the loopback, so
the admin listener stays private). ringws then sends close 1001 to its clients over
--drain-seconds, they reconnect through the ALB to the other tasks, and once the target has
no connection left the ALB completes the deregistration early.

The watcher never stops or signals ringws. AWS errors (lost credentials, an unreachable
endpoint, throttling) and metadata errors are logged and retried with a capped backoff; the
process exits only on SIGTERM/SIGINT (0) or on a configuration error (2).

Configuration (environment, or the flags of --help):
  RINGWS_TARGET_GROUP_ARN  the target group (required)
  RINGWS_TARGET_PORT       the port the target is registered with (default 8080)
  RINGWS_TARGET_ID         the target's id; default: the task's IPv4 address from the ECS task
                           metadata endpoint v4 ($ECS_CONTAINER_METADATA_URI_V4/task)
  RINGWS_ADMIN_URL         ringws's admin listener (default http://127.0.0.1:9090)
  RINGWS_POLL_SECONDS      seconds between polls (default 5)
  RINGWS_MAX_BACKOFF_SECONDS  longest wait between retries after errors (default 60)
  RINGWS_ELBV2_ENDPOINT    an endpoint URL for the ELBv2 API (default: boto3's)
  AWS_REGION               default: the region in the target group's ARN
Credentials come from boto3's usual chain (in ECS: the task role).

Logs: one JSON object per line on stdout, like ringws's ({"level","time","event",...}).
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

DRAINING_STATES = ("draining", "unhealthy.draining")
NOT_REGISTERED = "Target.NotRegistered"
MAX_BACKOFF_SECONDS = 60.0
HTTP_TIMEOUT_SECONDS = 5.0


def log(level, event, **fields):
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    line = {"level": level, "time": stamp, "event": event, "source": "drain-watcher"}
    line.update(fields)
    sys.stdout.write(json.dumps(line, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def region_from_arn(arn):
    """arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID -> REGION (or None)."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


def task_ipv4(metadata):
    """The task's IPv4 address from the task metadata v4 /task document (awsvpc: the ENI's
    address, which is the target id of an `ip` target group)."""
    for container in metadata.get("Containers", []):
        for network in container.get("Networks", []):
            for address in network.get("IPv4Addresses", []):
                if address:
                    return address
    return None


class Tracker:
    """What the watcher concludes from each target health reading. Pure: no I/O, so that the
    decisions are tested on their own (tests/deploy/test_drain_watcher.py).

    Drain when the target is `draining` (the ALB's deregistration has started), or when it is
    reported not registered after it had been registered (the deregistration began and ended
    between two polls, or a model such as moto's that skips `draining`). A target that was
    never seen registered (the task starting, before ECS registers it) never drains."""

    def __init__(self):
        self.last = None  # (state, reason)
        self.seen_registered = False

    def observe(self, state, reason):
        """Returns (changed, drain): whether the reading differs from the last one, and whether
        the target is being (or has been) deregistered."""
        changed = (state, reason) != self.last
        self.last = (state, reason)
        registered = reason != NOT_REGISTERED
        drain = state in DRAINING_STATES or (self.seen_registered and not registered)
        if registered and state not in DRAINING_STATES:
            self.seen_registered = True
        return changed, drain


def backoff(seconds, failures, cap=MAX_BACKOFF_SECONDS):
    """The wait after `failures` failures in a row: doubling from the poll interval, capped."""
    return min(cap, seconds * (2 ** min(failures, 10)))


class Watcher:
    def __init__(self, args, stop):
        self.args = args
        self.stop = stop
        self.client = None
        self.tracker = Tracker()
        self.drained = False
        self.target_id = args.target_id
        self.region = args.region or region_from_arn(args.target_group_arn)

    # --- AWS -------------------------------------------------------------------------
    def make_client(self):
        import boto3  # Debian's python3-boto3 in the image
        from botocore.config import Config

        # A new session each time: after lost credentials, the chain is searched again.
        session = boto3.session.Session(region_name=self.region)
        config = Config(connect_timeout=HTTP_TIMEOUT_SECONDS, read_timeout=HTTP_TIMEOUT_SECONDS,
                        retries={"max_attempts": 2, "mode": "standard"})
        kwargs = {"config": config}
        if self.args.elbv2_endpoint:
            kwargs["endpoint_url"] = self.args.elbv2_endpoint
        return session.client("elbv2", **kwargs)

    def read_health(self):
        if self.client is None:
            self.client = self.make_client()
        response = self.client.describe_target_health(
            TargetGroupArn=self.args.target_group_arn,
            Targets=[{"Id": self.target_id, "Port": self.args.target_port}])
        for description in response.get("TargetHealthDescriptions", []):
            target = description.get("Target", {})
            if target.get("Id") == self.target_id:
                health = description.get("TargetHealth", {})
                return health.get("State", "unknown"), health.get("Reason", ""), health.get("Description", "")
        return "unused", NOT_REGISTERED, "not in the answer"

    # --- the task's own target ---------------------------------------------------------
    def resolve_target(self):
        """The target id from the task metadata endpoint, retried until it answers."""
        uri = self.args.metadata_uri
        failures = 0
        while not self.stop.is_set():
            if not uri:
                log("error", "config_error",
                    error="no target id: set RINGWS_TARGET_ID, or run in an ECS task (ECS_CONTAINER_METADATA_URI_V4)")
                return False
            try:
                with urllib.request.urlopen(uri.rstrip("/") + "/task", timeout=HTTP_TIMEOUT_SECONDS) as r:
                    address = task_ipv4(json.load(r))
                if address:
                    self.target_id = address
                    return True
                error = "the task metadata has no IPv4 address (is the task in awsvpc mode?)"
            except (OSError, ValueError) as e:
                error = f"{type(e).__name__}: {e}"
            wait = backoff(self.args.poll_seconds, failures, self.args.max_backoff)
            failures += 1
            log("warn", "metadata_error", uri=uri, error=error, retry_in_s=wait)
            self.stop.wait(wait)
        return False

    # --- ringws ---------------------------------------------------------------------------
    def request_drain(self):
        url = self.args.admin_url.rstrip("/") + "/admin/drain"
        request = urllib.request.Request(url, data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError as e:
            log("warn", "drain_request_failed", url=url, error=f"{type(e).__name__}: {e}", retry=True)
            return False
        if 200 <= status < 300:
            log("info", "drain_requested", url=url, status=status)
            return True
        log("warn", "drain_request_failed", url=url, status=status, retry=True)
        return False

    # --- the loop -----------------------------------------------------------------------
    def run(self):
        log("info", "watcher_start", target_group_arn=self.args.target_group_arn, port=self.args.target_port,
            admin_url=self.args.admin_url, poll_seconds=self.args.poll_seconds, region=self.region,
            endpoint=self.args.elbv2_endpoint or "default")
        if not self.target_id and not self.resolve_target():
            return 0 if self.stop.is_set() else 2
        log("info", "target", id=self.target_id, port=self.args.target_port)
        failures = 0
        while not self.stop.is_set():
            try:
                state, reason, description = self.read_health()
            except Exception as e:  # noqa: BLE001 - botocore's errors are many; none may end the loop
                wait = backoff(self.args.poll_seconds, failures, self.args.max_backoff)
                failures += 1
                log("warn", "aws_error", error=type(e).__name__, message=str(e)[:300], retry_in_s=wait)
                if credential_error(e):
                    self.client = None  # search the credential chain again
                self.stop.wait(wait)
                continue
            if failures:
                log("info", "aws_recovered", after_failures=failures)
            failures = 0
            changed, drain = self.tracker.observe(state, reason)
            if changed:
                log("info", "target_state", id=self.target_id, port=self.args.target_port, state=state,
                    reason=reason, description=description)
            if drain and not self.drained:
                self.drained = self.request_drain()
            self.stop.wait(self.args.poll_seconds)
        log("info", "watcher_stop", drained=self.drained)
        return 0


def credential_error(e):
    name = type(e).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                "NoAuthTokenError", "UnauthorizedSSOTokenError", "RefreshWithMFAUnsupportedError"):
        return True
    code = getattr(e, "response", {}).get("Error", {}).get("Code", "") if hasattr(e, "response") else ""
    return code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException",
                    "AccessDenied", "AccessDeniedException", "SignatureDoesNotMatch")


def parse_args(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(description="Drain ringws when its ALB target starts deregistering.")
    p.add_argument("--target-group-arn", default=env("RINGWS_TARGET_GROUP_ARN"))
    p.add_argument("--target-port", type=int, default=int(env("RINGWS_TARGET_PORT", "8080")))
    p.add_argument("--target-id", default=env("RINGWS_TARGET_ID"))
    p.add_argument("--metadata-uri", default=env("ECS_CONTAINER_METADATA_URI_V4"))
    p.add_argument("--admin-url", default=env("RINGWS_ADMIN_URL", "http://127.0.0.1:9090"))
    p.add_argument("--poll-seconds", type=float, default=float(env("RINGWS_POLL_SECONDS", "5")))
    p.add_argument("--max-backoff", type=float, default=float(env("RINGWS_MAX_BACKOFF_SECONDS", "60")),
                   help="longest wait between retries after errors (default 60)")
    p.add_argument("--elbv2-endpoint", default=env("RINGWS_ELBV2_ENDPOINT"))
    p.add_argument("--region", default=env("AWS_REGION") or env("AWS_DEFAULT_REGION"))
    args = p.parse_args(argv)
    if not args.target_group_arn:
        p.error("no target group: set RINGWS_TARGET_GROUP_ARN or --target-group-arn")
    if args.poll_seconds <= 0:
        p.error("--poll-seconds must be positive")
    return args


def main(argv):
    args = parse_args(argv)
    stop = threading.Event()

    def on_signal(signum, _frame):
        log("info", "signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return Watcher(args, stop).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
