"""The two plug-in interfaces every site kind and DNS backend implements.

A site only needs to say where traffic for it goes (`SiteEndpoint`); a DNS backend only needs two
endpoints to wire failover. Sites that must prove domain ownership (ACM, Container Apps) ask the DNS
backend for records through `DnsRecords`, so no site knows which DNS provider is in use.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import pulumi

from bascule import facts
from bascule.facts import Cloud
from bascule.spec import (
    TAG_CRITICALITY,
    TAG_ROLE,
    TAG_RPO,
    TAG_RTO,
    TAG_SERVICE,
    Criticality,
    DrillFault,
    Role,
    ServiceSpec,
    SiteSpec,
)


def fit_name(name: str, resource_type: str, *, auto_named: bool = True) -> str:
    """A name that fits the type's limit once Pulumi has added its random suffix (or as is, when `auto_named`
    is False and the name is passed explicitly).

    Short enough names are kept as they are (existing stacks keep their URNs); longer ones are cut and end in a
    hash of the full name, so two long names that share a prefix stay distinct.
    """
    room = facts.NAME_LIMITS[resource_type].max_length - (facts.AUTONAME_SUFFIX if auto_named else 0)
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


class DnsRecords(Protocol):
    """Lets a site create ownership-validation records in the service's zone, whatever backend holds it."""

    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord: ...


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


def caller_provider(
    opts: pulumi.ResourceOptions | None, package: str, component: str
) -> pulumi.ProviderResource | None:
    """The provider a caller passed as `opts.provider` (another account, an assumed role, default tags), or None
    when the component should create its own for its region. A provider of another cloud is a one-line error."""
    provider = opts.provider if opts is not None else None
    if provider is None:
        return None
    if not isinstance(provider, pulumi.ProviderResource) or provider.package != package:
        found = getattr(provider, "package", type(provider).__name__)
        raise pulumi.RunError(f"{component}: opts.provider must be a '{package}' provider, got '{found}'")
    return provider


class Site(pulumi.ComponentResource, ABC):
    endpoint: SiteEndpoint


class DnsFailover(pulumi.ComponentResource, ABC):
    """Built in two steps: the zone first (sites need it for validation records), then `route`."""

    @abstractmethod
    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord: ...

    @abstractmethod
    def route(self, primary: SiteEndpoint, secondary: SiteEndpoint, fault: DrillFault | None = None) -> None:
        """Create health checks and failover records, then register the component's outputs.

        With the `switch` fault the backend moves traffic off the primary through its own data plane.
        """

    health_check_ids: pulumi.Output[dict[str, str]]
