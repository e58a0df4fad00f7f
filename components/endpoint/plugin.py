"""The 'endpoint' site kind: its spec model and capabilities. No Pulumi here: `bascule check` reads it."""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import model_validator

from bascule.facts import Cloud
from bascule.io.escaping import quoted
from bascule.spec.base import SiteSpecBase, is_hostname
from bascule.spec.plugins import SiteKind


class EndpointSiteSpec(SiteSpecBase):
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
        if "%" in self.address:  # a scope (`fe80::1%eth0`) names an interface of this host, and takes any text
            return False
        try:
            ipaddress.ip_address(self.address)
        except ValueError:
            return False
        return True

    @model_validator(mode="after")
    def _check(self) -> EndpointSiteSpec:
        if not self.is_ip and not is_hostname(self.address):
            raise ValueError(f"address {quoted(self.address)} is neither an IP address nor a DNS hostname")
        if self.is_ip and _unreachable(ipaddress.ip_address(self.address)):
            # A health checker elsewhere can never reach these; Route 53 "can't check the health of endpoints for
            # which the IP address is in local, private, non-routable, or multicast ranges" (HealthCheckConfig
            # IPAddress, mirrored at
            # https://docs.rs/aws-sdk-route53/1.103.0/aws_sdk_route53/types/builders/struct.HealthCheckConfigBuilder.html).
            # Private ranges stay allowed: a self-hosted PowerDNS can check a site on its own network.
            raise ValueError(
                f"address {quoted(self.address)} is unspecified, loopback, link-local, multicast or reserved "
                "(e.g. broadcast): no health checker can reach a site there"
            )
        return self


def _unreachable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved


def _is_ip(site: EndpointSiteSpec) -> bool:
    return site.is_ip


SITE = SiteKind(
    kind="endpoint",
    spec=EndpointSiteSpec,
    component="bascule.components.endpoint.site:EndpointSite",
    extra=None,
    cloud=None,
    certificate="your own, on the endpoint you run (Bascule creates nothing there)",
    fixed_ip=_is_ip,
    answered_by_ip=_is_ip,
    computed_inputs=frozenset({"address"}),
)
