"""Which class builds each `kind` of the spec, read from the plug-ins' declarations (`bascule.spec.plugins`).

Adding a provider is one plug-in and one registry line:
1. a package `components/<provider>/` with `plugin.py` (its spec model, the provider's limits, and a `SiteKind` or
   `DnsBackend` declaration: cloud, component "module:Class", pip extra, capabilities, its own cross-field rules;
   no Pulumi or SDK import) beside the component module that imports the SDK;
2. a line in `BUILTIN_SITE_KINDS` or `BUILTIN_DNS_BACKENDS` of `bascule/spec/plugins.py` naming that declaration.
A package outside Bascule calls `register_site_kind` / `register_dns_backend` instead of step 2.

Modules are imported on use, not here: a site kind or DNS backend needs its cloud's SDK (270-360 MB each),
and a team installs only the extras of the clouds it uses (`pip install 'bascule[aws]'`). A kind whose SDK
is missing fails with one line naming the extra to install, never a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

import pulumi

from bascule.components.base import DataArgs, DataComponent, DnsFailover, Site, SiteArgs
from bascule.components.status.plugin import StatusSpec
from bascule.spec import ServiceSpec, plugins

SiteFactory = Callable[[str, SiteArgs, pulumi.ResourceOptions], Site]


class DnsFactory(Protocol):
    """A DNS backend's class: (name, service, opts), plus the computed inputs its declaration lists as keywords."""

    def __call__(
        self, name: str, service: ServiceSpec, opts: pulumi.ResourceOptions, **inputs: pulumi.Input[str]
    ) -> DnsFailover: ...


DataFactory = Callable[[str, DataArgs, pulumi.ResourceOptions], DataComponent]


class StatusSiteOutputs(Protocol):
    """What a status site gives the program to export: its page, bucket, S3 endpoint and CNAME target."""

    url: str
    bucket: pulumi.Output[str]
    endpoint: str
    cname_target: pulumi.Output[str]


StatusFactory = Callable[[str, StatusSpec], StatusSiteOutputs]

EXTRA_SDKS = {
    "aws": ("pulumi_aws",),
    "azure": ("pulumi_azure_native", "pulumiverse_acme", "azure"),
    "gcp": ("pulumi_gcp",),
    "acme": ("pulumiverse_acme",),
    "hetzner": ("pulumi_hcloud", "pulumiverse_acme"),
    "ovhcloud": ("pulumi_ovh", "pulumiverse_acme"),
    "scaleway": ("pulumiverse_scaleway", "pulumiverse_acme"),
    "data": ("pulumi_aws", "pulumi_azure_native", "pulumi_postgresql", "pulumi_random", "pulumiverse_scaleway"),
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


class _Components(Mapping[str, Plugin]):
    """A read-only view of one plug-in registry: kind -> where its component lives (refused kinds have none)."""

    def __init__(self, registry: plugins.Registry[plugins.SiteKind] | plugins.Registry[plugins.DnsBackend]
                 | plugins.Registry[plugins.DataStandby]):  # fmt: skip
        self._registry = registry

    def _all(self) -> dict[str, Plugin]:
        found: dict[str, Plugin] = {}
        for kind, declared in self._registry.all().items():
            if declared.component is not None:
                module, _, name = declared.component.partition(":")
                found[kind] = Plugin(module, name, declared.extra)
        return found

    def __getitem__(self, kind: str) -> Plugin:
        return self._all()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


SITE_KINDS: Mapping[str, Plugin] = _Components(plugins.SITE_KINDS)
DNS_BACKENDS: Mapping[str, Plugin] = _Components(plugins.DNS_BACKENDS)
DATA_STANDBYS: Mapping[str, Plugin] = _Components(plugins.DATA_STANDBYS)
STATUS_SITE = Plugin("bascule.components.status.site", "StatusSite", "scaleway")
"""The status site of a stack's `bascule:status` (one provider so far: its spec's `provider` is a Literal)."""


def _load(what: str, kind: str, plugin: Plugin) -> type:
    try:
        module = importlib.import_module(plugin.module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if plugin.extra is None or missing not in EXTRA_SDKS.get(plugin.extra, ()):
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
    return cast(DnsFactory, cls)  # every backend's __init__ is (name, ServiceSpec, opts, **its computed inputs)


def data_standby_class(kind: str) -> DataFactory:
    """The component of a data standby kind (`data.kind`), importing its module (and cloud SDKs) now."""
    cls = _load("data standby", kind, DATA_STANDBYS[kind])
    assert issubclass(cls, DataComponent)
    return cast(DataFactory, cls)  # every data standby's __init__ is (name, DataArgs, opts)


def status_site_class() -> StatusFactory:
    """The status site's component, importing its module (and the Scaleway SDK) now."""
    cls = _load("status site", "scaleway", STATUS_SITE)
    assert issubclass(cls, pulumi.ComponentResource)
    return cast(StatusFactory, cls)  # its __init__ is (name, StatusSpec, opts=None); mypy sees ComponentResource's
