"""Deploys deploy/aws/ringws.yaml into moto's CloudFormation (mock_aws) as far as moto
supports its resource types, creates the rest through their own APIs in the same mock, and
prints (JSON) what the mocked AWS then holds, for tests/deploy/test_aws_template.py.

Runs under the Python that has moto (not Debian's): PYTHON_WITH_MOTO moto_deploy.py [--param K=V ...]

moto 5.2's CloudFormation has no AWS::ECS::CapacityProvider, ::ClusterCapacityProviderAssociations,
AWS::ApplicationAutoScaling::ScalableTarget, ::ScalingPolicy or AWS::ElastiCache::*: those are
left out of the stack (references to them replaced by placeholders, so that the rest
deploys), then created with ecs.create_capacity_provider, put_cluster_capacity_providers,
application-autoscaling register_scalable_target and put_scaling_policy, and elasticache
create_cache_subnet_group and create_replication_group, from the template's own properties
resolved against the stack's physical ids. The output says which path each resource took.
"""

import argparse
import json
import re
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.cloudformation.parsing import resource_class_from_type  # noqa: E402

import cfn_template  # noqa: E402

REGION = "us-east-1"
STACK = "ringws-test"


def placeholder_for(template, unsupported):
    """A copy of the template without `unsupported`, every reference to them a placeholder."""
    def fix(v):
        if isinstance(v, list):
            return [fix(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, x), = v.items()
            if k == "Ref" and x in unsupported:
                return f"placeholder-{x}"
            if k == "Fn::GetAtt":
                name, attr = x if isinstance(x, list) else x.split(".", 1)
                if name in unsupported:
                    return "6379" if attr.endswith("Port") else f"placeholder-{name}-{attr}".lower().replace(".", "-")
            if k == "Fn::Sub":
                def sub_text(text):
                    def one(m):
                        key = m.group(1)
                        name = key.split(".")[0]
                        if name in unsupported:
                            return "6379" if key.endswith("Port") else f"placeholder-{key}".lower().replace(".", "-")
                        return m.group(0)
                    return re.sub(r"\$\{([^!}][^}]*)\}", one, text)
                if isinstance(x, str):
                    return {k: sub_text(x)}
                return {k: [sub_text(x[0]), fix(x[1])]}
        return {k: fix(x) for k, x in v.items()}

    out = dict(template)
    out["Resources"] = {}
    for name, r in template["Resources"].items():
        if name in unsupported:
            continue
        r = fix(r)
        deps = r.get("DependsOn")
        if deps:
            deps = [deps] if isinstance(deps, str) else deps
            deps = [d for d in deps if d not in unsupported]
            r = {k: x for k, x in r.items() if k != "DependsOn"}
            if deps:
                r["DependsOn"] = deps
        out["Resources"][name] = r
    out["Outputs"] = {k: fix(o) for k, o in template.get("Outputs", {}).items()}
    return out


def camel(v):
    """CloudFormation's PascalCase keys to the ECS API's camelCase."""
    if isinstance(v, list):
        return [camel(x) for x in v]
    if isinstance(v, dict):
        return {k[:1].lower() + k[1:]: camel(x) for k, x in v.items()}
    return v


def coerce(shape, value):
    """Scalars to the types an API's model wants, as CloudFormation converts a template's
    values by the resource schema ("45" to 45 for an integer, 5 to "5" for a string)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: coerce(shape.members[k], v) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [coerce(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: coerce(shape.value, v) for k, v in value.items()}
    if kind in ("integer", "long") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind in ("double", "float") and isinstance(value, (str, int)):
        return float(value)
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    return value


def call(client, operation, **params):
    """client.<operation>(**params) with the parameters coerced to the operation's model."""
    model = client.meta.service_model.operation_model(client.meta.method_to_api_mapping[operation])
    return getattr(client, operation)(**coerce(model.input_shape, params))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", default=str(cfn_template.TEMPLATE))
    ap.add_argument("--param", action="append", default=[], help="K=V overriding a parameter's default")
    ap.add_argument("--certificate", action="store_true", help="request an ACM certificate and pass it (HTTPS)")
    args = ap.parse_args()
    template = cfn_template.load(args.template)
    unsupported = {n for n, r in template["Resources"].items() if resource_class_from_type(r["Type"]) is None}
    result = {"unsupported": {n: template["Resources"][n]["Type"] for n in sorted(unsupported)}, "via_api": {}}

    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                     AvailabilityZone=f"{REGION}{'ab'[i % 2]}")["Subnet"]["SubnetId"] for i in range(4)]
        params = {"VpcId": vpc, "PublicSubnetIds": ",".join(subnets[:2]), "PrivateSubnetIds": ",".join(subnets[2:]),
                  "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ringws:latest",
                  "JwtPublicKeyParameter": "ringws/jwt-public-key", "AllowedOrigins": "https://chat.example.com"}
        if args.certificate:
            acm = boto3.client("acm", region_name=REGION)
            params["CertificateArn"] = acm.request_certificate(DomainName="chat.example.com")["CertificateArn"]
        for kv in args.param:
            k, v = kv.split("=", 1)
            params[k] = v
        cf = boto3.client("cloudformation", region_name=REGION)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cf.create_stack(StackName=STACK, TemplateBody=json.dumps(placeholder_for(template, unsupported)),
                            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
                            Capabilities=["CAPABILITY_IAM"])
        stack = cf.describe_stacks(StackName=STACK)["Stacks"][0]
        result["stack_status"] = stack["StackStatus"]
        result["outputs"] = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        summaries = cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
        physical = {s["LogicalResourceId"]: s.get("PhysicalResourceId") for s in summaries}
        result["resources"] = {s["LogicalResourceId"]: [s["ResourceType"], s["ResourceStatus"]] for s in summaries}

        elb = boto3.client("elbv2", region_name=REGION)
        tg_arn = physical["TargetGroup"]
        result["target_group"] = elb.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]
        result["target_group_attributes"] = {a["Key"]: a["Value"] for a in
                                             elb.describe_target_group_attributes(TargetGroupArn=tg_arn)["Attributes"]}
        lb_arn = physical["LoadBalancer"]
        result["load_balancer_attributes"] = {a["Key"]: a["Value"] for a in
                                              elb.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)["Attributes"]}
        result["listeners"] = []
        for listener in elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]:
            rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
            result["listeners"].append({"port": listener["Port"], "protocol": listener["Protocol"],
                                        "default_actions": listener["DefaultActions"], "rules": rules})

        ecs = boto3.client("ecs", region_name=REGION)
        td = ecs.describe_task_definition(taskDefinition=physical["TaskDefinition"])["taskDefinition"]
        result["task_definition"] = td
        cluster = physical["Cluster"]
        cluster_name = cluster.split("/")[-1]
        services = ecs.describe_services(cluster=cluster, services=[physical["Service"]])["services"]
        result["service"] = services[0] if services else None
        service_name = result["service"]["serviceName"] if services else "service"
        groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"]
        by_id = {g["GroupId"]: g for g in groups}
        result["security_groups"] = {name: by_id.get(physical[name]) for name in
                                     cfn_template.resources_of_type(template, "AWS::EC2::SecurityGroup")}
        asg = boto3.client("autoscaling", region_name=REGION)
        result["autoscaling_group"] = asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[physical["AutoScalingGroup"]])["AutoScalingGroups"][0]
        lt = ec2.describe_launch_template_versions(LaunchTemplateId=physical["LaunchTemplate"])
        result["launch_template"] = lt["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        logs = boto3.client("logs", region_name=REGION)
        result["log_groups"] = [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]]

        # The resources moto's CloudFormation lacks, through their APIs, from the template's
        # properties resolved against what the stack created.
        asg_arn = result["autoscaling_group"]["AutoScalingGroupARN"]

        def ref(name):
            return {"AutoScalingGroup": asg_arn, "Cluster": cluster_name, "CapacityProvider": "ringws-test-cp",
                    "ValkeySubnetGroup": "ringws-test-valkey"}.get(name, physical.get(name, f"<{name}>"))

        def getatt(name, attr):
            if (name, attr) == ("Service", "Name"):
                return service_name
            return f"<{name}.{attr}>"

        r = cfn_template.Resolver(template, params=params, stack_name=STACK, region=REGION, ref=ref, getatt=getatt)
        done = result["via_api"]
        cp = r.resource("CapacityProvider")
        try:
            provider = camel(cp["AutoScalingGroupProvider"])
            call(ecs, "create_capacity_provider", name="ringws-test-cp", autoScalingGroupProvider=provider)
            done["CapacityProvider"] = ecs.describe_capacity_providers(capacityProviders=["ringws-test-cp"])[
                "capacityProviders"][0]
            assoc = r.resource("ClusterCapacityProviders")
            call(ecs, "put_cluster_capacity_providers", cluster=assoc["Cluster"],
                 capacityProviders=assoc["CapacityProviders"],
                 defaultCapacityProviderStrategy=camel(assoc["DefaultCapacityProviderStrategy"]))
            done["ClusterCapacityProviders"] = ecs.describe_clusters(clusters=[cluster_name])["clusters"][0].get(
                "capacityProviders")
        except Exception as e:  # noqa: BLE001 - reported, and the test decides
            done["CapacityProvider"] = {"error": f"{type(e).__name__}: {e}"}

        aas = boto3.client("application-autoscaling", region_name=REGION)
        st = r.resource("ScalableTarget")
        call(aas, "register_scalable_target", **st)
        done["ScalableTarget"] = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        sp = r.resource("ConnectionsScalingPolicy")
        call(aas, "put_scaling_policy", PolicyName=sp["PolicyName"], ServiceNamespace=st["ServiceNamespace"],
             ResourceId=st["ResourceId"], ScalableDimension=st["ScalableDimension"], PolicyType=sp["PolicyType"],
             TargetTrackingScalingPolicyConfiguration=sp["TargetTrackingScalingPolicyConfiguration"])
        done["ConnectionsScalingPolicy"] = aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]

        # Properties moto's CloudFormation accepts but drops (target group and load balancer
        # attributes, the task's network mode, the service's load balancer and network
        # settings): applied through the APIs, whose validation they then pass.
        tg = r.resource("TargetGroup")
        call(elb, "modify_target_group_attributes", TargetGroupArn=tg_arn, Attributes=tg["TargetGroupAttributes"])
        result["api_target_group_attributes"] = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
            TargetGroupArn=tg_arn)["Attributes"]}
        lb = r.resource("LoadBalancer")
        call(elb, "modify_load_balancer_attributes", LoadBalancerArn=lb_arn, Attributes=lb["LoadBalancerAttributes"])
        result["api_load_balancer_attributes"] = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
            LoadBalancerArn=lb_arn)["Attributes"]}
        api_td = call(ecs, "register_task_definition", **camel(r.resource("TaskDefinition")))["taskDefinition"]
        result["api_task_definition"] = api_td
        svc = camel(r.resource("Service"))
        svc.update(cluster=cluster_name, serviceName="ringws-api", taskDefinition=api_td["taskDefinitionArn"])
        result["api_service"] = call(ecs, "create_service", **svc)["service"]

        ec_client = boto3.client("elasticache", region_name=REGION)
        try:
            sg = r.resource("ValkeySubnetGroup")
            call(ec_client, "create_cache_subnet_group", CacheSubnetGroupName="ringws-test-valkey",
                 CacheSubnetGroupDescription=sg["Description"], SubnetIds=sg["SubnetIds"])
            done["ValkeySubnetGroup"] = ec_client.describe_cache_subnet_groups()["CacheSubnetGroups"]
        except Exception as e:  # noqa: BLE001
            done["ValkeySubnetGroup"] = {"error": f"{type(e).__name__}: {e}"}
        try:
            rg = r.resource("Valkey")
            rg["ReplicationGroupId"] = "ringws-test"
            call(ec_client, "create_replication_group", **rg)
            done["Valkey"] = ec_client.describe_replication_groups()["ReplicationGroups"]
        except Exception as e:  # noqa: BLE001
            done["Valkey"] = {"error": f"{type(e).__name__}: {e}"}

    json.dump(result, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
