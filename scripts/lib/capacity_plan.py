"""The capacity plan behind scripts/capacity.py: from measured per-connection figures (density.sh)
and server CPU per message (latency.sh), and a workload, how many ringws tasks (one per
t3.medium), the target-tracking value for ConnectionsOpen, the headroom left for a draining
task's clients, ALB LCUs, and the monthly cost. Pure functions, tested on worked examples in
tests/deploy/test_capacity_plan.py.

Model (per task, one per t3.medium; every figure is a parameter):
- memory: ringws's container limit (the template's 3,456 MiB) x the governor's high-water mark
  (85%), less the fixed base density.sh measured, over the measured bytes per idle connection
  (user space + kernel: cgroup v2 charges socket memory to the container);
- CPU: the t3.medium baseline, 20% of each of 2 vCPUs, so that sustained load spends no CPU
  credits. Each received message, each delivered copy and each ping costs the server CPU of one
  echoed message as latency.sh measured it (user + system, one receive and one send, on
  loopback, where the system part also holds the client side's TCP work: conservative);
- network: the instance's baseline bandwidth (0.256 Gbps for a t3.medium; "up to 5 Gbps" is a
  burst), outbound: deliveries and pings, each frame with its WebSocket header and a per-frame
  TCP/IP overhead;
- pings: ringws pings a client after --ping-interval seconds of silence from it, so a user who
  publishes at rate r gets exp(-r x interval) / interval pings a second (Poisson arrivals).
The binding resource gives the capacity C per task. A task that drains hands its clients to the
others, so with N tasks the target T satisfies T x N / (N - 1) <= C; N = ceil(users / T).
"""

import math

GIB = 1 << 30
MIB = 1 << 20
HOURS_PER_MONTH = 730

# us-east-1, on-demand list prices (USD), as published in 2025; parameters of capacity.py.
PRICES_AS_OF = "2025 (us-east-1 list prices, on demand)"
PRICES = {
    "ec2_hour": 0.0416,          # t3.medium, Linux
    "alb_hour": 0.0225,          # Application Load Balancer hour
    "lcu_hour": 0.008,           # ALB LCU-hour
    "valkey_node_hour": 0.052,   # cache.t4g.medium for Valkey (Redis OSS $0.065 less Valkey's 20%)
    "valkey_nodes": 2,           # the template's replication group: a primary and a replica
    "cross_az_gb": 0.02,         # $0.01/GB each way between Availability Zones (the backplane)
    "cw_metric_month": 0.30,     # CloudWatch custom metric (first 10,000)
    "cw_logs_gb": 0.50,          # CloudWatch Logs ingestion (the EMF lines)
}
# Data transfer out to the internet, per GB per month, by tier (GB up to, price).
EGRESS_TIERS = [(10 * 1024, 0.09), (50 * 1024, 0.085), (150 * 1024, 0.07), (math.inf, 0.05)]

# What one LCU covers (ALB pricing); the billed LCUs are the largest of the dimensions.
LCU_NEW_PER_S = 25
LCU_ACTIVE = 3000
LCU_GB_PER_HOUR = 1.0

EMF_METRICS = 9          # ringws's EMF metrics, one dimension set
EMF_LINE_BYTES = 1100    # one EMF line, about
TASK_DEFAULTS = {
    "memory_bytes": 3456 * MIB,   # deploy/aws/ringws.yaml: ringws's container hard limit
    "high_water": 0.85,           # --memory-high-water
    "vcpus": 2,
    "cpu_baseline": 0.20,         # t3.medium: 20% of each vCPU without spending credits
    "net_bps": 0.256e9,           # t3.medium baseline bandwidth, bits/s
    "wire_overhead": 52,          # IPv4 + TCP with timestamps, per frame (one segment each)
    "ping_interval": 25,          # --ping-interval
    "emf_interval": 60,           # --emf-interval
    "min_tasks": 2,
    "azs": 2,
}


def ws_header(payload, masked=False):
    """Bytes of a WebSocket frame header for a payload (the client's are masked: 4 more)."""
    n = 2 if payload <= 125 else 4 if payload <= 0xFFFF else 10
    return n + (4 if masked else 0)


def per_user(workload, task):
    """What one connected user costs per second: received messages, delivered copies, pings,
    and outbound wire bytes."""
    users, rooms = workload["users"], workload["rooms"]
    members = users / rooms
    publish = workload["msgs_per_sec"] / users                 # messages a user publishes per second
    deliver = workload["msgs_per_sec"] * members / users       # copies a user receives per second
    ping = math.exp(-publish * task["ping_interval"]) / task["ping_interval"]
    size = workload["msg_bytes"]
    out_bytes = deliver * (size + ws_header(size) + task["wire_overhead"]) + ping * (2 + task["wire_overhead"])
    return {"members_per_room": members, "publish_per_s": publish, "deliver_per_s": deliver, "ping_per_s": ping,
            "messages_per_s": publish + deliver + ping, "out_bytes_per_s": out_bytes}


def capacity(server, workload, task):
    """Connections one task holds within each budget, and which binds."""
    u = per_user(workload, task)
    usable = task["memory_bytes"] * task["high_water"] - server["base_bytes"]
    bounds = {"memory": max(0, int(usable / server["bytes_per_conn"]))}
    cpu_budget_us = task["vcpus"] * task["cpu_baseline"] * 1e6
    cpu_per_user_us = u["messages_per_s"] * server["cpu_us_per_msg"]
    bounds["cpu"] = int(cpu_budget_us / cpu_per_user_us) if cpu_per_user_us > 0 else math.inf
    net_budget = task["net_bps"] / 8
    bounds["network"] = int(net_budget / u["out_bytes_per_s"]) if u["out_bytes_per_s"] > 0 else math.inf
    binding = min(bounds, key=lambda k: bounds[k])
    return {"bounds": bounds, "binding": binding, "capacity": bounds[binding], "per_user": u,
            "cpu_budget_us": cpu_budget_us, "net_budget_Bps": net_budget, "usable_memory_bytes": usable}


def tasks_and_target(users, cap, min_tasks):
    """The task count N and the target T for target tracking: the smallest N for which some
    T runs exactly N tasks (N = max(min_tasks, ceil(users / T))) and keeps a drain safe
    (T <= C (N - 1) / N: when one task drains, the others absorb its clients within C), and
    the largest such T. A T chosen so stays drain-safe for any user count that runs N or more
    tasks, since C (N - 1) / N grows with N."""
    if cap < 2:
        raise ValueError("capacity below 2 connections per task: no plan")
    min_tasks = max(2, min_tasks)
    n = max(min_tasks, math.ceil(users / cap) + 1)
    for _ in range(100000):  # a few steps in practice
        t_max = cap * (n - 1) // n
        t_min = math.ceil(users / n)          # ceil(users / T) <= n
        if n > min_tasks:
            t_max = min(t_max, math.ceil(users / (n - 1)) - 1)  # ceil(users / T) >= n
        if t_max >= max(1, t_min):
            return n, t_max
        n += 1
    raise RuntimeError("no plan within 100,000 tasks")


def egress_cost(gb):
    cost, below = 0.0, 0.0
    for upto, price in EGRESS_TIERS:
        part = max(0.0, min(gb, upto) - below)
        cost += part * price
        below = upto
        if gb <= upto:
            break
    return cost


def plan(workload, server, task=None, prices=None):
    task = dict(TASK_DEFAULTS, **(task or {}))
    prices = dict(PRICES, **(prices or {}))
    users = workload["users"]
    cap = capacity(server, workload, task)
    n, target = tasks_and_target(users, cap["capacity"], task["min_tasks"])
    u = cap["per_user"]
    steady = users / n
    after_drain = users / (n - 1)

    # ALB: active connections, new connections (each user reconnects once a session, and the
    # clients of a drained task once per deployment, not counted), processed bytes both ways.
    size = workload["msg_bytes"]
    session_s = workload.get("session_minutes", 60) * 60
    new_per_s = users / session_s
    in_frame = size + ws_header(size, masked=True)
    out_frame = size + ws_header(size)
    alb_bytes_per_s = users * (u["publish_per_s"] * in_frame + u["deliver_per_s"] * out_frame
                               + u["ping_per_s"] * (2 + 6))  # ping out, masked pong back
    alb_bytes_per_s += new_per_s * workload.get("handshake_bytes", 400)
    gb_per_hour = alb_bytes_per_s * 3600 / 1e9
    lcu_dims = {"active connections": users / LCU_ACTIVE, "new connections": new_per_s / LCU_NEW_PER_S,
                "processed bytes": gb_per_hour / LCU_GB_PER_HOUR}
    lcu_binding = max(lcu_dims, key=lambda k: lcu_dims[k])
    lcus = lcu_dims[lcu_binding]

    # Internet egress: what the ALB sends to the clients.
    egress_gb_month = users * (u["deliver_per_s"] * out_frame + u["ping_per_s"] * 2) * 3600 * HOURS_PER_MONTH / 1e9
    # Backplane: every publish goes to Valkey and back out to each task holding members of the
    # room; (azs - 1) / azs of that crosses an Availability Zone.
    tasks_per_room = min(n, u["members_per_room"])
    backplane_bytes_per_s = workload["msgs_per_sec"] * (size + 64) * (1 + tasks_per_room)
    cross_az_gb_month = backplane_bytes_per_s * (task["azs"] - 1) / task["azs"] * 3600 * HOURS_PER_MONTH / 1e9
    logs_gb_month = n * EMF_LINE_BYTES * 3600 / task["emf_interval"] * HOURS_PER_MONTH / 1e9

    month = {
        "EC2 (t3.medium)": n * prices["ec2_hour"] * HOURS_PER_MONTH,
        "ALB hours": prices["alb_hour"] * HOURS_PER_MONTH,
        "ALB LCUs": lcus * prices["lcu_hour"] * HOURS_PER_MONTH,
        "Valkey nodes": prices["valkey_nodes"] * prices["valkey_node_hour"] * HOURS_PER_MONTH,
        "data out to the internet": egress_cost(egress_gb_month),
        "backplane across AZs": cross_az_gb_month * prices["cross_az_gb"],
        "CloudWatch metrics and logs": EMF_METRICS * prices["cw_metric_month"] + logs_gb_month * prices["cw_logs_gb"],
    }
    return {
        "workload": workload, "server": server, "task": task, "prices": prices, "capacity": cap,
        "tasks": n, "target": target, "steady_per_task": steady, "after_drain_per_task": after_drain,
        "drain_headroom": cap["capacity"] - after_drain, "lcu_dimensions": lcu_dims, "lcu_binding": lcu_binding,
        "lcus": lcus, "alb_gb_per_hour": gb_per_hour, "new_connections_per_s": new_per_s,
        "egress_gb_month": egress_gb_month, "backplane_msgs_per_s": workload["msgs_per_sec"] * (1 + tasks_per_room),
        "monthly": month, "monthly_total": sum(month.values()),
    }


def _n(x, digits=0):
    if x == math.inf:
        return "unbounded"
    return f"{x:,.{digits}f}"


def markdown(p, sources=None):
    w, s, t, c = p["workload"], p["server"], p["task"], p["capacity"]
    u = c["per_user"]
    lines = [f"# Capacity plan: {w['users']:,} concurrent users", ""]
    lines += [f"Workload: {w['users']:,} users in {w['rooms']:,} rooms ({_n(u['members_per_room'], 1)} members "
              f"each), {_n(w['msgs_per_sec'], 1)} messages/s published of {w['msg_bytes']:,} B, so "
              f"{_n(w['msgs_per_sec'] * u['members_per_room'], 0)} deliveries/s.", ""]
    lines += ["| | value |", "|---|---|",
              f"| **tasks (t3.medium, one task each)** | **{p['tasks']:,}** |",
              f"| **target tracking: ConnectionsOpen (Average) per task** | **{p['target']:,}** |",
              f"| capacity per task ({c['binding']} binds) | {_n(c['capacity'])} |",
              f"| steady connections per task | {_n(p['steady_per_task'])} |",
              f"| per task while one task drains | {_n(p['after_drain_per_task'])} |",
              f"| headroom left for a draining task's clients, per task | {_n(p['drain_headroom'])} |",
              f"| ALB LCUs ({p['lcu_binding']} bill) | {_n(p['lcus'], 1)} |",
              f"| backplane: messages/s out of Valkey, at most (size the node for it) | {_n(p['backplane_msgs_per_s'])} |",
              f"| template: MaxTasks at least / MaxInstances at least (deployments double) | "
              f"{p['tasks'] + 1:,} / {2 * (p['tasks'] + 1):,} |",
              f"| **monthly cost** | **${_n(p['monthly_total'])}** |", ""]
    lines += ["Capacity per task, by budget:", "",
              "| budget | per task | from |", "|---|---|---|",
              f"| memory | {_n(c['bounds']['memory'])} | ({t['memory_bytes'] / MIB:,.0f} MiB x "
              f"{t['high_water']:.0%} - {s['base_bytes'] / MIB:,.1f} MiB base) / {s['bytes_per_conn']:,.0f} B "
              f"per connection |",
              f"| CPU | {_n(c['bounds']['cpu'])} | {t['vcpus']} vCPU x {t['cpu_baseline']:.0%} baseline / "
              f"({_n(u['messages_per_s'], 4)} messages/s per user x {s['cpu_us_per_msg']:.2f} us) |",
              f"| network | {_n(c['bounds']['network'])} | {t['net_bps'] / 1e9:.3f} Gbps baseline / "
              f"{_n(u['out_bytes_per_s'], 1)} B/s out per user |", ""]
    lines += ["ALB LCUs, by dimension (the largest is billed):", "", "| dimension | LCUs |", "|---|---|"]
    lines += [f"| {k} | {_n(v, 1)} |" for k, v in p["lcu_dimensions"].items()]
    lines += ["", f"Monthly cost ({HOURS_PER_MONTH} hours; prices: {PRICES_AS_OF}):", "", "| item | USD |", "|---|---|"]
    lines += [f"| {k} | {_n(v, 2)} |" for k, v in p["monthly"].items()]
    lines += [f"| **total** | **{_n(p['monthly_total'], 2)}** |", ""]
    if s.get("broadcast_capacity") and u["members_per_room"] > s["broadcast_capacity"]:
        lines += [f"Warning: rooms of {_n(u['members_per_room'])} members exceed the broadcast capacity latency.sh "
                  f"measured ({s['broadcast_capacity']:,} clients at p95 <= 500 ms).", ""]
    if sources:
        lines += ["Inputs: " + "; ".join(sources), ""]
    return "\n".join(lines)
