"""Pulumi components: a service as a primary site, a warm secondary site and a health-checked DNS switch.

Sites and DNS backends are plug-ins: a new provider is one module plus one line in `registry.py`,
which imports it (and its cloud SDK, an extra of the package) only when a stack uses it.
"""

from bascule.components.base import AwsNetwork, DnsFailover, DnsRecords, Site, SiteArgs, SiteEndpoint
from bascule.components.registry import DNS_BACKENDS, SITE_KINDS, MissingExtraError, dns_backend_class, site_class
from bascule.components.service import FailoverService, FailoverServiceArgs, SiteInputs

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
