"""Pulumi components: a service as a primary site, a warm secondary site and a health-checked DNS switch.

Sites, DNS backends and data standbys are plug-ins, one package per provider:

    aws/       'aws' site (ECS Fargate + ALB) and 'route53' backend     azure/     'azure' site and 'trafficmanager'
    gcp/       'gcp' site (Cloud Run + HTTPS LB) and 'clouddns'         powerdns/  'powerdns' backend and its API client
    endpoint/  'endpoint' site (bring your own)                         scaleway/  'scaleway' site (Instances + LB)
    hetzner/   'hetzner' site (servers + Load Balancer, ACME cert)      data/      'postgres' data standby
    ovhcloud/  'ovhcloud' site (instances + Load Balancer, ACME cert)

Each package's `plugin.py` declares its kinds (`bascule.spec.plugins.SiteKind` / `DnsBackend`: spec model, the
provider's limits, cloud, component, pip extra, capabilities, its own cross-field rules) and imports neither Pulumi
nor a cloud SDK; the component modules beside it (`site.py`, `route53.py`, ...) do. `base.py` holds the interfaces
(`Site`, `DnsFailover`), `service.py` the FailoverService that wires them, `registry.py` the kind -> class lookup.

To add a provider: a package here with `plugin.py` and its component module, and one line naming the declaration
in `BUILTIN_SITE_KINDS` or `BUILTIN_DNS_BACKENDS` (`bascule/spec/plugins.py`); a package outside Bascule calls
`bascule.spec.register_site_kind` / `register_dns_backend` instead. Its SDK is imported only when a stack uses it.

The names below load on first use (PEP 562), so a module of this package that needs no Pulumi (a plug-in's
declaration, the PowerDNS API client the sandbox shares) can be imported without loading Pulumi.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bascule.components.base import (
        AwsNetwork,
        DnsFailover,
        DnsRecords,
        ExistingLoadBalancer,
        Site,
        SiteArgs,
        SiteEndpoint,
    )
    from bascule.components.registry import (
        DNS_BACKENDS,
        SITE_KINDS,
        MissingExtraError,
        dns_backend_class,
        site_class,
    )
    from bascule.components.service import FailoverService, FailoverServiceArgs, SiteInputs

_HOMES = {
    "AwsNetwork": "base",
    "DnsFailover": "base",
    "DnsRecords": "base",
    "ExistingLoadBalancer": "base",
    "Site": "base",
    "SiteArgs": "base",
    "SiteEndpoint": "base",
    "DNS_BACKENDS": "registry",
    "SITE_KINDS": "registry",
    "MissingExtraError": "registry",
    "dns_backend_class": "registry",
    "site_class": "registry",
    "FailoverService": "service",
    "FailoverServiceArgs": "service",
    "SiteInputs": "service",
}

__all__ = [
    "DNS_BACKENDS",
    "SITE_KINDS",
    "AwsNetwork",
    "DnsFailover",
    "DnsRecords",
    "ExistingLoadBalancer",
    "FailoverService",
    "FailoverServiceArgs",
    "MissingExtraError",
    "Site",
    "SiteArgs",
    "SiteEndpoint",
    "SiteInputs",
    "dns_backend_class",
    "site_class",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bascule.components' has no attribute {name!r}")
    return getattr(importlib.import_module(f"bascule.components.{home}"), name)
