"""Typed service spec: the one place stack config is validated."""

from bascule.spec.loader import (
    CONFIG_NAMESPACE,
    SERVICES_KEY,
    SpecError,
    load_stack_file,
    parse_services,
    read_stack_config,
)
from bascule.spec.models import (
    TAG_CRITICALITY,
    TAG_ROLE,
    TAG_RTO,
    TAG_SERVICE,
    AwsSiteSpec,
    AzureSiteSpec,
    Criticality,
    EndpointSiteSpec,
    HealthCheckSpec,
    Role,
    Route53DnsSpec,
    ServiceSpec,
    SiteSpec,
    StackSpec,
)

__all__ = [
    "CONFIG_NAMESPACE",
    "SERVICES_KEY",
    "TAG_CRITICALITY",
    "TAG_ROLE",
    "TAG_RTO",
    "TAG_SERVICE",
    "AwsSiteSpec",
    "AzureSiteSpec",
    "Criticality",
    "EndpointSiteSpec",
    "HealthCheckSpec",
    "Role",
    "Route53DnsSpec",
    "ServiceSpec",
    "SiteSpec",
    "SpecError",
    "StackSpec",
    "load_stack_file",
    "parse_services",
    "read_stack_config",
]
