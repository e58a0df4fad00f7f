"""The two plug-in interfaces every site kind and DNS backend implements.

A site only needs to say where traffic for it goes (`SiteEndpoint`); a DNS backend only needs two
endpoints to wire failover. Sites that must prove domain ownership (ACM, Container Apps) ask the DNS
backend for records through `DnsRecords`, so no site knows which DNS provider is in use.
"""

from __future__ import annotations

import hashlib
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar, cast

import pulumi

from bascule import facts
from bascule.components.aws.plugin import (
    AwsAlbSiteSpec,
    AwsNetworkSpec,
    AwsSiteSpec,
    check_aws_network,
    check_load_balancer,
    check_subnet_ids,
    is_id_list,
)
from bascule.facts import Cloud
from bascule.spec import (
    TAG_CRITICALITY,
    TAG_ROLE,
    TAG_RPO,
    TAG_RTO,
    TAG_SERVICE,
    Criticality,
    DrillFault,
    ImageSite,
    Role,
    ServiceSpec,
    SiteSpec,
    no_network_here,
    site_kind,
)

T = TypeVar("T")


def fit_name(name: str, resource_type: str | facts.NameLimit, *, auto_named: bool = True) -> str:
    """A name that fits the type's limit once Pulumi has added its random suffix (or as is, when `auto_named`
    is False and the name is passed explicitly). The limit is the type's in `facts.NAME_LIMITS`, or one a provider's
    plug-in declares itself (a `NameLimit`).

    Short enough names are kept as they are (existing stacks keep their URNs); longer ones are cut and end in a
    hash of the full name, so two long names that share a prefix stay distinct.
    """
    limit = facts.NAME_LIMITS[resource_type] if isinstance(resource_type, str) else resource_type
    room = limit.max_length - (facts.AUTONAME_SUFFIX if auto_named else 0)
    if len(name) <= room:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: room - len(digest) - 1].rstrip('-')}-{digest}"


def gcp_labels(tags: dict[str, str]) -> dict[str, str]:
    """GCP label keys allow only lowercase letters, digits, `-` and `_`: `bascule:role` becomes `bascule-role`."""
    return {key.replace(":", "-"): value for key, value in tags.items()}


def bascule_tags(service: ServiceSpec, role: Role) -> dict[str, str]:
    """Tags every child resource carries, so inventories and policies find workloads without Bascule's code."""
    return {
        TAG_SERVICE: service.name,
        TAG_ROLE: role.value,
        TAG_CRITICALITY: Criticality(service.criticality).value,
        TAG_RTO: str(service.rto_seconds),
        TAG_RPO: str(service.rpo_seconds),
    }


def warn_delegation(
    service: ServiceSpec, zone: str, name_servers: pulumi.Input[Sequence[str]], resource: pulumi.Resource
) -> None:
    """Tell the user, on the zone's row and as soon as the zone exists, where to delegate a zone Bascule created.

    Until the parent delegates to these servers no certificate validation record in the zone is seen: the AWS site's
    `CertificateValidation` waits for ACM up to the provider's 75-minute create timeout and fails
    (https://github.com/hashicorp/terraform-provider-aws/issues/13031), ACM itself gives up after 72 hours, and Front
    Door's TXT token expires after seven days (https://learn.microsoft.com/en-us/azure/frontdoor/domain). The
    name servers are known only once the zone is created, so a preview says nothing and `up` says it while the
    certificates are still waiting. At info level, which the CLI displays with the resource's output
    (https://www.pulumi.com/docs/iac/concepts/logging/): nothing is wrong, and Bascule's offline runs (plan, check),
    which show warnings only, do not repeat the mocks' stand-in name servers.
    """

    def say(servers: Sequence[str]) -> None:
        if servers:
            pulumi.log.info(
                f"service '{service.name}': new zone {zone}: delegate it at its parent (registrar or parent zone) "
                f"to {', '.join(servers)} now; certificates validated in it wait until then (ACM: this `up` waits "
                "75 minutes, ACM gives up after 72 hours)",
                resource=resource,
            )

    pulumi.Output.from_input(name_servers).apply(say)


@dataclass(frozen=True)
class SiteEndpoint:
    """Where a site receives traffic: the DNS answer for the service and the health checkers' target."""

    role: Role
    cloud: Cloud
    region: str
    target: pulumi.Output[str]
    """A DNS name the service hostname is aliased to (CNAME), or an IP address when `target_is_ip`."""
    target_is_ip: bool
    address: pulumi.Output[str] | None = None
    """A fixed IP of the site, when it has one: what IP-only switches (PowerDNS ifurlup) answer and check."""
    alias_zone_id: pulumi.Output[str] | None = None
    """For an AWS load balancer: its hosted zone id, so Route 53 can answer with an alias that evaluates its
    target health (the documented way to health-check an ALB, which has no fixed IP)."""
    existing: bool = False
    """Whether what serves the site is the team's own (an existing load balancer): its ports, listeners and rules
    are not Bascule's, so a drill's check of it assumes nothing about them."""

    @property
    def ip(self) -> pulumi.Output[str]:
        if self.target_is_ip:
            return self.target
        if self.address is None:
            raise ValueError(f"the {self.role.value} site has no fixed IP address")
        return self.address


@dataclass(frozen=True)
class ValidationRecord:
    resource: pulumi.Resource
    fqdn: pulumi.Output[str]


@dataclass(frozen=True)
class AcmeDnsChallenge:
    """How an ACME client (lego, inside pulumiverse-acme) writes a DNS-01 challenge into the service's zone: one of
    lego's DNS providers and its settings (`dns_challenges` of `acme.Certificate`). The challenge record is the
    client's to create and delete during issuance and renewal, not a resource of the stack."""

    provider: str
    config: Mapping[str, pulumi.Input[str]]


class DnsRecords(Protocol):
    """Lets a site create ownership-validation records in the service's zone, whatever backend holds it, or have an
    ACME client answer a DNS-01 challenge there."""

    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord: ...

    def acme_challenge(self) -> AcmeDnsChallenge: ...


class ComputedInputError(pulumi.RunError):
    """A computed input found wrong once its value is known, inside an `apply`: `declared_at` is the stack where
    the program declared the component, so the offline engine can point at the program's line."""

    def __init__(self, message: str, declared_at: traceback.StackSummary):
        super().__init__(message)
        self.declared_at = declared_at


@dataclass(frozen=True)
class AwsNetwork:
    """An existing VPC an AWS site runs in, as a program knows it: any id may be computed (`pulumi.Input`), e.g.
    another stack's outputs (`StackReference.get_output`) or a VPC built in the same program. A list of subnets is
    checked before any resource is declared; a list that is itself one computed value, once its value is known
    (before the load balancer or service that uses it).

    Only AWS sites take a network of the caller's; Azure and GCP sites always create their own.
    """

    vpc_id: pulumi.Input[str]
    alb_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Public subnets (a route to an internet gateway) for the internet-facing load balancer, one in each of at
    least two Availability Zones, and one in every zone of `task_subnet_ids` (tasks in another zone get no traffic)."""
    task_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Where the Fargate tasks run: private subnets with egress (NAT, or VPC endpoints for ECR, S3 and CloudWatch
    Logs) with `assign_public_ip=False`, or public subnets with `assign_public_ip=True`."""
    assign_public_ip: bool = False
    """Give each task a public IP: how a task in a public subnet without NAT reaches ECR. False in private subnets,
    where a public IP gives no route out."""

    @staticmethod
    def from_spec(spec: AwsNetworkSpec) -> AwsNetwork:
        return AwsNetwork(spec.vpc_id, list(spec.alb_subnet_ids), list(spec.task_subnet_ids), spec.assign_public_ip)

    def checked_when_known(self, where: str) -> AwsNetwork:
        """This network with each id or subnet list that is computed checked once its value is known, so the
        resources that read it fail with the same one-line error as a value given as such (`where` is
        "<service>: <role>", as FailoverService names a value given as such). The error carries where the program
        declared the site, which the `apply` raising it is far from.

        A stack output that does not exist reads as no value from `get_output` (`require_output` is the variant
        that fails: https://github.com/pulumi/pulumi/pull/3007), and a security group without a VPC id goes into
        the region's default VPC (`vpc_id` of `aws.ec2.SecurityGroup`), far from the load balancer's subnets: a
        known None is an error. An unknown value (a preview, or `bascule check --semantics preview` without the
        referenced stack's outputs) is not checked: the `apply` runs only on a known value. Offline, `up`
        semantics read a StackReference without given outputs as None, and the engine classes that failure
        `stack-reference-outputs` naming `--stack-reference`."""

        declared_at = traceback.extract_stack()

        def once_known(field: str, value: pulumi.Input[T], check: Callable[[object], None]) -> pulumi.Output[T]:
            def checked(known: T | None) -> T:
                what = "id" if field == "vpc_id" else "list"
                if known is None:
                    raise ComputedInputError(f"{where}.network.{field}: the computed {what} has no value", declared_at)
                try:
                    check(known)
                except ValueError as exc:
                    raise ComputedInputError(f"{where}.network.{exc}", declared_at) from None
                return known

            return pulumi.Output.from_input(value).apply(checked)

        def vpc_id(value: object) -> None:
            # Its kind only: like a computed subnet id, its form is AWS's to judge (offline, Pulumi's mocks give a
            # VPC declared in the same program an id of their own making).
            if not isinstance(value, str):
                raise ValueError(f"vpc_id: the computed value is not a VPC id, got {type(value).__name__}")

        def subnet_ids(field: str) -> Callable[[object], None]:
            def check(value: object) -> None:
                if not is_id_list(value):  # e.g. a stack output that joins the ids with commas
                    raise ValueError(
                        f"{field}: the computed value is not a list of subnet ids, got {type(value).__name__}"
                    )
                check_subnet_ids(field, cast("Sequence[object]", value))

            return check

        # Plain ids and lists of ids were checked before any resource, by check_site_inputs.
        vpc: pulumi.Input[str] = self.vpc_id
        if not isinstance(vpc, str):
            vpc = once_known("vpc_id", vpc, vpc_id)
        alb, tasks = (
            ids if is_id_list(ids) else once_known(field, ids, subnet_ids(field))
            for field, ids in (("alb_subnet_ids", self.alb_subnet_ids), ("task_subnet_ids", self.task_subnet_ids))
        )
        return replace(self, vpc_id=vpc, alb_subnet_ids=alb, task_subnet_ids=tasks)


def checked_when_known(
    value: pulumi.Input[T], where: str, check: Callable[[object], None], declared_at: traceback.StackSummary
) -> pulumi.Output[T]:
    """A computed input checked once its value is known: `check` raises ValueError("<field>: <what is wrong>"),
    which becomes a ComputedInputError "<where>.<field>: ..." pointing at where the program declared it. An unknown
    value (a preview) is not checked: the `apply` runs only on a known one."""

    def checked(known: T) -> T:
        try:
            check(known)
        except ValueError as exc:
            raise ComputedInputError(f"{where}.{exc}", declared_at) from None
        return known

    return pulumi.Output.from_input(value).apply(checked)


@dataclass(frozen=True)
class ExistingLoadBalancer:
    """An Application Load Balancer that already serves the hostname, as a program knows it ('aws-alb' sites):
    by `arn`, or by `dns_name` and `zone_id` (e.g. `alb.dns_name` and `alb.zone_id` of the team's own
    `aws.lb.LoadBalancer`, which needs no lookup). Any value may be computed (`pulumi.Input`)."""

    arn: pulumi.Input[str] | None = None
    dns_name: pulumi.Input[str] | None = None
    zone_id: pulumi.Input[str] | None = None
    """The load balancer's canonical hosted zone id (`zone_id` of `aws.lb.LoadBalancer`), not the service's zone."""
    listener_arn: pulumi.Input[str] | None = None
    """The listener that serves the hostname: where a `health` drill adds its 503 rule (none: no `health` drill)."""

    @staticmethod
    def from_spec(spec: AwsAlbSiteSpec) -> ExistingLoadBalancer:
        return ExistingLoadBalancer(
            spec.load_balancer_arn, spec.load_balancer_dns_name, spec.load_balancer_zone_id, spec.listener_arn
        )

    def check(self, region: str) -> None:
        """Its plain values against the site's region (`check_load_balancer`): ValueError("<field>: ...")."""
        check_load_balancer(region, self.arn, self.dns_name, self.zone_id, self.listener_arn)


@dataclass(frozen=True)
class SiteArgs:
    """What every site kind is built from; FailoverService fills it, a program building one site may too."""

    service: ServiceSpec
    """The whole service: hostname, health check and RTO/RPO, which the site's tags and probes carry."""
    role: Role
    site: SiteSpec
    """This site's spec; its class decides the site kind (an AwsSiteSpec for an AwsSite)."""
    dns: DnsRecords
    """Where the site writes its ownership-validation records (the service's DNS backend)."""
    fault: DrillFault | None = None
    """A drill's fault for this site (primaries only): the site changes exactly what the fault needs."""
    image: pulumi.Input[str] | None = None
    """The image to run, when the program computes it (an ECR or Artifact Registry repository's URL and a
    tag): it replaces the spec's `image`, which plans and policy checks still read."""
    address: pulumi.Input[str] | None = None
    """An 'endpoint' site's address, when the program computes it (an Elastic IP, a load balancer's name): it
    replaces the spec's `address`, whose form (IP or hostname) the spec's validation checked and it must keep."""
    network: AwsNetwork | None = None
    """An 'aws' site's existing VPC, when the program computes it; else the spec's `network`, else a VPC of its own."""
    load_balancer: ExistingLoadBalancer | None = None
    """An 'aws-alb' site's load balancer, when the program computes it; else the spec's."""
    database: SiteDatabase | None = None
    """The database beside the site, when the service has a data standby: how the application reaches it and what
    it is told about it (FailoverService fills it from the data standby)."""

    def check(self, component: str) -> None:
        """`check_site_inputs` for a site built from these args: a one-line error naming the component and field."""
        try:
            check_site_inputs(self.site, self.image, self.address, self.network, self.load_balancer)
        except ValueError as exc:
            raise pulumi.RunError(f"{component}: {exc}") from None

    @property
    def image_to_run(self) -> pulumi.Input[str]:
        """The image the program computed, else the spec's (`check` has made sure there is one)."""
        spec_image = self.site.image if isinstance(self.site, ImageSite) else None
        image = self.image if self.image is not None else spec_image
        assert image is not None, "call SiteArgs.check() first"
        return image

    @property
    def given_network(self) -> AwsNetwork | None:
        """The existing network an 'aws' site runs in (the program's, else the spec's), or None: a VPC of its own."""
        if self.network is not None:
            return self.network
        spec = self.site.network if isinstance(self.site, AwsSiteSpec) else None
        return AwsNetwork.from_spec(spec) if spec is not None else None

    @property
    def given_load_balancer(self) -> ExistingLoadBalancer:
        """An 'aws-alb' site's load balancer: the program's, else the spec's (`check` has made sure there is one)."""
        if self.load_balancer is not None:
            return self.load_balancer
        assert isinstance(self.site, AwsAlbSiteSpec), "only an 'aws-alb' site has a load balancer given"
        return ExistingLoadBalancer.from_spec(self.site)


def check_site_inputs(
    site: SiteSpec,
    image: pulumi.Input[str] | None,
    address: pulumi.Input[str] | None,
    network: AwsNetwork | None,
    load_balancer: ExistingLoadBalancer | None = None,
) -> None:
    """What a program passes for a site, against its spec, before any resource is declared.

    Raises ValueError("<field>: <what is wrong>"): FailoverService prefixes the role, a site its own name.
    """
    given = (("image", image), ("address", address), ("network", network), ("load_balancer", load_balancer))
    for field, value in given:
        # Which computed inputs a kind takes is its plug-in's to say (`SiteKind.computed_inputs`).
        if value is not None and field not in site_kind(site.kind).computed_inputs:
            if field == "network":
                raise ValueError(f"network: {no_network_here(site.kind)}")
            raise ValueError(f"{field}: a '{site.kind}' site takes no computed {field}")
    if isinstance(site, ImageSite) and image is None and site.image is None:
        raise ValueError("image: none given: set the site spec's image, or pass SiteInputs.image from the program")
    if network is not None:
        if isinstance(site, AwsSiteSpec) and site.network is not None:
            raise ValueError("network: given by both the spec and the program; give it in one place")
        if isinstance(site, AwsSiteSpec) and "vpc_cidr" in site.model_fields_set:
            raise ValueError(
                "network: the spec's vpc_cidr is for a VPC of the site's own; drop it when the program gives a network"
            )
        try:
            check_aws_network(network.vpc_id, network.alb_subnet_ids, network.task_subnet_ids)
        except ValueError as exc:
            raise ValueError(f"network.{exc}") from None
    if isinstance(site, AwsAlbSiteSpec):
        if load_balancer is None:
            ExistingLoadBalancer.from_spec(site).check(site.region)  # "none given" names both places
        elif site.given_load_balancer or site.listener_arn is not None:
            raise ValueError("load_balancer: given by both the spec and the program; give it in one place")
        else:
            try:
                load_balancer.check(site.region)
            except ValueError as exc:
                raise ValueError(f"load_balancer.{exc}") from None


def default_provider_allowed(package: str, component: str, where: str) -> None:
    """Raise a one-line error when the stack disables the default provider of `package` and the caller passed none.

    Without a caller's provider, Bascule's resources use the stack's default provider, which "use[s] global
    configuration settings" (the stack's `aws:assumeRoles`, `aws:profile`, `aws:allowedAccountIds`,
    `aws:defaultTags`, ...), and a stack may turn default providers off with `pulumi:disable-default-providers`
    (a list of packages, `*` for all): https://www.pulumi.com/docs/iac/concepts/resources/providers/"""
    disabled: object = pulumi.Config("pulumi").get_object("disable-default-providers")
    if isinstance(disabled, list) and (package in disabled or "*" in disabled):
        raise pulumi.RunError(
            f"{component}: the stack disables the default '{package}' provider (pulumi:disable-default-providers); "
            f"pass one as {where}"
        )


def caller_provider(
    opts: pulumi.ResourceOptions | None, package: str, component: str
) -> pulumi.ProviderResource | None:
    """The provider a caller passed as `opts.provider` (another account, an assumed role, default tags), or None
    when the component uses the stack's default provider. A provider of another cloud is a one-line error."""
    provider = opts.provider if opts is not None else None
    if provider is None:
        return None
    # Typed as a provider, but a program without a type checker may pass anything: read `package` defensively.
    found: object = getattr(provider, "package", type(provider).__name__)
    if found != package:
        raise pulumi.RunError(f"{component}: opts.provider must be a '{package}' provider, got '{found}'")
    return provider


class Site(pulumi.ComponentResource, ABC):
    endpoint: SiteEndpoint

    def register_endpoint(self, endpoint: SiteEndpoint, **more: pulumi.Input[object]) -> None:
        """Keep `endpoint`, which the DNS backend routes to and checks, and register it as the component's outputs:
        `target`, `region` and, when the site has a fixed one, `address`, plus the kind's own `more`. The state then
        says where the site is with the very values DNS was given."""
        self.endpoint = endpoint
        where: dict[str, pulumi.Input[object]] = {"target": endpoint.target, "region": endpoint.region}
        if endpoint.address is not None:
            where["address"] = endpoint.address
        self.register_outputs({**where, **more})


@dataclass(frozen=True)
class SiteDatabase:
    """The database beside a site, as the site's application reaches it and learns where it is.

    `env` is what the application is told, as environment variables whose every value is a secret; the other
    fields are how a site of each cloud wires it: an 'aws' site reads `secret_arn`, `security_group_id` and
    `network`, an 'azure' site `subnet_id`."""

    env: Mapping[str, pulumi.Input[str]]
    """Variable name -> secret value: libpq's PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE, which
    every libpq-based driver reads without code (https://www.postgresql.org/docs/current/libpq-envars.html)."""
    secret_arn: pulumi.Input[str] | None = None
    """AWS: a Secrets Manager secret holding `env` as JSON keys, which ECS injects at task start."""
    security_group_id: pulumi.Input[str] | None = None
    """AWS: a security group the site's tasks join; the database admits it."""
    network: AwsNetwork | None = None
    """AWS: the VPC the data standby built and put the database in, which the site then runs in (when the program
    and the spec give the site no network of their own)."""
    subnet_id: pulumi.Input[str] | None = None
    """Azure: the subnet, in the database's virtual network, the site's Container Apps environment is placed in."""


@dataclass(frozen=True)
class DataArgs:
    """What a data standby is built from: the service, and what the program gave the sites it sits beside."""

    service: ServiceSpec
    primary_network: AwsNetwork | None = None
    """The existing network the primary site runs in (the program's, else the spec's), or None: the data standby
    then builds the VPC both the database and the site run in."""
    primary_provider: pulumi.ProviderResource | None = None
    """The provider of the primary site's resources, which the primary database's use too; None: the default one."""
    secondary_provider: pulumi.ProviderResource | None = None
    """The provider of the secondary site's resources, which the standby's use too."""
    backup_provider: pulumi.ProviderResource | None = None
    """The provider of the backup store's resources (`data.backup`: a Scaleway provider); None: the default one."""


class DataComponent(pulumi.ComponentResource, ABC):
    """A data standby: built before the sites, it tells each the database beside it (`site_database`)."""

    @abstractmethod
    def site_database(self, role: Role) -> SiteDatabase: ...


class DnsFailover(pulumi.ComponentResource, ABC):
    """Built in two steps: the zone first (sites need it for validation records), then `route`."""

    @abstractmethod
    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord: ...

    def acme_challenge(self) -> AcmeDnsChallenge:
        """The lego DNS provider and settings that answer a DNS-01 challenge in this backend's zone. Only backends
        whose declaration names one (`DnsBackend.acme_dns`) offer it; the spec refuses an ACME site with any other."""
        raise pulumi.RunError(f"{type(self).__name__}: this DNS backend answers no ACME DNS-01 challenge")

    @abstractmethod
    def route(self, primary: SiteEndpoint, secondary: SiteEndpoint, fault: DrillFault | None = None) -> None:
        """Create health checks and failover records, then register the component's outputs.

        With the `switch` fault the backend moves traffic off the primary through its own data plane.
        """

    health_check_ids: pulumi.Output[dict[str, str]]
