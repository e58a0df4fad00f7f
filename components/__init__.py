"""Pulumi components: a service as a primary site, a warm secondary site and a health-checked DNS switch.

Sites and DNS backends are plug-ins: a new provider is one module plus one line in `registry.py`,
which imports it (and its cloud SDK, an extra of the package) only when a stack uses it.

The names below load on first use (PEP 562), so a module of this package that needs no Pulumi (the PowerDNS API
client the sandbox shares, `powerdns_api`) can be imported without loading Pulumi.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bascule.components.base import AwsNetwork, DnsFailover, DnsRecords, Site, SiteArgs, SiteEndpoint
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
