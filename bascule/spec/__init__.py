"""Typed service spec: the one place stack config is validated.

`ServiceSpec`, `StackSpec` and the drill hook are here; each site kind's, DNS backend's and data standby's own model
lives in its plug-in (`bascule.components.<provider>.plugin`), declared to `bascule.spec.plugins`. Their names stay
importable from here (`from bascule.spec import AwsSiteSpec`): they load on first use, so the spec imports no
plug-in it does not need.
"""

from __future__ import annotations

import importlib
from typing import Any

from bascule.spec.base import DrillFault, ImageSite, Role
from bascule.spec.loader import (
    CONFIG_NAMESPACE,
    DRILL_KEY,
    SERVICE_TYPE,
    SERVICES_KEY,
    STATUS_KEY,
    SpecError,
    injected_refusal,
    load_stack_file,
    marker_refused,
    parse_drill,
    parse_services,
    parse_status,
    read_drill,
    read_stack_config,
)
from bascule.spec.models import (
    MAX_RTO_SECONDS,
    MAX_SERVICES_PER_STACK,
    TAG_CRITICALITY,
    TAG_ROLE,
    TAG_RPO,
    TAG_RTO,
    TAG_SERVICE,
    Criticality,
    DnsSpec,
    DrillHook,
    HealthCheckSpec,
    ServiceSpec,
    SiteSpec,
    StackSpec,
    fault_refused,
)
from bascule.spec.plugins import (
    DataStandby,
    DnsBackend,
    SiteKind,
    UnknownKindError,
    data_standby,
    dns_backend,
    no_network_here,
    register_data_standby,
    register_dns_backend,
    register_site_kind,
    site_kind,
)

_PLUGIN_NAMES = {
    "bascule.components.aws.plugin": (
        "ALB_MIN_SUBNETS",
        "AwsAlbSiteSpec",
        "AwsNetworkSpec",
        "AwsSiteSpec",
        "Route53DnsSpec",
        "check_aws_network",
        "check_subnet_ids",
        "is_id_list",
    ),
    "bascule.components.azure.plugin": ("AzureSiteSpec", "TrafficManagerDnsSpec"),
    "bascule.components.gcp.plugin": ("CloudDnsSpec", "GcpSiteSpec"),
    "bascule.components.powerdns.plugin": ("PowerDnsSpec",),
    "bascule.components.endpoint.plugin": ("EndpointSiteSpec",),
    "bascule.components.scaleway.plugin": ("ScalewaySiteSpec",),
    "bascule.components.hetzner.plugin": ("HetznerSiteSpec",),
    "bascule.components.ovhcloud.plugin": ("OvhcloudSiteSpec",),
    "bascule.components.data.plugin": ("AzurePostgresStandbySpec", "DataSpec", "RdsPostgresSpec"),
}
_HOMES = {name: module for module, names in _PLUGIN_NAMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """The names of built-in plug-ins, from where they live now (imported on first use: PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bascule.spec' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "ALB_MIN_SUBNETS",
    "CONFIG_NAMESPACE",
    "DRILL_KEY",
    "MAX_RTO_SECONDS",
    "MAX_SERVICES_PER_STACK",
    "SERVICES_KEY",
    "SERVICE_TYPE",
    "STATUS_KEY",
    "TAG_CRITICALITY",
    "TAG_ROLE",
    "TAG_RPO",
    "TAG_RTO",
    "TAG_SERVICE",
    "AwsAlbSiteSpec",
    "AwsNetworkSpec",
    "AwsSiteSpec",
    "AzurePostgresStandbySpec",
    "AzureSiteSpec",
    "CloudDnsSpec",
    "Criticality",
    "DataSpec",
    "DataStandby",
    "DnsBackend",
    "DnsSpec",
    "DrillFault",
    "DrillHook",
    "EndpointSiteSpec",
    "GcpSiteSpec",
    "HealthCheckSpec",
    "HetznerSiteSpec",
    "ImageSite",
    "OvhcloudSiteSpec",
    "PowerDnsSpec",
    "RdsPostgresSpec",
    "Role",
    "Route53DnsSpec",
    "ScalewaySiteSpec",
    "ServiceSpec",
    "SiteKind",
    "SiteSpec",
    "SpecError",
    "StackSpec",
    "TrafficManagerDnsSpec",
    "UnknownKindError",
    "check_aws_network",
    "check_subnet_ids",
    "data_standby",
    "dns_backend",
    "fault_refused",
    "injected_refusal",
    "is_id_list",
    "load_stack_file",
    "marker_refused",
    "no_network_here",
    "parse_drill",
    "parse_services",
    "parse_status",
    "read_drill",
    "read_stack_config",
    "register_data_standby",
    "register_dns_backend",
    "register_site_kind",
    "site_kind",
]
