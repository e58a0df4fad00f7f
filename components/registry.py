"""Which class builds each `kind` of the spec: adding a provider is one module and one line here."""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from bascule.components.aws_site import AwsSite
from bascule.components.azure_site import AzureSite
from bascule.components.base import DnsFailover, Site, SiteArgs
from bascule.components.cloud_dns import CloudDnsFailover
from bascule.components.endpoint_site import EndpointSite
from bascule.components.gcp_site import GcpSite
from bascule.components.powerdns import PowerDnsFailover
from bascule.components.route53 import Route53Failover
from bascule.components.traffic_manager import TrafficManagerFailover
from bascule.spec import ServiceSpec

SITE_KINDS: dict[str, Callable[[str, SiteArgs, pulumi.ResourceOptions], Site]] = {
    "aws": AwsSite,
    "azure": AzureSite,
    "gcp": GcpSite,
    "endpoint": EndpointSite,
}

DNS_BACKENDS: dict[str, Callable[[str, ServiceSpec, pulumi.ResourceOptions], DnsFailover]] = {
    "route53": Route53Failover,
    "powerdns": PowerDnsFailover,
    "trafficmanager": TrafficManagerFailover,
    "clouddns": CloudDnsFailover,
}
