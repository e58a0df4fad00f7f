"""AWS site: ECS Fargate behind an internet-facing ALB with a DNS-validated ACM certificate.

Without a network of the caller's, the site creates a VPC whose tasks run in two public subnets with public
IPs, which avoids a NAT gateway per site (the biggest fixed cost of a warm standby); only the ALB may reach
them. With one (`SiteInputs.network` or the spec's `network`), it creates no VPC, subnets, gateway or routes:
the ALB, the tasks and their security groups go into the given VPC and subnets.
"""

from __future__ import annotations

import ipaddress
import json

import pulumi
import pulumi_aws as aws

from bascule.components.aws.drill_rule import health_fault_rule
from bascule.components.aws.plugin import ALB_MIN_SUBNETS, AwsSiteSpec, Route53DnsSpec
from bascule.components.base import (
    AwsNetwork,
    Site,
    SiteArgs,
    SiteEndpoint,
    bascule_tags,
    caller_provider,
    default_provider_allowed,
    fit_name,
)
from bascule.spec import DrillFault

_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_EXECUTION_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
_ANYWHERE = ["0.0.0.0/0"]
ALB_OPEN_PORTS = (443, 80)
"""The only ports the load balancer's security group admits (HTTPS, and HTTP for the redirect)."""


class AwsSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, AwsSiteSpec):
            raise TypeError(f"AwsSite needs an 'aws' site spec, got '{site.kind}'")
        args.check(name)
        super().__init__("bascule:aws:AwsSite", name, None, opts)
        tags = bascule_tags(args.service, args.role)
        # The caller's provider when given (its region must be the spec's: plans and policies read that one), and its
        # resources exactly as before. Else the stack's default provider, which "use[s] global configuration
        # settings" (https://www.pulumi.com/docs/iac/concepts/resources/providers/): the stack's aws:assumeRoles,
        # aws:profile, aws:allowedAccountIds, aws:defaultTags reach every resource here. Its region is the stack's,
        # so each regional resource and lookup names the site's own (pulumi-aws 7's top-level `region`: "manage a
        # resource in a Region different from the one specified in the provider configuration without requiring
        # multiple provider definitions",
        # https://www.pulumi.com/registry/packages/aws/how-to-guides/aws-enhanced-region-support/). IAM is global.
        provider = caller_provider(opts, "aws", name)
        if provider is None:
            default_provider_allowed("aws", name, "SiteInputs.provider")
        self._region = None if provider is not None else site.region
        region = self._region
        image = args.image_to_run
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        given = args.given_network
        where = f"{args.service.name}: {args.role.value}"
        network = given.checked_when_known(where) if given else self._own_network(name, site, tags, child)

        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb",
            vpc_id=network.vpc_id,
            description=f"{args.service.name} {args.role.value} load balancer: HTTPS from anywhere",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=p, to_port=p, cidr_blocks=_ANYWHERE)
                for p in ALB_OPEN_PORTS
            ],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=_ANYWHERE)],
            tags=tags,
            region=region,
            opts=child,
        )
        task_sg = aws.ec2.SecurityGroup(
            f"{name}-tasks",
            vpc_id=network.vpc_id,
            description=f"{args.service.name} {args.role.value} tasks: only from the load balancer",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=site.container_port,
                    to_port=site.container_port,
                    security_groups=[alb_sg.id],
                )
            ],
            egress=[aws.ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=_ANYWHERE)],
            tags=tags,
            region=region,
            opts=child,
        )

        # Public subnets (a route to an internet gateway: an internet-facing load balancer's nodes have public
        # addresses) in at least two Availability Zones, counted (ALB_MIN_SUBNETS) before any resource, and in every
        # zone a task runs in: targets in a zone the load balancer does not enable receive no traffic
        # (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html,
        # "Subnets for your load balancer"). Which zone and route table a given subnet has only AWS knows.
        alb = aws.lb.LoadBalancer(
            fit_name(f"{name}-alb", "aws:lb/loadBalancer:LoadBalancer"),
            load_balancer_type="application",
            internal=False,
            subnets=network.alb_subnet_ids,
            security_groups=[alb_sg.id],
            drop_invalid_header_fields=True,
            tags=tags,
            region=region,
            opts=child,
        )
        hc = args.service.health_check
        # A `health` drill behind Route 53 must also fail the target group's own check (see `_drill_health_port`).
        drill_port = _drill_health_port(site.container_port) if _fails_target_group(args) else None
        target_group = aws.lb.TargetGroup(
            fit_name(f"{name}-tg", "aws:lb/targetGroup:TargetGroup"),
            port=site.container_port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=network.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=hc.path,
                matcher="200-399",
                interval=10,
                healthy_threshold=2,
                unhealthy_threshold=2,
                port=drill_port,
            ),
            tags=tags,
            region=region,
            opts=child,
        )

        # DNS validation: ACM checks a CNAME in the service's zone, whatever the hostname points at, and renews
        # automatically while the certificate is in use and that CNAME stays in place:
        # https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html
        # https://docs.aws.amazon.com/acm/latest/userguide/managed-renewal.html
        cert = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.service.hostname,
            validation_method="DNS",
            tags=tags,
            region=region,
            opts=child,
        )
        option = cert.domain_validation_options[0]
        record = args.dns.validation_record(
            f"{name}-cert-validation",
            option.resource_record_name,
            "CNAME",
            option.resource_record_value,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert", certificate_arn=cert.arn, validation_record_fqdns=[record.fqdn], region=region, opts=child
        )
        https = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=_TLS_POLICY,
            certificate_arn=validation.certificate_arn,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            tags=tags,
            region=region,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            tags=tags,
            region=region,
            opts=child,
        )

        cluster = aws.ecs.Cluster(f"{name}-cluster", tags=tags, region=region, opts=child)
        logs = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=30, tags=tags, region=region, opts=child)
        role = aws.iam.Role(
            fit_name(f"{name}-execution", "aws:iam/role:Role"),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(f"{name}-execution", role=role.name, policy_arn=_EXECUTION_POLICY, opts=child)
        database = args.database
        secret_arn = pulumi.Output.from_input(database.secret_arn if database else None)
        if database is not None and database.secret_arn is not None:
            # ECS reads the database's secret at task start as the execution role, which needs
            # secretsmanager:GetSecretValue on it (the managed policy above has none):
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
            aws.iam.RolePolicy(
                f"{name}-database-secret",
                role=role.id,
                policy=secret_arn.apply(lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": arn}]})),
                opts=child,
            )  # fmt: skip
        variables = sorted(database.env) if database is not None and database.secret_arn is not None else []
        container = args.service.name
        task = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=f"{args.service.name}-{args.role.value}",
            cpu=str(site.cpu),
            memory=str(site.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            execution_role_arn=role.arn,
            container_definitions=pulumi.Output.all(logs.name, image, secret_arn).apply(
                lambda values: json.dumps(
                    [
                        {
                            "name": container,
                            "image": values[1],
                            "essential": True,
                            "portMappings": [{"containerPort": site.container_port, "protocol": "tcp"}],
                            # The database beside the site, as environment variables: each one a JSON key of the
                            # secret (`arn:json-key:version-stage:version-id`), so the task definition holds its ARN
                            # only: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html
                            **(
                                {"secrets": [{"name": v, "valueFrom": f"{values[2]}:{v}::"} for v in variables]}
                                if variables
                                else {}
                            ),
                            "logConfiguration": {
                                "logDriver": "awslogs",
                                "options": {
                                    "awslogs-group": values[0],
                                    "awslogs-region": site.region,
                                    "awslogs-stream-prefix": container,
                                },
                            },
                        }
                    ]
                )
            ),
            tags=tags,
            region=region,
            opts=child,
        )
        self.service = aws.ecs.Service(
            f"{name}-service",
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=0 if args.fault is DrillFault.OUTAGE else site.desired_count,
            # The update returns once the tasks run (`aws ecs wait services-stable`: running = desired, one deployment),
            # not when ECS has merely accepted the count. An `outage` drill's restore brings the tasks back in an update
            # of its own before it removes the drill's check from the alias record (`inject_phases`); without the wait
            # the check went at once, and for the minute the target group had no target the alias's
            # `evaluate_target_health` may count it healthy (AWS documents an empty target group both ways,
            # `Route53Failover._through_listener`) and send traffic back to a load balancer that answers 503. With the
            # wait, the targets are registered when the check goes, and a target in its first checks (`initial`) is not
            # a healthy one, so the standby keeps the traffic until they pass
            # (https://docs.aws.amazon.com/cli/latest/reference/ecs/wait/services-stable.html). Every other `up` also
            # fails when its tasks never start, instead of reporting success (the provider's `wait_for_steady_state`,
            # default false).
            wait_for_steady_state=True,
            launch_type="FARGATE",
            health_check_grace_period_seconds=60,
            # Whether the task's network interface gets a public IP (awsvpc; the API's default is DISABLED:
            # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html).
            # To pull its image a Fargate task needs a route out: in a public subnet its public IP (which does
            # nothing in a private one), in a private one a NAT gateway or, for ECR images, VPC endpoints (ecr.api,
            # ecr.dkr and the S3 gateway endpoint; CloudWatch Logs for the awslogs driver; the endpoints' security
            # group admitting 443 from the tasks), which the network's owner provides. The tasks' own group lets
            # everything out, so it never blocks those endpoints:
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/platform-version-migration.html
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/vpc-endpoints.html
            # https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=network.task_subnet_ids,
                # With a database beside the site, also the group its security group admits.
                security_groups=[
                    task_sg.id,
                    *([database.security_group_id] if database and database.security_group_id is not None else []),
                ],
                assign_public_ip=network.assign_public_ip,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=target_group.arn,
                    container_name=container,
                    container_port=site.container_port,
                )
            ],
            tags=tags,
            region=region,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[https]),
        )
        if args.fault is DrillFault.HEALTH:
            # The real health checkers must see a real failure: the health path answers 503 at the edge (what
            # Traffic Manager's probes and clients reach; a Route 53 alias needs the target group to fail too).
            health_fault_rule(
                name,
                listener_arn=https.arn,
                priority=1,
                health_path=hc.path,
                region=region,
                tags=tags,
                opts=child,
            )
        self.register_endpoint(
            SiteEndpoint(
                role=args.role,
                cloud=site.cloud,
                region=site.region,
                target=alb.dns_name,
                target_is_ip=False,
                alias_zone_id=alb.zone_id,
            ),
            load_balancer_arn=alb.arn,
        )

    def _own_network(
        self, name: str, site: AwsSiteSpec, tags: dict[str, str], child: pulumi.ResourceOptions
    ) -> AwsNetwork:
        return own_network(name, site.vpc_cidr, tags, self._region, child)


def own_network(
    name: str, vpc_cidr: str, tags: dict[str, str], region: str | None, opts: pulumi.ResourceOptions
) -> AwsNetwork:
    """A VPC cut from `vpc_cidr` with public subnets in as many Availability Zones as an ALB needs
    (`ALB_MIN_SUBNETS`); load balancer and tasks share them, tasks with public IPs so they pull their image
    without a NAT gateway. A site builds it, or a data standby whose database the site's tasks then reach inside it.
    `opts` carry the parent and provider; `region` is the resources' own (None: the provider's)."""
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=vpc_cidr,
        enable_dns_hostnames=True,
        enable_dns_support=True,
        tags=tags,
        region=region,
        opts=opts,
    )
    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, region=region, opts=opts)
    routes = aws.ec2.RouteTable(
        f"{name}-public",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block=_ANYWHERE[0], gateway_id=igw.id)],
        tags=tags,
        region=region,
        opts=opts,
    )
    zones = aws.get_availability_zones_output(
        state="available",
        region=region,
        opts=pulumi.InvokeOutputOptions(parent=opts.parent, provider=opts.provider),
    )
    cidr = ipaddress.ip_network(vpc_cidr)
    cidrs = list(cidr.subnets(new_prefix=cidr.prefixlen + 2))
    subnet_ids: list[pulumi.Input[str]] = []
    for i in range(ALB_MIN_SUBNETS):
        subnet = aws.ec2.Subnet(
            f"{name}-public-{i}",
            vpc_id=vpc.id,
            cidr_block=str(cidrs[i]),
            availability_zone=zones.names[i],
            map_public_ip_on_launch=True,
            tags=tags,
            region=region,
            opts=opts,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-{i}", subnet_id=subnet.id, route_table_id=routes.id, region=region, opts=opts
        )
        subnet_ids.append(subnet.id)
    return AwsNetwork(vpc.id, subnet_ids, subnet_ids, assign_public_ip=True)


def _fails_target_group(args: SiteArgs) -> bool:
    """Whether a `health` drill must fail the target group's own health check, not only the listener's answer.

    A Route 53 failover alias with `evaluate_target_health` inherits the health of the load balancer's target
    groups (https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html), whose checks go from the
    load balancer to each task directly, never through a listener rule: the 503 rule alone is invisible to it.
    Other switches probe the hostname through the listener, so there the rule is enough and the tasks are spared
    (ECS stops and replaces tasks that fail their load balancer's health check:
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html, healthCheckGracePeriodSeconds).
    """
    return args.fault is DrillFault.HEALTH and isinstance(args.service.dns, Route53DnsSpec)


def _drill_health_port(container_port: int) -> str:
    """A health check port the tasks' security group does not open (it admits only `container_port` from the load
    balancer), so every check times out whatever the application answers: a target must allow the load balancer's
    traffic on the health check port or it is not in service
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html#target-not-inservice,
    `HealthCheckPort` in https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_ModifyTargetGroup.html).
    """
    return str(container_port + 1 if container_port < 65535 else container_port - 1)
