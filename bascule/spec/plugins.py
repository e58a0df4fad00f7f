"""Plug-ins that declare themselves: what each site kind, DNS backend and data standby is, and what it can do.

A plug-in is a declaration (`SiteKind`, `DnsBackend`, `DataStandby`) next to its component, in a module that imports
no cloud SDK and no Pulumi (`bascule.components.<provider>.plugin`): its spec model, the cloud it runs on, where its
component lives and which pip extra that component's SDK needs, and its capabilities. The spec's cross-field rules
ask these declarations, never a kind's name, so a kind registered here validates and plans like a built-in one.

Built-in plug-ins are named below by dotted strings and imported on first lookup: the foundation holds no static
import of `bascule.components`. A third party (or a test) adds one with `register_site_kind` / `register_dns_backend`
/ `register_data_standby` before the spec is parsed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bascule.facts import Cloud
from bascule.io.escaping import quoted
from bascule.spec.base import DataSpecBase, DnsSpecBase, DrillFault, Role, SiteSpecBase

if TYPE_CHECKING:
    from bascule.spec.models import ServiceSpec

BUILTIN_SITE_KINDS = {
    "aws": "bascule.components.aws.plugin:SITE",
    "aws-alb": "bascule.components.aws.plugin:ALB_SITE",
    "azure": "bascule.components.azure.plugin:SITE",
    "gcp": "bascule.components.gcp.plugin:SITE",
    "endpoint": "bascule.components.endpoint.plugin:SITE",
    "scaleway": "bascule.components.scaleway.plugin:SITE",
    "hetzner": "bascule.components.hetzner.plugin:SITE",
    "ovhcloud": "bascule.components.ovhcloud.plugin:SITE",
}
"""Site kinds shipped with Bascule: kind -> "module:name" of its `SiteKind`. A new provider is one line here."""

BUILTIN_DNS_BACKENDS = {
    "route53": "bascule.components.aws.plugin:ROUTE53",
    "powerdns": "bascule.components.powerdns.plugin:DNS",
    "trafficmanager": "bascule.components.azure.plugin:TRAFFIC_MANAGER",
    "clouddns": "bascule.components.gcp.plugin:CLOUD_DNS",
}
"""DNS backends shipped with Bascule: kind -> "module:name" of its `DnsBackend`."""

BUILTIN_DATA_STANDBYS = {
    "postgres": "bascule.components.data.plugin:POSTGRES",
}
"""Data standbys shipped with Bascule: kind -> "module:name" of its `DataStandby`."""


def _never(site: Any) -> bool:
    return False


def _always(site: Any) -> bool:
    return True


ALWAYS = _always
"""For a capability every site of a kind has (e.g. `fixed_ip` of a site behind a reserved address)."""


@dataclass(frozen=True)
class SiteKind:
    """A site kind: its spec model, where it runs, where its component lives, and what it can do."""

    kind: str
    spec: type[SiteSpecBase]
    component: str | None
    """"module:Class" of the Site component, imported only when a stack plans or deploys one (None: refused)."""
    extra: str | None
    """The pip extra that installs the SDK the component's module imports (None: the core package only)."""
    cloud: Cloud | None
    """The cloud every site of this kind runs on; None when each spec says (an endpoint's `provider`)."""
    certificate: str
    """How the site gets the certificate for the service's hostname: one line for docs and the audit."""
    fixed_ip: Callable[[Any], bool] = _never
    """Whether a site (its spec) has an address that does not change, which IP-only switches can check and answer."""
    answered_by_ip: Callable[[Any], bool] = _never
    """Whether DNS answers the site with an IP address (A/AAAA) rather than a name; implies `fixed_ip`."""
    validation_prefix: int = 0
    """Longest prefix its ownership record puts before the hostname (hostname + prefix must fit a DNS name)."""
    certificate_authorities: tuple[str, ...] = ()
    """CAA `issue` domains of the CAs its certificate for the hostname may come from (empty: not Bascule's to say,
    e.g. an endpoint's); a CAA record set that names none of them stops issuance."""
    levers: Mapping[DrillFault, str] = field(default_factory=dict)
    """Drill faults a primary of this kind injects itself, each with how (the `switch` fault is the DNS backend's)."""
    no_lever: Mapping[DrillFault, str] = field(default_factory=dict)
    """Faults a primary of this kind refuses for a reason of its own (e.g. an existing site whose capacity Bascule
    does not own), each with the reason a drill says when it refuses."""
    inject_last: Mapping[DrillFault, frozenset[str]] = field(default_factory=dict)
    """Per fault, the resource types (Pulumi type tokens) of this kind's lever whose change hurts production on its
    own, without moving traffic away first (a health check on a closed port that makes the platform replace every
    task, capacity at zero behind a record that may still count as healthy). A drill on a real stack applies them
    in an update of their own after the rest of the fault, and restores them first, so an inject that stops half-way
    leaves at worst traffic on the standby (`harmful_alone`)."""
    data_end: Role | None = None
    """Which end of a data standby a site of this kind holds beside it (the primary's database, the standby)."""
    computed_inputs: frozenset[str] = frozenset()
    """`SiteInputs` fields a program may compute for this kind: "image", "address", "network", "load_balancer"."""
    refused: str | None = None
    """Why a stack may not use this kind although it is parsed (then the only thing said about it)."""
    own_record: bool = False
    """Whether the site has a DNS record of its own, `<service>-<role>.<zone>`, besides the hostname."""
    check: Callable[[ServiceSpec, Role], None] = lambda service, role: None
    """The kind's rules over the service a site of it is in, as that role (names it derives from the service's):
    raises ValueError("<field>: <what is wrong>")."""


@dataclass(frozen=True)
class DnsBackend:
    """A DNS backend: its spec model, where its switch runs, where its component lives, and its own rules."""

    kind: str
    spec: type[DnsSpecBase]
    component: str
    """"module:Class" of the DnsFailover component."""
    extra: str | None
    cloud: Cloud | None
    """Whose control plane the switch runs on; None for one you run yourself (PowerDNS)."""
    check: Callable[[ServiceSpec], None]
    """The backend's cross-field rules over a whole service (health-check limits, which sites it can route to):
    raises ValueError("<field>: <what is wrong>")."""
    creates_zone: Callable[[Any], str | None] = lambda dns: None
    """When the backend creates its zone (two services must not both create one of a name): the field that would
    name an existing zone instead, else None."""
    computed_inputs: frozenset[str] = frozenset()
    """`FailoverServiceArgs` fields a program may compute for this backend (e.g. "zone_id": a zone of its own)."""
    acme_dns: str | None = None
    """The lego DNS provider (e.g. "route53") through which an ACME client answers a DNS-01 challenge in this
    backend's zone, for sites whose certificate comes from ACME (`DnsFailover.acme_challenge`); None: not offered."""


@dataclass(frozen=True)
class DataStandby:
    """A data standby: its spec model, where its component lives, and its cross-field rules over a service."""

    kind: str
    spec: type[DataSpecBase]
    component: str
    extra: str | None
    check: Callable[[ServiceSpec], None]


class UnknownKindError(ValueError):
    """A `kind` no plug-in declares; the message lists the kinds that are known."""


P = TypeVar("P", SiteKind, DnsBackend, DataStandby)


class Registry(Generic[P]):
    """Declarations of one sort by kind: built-in ones loaded on first lookup, registered ones as given."""

    def __init__(self, what: str, cls: type[P], builtin: Mapping[str, str]):
        self.what = what
        self.cls: type[P] = cls
        self._builtin = dict(builtin)
        self._loaded: dict[str, P] = {}

    def known(self) -> list[str]:
        return sorted(self._builtin.keys() | self._loaded.keys())

    def get(self, kind: str) -> P:
        found = self._loaded.get(kind)
        if found is not None:
            return found
        where = self._builtin.get(kind)
        if where is None:
            raise UnknownKindError(f"{quoted(kind)} is not a known {self.what} (known: {', '.join(self.known())})")
        module, _, name = where.partition(":")
        declared = getattr(importlib.import_module(module), name)
        self._loaded[kind] = self._checked(declared, kind)
        return self._loaded[kind]

    def all(self) -> dict[str, P]:
        return {kind: self.get(kind) for kind in self.known()}

    def register(self, declared: P) -> None:
        if declared.kind in self.known():
            raise ValueError(f"{self.what} '{declared.kind}' is already registered")
        self._loaded[declared.kind] = self._checked(declared, declared.kind)

    def unregister(self, kind: str) -> None:
        """Drop a registered (not built-in) kind: for tests that register one for a while."""
        if kind in self._builtin:
            raise ValueError(f"{self.what} '{kind}' is built in")
        self._loaded.pop(kind, None)

    def _checked(self, declared: object, kind: str) -> P:
        if not isinstance(declared, self.cls):
            raise TypeError(f"{self.what} '{kind}': expected a {self.cls.__name__}, got {type(declared).__name__}")
        spec_kind = declared.spec.model_fields["kind"].default if "kind" in declared.spec.model_fields else None
        if declared.kind != kind or spec_kind != kind:
            raise ValueError(f"{self.what} '{kind}': its declaration and its spec model must both say kind '{kind}'")
        return declared


SITE_KINDS = Registry("site kind", SiteKind, BUILTIN_SITE_KINDS)
DNS_BACKENDS = Registry("DNS backend", DnsBackend, BUILTIN_DNS_BACKENDS)
DATA_STANDBYS = Registry("data standby", DataStandby, BUILTIN_DATA_STANDBYS)


def site_kind(kind: str) -> SiteKind:
    """The declaration of a site kind (UnknownKindError names the known ones)."""
    return SITE_KINDS.get(kind)


def dns_backend(kind: str) -> DnsBackend:
    """The declaration of a DNS backend (UnknownKindError names the known ones)."""
    return DNS_BACKENDS.get(kind)


def data_standby(kind: str) -> DataStandby:
    """The declaration of a data standby kind (UnknownKindError names the known ones)."""
    return DATA_STANDBYS.get(kind)


def register_site_kind(declared: SiteKind) -> None:
    """Add a site kind: stacks may then name it like a built-in one."""
    SITE_KINDS.register(declared)


def register_dns_backend(declared: DnsBackend) -> None:
    """Add a DNS backend: stacks may then name it like a built-in one."""
    DNS_BACKENDS.register(declared)


def register_data_standby(declared: DataStandby) -> None:
    """Add a data standby kind."""
    DATA_STANDBYS.register(declared)


def no_network_here(kind: str) -> str:
    """Why a site of `kind` takes no `network`, said alike for a stack file and a program."""
    able = [k for k, declared in SITE_KINDS.all().items() if "network" in declared.computed_inputs]
    return f"only {' or '.join(able)} sites run in a given network (this site is {kind})"


def has_fixed_ip(site: SiteSpecBase) -> bool:
    """Whether the site has an address that does not change (its kind says, from its spec)."""
    return site_kind(site.kind).fixed_ip(site)


def answered_by_ip(site: SiteSpecBase) -> bool:
    """Whether DNS answers the site with an IP address, not a name."""
    return site_kind(site.kind).answered_by_ip(site)


def harmful_alone(fault: DrillFault | None = None) -> frozenset[str]:
    """The resource types some site kind declares harmful alone for `fault` (`SiteKind.inject_last`), or for any
    fault when None: what a drill applies last and restores first.

    Whichever kind's component made the resource: an extra update for one that did not need it costs seconds, one
    applied too early can take production down."""
    return frozenset(
        t
        for declared in SITE_KINDS.all().values()
        for f, types in declared.inject_last.items()
        if fault is None or f is fault
        for t in types
    )


def site_authorities(service: ServiceSpec) -> dict[str, tuple[str, ...]]:
    """Role -> the CAA domains of the CA the site's certificate comes from, as its kind declares them; a kind that
    declares none (an endpoint's certificate is yours) is left out."""
    found = {
        role.value: site_kind(site.kind).certificate_authorities
        for role, site in ((Role.PRIMARY, service.primary), (Role.SECONDARY, service.secondary))
    }
    return {role: cas for role, cas in found.items() if cas}
