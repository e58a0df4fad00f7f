"""The service spec: what a platform engineer writes under `bascule:services` in a stack file.

Validated once, before any resource is declared, so a bad value costs a one-line error instead of a
half-applied stack. Defaults aim at fast but damped failover: 10 s checks, 3 consecutive failures,
60 s TTL (about 90 s before most clients move), a warm secondary with at least one replica.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bascule import facts
from bascule.facts import Cloud

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")


TAG_SERVICE = "bascule:service"
TAG_ROLE = "bascule:role"
TAG_CRITICALITY = "bascule:criticality"
TAG_RTO = "bascule:rto-seconds"
TAG_RPO = "bascule:rpo-seconds"
"""Tag (AWS, Azure) keys every resource of a service carries; inventories and policies find workloads by them."""


class Criticality(StrEnum):
    CRITICAL = "critical"
    IMPORTANT = "important"
    STANDARD = "standard"


class Role(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    DNS = "dns"


MAX_RTO_SECONDS = 7 * 24 * 3600
"""A week: an RTO or RPO beyond it is a typo, not a recovery objective."""


def _numeric(annotation: Any) -> bool:
    return annotation in (int, float) or any(arg in (int, float) for arg in get_args(annotation))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """YAML's `true` is a number to pydantic (1): `rto_seconds: true` must be an error, not one second."""
        if isinstance(data, Mapping):
            for name, info in cls.model_fields.items():
                if isinstance(data.get(name), bool) and _numeric(info.annotation):
                    raise ValueError(f"{name}: expected a number, not {str(data[name]).lower()}")
        return data


def _image(value: str) -> str:
    if not value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not a container image reference (e.g. ghcr.io/org/app:1.2.3)")
    return value


Image = Annotated[str, AfterValidator(_image)]


def _check_region(cloud: Cloud, value: str) -> str:
    if facts.region(cloud, value) is None:
        close = difflib.get_close_matches(value, facts.REGIONS[cloud], n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"'{value}' is not a known {cloud.value} region{hint}")
    return value


def _check_gcp_project(value: str) -> str:
    if not re.match(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", value):
        raise ValueError(f"'{value}' is not a GCP project id (6-30 lowercase letters, digits, hyphens)")
    return value


ALB_MIN_SUBNETS = 2
"""An Application Load Balancer takes subnets from at least two Availability Zones, one subnet per zone
(`Subnets` in https://docs.amazonaws.cn/elasticloadbalancing/latest/APIReference/API_SetSubnets.html, the same
text as CreateLoadBalancer's; https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html
"Subnets for your load balancer")."""
ECS_MAX_SUBNETS = 16
"""An ECS service's awsvpc configuration takes up to 16 subnets, all of one VPC (`subnets` in
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html)."""


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


def no_network_here(kind: str) -> str:
    """Why a site of `kind` (not aws) takes no `network`, said alike for a stack file and a program."""
    return f"only aws sites run in a given network (this site is {kind})"


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
            assert isinstance(ids, Sequence)
            check_subnet_ids(field, ids)


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


class AwsNetworkSpec(_Model):
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
            return v
        raise ValueError(f"expected a list of subnet ids, got {'a string' if isinstance(v, str) else type(v).__name__}")

    @model_validator(mode="after")
    def _ids(self) -> AwsNetworkSpec:
        check_aws_network(self.vpc_id, self.alb_subnet_ids, self.task_subnet_ids)
        return self


class AwsSiteSpec(_Model):
    """ECS Fargate behind an ALB with an ACM certificate, in a VPC of its own (cut from `vpc_cidr`) or in an existing
    one (`network`)."""

    kind: Literal["aws"] = "aws"
    region: str
    image: Image | None = None
    """Required in a stack file; a program may pass `SiteInputs.image` instead."""
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
        return _check_region(Cloud.AWS, v)

    @model_validator(mode="after")
    def _task_size(self) -> AwsSiteSpec:
        allowed = facts.FARGATE_MEMORY[self.cpu]
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


class AzureSiteSpec(_Model):
    """Azure Container Apps in an environment of its own; warm means at least one replica always on."""

    kind: Literal["azure"] = "azure"
    location: str
    image: Image | None = None
    """Required in a stack file; a program may pass `SiteInputs.image` instead."""
    container_port: int = Field(default=8080, ge=1, le=65535)
    cpu: float = 0.5
    min_replicas: int = Field(default=1, ge=1, le=300)
    max_replicas: int = Field(default=3, ge=1, le=300)

    @property
    def cloud(self) -> Cloud:
        return Cloud.AZURE

    @property
    def region(self) -> str:
        return self.location

    @property
    def memory(self) -> str:
        """Consumption-plan apps get exactly 2 GiB per vCPU; any other pairing is rejected by Azure."""
        return f"{self.cpu * 2:g}Gi"

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: float) -> float:
        if v not in facts.CONTAINER_APPS_CPU:
            raise ValueError(f"Container Apps takes 0.25 to 4 vCPU in steps of 0.25, not {v}")
        return v

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        return _check_region(Cloud.AZURE, v)

    @model_validator(mode="after")
    def _replicas(self) -> AzureSiteSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})")
        return self


class GcpSiteSpec(_Model):
    """Cloud Run (v2) behind a global external HTTPS load balancer: a fixed IP and a managed certificate.

    The load balancer gives the site what Cloud Run alone lacks for DNS failover: one stable address that
    serves the service's own hostname with TLS, and that health checkers and IP-only switches can use.
    """

    kind: Literal["gcp"] = "gcp"
    project: str
    region: str
    image: Image | None = None
    """Required in a stack file; a program may pass `SiteInputs.image` instead."""
    container_port: int = Field(default=8080, ge=1, le=65535)
    cpu: Literal["1", "2", "4", "8"] = "1"
    memory: str = "512Mi"
    min_instances: int = Field(default=1, ge=1, le=1000)
    max_instances: int = Field(default=3, ge=1, le=1000)

    @property
    def cloud(self) -> Cloud:
        return Cloud.GCP

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return _check_region(Cloud.GCP, v)

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        return _check_gcp_project(v)

    @property
    def memory_mib(self) -> int:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", self.memory).groups()  # type: ignore[union-attr]
        return int(number) * (1024 if unit == "Gi" else 1)

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(Mi|Gi)", v):
            raise ValueError(f"'{v}' is not a Cloud Run memory limit such as 512Mi or 2Gi")
        return v

    @model_validator(mode="after")
    def _cpu_memory(self) -> GcpSiteSpec:
        """Cloud Run's pairing rules: memory range, memory that needs more CPUs, CPUs that need more memory."""
        cpu, mib = int(self.cpu), self.memory_mib
        low, high = facts.CLOUD_RUN_MEMORY_MIB
        if not low <= mib <= high:
            raise ValueError(f"memory: Cloud Run takes {low}Mi to {high // 1024}Gi, not {self.memory}")
        needed = next((n for above, n in facts.CLOUD_RUN_MIN_CPU_FOR_MEMORY if mib > above), 1)
        if cpu < needed:
            raise ValueError(f"cpu: Cloud Run needs at least {needed} CPUs for {self.memory}, not {self.cpu}")
        least = facts.CLOUD_RUN_MIN_MEMORY_FOR_CPU.get(cpu, 0)
        if mib < least:
            raise ValueError(f"memory: Cloud Run with {cpu} CPUs needs at least {least // 1024}Gi, not {self.memory}")
        return self

    @model_validator(mode="after")
    def _scale(self) -> GcpSiteSpec:
        if self.max_instances < self.min_instances:
            raise ValueError(f"max_instances ({self.max_instances}) is below min_instances ({self.min_instances})")
        return self


class ScalewaySiteSpec(_Model):
    """Scaleway Serverless Containers: parsed so that a stack naming it gets the reason it is refused.

    `ServiceSpec` refuses it in either role: the container's custom domain is certified by HTTP-01 only after
    Scaleway checks that the hostname points at the container (scaleway/docs-content#3593), which a failover
    hostname pointing at the other site never does.
    """

    kind: Literal["scaleway"] = "scaleway"
    region: str
    image: Image
    project_id: str | None = None
    container_port: int = Field(default=8080, ge=1, le=65535)
    cpu_limit: int = Field(default=1000, ge=70, le=6000)
    """mVCPU."""
    memory_limit: int = Field(default=2048, ge=128, le=12288)
    """MB."""
    min_scale: int = Field(default=1, ge=1, le=100)
    max_scale: int = Field(default=3, ge=1, le=100)

    @property
    def cloud(self) -> Cloud:
        return Cloud.SCALEWAY

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        return _check_region(Cloud.SCALEWAY, v)

    @model_validator(mode="after")
    def _scale(self) -> ScalewaySiteSpec:
        if self.max_scale < self.min_scale:
            raise ValueError(f"max_scale ({self.max_scale}) is below min_scale ({self.min_scale})")
        return self


class EndpointSiteSpec(_Model):
    """Bring your own: a site Bascule does not create, only health-checks and routes to."""

    kind: Literal["endpoint"] = "endpoint"
    provider: Cloud
    region: str
    address: str

    @property
    def cloud(self) -> Cloud:
        return self.provider

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            return False
        return True

    @model_validator(mode="after")
    def _check(self) -> EndpointSiteSpec:
        _check_region(self.provider, self.region)
        if not self.is_ip and not _HOSTNAME.match(self.address):
            raise ValueError(f"address '{self.address}' is neither an IP address nor a DNS hostname")
        if self.is_ip and _unreachable(ipaddress.ip_address(self.address)):
            # A health checker elsewhere can never reach these; Route 53 "can't check the health of endpoints for
            # which the IP address is in local, private, non-routable, or multicast ranges" (HealthCheckConfig
            # IPAddress, mirrored at
            # https://docs.rs/aws-sdk-route53/1.103.0/aws_sdk_route53/types/builders/struct.HealthCheckConfigBuilder.html).
            # Private ranges stay allowed: a self-hosted PowerDNS can check a site on its own network.
            raise ValueError(
                f"address '{self.address}' is unspecified, loopback, link-local, multicast or reserved "
                "(e.g. broadcast): no health checker can reach a site there"
            )
        return self


def _unreachable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved


AnySite = AwsSiteSpec | AzureSiteSpec | GcpSiteSpec | ScalewaySiteSpec | EndpointSiteSpec
ImageSite = AwsSiteSpec | AzureSiteSpec | GcpSiteSpec
"""Sites whose image a program may compute (`SiteInputs.image`) instead of the spec's `image`."""
SiteSpec = Annotated[AnySite, Field(discriminator="kind")]


class HealthCheckSpec(_Model):
    protocol: Literal["HTTPS", "HTTP"] = "HTTPS"
    path: str = "/healthz"
    port: int | None = Field(default=None, ge=1, le=65535)
    interval_seconds: int = Field(default=10, ge=1)
    failure_threshold: int = 3
    search_string: str | None = None

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (443 if self.protocol == "HTTPS" else 80)

    def timeout_exceeds(self, timeout_seconds: int) -> bool:
        return self.interval_seconds <= timeout_seconds

    @property
    def detection_seconds(self) -> int:
        return self.interval_seconds * self.failure_threshold

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or " " in v:
            raise ValueError(f"'{v}' must be an absolute URL path starting with '/' and without spaces")
        return v

    @field_validator("search_string")
    @classmethod
    def _search(cls, v: str | None) -> str | None:
        if v is not None and not 1 <= len(v) <= facts.ROUTE53_SEARCH_STRING_MAX:
            raise ValueError(f"must be 1 to {facts.ROUTE53_SEARCH_STRING_MAX} characters")
        return v


class _DnsBase(_Model):
    """What every DNS backend has: the zone that holds the service's name."""

    zone: str

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        v = v.rstrip(".").lower()
        if not _HOSTNAME.match(v):
            raise ValueError(f"'{v}' is not a DNS zone name")
        return v


class Route53DnsSpec(_DnsBase):
    """Route 53 failover records; the zone is looked up by id, or created with accelerated recovery."""

    kind: Literal["route53"] = "route53"
    zone_id: str | None = None
    ttl: int = Field(default=facts.ROUTE53_RECOMMENDED_TTL, ge=0, le=facts.DNS_TTL_MAX)
    checker_regions: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-1")

    @field_validator("checker_regions")
    @classmethod
    def _checkers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in facts.ROUTE53_CHECKER_REGIONS]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} not Route 53 checker regions "
                f"(choose from {', '.join(facts.ROUTE53_CHECKER_REGIONS)})"
            )
        if len(set(v)) < facts.ROUTE53_MIN_CHECKER_REGIONS:
            raise ValueError(f"Route 53 needs at least {facts.ROUTE53_MIN_CHECKER_REGIONS} distinct checker regions")
        return v


class PowerDnsSpec(_DnsBase):
    """A LUA `ifurlup()` record in a self-hosted PowerDNS zone, managed through its HTTP API.

    The switch runs outside every cloud's control plane; its checks run on the PowerDNS servers. The API
    key comes from the secret stack config `bascule:powerdnsApiKey`, never from this file.
    """

    kind: Literal["powerdns"] = "powerdns"
    api_url: str
    server_id: str = "localhost"
    ttl: int = Field(default=30, ge=0, le=facts.DNS_TTL_MAX)
    check_timeout_seconds: int = Field(default=2, ge=1, le=30)

    @field_validator("api_url")
    @classmethod
    def _api(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/.*)?$", v):
            raise ValueError(f"'{v}' is not an http(s) URL of the PowerDNS API (e.g. https://ns1.example.eu:8081)")
        return v.rstrip("/")


class TrafficManagerDnsSpec(_DnsBase):
    """Azure Traffic Manager, priority routing: the switch lives outside AWS, the usual primary.

    The service hostname is a CNAME to the profile, in an Azure DNS zone: created (delegate it at your
    registrar) or, with `zone_resource_group`, one that already exists there.
    """

    kind: Literal["trafficmanager"] = "trafficmanager"
    zone_resource_group: str | None = None
    location: str = "westeurope"
    """Where the resource group of the profile (and of a new zone) lives; the profile itself is global."""
    ttl: int = Field(default=30, ge=0, le=facts.DNS_TTL_MAX)
    monitor_timeout_seconds: int = 5

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        return _check_region(Cloud.AZURE, v)


class CloudDnsSpec(_DnsBase):
    """GCP Cloud DNS primary/backup routing policy, health-checked from three GCP regions.

    Health-checked external endpoints are IP addresses: both sites need a fixed IP (a 'gcp' site, or an
    'endpoint' with an IP such as an AWS NLB's Elastic IP). The org policy
    `compute.disableInternetNetworkEndpointGroup` must be off for public-IP health checks.
    """

    kind: Literal["clouddns"] = "clouddns"
    project: str
    managed_zone: str | None = None
    """Name of an existing managed zone for `zone`; without it one is created (delegate it)."""
    ttl: int = Field(default=30, ge=0, le=facts.DNS_TTL_MAX)
    source_regions: tuple[str, ...] = ("europe-west1", "europe-west4", "europe-north1")
    backup_region: str = "europe-west1"
    check_timeout_seconds: int = Field(default=5, ge=1, le=300)

    @field_validator("source_regions")
    @classmethod
    def _sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            _check_region(Cloud.GCP, name)
        if len(set(v)) != facts.CLOUD_DNS_SOURCE_REGIONS:
            raise ValueError(
                f"Cloud DNS health checks need exactly {facts.CLOUD_DNS_SOURCE_REGIONS} distinct source regions, "
                f"not {len(set(v))}"
            )
        return v

    @field_validator("backup_region")
    @classmethod
    def _backup(cls, v: str) -> str:
        return _check_region(Cloud.GCP, v)

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        return _check_gcp_project(v)


DnsSpec = Annotated[Route53DnsSpec | PowerDnsSpec | TrafficManagerDnsSpec | CloudDnsSpec, Field(discriminator="kind")]


MAX_SOURCE_PREFIX = 24
"""The widest block a database firewall entry may admit: a /24 (256 addresses) is a site's subnet, anything wider is
a provider's whole range, which admits every other tenant of it."""


def _check_cidrs(field: str, cidrs: tuple[str, ...]) -> tuple[str, ...]:
    """Database firewall entries: IPv4 (Flexible Server firewall rules are IPv4 ranges), and no wider than a /24."""
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{field}: '{cidr}' is not an IPv4 address or CIDR block") from None
        if network.version != 4:
            raise ValueError(f"{field}: '{cidr}' is IPv6; database firewall rules here are IPv4")
        if network.prefixlen == 0:
            raise ValueError(f"{field}: '{cidr}' opens the database to the whole internet; list the addresses")
        if network.prefixlen < MAX_SOURCE_PREFIX:
            raise ValueError(
                f"{field}: '{cidr}' admits {network.num_addresses} addresses; list blocks of /{MAX_SOURCE_PREFIX} or "
                "narrower"
            )
    return cidrs


class RdsPostgresSpec(_Model):
    """The publisher: RDS for PostgreSQL in the primary (AWS) site's region, logical replication turned on."""

    kind: Literal["rds"] = "rds"
    engine_version: str = "16"
    instance_class: str = "db.t4g.medium"
    allocated_storage_gb: int = Field(default=50, ge=20, le=65536)
    wal_keep_mb: int = Field(default=10240, ge=1024)
    """`max_slot_wal_keep_size`: WAL a silent subscriber may pin before its slot is invalidated, not the disk full."""
    replication_source_cidrs: tuple[str, ...] = Field(min_length=1)
    """Addresses the standby connects from: its public outbound address with public access, the delegated subnet's
    CIDR with private access (`standby.delegated_subnet_id`)."""
    admin_cidrs: tuple[str, ...] = Field(min_length=1)
    """Addresses the deployer runs `pulumi up` from: its SQL step (roles, databases, publication, subscription)
    connects to both databases, so both admit these."""
    app_cidrs: tuple[str, ...] = ()
    """Addresses the application's sites connect from (their egress): admitted by both databases, since the app
    writes to the standby once it is promoted."""
    vpc_id: str | None = None
    """With private access: the VPC (reached from Azure by the site-to-site VPN) the security group belongs to."""
    db_subnet_group: str | None = None
    """With private access: an existing DB subnet group in `vpc_id` the instance is placed in, not publicly
    accessible."""

    @property
    def major(self) -> int:
        return int(self.engine_version.split(".")[0])

    @field_validator("engine_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+)?", v) or int(v.split(".")[0]) < 13:
            raise ValueError(f"'{v}': max_slot_wal_keep_size needs PostgreSQL 13 or later (give e.g. '16')")
        return v

    @field_validator("replication_source_cidrs", "admin_cidrs", "app_cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        return _check_cidrs(str(info.field_name), v)

    @model_validator(mode="after")
    def _storage(self) -> RdsPostgresSpec:
        """A slot may pin `wal_keep_mb` of WAL before it is invalidated; below half the disk, the rest stays free for
        the data and its own WAL."""
        if self.wal_keep_mb * 2 > self.allocated_storage_gb * 1024:
            raise ValueError(
                f"wal_keep_mb: {self.wal_keep_mb} MB is over half of allocated_storage_gb ({self.allocated_storage_gb} "
                "GB); a silent standby could fill the disk before its slot is invalidated"
            )
        return self

    @property
    def private(self) -> bool:
        return self.db_subnet_group is not None


class AzurePostgresStandbySpec(_Model):
    """The subscriber: Azure Database for PostgreSQL Flexible Server in the secondary (Azure) site's location."""

    kind: Literal["azure-flexible"] = "azure-flexible"
    sku: str = "Standard_D2ds_v5"
    tier: Literal["Burstable", "GeneralPurpose", "MemoryOptimized"] = "GeneralPurpose"
    storage_gb: int = Field(default=64, ge=32, le=32768)
    administrator_login: str = "bascule"
    delegated_subnet_id: str | None = None
    """Private access: the resource id of a subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers. Set only at
    creation (a server cannot move between public and private access)."""
    private_dns_zone_id: str | None = None
    """Private access: the resource id of the private DNS zone (`*.postgres.database.azure.com`) linked to the VNet."""

    @property
    def private(self) -> bool:
        return self.delegated_subnet_id is not None


_TABLE = re.compile(r"^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$")


class DataSpec(_Model):
    """A data standby: the primary's PostgreSQL published table by table to a standby at the EU provider."""

    kind: Literal["postgres"] = "postgres"
    primary: RdsPostgresSpec
    standby: AzurePostgresStandbySpec
    databases: tuple[str, ...] = Field(min_length=1)
    tables: tuple[str, ...] = ()
    """Tables to publish (schema.table, unquoted lowercase names); empty publishes every table of each database. They
    must exist on the primary before the publication is created. The service's `rpo_seconds` is the data loss a data
    drill may observe."""

    @field_validator("tables")
    @classmethod
    def _tables(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for table in v:
            if not _TABLE.match(table):
                raise ValueError(f"tables: '{table}' is not schema.table (unquoted lowercase, e.g. public.orders)")
        return v

    @model_validator(mode="after")
    def _network(self) -> DataSpec:
        """Private access needs both ends private: the standby's VNet reaches RDS's VPC only over the VPN."""
        p, s = self.primary, self.standby
        if (s.delegated_subnet_id is None) != (s.private_dns_zone_id is None):
            raise ValueError("standby: private access needs both delegated_subnet_id and private_dns_zone_id")
        if (p.vpc_id is None) != (p.db_subnet_group is None):
            raise ValueError("primary: private access needs both vpc_id and db_subnet_group")
        if p.private != s.private:
            raise ValueError(
                "data: private access is both ends or neither (primary.db_subnet_group with standby.delegated_subnet_id"
                "): the standby reaches a private RDS only from its VNet over the site-to-site VPN"
            )
        return self


class ServiceSpec(_Model):
    name: str
    hostname: str
    criticality: Criticality = Criticality.CRITICAL
    rto_seconds: int = Field(default=300, gt=0, le=MAX_RTO_SECONDS)
    rpo_seconds: int = Field(default=60, ge=0, le=MAX_RTO_SECONDS)
    allow_rto_overrun: bool = False
    """Opt out of the RTO budget error for this service: the overrun is then reported as a warning."""
    allow_same_region: bool = False
    """Accept a secondary in the primary's provider and region (another account, say): a warning here, and
    the policy check still rejects it for critical services."""
    primary: SiteSpec
    secondary: SiteSpec
    health_check: HealthCheckSpec = HealthCheckSpec()
    dns: DnsSpec
    data: DataSpec | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"'{v}' must be 2-32 lowercase letters, digits or '-', starting with a letter "
                "(it becomes part of cloud resource names)"
            )
        return v

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        v = v.rstrip(".").lower()
        if not _HOSTNAME.match(v):
            raise ValueError(f"'{v}' is not a DNS hostname")
        return v

    def _check_data(self, data: DataSpec) -> None:
        """Each database sits beside its site: RDS beside an AWS primary, Flexible Server beside an Azure secondary."""
        if self.primary.cloud is not Cloud.AWS:
            raise ValueError(
                f"data.primary.kind: 'rds' runs on AWS, but the primary site is on {self.primary.cloud.value}; the "
                "primary database sits in the primary site's region"
            )
        if self.secondary.cloud is not Cloud.AZURE:
            raise ValueError(
                f"data.standby.kind: 'azure-flexible' runs on Azure, but the secondary site is on "
                f"{self.secondary.cloud.value}; the standby sits beside the secondary so both move together"
            )

    @property
    def rto_budget_seconds(self) -> int:
        """Health-check detection plus the time resolvers may keep serving the old answer."""
        return self.health_check.detection_seconds + self.dns.ttl

    @model_validator(mode="after")
    def _cross_field(self) -> ServiceSpec:
        p, s = self.primary, self.secondary
        if (p.cloud, p.region) == (s.cloud, s.region) and not self.allow_same_region:
            raise ValueError(
                f"secondary: must differ from the primary in provider or region (both are {p.cloud.value} {p.region}; "
                "allow_same_region: true accepts it)"
            )
        for role, site in (("primary", p), ("secondary", s)):
            if isinstance(site, ScalewaySiteSpec):
                raise ValueError(
                    f"{role}.kind: Scaleway Serverless Containers get a custom domain's certificate only by HTTP-01 "
                    "after checking that the hostname's CNAME points at the container (scaleway/docs-content#3593), "
                    "so a site the hostname does not point at never serves it; use an 'endpoint' site for a "
                    "Scaleway front end you run with your own certificate, or a 'gcp' site"
                )
            if isinstance(site, AzureSiteSpec):
                app = facts.NAME_LIMITS[facts.CONTAINER_APP]
                if not re.match(app.pattern, f"{self.name}-{role}"):
                    raise ValueError(
                        f"name: '{self.name}' would name the {role} Container App '{self.name}-{role}', and Container "
                        "App names are lowercase letters, digits and single '-' (no '--'); rename the service"
                    )
        self._check_generated_dns_names()
        if self.data is not None:
            self._check_data(self.data)
        hc = self.health_check
        if self.dns.kind == "route53":
            if hc.interval_seconds not in facts.ROUTE53_INTERVALS:
                raise ValueError(
                    f"health_check.interval_seconds: Route 53 checks every "
                    f"{' or '.join(map(str, facts.ROUTE53_INTERVALS))} seconds, not {hc.interval_seconds}"
                )
            lo, hi = facts.ROUTE53_FAILURE_THRESHOLD
            if not lo <= hc.failure_threshold <= hi:
                raise ValueError(
                    f"health_check.failure_threshold: Route 53 accepts {lo} to {hi}, not {hc.failure_threshold}"
                )
            for role, site in (("primary", p), ("secondary", s)):
                if not (isinstance(site, AwsSiteSpec) or _has_fixed_ip(site)):
                    raise ValueError(
                        f"{role}: Route 53 sends the service hostname (Host header, SNI) only when a health check "
                        f"targets an IP address, and a '{site.kind}' site has none; use dns.kind 'trafficmanager' "
                        "(its probes send a Host header), or an 'aws' or 'gcp' site, or an 'endpoint' with an IP"
                    )
            self._check_in_zone(None)
        elif isinstance(self.dns, TrafficManagerDnsSpec):
            self._check_traffic_manager(self.dns)
        elif isinstance(self.dns, CloudDnsSpec):
            self._check_cloud_dns(self.dns)
        elif self.dns.kind == "powerdns":
            for role, site in (("primary", p), ("secondary", s)):
                if not _has_fixed_ip(site):
                    raise ValueError(
                        f"{role}: PowerDNS ifurlup() checks and answers IP addresses, and a '{site.kind}' site is "
                        "reached by a hostname without a fixed IP; use a 'gcp' site or an 'endpoint' with an IP"
                    )
            self._check_in_zone(None)
            if hc.failure_threshold < 1:
                raise ValueError(f"health_check.failure_threshold: must be 1 or more, not {hc.failure_threshold}")
            if hc.timeout_exceeds(self.dns.check_timeout_seconds):
                raise ValueError("health_check.interval_seconds: must be longer than dns.check_timeout_seconds")
        if self.rto_budget_seconds > self.rto_seconds and not self.allow_rto_overrun:
            raise ValueError(f"rto_seconds: {self.rto_overrun_message} (or set allow_rto_overrun: true)")
        return self

    def _check_generated_dns_names(self) -> None:
        """Records Bascule writes next to the hostname (ownership proofs, a GCP site's own name) must be DNS names."""
        for role, site in (("primary", self.primary), ("secondary", self.secondary)):
            prefix = facts.VALIDATION_PREFIX_MAX.get(site.kind, 0)
            if len(self.hostname) + prefix > facts.DNS_NAME_MAX:
                raise ValueError(
                    f"hostname: at most {facts.DNS_NAME_MAX - prefix} characters with a '{site.kind}' {role} "
                    f"(its ownership record adds {prefix} before it, and DNS names end at {facts.DNS_NAME_MAX})"
                )
            if isinstance(site, GcpSiteSpec):
                own = f"{self.name}-{role}.{self.dns.zone}"
                if len(own) > facts.DNS_NAME_MAX:
                    raise ValueError(
                        f"dns.zone: the {role} site's own record '{self.name}-{role}.<zone>' would be {len(own)} "
                        f"characters, over DNS's {facts.DNS_NAME_MAX}; use a shorter zone or service name"
                    )

    def _check_in_zone(self, apex_refused_because: str | None) -> None:
        """The hostname must be in the DNS zone; backends that answer with a CNAME cannot use the apex."""
        zone = self.dns.zone
        if apex_refused_because is not None and self.hostname == zone:
            raise ValueError(
                f"hostname: '{self.hostname}' must be a name below the zone '{zone}' ({apex_refused_because})"
            )
        if self.hostname != zone and not self.hostname.endswith("." + zone):
            reason = f" ({apex_refused_because})" if apex_refused_because else ""
            raise ValueError(f"hostname: '{self.hostname}' must be a name below the zone '{zone}'{reason}")

    def _check_cloud_dns(self, dns: CloudDnsSpec) -> None:
        hc = self.health_check
        for role, site in (("primary", self.primary), ("secondary", self.secondary)):
            if not _has_fixed_ip(site):
                raise ValueError(
                    f"{role}: Cloud DNS health-checks external endpoints by IP address, and a '{site.kind}' site "
                    "has no fixed IP (an AWS ALB's addresses change); use a 'gcp' site or an 'endpoint' with an IP "
                    "(e.g. an NLB Elastic IP), or another DNS backend"
                )
        if hc.interval_seconds < facts.CLOUD_DNS_MIN_INTERVAL:
            raise ValueError(
                f"health_check.interval_seconds: with {facts.CLOUD_DNS_SOURCE_REGIONS} source regions Cloud DNS "
                f"health checks run every {facts.CLOUD_DNS_MIN_INTERVAL} s or more, not {hc.interval_seconds}"
            )
        if not 1 <= hc.failure_threshold <= 10:
            raise ValueError(f"health_check.failure_threshold: GCP accepts 1 to 10, not {hc.failure_threshold}")
        if dns.check_timeout_seconds > hc.interval_seconds:
            raise ValueError("dns.check_timeout_seconds: must not exceed health_check.interval_seconds")
        self._check_in_zone(None)

    def _check_traffic_manager(self, dns: TrafficManagerDnsSpec) -> None:
        hc = self.health_check
        if hc.interval_seconds not in facts.TRAFFIC_MANAGER_INTERVALS:
            raise ValueError(
                "health_check.interval_seconds: Traffic Manager probes every 10 or 30 seconds, "
                f"not {hc.interval_seconds}"
            )
        low, high = facts.TRAFFIC_MANAGER_TIMEOUTS[hc.interval_seconds]
        if not low <= dns.monitor_timeout_seconds <= high:
            raise ValueError(
                f"dns.monitor_timeout_seconds: with {hc.interval_seconds} s probes Traffic Manager accepts {low} to "
                f"{high} s, not {dns.monitor_timeout_seconds}"
            )
        lo, hi = facts.TRAFFIC_MANAGER_TOLERATED_FAILURES
        if not lo + 1 <= hc.failure_threshold <= hi + 1:
            raise ValueError(
                f"health_check.failure_threshold: Traffic Manager tolerates {lo} to {hi} failures before the next "
                f"one fails over, so the threshold is {lo + 1} to {hi + 1}, not {hc.failure_threshold}"
            )
        if _targets_ip(self.primary) != _targets_ip(self.secondary):
            raise ValueError(
                "secondary: Traffic Manager external endpoints of one profile cannot mix hostnames and IP addresses"
            )
        self._check_in_zone("it becomes a CNAME to the Traffic Manager profile")

    @property
    def rto_overrun_message(self) -> str:
        hc = self.health_check
        return (
            f"detection {hc.interval_seconds} s x {hc.failure_threshold} + TTL {self.dns.ttl} s = "
            f"{self.rto_budget_seconds} s exceeds the RTO target of {self.rto_seconds} s"
        )


def _targets_ip(site: AnySite) -> bool:
    """Whether DNS answers the site by IP. A GCP site is answered by name (an A record Bascule adds), but
    it also has a fixed IP that IP-only switches (PowerDNS) use: see `_has_fixed_ip`."""
    return isinstance(site, EndpointSiteSpec) and site.is_ip


def _has_fixed_ip(site: AnySite) -> bool:
    return isinstance(site, GcpSiteSpec) or _targets_ip(site)


class StackSpec(_Model):
    services: tuple[ServiceSpec, ...]

    @model_validator(mode="after")
    def _unique(self) -> StackSpec:
        seen: set[str] = set()
        hosts: set[str] = set()
        created_zones: set[str] = set()
        for svc in self.services:
            if isinstance(svc.dns, Route53DnsSpec) and svc.dns.zone_id is None:
                if svc.dns.zone in created_zones:
                    raise ValueError(
                        f"service '{svc.name}': dns.zone_id: zone '{svc.dns.zone}' is shared; create it once "
                        "and give every service its zone_id (two zones of one name would split the records)"
                    )
                created_zones.add(svc.dns.zone)
            if svc.name in seen:
                raise ValueError(f"service name '{svc.name}' is used twice")
            if svc.hostname in hosts:
                raise ValueError(f"hostname '{svc.hostname}' is used by two services")
            seen.add(svc.name)
            hosts.add(svc.hostname)
        return self

    def warnings(self) -> list[str]:
        found = [
            f"service '{s.name}': rto_seconds: {s.rto_overrun_message} (allowed by allow_rto_overrun)"
            for s in self.services
            if s.rto_budget_seconds > s.rto_seconds
        ]
        found += [
            f"service '{s.name}': secondary: in the primary's provider and region, {s.primary.cloud.value} "
            f"{s.primary.region} (allowed by allow_same_region): one regional outage takes both"
            for s in self.services
            if (s.primary.cloud, s.primary.region) == (s.secondary.cloud, s.secondary.region)
        ]
        return found


class DrillFault(StrEnum):
    HEALTH = "health"
    OUTAGE = "outage"
    SWITCH = "switch"


class DrillHook(_Model):
    """Stack config `bascule:drill`: which service a drill is breaking right now, and how.

    Set and cleared by `bascule drill --stack` around a `pulumi up`; the components change only what
    this fault needs, and only for this service.
    """

    service: str
    fault: DrillFault
    deadline: datetime | None = None
    """When the drill may be assumed dead and the stack restored by any scheduled job (the dead-man switch in
    `bascule.drills`); absent in markers an older Bascule set. The components ignore it."""

    def check_against(self, stack: StackSpec) -> None:
        svc = next((s for s in stack.services if s.name == self.service), None)
        if svc is None:
            names = ", ".join(s.name for s in stack.services)
            raise ValueError(f"service: no service '{self.service}' in this stack (it has: {names})")
        if self.fault is not DrillFault.SWITCH and svc.primary.kind != "aws":
            raise ValueError(
                f"fault: '{self.fault.value}' needs an aws primary (a 503 health rule on its load balancer, or its "
                f"tasks scaled to zero); '{svc.name}' has a '{svc.primary.kind}' primary: use fault 'switch'"
            )
