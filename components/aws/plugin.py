"""The 'aws' site kind and the 'route53' DNS backend: their spec models, AWS's limits, their capabilities.

No Pulumi and no AWS SDK here: the spec and `bascule check` read this module without the `aws` extra.
"""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Literal, cast

from pydantic import Field, field_validator, model_validator

from bascule import facts
from bascule.facts import Cloud
from bascule.io.escaping import quoted
from bascule.spec.base import HOSTNAME, DnsSpecBase, DrillFault, ImageSite, Model, Role, SiteSpecBase
from bascule.spec.models import ServiceSpec
from bascule.spec.plugins import DnsBackend, SiteKind, has_fixed_ip

# --- ECS Fargate task sizes: CPU units -> allowed memory (MiB), from AWS's task-size table ----------
FARGATE_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
}

ALB_MIN_SUBNETS = 2
"""An Application Load Balancer takes subnets from at least two Availability Zones, one subnet per zone
(`Subnets` in https://docs.amazonaws.cn/elasticloadbalancing/latest/APIReference/API_SetSubnets.html, the same
text as CreateLoadBalancer's; https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html
"Subnets for your load balancer")."""
ECS_MAX_SUBNETS = 16
"""An ECS service's awsvpc configuration takes up to 16 subnets, all of one VPC (`subnets` in
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html)."""

ACM_VALIDATION_PREFIX = len("_") + 32 + len(".")
"""ACM's ownership record is a `_<32 hex>.` CNAME before the hostname
(https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html)."""
ACM_CERTIFICATE_AUTHORITIES = ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com")
"""CAA `issue` domains ACM issues under: a CAA record must name one of them or ACM cannot issue
(https://docs.aws.amazon.com/acm/latest/userguide/setup-caa.html)."""

SERVICE_LINKED_ROLES = {"aws:ecs/": "ecs.amazonaws.com"}
"""Resource type prefix -> the AWS service whose service-linked role its first use in an account creates. ECS creates
AWSServiceRoleForECS on the account's first CreateCluster and assumes it at once; IAM is eventually consistent, so
that first call often fails with "Unable to assume the service linked role. Please verify that the ECS service linked
role exists" and a re-run succeeds (https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/818,
https://github.com/1Password/scim-examples/issues/356). The role cannot be a resource of the stack: it is one per
account, and creating it fails when it exists."""


def service_linked_role_commands(resource_types: list[str]) -> list[str]:
    """The AWS CLI commands that create, once per account, the service-linked roles the given resource types need
    (on an account that has one, the command fails with "has been taken", which is harmless)."""
    services = sorted(
        {s for prefix, s in SERVICE_LINKED_ROLES.items() if any(t.startswith(prefix) for t in resource_types)}
    )
    return [f"aws iam create-service-linked-role --aws-service-name {service}" for service in services]


# --- Route 53 health checks and records -----------------------------------------------------------
ROUTE53_INTERVALS = (10, 30)
"""`request_interval` is immutable after creation: changing it replaces the health check."""
ROUTE53_FAILURE_THRESHOLD = (1, 10)
ROUTE53_CHECKER_REGIONS = (
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
)
ROUTE53_MIN_CHECKER_REGIONS = 3
ROUTE53_RECOMMENDED_TTL = 60
ROUTE53_CONTROL_REGION = "us-east-1"
"""Route 53 is global, but its control plane (record edits, health-check changes) lives here."""


def _aws_id(prefix: str, value: str) -> bool:
    """An EC2 resource id: the type's prefix, a hyphen, then 8 (before 2016) or 17 letters and digits
    (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html), lowercase as AWS's own API patterns
    write them (`subnet-[0-9a-z]*` in
    https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_AwsVpcConfiguration.html)."""
    return re.fullmatch(rf"{prefix}-([0-9a-z]{{8}}|[0-9a-z]{{17}})", value) is not None


def _wrong_id(prefix: str, value: object) -> bool:
    """Whether a value is known (a plain value, as YAML or a stack output gives it) and not an id of this type.
    Anything else is a computed id (an Output), whose value is AWS's to judge."""
    plain = value is None or isinstance(value, (str, bool, int, float, Mapping, Sequence))
    return plain and not (isinstance(value, str) and _aws_id(prefix, value))


SUBNET_FIELDS = {"alb_subnet_ids": (ALB_MIN_SUBNETS, None), "task_subnet_ids": (1, ECS_MAX_SUBNETS)}
"""How many subnets each list of an existing network takes: (at least, at most)."""


def check_aws_network(vpc_id: object, alb_subnet_ids: object, task_subnet_ids: object) -> None:
    """The rules an existing network must meet, for ids written in a stack file and for ids a program computes
    (`SiteInputs.network`): a list's length when it is a list (of ids, computed or not), an id's kind and form when
    it is a plain value. A list given as one computed value is checked by `check_subnet_ids` once it is known.

    Raises ValueError("<field>: <what is wrong>"), so either caller can name where the field came from.
    """
    if _wrong_id("vpc", vpc_id):
        raise ValueError(f"vpc_id: {quoted(vpc_id)} is not a VPC id (vpc- and 8 or 17 lowercase letters and digits)")
    for field, ids in (("alb_subnet_ids", alb_subnet_ids), ("task_subnet_ids", task_subnet_ids)):
        if is_id_list(ids):
            check_subnet_ids(field, cast(Sequence[object], ids))


def is_id_list(ids: object) -> bool:
    """Whether subnet ids are a list now (each id maybe computed), not one computed value that becomes a list."""
    return isinstance(ids, Sequence) and not isinstance(ids, str)


def check_subnet_ids(field: str, ids: Sequence[object]) -> None:
    least, most = SUBNET_FIELDS[field]
    if len(ids) < least:
        needs = "subnets in at least two Availability Zones" if least > 1 else "at least one subnet"
        raise ValueError(f"{field}: {needs}, got {len(ids)}")
    if most is not None and len(ids) > most:
        raise ValueError(f"{field}: an ECS service takes at most {most} subnets, got {len(ids)}")
    bad = [i for i in ids if _wrong_id("subnet", i)]
    if bad:
        raise ValueError(
            f"{field}: {quoted(bad[0])} is not a subnet id (subnet- and 8 or 17 lowercase letters and digits)"
        )
    known = [i for i in ids if isinstance(i, str)]
    twice = next((i for i in known if known.count(i) > 1), None)
    if twice is not None:
        raise ValueError(f"{field}: {quoted(twice)} is listed twice")


class AwsNetworkSpec(Model):
    """An existing VPC the site runs in instead of one of its own: Bascule then creates no VPC, subnets, internet
    gateway or route table, only the load balancer, tasks and their security groups in the given subnets."""

    vpc_id: str
    alb_subnet_ids: tuple[str, ...]
    """Public subnets (a route to an internet gateway) for the internet-facing load balancer, each in another
    Availability Zone; two at least, and one in every zone of `task_subnet_ids` (tasks in another get no traffic)."""
    task_subnet_ids: tuple[str, ...]
    """Where the tasks run: private subnets with egress (a NAT gateway, or VPC endpoints for ECR, S3 and CloudWatch
    Logs) and `assign_public_ip: false`, or public subnets with `assign_public_ip: true`."""
    assign_public_ip: bool = False
    """Whether each task gets a public IP: how a task in a public subnet reaches ECR to pull its image. Leave false
    for private subnets, where a public IP gives no route out."""

    @field_validator("alb_subnet_ids", "task_subnet_ids", mode="before")
    @classmethod
    def _a_list(cls, v: object) -> object:
        if isinstance(v, (list, tuple)):
            return cast(Sequence[object], v)
        raise ValueError(f"expected a list of subnet ids, got {'a string' if isinstance(v, str) else type(v).__name__}")

    @model_validator(mode="after")
    def _ids(self) -> AwsNetworkSpec:
        check_aws_network(self.vpc_id, self.alb_subnet_ids, self.task_subnet_ids)
        return self


class AwsSiteSpec(ImageSite):
    """ECS Fargate behind an ALB with an ACM certificate, in a VPC of its own (cut from `vpc_cidr`) or in an existing
    one (`network`)."""

    kind: Literal["aws"] = "aws"
    region: str
    container_port: int = Field(default=8080, ge=1, le=65535)
    cpu: Literal[256, 512, 1024, 2048, 4096] = 256
    memory: int = 512
    desired_count: int = Field(default=2, ge=1, le=100)
    vpc_cidr: str = "10.80.0.0/16"
    network: AwsNetworkSpec | None = None
    """An existing VPC and its subnets; without it the site creates its own VPC from `vpc_cidr`."""

    @property
    def cloud(self) -> Cloud:
        return Cloud.AWS

    @model_validator(mode="after")
    def _task_size(self) -> AwsSiteSpec:
        allowed = FARGATE_MEMORY[self.cpu]
        if self.memory not in allowed:
            raise ValueError(
                f"memory: Fargate with cpu {self.cpu} takes {allowed[0]} to {allowed[-1]} MiB "
                f"in steps of {allowed[1] - allowed[0]}, not {self.memory}"
            )
        return self

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError:  # its message repeats the value whole
            raise ValueError(f"{quoted(v)} is not an IPv4 network such as 10.80.0.0/16 (no host bits set)") from None
        if net.version != 4 or not 16 <= net.prefixlen <= 22:
            raise ValueError("must be an IPv4 network from /16 to /22 (two public subnets are cut from it)")
        return v

    @model_validator(mode="after")
    def _own_or_given_vpc(self) -> AwsSiteSpec:
        if self.network is not None and "vpc_cidr" in self.model_fields_set:
            raise ValueError("vpc_cidr: the site creates no VPC when it is given a network; drop one of the two")
        return self


# --- An existing Application Load Balancer (the 'aws-alb' site kind) -----------------------------------
_ELB_ARN = r"arn:(?P<partition>aws[a-z-]*):elasticloadbalancing:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):"
LOAD_BALANCER_ARN = re.compile(_ELB_ARN + r"loadbalancer/(?P<type>app|net|gwy)/(?P<name>[^/]+)/(?P<id>[0-9a-f]+)")
"""`arn:${Partition}:elasticloadbalancing:${Region}:${Account}:loadbalancer/app/${LoadBalancerName}/${LoadBalancerId}`
(`net` for a Network, `gwy` for a Gateway Load Balancer): the resource types of Elastic Load Balancing V2 in
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html."""
LISTENER_ARN = re.compile(
    _ELB_ARN + r"listener/(?P<type>app|net|gwy)/(?P<name>[^/]+)/(?P<id>[0-9a-f]+)/(?P<listener>[0-9a-f]+)"
)
"""`...:listener/app/${LoadBalancerName}/${LoadBalancerId}/${ListenerId}`, same page."""
HOSTED_ZONE_ID_MAX = 32
"""A hosted zone id has at most 32 characters (`Id` in https://docs.aws.amazon.com/Route53/latest/APIReference/API_HostedZone.html);
it is the bare id (`Z...`), not the `/hostedzone/Z...` path some APIs return nor the zone's name."""
LISTENER_RULE_PRIORITY = (1, 50000)
"""A listener rule's priority: 1 to 50000, unique per listener (`priority` of `aws.lb.ListenerRule`; CreateRule
fails with PriorityInUse on a taken one, https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateRule.html)."""


def check_zone_id(field: str, value: object) -> None:
    """A hosted zone id written as such (a plain value): letters and digits, at most 32. A computed one (an Output)
    is checked by the caller once it is known. Raises ValueError("<field>: <what is wrong>")."""
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a hosted zone id, got {type(value).__name__}")
    if not re.fullmatch(rf"[A-Za-z0-9]{{1,{HOSTED_ZONE_ID_MAX}}}", value):
        raise ValueError(
            f"{field}: {quoted(value)} is not a hosted zone id (letters and digits, at most {HOSTED_ZONE_ID_MAX}, e.g. "
            "Z0123456789ABCDEFGHIJ; not a '/hostedzone/' path or a zone name)"
        )


def _elb_arn(field: str, value: str, pattern: re.Pattern[str], what: str, region: str) -> re.Match[str]:
    found = pattern.fullmatch(value)
    if found is None:
        raise ValueError(f"{field}: {quoted(value)} is not {what}")
    if found["type"] != "app":
        kind = {"net": "a Network", "gwy": "a Gateway"}[found["type"]]
        raise ValueError(
            f"{field}: {quoted(value)} belongs to {kind} Load Balancer; an 'aws-alb' site is an Application one"
        )
    if found["region"] != region:
        raise ValueError(f"{field}: {quoted(value)} is in {found['region']}, the site's region is {region}")
    return found


def check_load_balancer(region: str, arn: object, dns_name: object, zone_id: object, listener_arn: object) -> None:
    """An existing load balancer as a stack file or a program gives it: by ARN, or by DNS name and canonical hosted
    zone id; the listener the `health` drill adds its rule to, if any. Plain values are checked here (an ARN's form,
    type and region, a listener of the same load balancer); computed ones (Outputs) are AWS's to judge.

    Raises ValueError("<field>: <what is wrong>")."""
    by_arn = arn is not None
    by_name = dns_name is not None or zone_id is not None
    if by_arn and by_name:
        raise ValueError("load_balancer_arn: give the load balancer by ARN or by DNS name and zone id, not both")
    if not by_arn and not by_name:
        raise ValueError(
            "load_balancer_arn: none given: set load_balancer_arn, or load_balancer_dns_name with "
            "load_balancer_zone_id (in the spec, or SiteInputs.load_balancer from the program)"
        )
    if by_name and (dns_name is None or zone_id is None):
        missing = "load_balancer_zone_id" if zone_id is None else "load_balancer_dns_name"
        raise ValueError(f"{missing}: a load balancer given by name needs both its DNS name and its zone id")
    lb = _elb_arn("load_balancer_arn", arn, LOAD_BALANCER_ARN, "a load balancer ARN", region) if isinstance(
        arn, str) else None  # fmt: skip
    if isinstance(dns_name, str) and not HOSTNAME.match(dns_name.rstrip(".").lower()):
        raise ValueError(f"load_balancer_dns_name: {quoted(dns_name)} is not a DNS name")
    if isinstance(zone_id, str):
        check_zone_id("load_balancer_zone_id", zone_id)
    if isinstance(listener_arn, str):
        listener = _elb_arn("listener_arn", listener_arn, LISTENER_ARN, "a listener ARN", region)
        if lb is not None and (listener["name"], listener["id"]) != (lb["name"], lb["id"]):
            raise ValueError(f"listener_arn: {quoted(listener_arn)} is a listener of another load balancer")


class AwsAlbSiteSpec(SiteSpecBase):
    """An Application Load Balancer that already serves the hostname (the team's own, e.g. in front of an ECS
    service): Bascule creates nothing for it but what failover and drills need (a Route 53 alias to it, and while a
    drill runs a listener rule and a health check)."""

    kind: Literal["aws-alb"] = "aws-alb"
    region: str
    load_balancer_arn: str | None = None
    """`arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>`; or give the next two."""
    load_balancer_dns_name: str | None = None
    """The load balancer's DNS name (`dns_name` of `aws.lb.LoadBalancer`)."""
    load_balancer_zone_id: str | None = None
    """The load balancer's canonical hosted zone id (`zone_id` of `aws.lb.LoadBalancer`), not the service's zone."""
    listener_arn: str | None = None
    """The listener that serves the hostname (HTTPS 443, say): where the `health` drill adds its 503 rule."""
    drill_rule_priority: int = Field(default=LISTENER_RULE_PRIORITY[0], ge=1, le=LISTENER_RULE_PRIORITY[1])
    """A free priority on that listener, lower than the rule that forwards the hostname, for the drill's rule."""

    @property
    def cloud(self) -> Cloud:
        return Cloud.AWS

    @model_validator(mode="after")
    def _literals(self) -> AwsAlbSiteSpec:
        # Only what is written here: a program may give the load balancer instead (`SiteInputs.load_balancer`).
        if self.given_load_balancer:
            check_load_balancer(
                self.region,
                self.load_balancer_arn,
                self.load_balancer_dns_name,
                self.load_balancer_zone_id,
                self.listener_arn,
            )
        elif self.listener_arn is not None:
            _elb_arn("listener_arn", self.listener_arn, LISTENER_ARN, "a listener ARN", self.region)
        return self

    @property
    def given_load_balancer(self) -> bool:
        return any(
            v is not None for v in (self.load_balancer_arn, self.load_balancer_dns_name, self.load_balancer_zone_id)
        )


ALIAS_SITES = (AwsSiteSpec, AwsAlbSiteSpec)
"""Sites behind an AWS load balancer, which Route 53 answers with an alias that evaluates its target health."""


class Route53DnsSpec(DnsSpecBase):
    """Route 53 failover records; the zone is looked up by id, or created with accelerated recovery."""

    kind: Literal["route53"] = "route53"
    zone_id: str | None = None
    """An existing hosted zone (a program may compute it: `FailoverServiceArgs.zone_id`); else one is created."""
    ttl: int = Field(default=ROUTE53_RECOMMENDED_TTL, ge=0, le=facts.DNS_TTL_MAX)

    checker_regions: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-1")

    @field_validator("checker_regions")
    @classmethod
    def _checkers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in ROUTE53_CHECKER_REGIONS]
        if bad:
            raise ValueError(
                f"{', '.join(map(quoted, bad))} not Route 53 checker regions (choose from "
                f"{', '.join(ROUTE53_CHECKER_REGIONS)})"
            )
        if len(set(v)) < ROUTE53_MIN_CHECKER_REGIONS:
            raise ValueError(f"Route 53 needs at least {ROUTE53_MIN_CHECKER_REGIONS} distinct checker regions")
        return v

    @field_validator("zone_id")
    @classmethod
    def _zone_id(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                check_zone_id("zone_id", v)
            except ValueError as exc:
                raise ValueError(str(exc).removeprefix("zone_id: ")) from None
        return v


def _route53_rules(service: ServiceSpec) -> None:
    """Route 53's health-check limits, and which sites its checks can reach with the service's hostname."""
    hc = service.health_check
    if hc.interval_seconds not in ROUTE53_INTERVALS:
        raise ValueError(
            f"health_check.interval_seconds: Route 53 checks every "
            f"{' or '.join(map(str, ROUTE53_INTERVALS))} seconds, not {hc.interval_seconds}"
        )
    lo, hi = ROUTE53_FAILURE_THRESHOLD
    if not lo <= hc.failure_threshold <= hi:
        raise ValueError(f"health_check.failure_threshold: Route 53 accepts {lo} to {hi}, not {hc.failure_threshold}")
    for role, site in (("primary", service.primary), ("secondary", service.secondary)):
        # An AWS load balancer is routed by an alias to it, which inherits the targets' health.
        if not (isinstance(site, ALIAS_SITES) or has_fixed_ip(site)):
            raise ValueError(
                f"{role}: Route 53 sends the service hostname (Host header, SNI) only when a health check "
                f"targets an IP address, and a '{site.kind}' site has none; use dns.kind 'trafficmanager' "
                "(its probes send a Host header), or an 'aws', 'aws-alb' or 'gcp' site, or an 'endpoint' with an IP"
            )
    service.check_in_zone(None)


def _route53_creates_zone(dns: Route53DnsSpec) -> str | None:
    return "zone_id" if dns.zone_id is None else None


SITE = SiteKind(
    kind="aws",
    spec=AwsSiteSpec,
    component="bascule.components.aws.site:AwsSite",
    extra="aws",
    cloud=Cloud.AWS,
    certificate="ACM certificate validated by a DNS record the site writes through the service's DNS backend",
    validation_prefix=ACM_VALIDATION_PREFIX,
    certificate_authorities=ACM_CERTIFICATE_AUTHORITIES,
    levers={
        DrillFault.HEALTH: "a 503 health rule on its load balancer",
        DrillFault.OUTAGE: "its tasks scaled to zero",
    },
    # Behind Route 53 the `health` fault also moves the target group's check to a closed port
    # (`aws.site._drill_health_port`): alone, every task fails it and ECS replaces them all while the alias may still
    # answer this site; after the 503 rule it only confirms a failover under way. The `outage` fault's tasks at zero
    # alone leave the load balancer answering 503 behind an alias whose empty target group AWS documents both as
    # healthy and as unhealthy (`aws.route53.Route53Failover`): after the drill's check of the listener, traffic moves.
    inject_last={
        DrillFault.HEALTH: frozenset({"aws:lb/targetGroup:TargetGroup"}),
        DrillFault.OUTAGE: frozenset({"aws:ecs/service:Service"}),
    },
    data_end=Role.PRIMARY,
    computed_inputs=frozenset({"image", "network"}),
)

EXISTING_OUTAGE_REFUSED = (
    "Bascule does not own an existing site's capacity (its tasks belong to your program and its autoscaling, "
    "which may scale them back), and whether Route 53 counts a load balancer whose target groups are empty as "
    "healthy AWS documents both ways; "
    "drill 'health' (a 503 rule on the listener you name) or 'switch' instead"
)

ALB_SITE = SiteKind(
    kind="aws-alb",
    spec=AwsAlbSiteSpec,
    component="bascule.components.aws.existing:AwsAlbSite",
    extra="aws",
    cloud=Cloud.AWS,
    certificate="your own, on the existing load balancer's listener (Bascule creates none)",
    # No fixed IP: an ALB's addresses change, so IP-only switches (PowerDNS, Cloud DNS) refuse it.
    levers={
        DrillFault.HEALTH: "a 503 rule for the health path on the listener you name (listener_arn), seen by a "
        "Route 53 check of the load balancer while the drill runs",
    },
    no_lever={DrillFault.OUTAGE: EXISTING_OUTAGE_REFUSED},
    computed_inputs=frozenset({"load_balancer"}),
)
"""An existing Application Load Balancer as a site: nothing created for it but what failover and drills need."""

ROUTE53 = DnsBackend(
    kind="route53",
    spec=Route53DnsSpec,
    component="bascule.components.aws.route53:Route53Failover",
    extra="aws",
    cloud=Cloud.AWS,
    check=_route53_rules,
    creates_zone=_route53_creates_zone,
    computed_inputs=frozenset({"zone_id"}),
    acme_dns="route53",  # lego's Route 53 provider (terraform-provider-acme docs/guides/dns-providers-route53.md)
)


def alb_path_pattern(path: str) -> str:
    """The health path as an ALB listener rule's path pattern: "The path pattern is compared only to the path of the
    URL, not to its query string"
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-elasticloadbalancingv2-listenerrule-pathpatternconfig.html),
    and `?` in a pattern is a one-character wildcard: the path without its query."""
    return path.split("?", 1)[0]
