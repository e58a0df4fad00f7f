"""Which class builds each `kind` of the spec: adding a provider is one module and one line here.

Modules are imported on use, not here: a site kind or DNS backend needs its cloud's SDK (270-360 MB each),
and a team installs only the extras of the clouds it uses (`pip install 'bascule[aws]'`). A kind whose SDK
is missing fails with one line naming the extra to install, never a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import pulumi

from bascule.components.base import DnsFailover, Site, SiteArgs
from bascule.spec import ServiceSpec

SiteFactory = Callable[[str, SiteArgs, pulumi.ResourceOptions], Site]
DnsFactory = Callable[[str, ServiceSpec, pulumi.ResourceOptions], DnsFailover]
DataFactory = Callable[[str, ServiceSpec, pulumi.ResourceOptions], pulumi.ComponentResource]

EXTRA_SDKS = {
    "aws": ("pulumi_aws",),
    "azure": ("pulumi_azure_native",),
    "gcp": ("pulumi_gcp",),
    "data": ("pulumi_aws", "pulumi_azure_native", "pulumi_command", "pulumi_postgresql", "pulumi_random"),
}
"""Each pip extra of pyproject.toml and the top-level modules of the SDKs it installs."""


class MissingExtraError(pulumi.RunError):
    """A kind's cloud SDK is not installed. A RunError, so `pulumi up` prints the message without a traceback."""


@dataclass(frozen=True)
class Plugin:
    """Where a kind's class lives and which extra installs the SDK its module imports (None: core only)."""

    module: str
    name: str
    extra: str | None


SITE_KINDS: dict[str, Plugin] = {
    "aws": Plugin("bascule.components.aws_site", "AwsSite", "aws"),
    "azure": Plugin("bascule.components.azure_site", "AzureSite", "azure"),
    "gcp": Plugin("bascule.components.gcp_site", "GcpSite", "gcp"),
    "endpoint": Plugin("bascule.components.endpoint_site", "EndpointSite", None),
}

DNS_BACKENDS: dict[str, Plugin] = {
    "route53": Plugin("bascule.components.route53", "Route53Failover", "aws"),
    "powerdns": Plugin("bascule.components.powerdns", "PowerDnsFailover", None),
    "trafficmanager": Plugin("bascule.components.traffic_manager", "TrafficManagerFailover", "azure"),
    "clouddns": Plugin("bascule.components.cloud_dns", "CloudDnsFailover", "gcp"),
}

DATA_STANDBYS: dict[str, Plugin] = {
    "postgres": Plugin("bascule.components.data_standby", "PostgresStandby", "data"),
}


def _load(what: str, kind: str, plugin: Plugin) -> type:
    try:
        module = importlib.import_module(plugin.module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if plugin.extra is None or missing not in EXTRA_SDKS[plugin.extra]:
            raise
        raise MissingExtraError(
            f"{what} '{kind}' needs the {plugin.extra} extra: pip install 'bascule[{plugin.extra}]'"
        ) from None
    cls = getattr(module, plugin.name)
    assert isinstance(cls, type)
    return cls


def site_class(kind: str) -> SiteFactory:
    """The Site class of a site kind, importing its module (and cloud SDK) now."""
    cls = _load("site kind", kind, SITE_KINDS[kind])
    assert issubclass(cls, Site)
    return cast(SiteFactory, cls)  # every site's __init__ is (name, SiteArgs, opts); mypy sees ComponentResource's


def dns_backend_class(kind: str) -> DnsFactory:
    """The DnsFailover class of a DNS backend kind, importing its module (and cloud SDK) now."""
    cls = _load("DNS backend", kind, DNS_BACKENDS[kind])
    assert issubclass(cls, DnsFailover)
    return cast(DnsFactory, cls)  # every backend's __init__ is (name, ServiceSpec, opts)


def data_standby_class(kind: str) -> DataFactory:
    """The component of a data standby kind (`data.kind`), importing its module (and cloud SDKs) now."""
    cls = _load("data standby", kind, DATA_STANDBYS[kind])
    assert issubclass(cls, pulumi.ComponentResource)
    return cast(DataFactory, cls)  # every data standby's __init__ is (name, ServiceSpec, opts)
