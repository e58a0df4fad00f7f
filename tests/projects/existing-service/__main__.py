"""A team's existing Pulumi project: its own VPC, an ECS service behind its own ALB, its own Route 53 zone.

The last block is all it adds for a standby: the running ALB becomes the failover primary (nothing is created for
it but the alias record), a Cloud Run standby in Paris, Route 53 switching in the team's own zone. No provider is
passed: Bascule's resources use the stack's default providers, so `aws:assumeRoles` and `aws:defaultTags` of
Pulumi.prod.yaml apply to them as to the team's own. Nothing is added for drills: `FailoverService` reads the drill
marker (`bascule:drill`) and registers what `bascule drill` and `bascule verify` read.
"""

import json

import pulumi
import pulumi_aws as aws

from bascule.components import ExistingLoadBalancer, FailoverService, FailoverServiceArgs, SiteInputs
from bascule.spec import AwsAlbSiteSpec, GcpSiteSpec, HealthCheckSpec, Route53DnsSpec, ServiceSpec

config = pulumi.Config()
HOSTNAME = "checkout.shop.example.com"

# --- What the team already runs ----------------------------------------------------------------------------------
vpc = aws.ec2.Vpc("main", cidr_block="10.20.0.0/16", enable_dns_hostnames=True, enable_dns_support=True)
igw = aws.ec2.InternetGateway("main", vpc_id=vpc.id)
routes = aws.ec2.RouteTable(
    "public", vpc_id=vpc.id, routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)]
)
subnets = []
for i, zone in enumerate(("eu-west-3a", "eu-west-3b")):
    subnet = aws.ec2.Subnet(
        f"public-{i}", vpc_id=vpc.id, cidr_block=f"10.20.{i}.0/24", availability_zone=zone, map_public_ip_on_launch=True
    )
    aws.ec2.RouteTableAssociation(f"public-{i}", subnet_id=subnet.id, route_table_id=routes.id)
    subnets.append(subnet.id)

alb_sg = aws.ec2.SecurityGroup(
    "alb",
    vpc_id=vpc.id,
    ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443, cidr_blocks=["0.0.0.0/0"])],
    egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])],
)
alb = aws.lb.LoadBalancer("web", load_balancer_type="application", subnets=subnets, security_groups=[alb_sg.id])
target_group = aws.lb.TargetGroup(
    "checkout",
    port=8080,
    protocol="HTTP",
    target_type="ip",
    vpc_id=vpc.id,
    health_check=aws.lb.TargetGroupHealthCheckArgs(path="/healthz"),
)
zone = aws.route53.Zone("shop", name="shop.example.com")
certificate = aws.acm.Certificate("checkout", domain_name=HOSTNAME, validation_method="DNS")
https = aws.lb.Listener(
    "https",
    load_balancer_arn=alb.arn,
    port=443,
    protocol="HTTPS",
    certificate_arn=certificate.arn,
    default_actions=[
        aws.lb.ListenerDefaultActionArgs(
            type="fixed-response",
            fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(content_type="text/plain", status_code="404"),
        )
    ],
)
aws.lb.ListenerRule(
    "checkout",
    listener_arn=https.arn,
    priority=100,
    conditions=[
        aws.lb.ListenerRuleConditionArgs(host_header=aws.lb.ListenerRuleConditionHostHeaderArgs(values=[HOSTNAME]))
    ],
    actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=target_group.arn)],
)
cluster = aws.ecs.Cluster("main")
execution = aws.iam.Role(
    "checkout-execution",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    ),
)
task = aws.ecs.TaskDefinition(
    "checkout",
    family="checkout",
    cpu="256",
    memory="512",
    network_mode="awsvpc",
    requires_compatibilities=["FARGATE"],
    execution_role_arn=execution.arn,
    container_definitions=json.dumps(
        [{"name": "checkout", "image": config.require("image"), "portMappings": [{"containerPort": 8080}]}]
    ),
)
aws.ecs.Service(
    "checkout",
    cluster=cluster.arn,
    task_definition=task.arn,
    desired_count=3,
    launch_type="FARGATE",
    network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
        subnets=subnets, security_groups=[alb_sg.id], assign_public_ip=True
    ),
    load_balancers=[
        aws.ecs.ServiceLoadBalancerArgs(
            target_group_arn=target_group.arn, container_name="checkout", container_port=8080
        )
    ],
)

# --- What the team adds: a standby for the service it runs ------------------------------------------------------
spec = ServiceSpec(
    name="checkout",
    hostname=HOSTNAME,
    primary=AwsAlbSiteSpec(region="eu-west-3", drill_rule_priority=1),
    secondary=GcpSiteSpec(
        project="shop-dr-eu", region="europe-west9", image="europe-docker.pkg.dev/shop-dr-eu/images/checkout:1.4.2"
    ),
    health_check=HealthCheckSpec(path="/healthz"),
    dns=Route53DnsSpec(zone="shop.example.com"),
)

service = FailoverService(
    "checkout",
    FailoverServiceArgs(
        service=spec,
        primary=SiteInputs(
            load_balancer=ExistingLoadBalancer(dns_name=alb.dns_name, zone_id=alb.zone_id, listener_arn=https.arn)
        ),
        zone_id=zone.zone_id,
    ),
)

pulumi.export("hostname", service.hostname)
pulumi.export("endpoints", service.endpoints)
pulumi.export("health_check_ids", service.health_check_ids)
