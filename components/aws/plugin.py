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
from bascule.spec.base import DnsSpecBase, DrillFault, ImageSite, Model, Role, check_region
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


def _shown(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


SUBNET_FIELDS = {"alb_subnet_ids": (ALB_MIN_SUBNETS, None), "task_subnet_ids": (1, ECS_MAX_SUBNETS)}
"""How many subnets each list of an existing network takes: (at least, at most)."""


def check_aws_network(vpc_id: object, alb_subnet_ids: object, task_subnet_ids: object) -> None:
    """The rules an existing network must meet, for ids written in a stack file and for ids a program computes
    (`SiteInputs.network`): a list's length when it is a list (of ids, computed or not), an id's kind and form when
    it is a plain value. A list given as one computed value is checked by `check_subnet_ids` once it is known.

    Raises ValueError("<field>: <what is wrong>"), so either caller can name where the field came from.
    """
    if _wrong_id("vpc", vpc_id):
        raise ValueError(f"vpc_id: {_shown(vpc_id)} is not a VPC id (vpc- and 8 or 17 lowercase letters and digits)")
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
            f"{field}: {_shown(bad[0])} is not a subnet id (subnet- and 8 or 17 lowercase letters and digits)"
        )
    known = [i for i in ids if isinstance(i, str)]
    twice = next((i for i in known if known.count(i) > 1), None)
    if twice is not None:
        raise ValueError(f"{field}: '{twice}' is listed twice")


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

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return check_region(Cloud.AWS, v)

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
        net = ipaddress.ip_network(v, strict=True)
        if net.version != 4 or not 16 <= net.prefixlen <= 22:
            raise ValueError("must be an IPv4 network from /16 to /22 (two public subnets are cut from it)")
        return v

    @model_validator(mode="after")
    def _own_or_given_vpc(self) -> AwsSiteSpec:
        if self.network is not None and "vpc_cidr" in self.model_fields_set:
            raise ValueError("vpc_cidr: the site creates no VPC when it is given a network; drop one of the two")
        return self


class Route53DnsSpec(DnsSpecBase):
    """Route 53 failover records; the zone is looked up by id, or created with accelerated recovery."""

    kind: Literal["route53"] = "route53"
    zone_id: str | None = None
    ttl: int = Field(default=ROUTE53_RECOMMENDED_TTL, ge=0, le=facts.DNS_TTL_MAX)

    @field_validator("zone_id")
    @classmethod
    def _zone_id(cls, v: str | None) -> str | None:
        """A hosted zone id is 1 to 32 uppercase letters and digits (`Z0123456789ABC`); `""` would look the zone up
        by nothing, and Route 53 also prints ids as `/hostedzone/ID`, which the API does not take here."""
        if v is not None and not re.fullmatch(rf"[A-Z0-9]{{1,{facts.ROUTE53_ZONE_ID_MAX}}}", v):
            raise ValueError(f"'{v}' is not a Route 53 hosted zone id (1-{facts.ROUTE53_ZONE_ID_MAX} uppercase "
                             "letters and digits, e.g. Z0123456789ABCDEFGHIJ)")  # fmt: skip
        return v

    checker_regions: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-1")

    @field_validator("checker_regions")
    @classmethod
    def _checkers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in ROUTE53_CHECKER_REGIONS]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} not Route 53 checker regions (choose from {', '.join(ROUTE53_CHECKER_REGIONS)})"
            )
        if len(set(v)) < ROUTE53_MIN_CHECKER_REGIONS:
            raise ValueError(f"Route 53 needs at least {ROUTE53_MIN_CHECKER_REGIONS} distinct checker regions")
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
        # An 'aws' site is routed by an alias to its load balancer, which inherits the targets' health.
        if not (isinstance(site, AwsSiteSpec) or has_fixed_ip(site)):
            raise ValueError(
                f"{role}: Route 53 sends the service hostname (Host header, SNI) only when a health check "
                f"targets an IP address, and a '{site.kind}' site has none; use dns.kind 'trafficmanager' "
                "(its probes send a Host header), or an 'aws' or 'gcp' site, or an 'endpoint' with an IP"
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
    levers={
        DrillFault.HEALTH: "a 503 health rule on its load balancer",
        DrillFault.OUTAGE: "its tasks scaled to zero",
    },
    data_end=Role.PRIMARY,
    computed_inputs=frozenset({"image", "network"}),
)

ROUTE53 = DnsBackend(
    kind="route53",
    spec=Route53DnsSpec,
    component="bascule.components.aws.route53:Route53Failover",
    extra="aws",
    cloud=Cloud.AWS,
    check=_route53_rules,
    creates_zone=_route53_creates_zone,
)
