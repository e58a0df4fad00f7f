"""The 'azure' site kind and the 'trafficmanager' DNS backend: their spec models, Azure's limits, capabilities.

No Pulumi and no Azure SDK here: the spec and `bascule check` read this module without the `azure` extra.
"""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from bascule import facts
from bascule.facts import Cloud, NameLimit
from bascule.io.escaping import quoted
from bascule.spec.acme import ACME_CHALLENGE_PREFIX, CERTIFICATE_AUTHORITIES, AcmeCertificateFields, require_acme_dns
from bascule.spec.base import DnsSpecBase, ImageSite, Role, check_region
from bascule.spec.models import ServiceSpec
from bascule.spec.plugins import DnsBackend, SiteKind, answered_by_ip

# --- Azure Container Apps consumption plan: vCPU -> memory, always 2 GiB per vCPU -------------------
CONTAINER_APPS_CPU = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5, 3.75, 4.0)

KEY_VAULT = NameLimit(
    24,
    r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]*[a-zA-Z0-9]$",
    "vaultName",
    "Microsoft.KeyVault vaults: 3-24 characters, alphanumerics and hyphens, starting with a letter, ending with a "
    "letter or digit, no consecutive hyphens, globally unique "
    "(https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules)",
)
"""The site's own Key Vault, which holds its certificate for Front Door: auto-named (Pulumi's suffix), since a vault's
name is global and a deleted vault keeps it while soft-deleted."""

# --- Resource providers a subscription must have registered -------------------------------------------
RESOURCE_PROVIDERS = {
    "app": "Microsoft.App",
    "cdn": "Microsoft.Cdn",
    "keyvault": "Microsoft.KeyVault",
    "trafficmanager": "Microsoft.Network",
    "dns": "Microsoft.Network",
    "dbforpostgresql": "Microsoft.DBforPostgreSQL",
}
"""azure-native module -> the resource provider namespace its resources need registered on the subscription.
azure-native registers none itself (https://github.com/pulumi/pulumi-azure-native/issues/3479: "The subscription
... is not registered to use microsoft.insights") and has no resource that registers one (its `resources` module
holds groups and deployments; `providerhub.ProviderRegistration` is for authoring a new provider). Resource groups
(Microsoft.Resources) are always registered."""


def resource_providers(resource_types: Iterable[str]) -> list[str]:
    """The namespaces the given azure-native resource types need (sorted, each once)."""
    modules = {t.split(":")[1] for t in resource_types if t.startswith("azure-native:") and t.count(":") == 2}
    return sorted({RESOURCE_PROVIDERS[m] for m in modules if m in RESOURCE_PROVIDERS})


def register_commands(namespaces: Iterable[str]) -> list[str]:
    """The Azure CLI commands that register each namespace and wait until it is registered (needs
    `*/register/action` on the subscription, which Contributor and Owner have)."""
    return [f"az provider register --namespace {namespace} --wait" for namespace in namespaces]


# --- Azure Traffic Manager monitoring --------------------------------------------------------------
TRAFFIC_MANAGER_INTERVALS = (10, 30)
TRAFFIC_MANAGER_TIMEOUTS = {30: (5, 10), 10: (5, 9)}
"""Probe timeout range (seconds) allowed for each probing interval."""
TRAFFIC_MANAGER_TOLERATED_FAILURES = (0, 9)


class AzureSiteSpec(ImageSite, AcmeCertificateFields):
    """Azure Container Apps in an environment of its own behind Front Door, which serves the team's own Let's Encrypt
    certificate from a Key Vault; warm means at least one replica always on."""

    kind: Literal["azure"] = "azure"
    location: str
    region_field: ClassVar[str] = "location"
    container_port: int = Field(default=8080, ge=1, le=65535)
    cpu: float = 0.5
    min_replicas: int = Field(default=1, ge=1, le=300)
    max_replicas: int = Field(default=3, ge=1, le=300)
    front_door_backend_cidrs: tuple[str, ...] | None = Field(default=None, min_length=1)
    """The only sources the app admits: the IPv4 prefixes of the service tag AzureFrontDoor.Backend. Left out (the
    default), the site reads them from Azure at each `up` (`components/azure/service_tags.py`, the Service Tags - List
    API, with the deploying login), since the list changes and Front Door says to use the tag, never a copy ("Ensure
    that you use the AzureFrontDoor.Backend service tag instead of hard-coding IP addresses",
    https://learn.microsoft.com/azure/frontdoor/origin-security). Given, they are used as they are (a deployer that may
    not read service tags, a pinned list): `az network list-service-tags --location <location> --query
    "values[?name=='AzureFrontDoor.Backend'].properties.addressPrefixes[]"`, IPv4 ones only. Container Apps takes
    neither service tags (https://github.com/microsoft/azure-container-apps/issues/975) nor IPv6 ranges
    (https://learn.microsoft.com/azure/container-apps/ip-restrictions: "accepts IPv4 addresses")."""

    @property
    def cloud(self) -> Cloud:
        return Cloud.AZURE

    @property
    def region(self) -> str:
        return self.location

    @property
    def memory(self) -> str:
        """Consumption-plan apps get exactly 2 GiB per vCPU; any other pairing is rejected by Azure."""
        return f"{self.cpu * 2:g}Gi"

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, v: float) -> float:
        if v not in CONTAINER_APPS_CPU:
            raise ValueError(f"Container Apps takes 0.25 to 4 vCPU in steps of 0.25, not {v}")
        return v

    @field_validator("front_door_backend_cidrs")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        for cidr in v:
            try:
                ipaddress.IPv4Network(cidr)
            except ValueError:
                raise ValueError(
                    f"{quoted(cidr)} is not an IPv4 prefix (Container Apps IP restrictions take IPv4 CIDRs only)"
                ) from None
        if len(set(v)) != len(v):
            raise ValueError("a prefix is listed twice")
        return v

    @model_validator(mode="after")
    def _replicas(self) -> AzureSiteSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})")
        return self


class TrafficManagerDnsSpec(DnsSpecBase):
    """Azure Traffic Manager, priority routing: the switch lives outside AWS, the usual primary.

    The service hostname is a CNAME to the profile, in an Azure DNS zone: created (delegate it at your
    registrar) or, with `zone_resource_group`, one that already exists there.
    """

    kind: Literal["trafficmanager"] = "trafficmanager"
    zone_resource_group: str | None = None
    location: str = "westeurope"
    """Where the resource group of the profile (and of a new zone) lives; the profile itself is global."""
    ttl: int = Field(default=30, ge=0, le=facts.DNS_TTL_MAX)
    monitor_timeout_seconds: int = 5

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        return check_region(Cloud.AZURE, v)


def _azure_site_rules(service: ServiceSpec, role: Role) -> None:
    """The Container App is named `<service>-<role>` explicitly, so the service's name must make a valid one; the
    certificate's DNS-01 challenge goes into the service's zone through its DNS backend."""
    require_acme_dns("azure", service, role)
    app = facts.NAME_LIMITS[facts.CONTAINER_APP]
    if not re.fullmatch(app.pattern, f"{service.name}-{role.value}"):
        raise ValueError(
            f"name: '{service.name}' would name the {role.value} Container App '{service.name}-{role.value}', and "
            "Container App names are lowercase letters, digits and single '-' (no '--'); rename the service"
        )


def _traffic_manager_rules(service: ServiceSpec) -> None:
    """Traffic Manager's probing intervals, timeouts and tolerated failures; one kind of endpoint per profile."""
    dns, hc = service.dns, service.health_check
    assert isinstance(dns, TrafficManagerDnsSpec)
    if hc.interval_seconds not in TRAFFIC_MANAGER_INTERVALS:
        raise ValueError(
            f"health_check.interval_seconds: Traffic Manager probes every 10 or 30 seconds, not {hc.interval_seconds}"
        )
    low, high = TRAFFIC_MANAGER_TIMEOUTS[hc.interval_seconds]
    if not low <= dns.monitor_timeout_seconds <= high:
        raise ValueError(
            f"dns.monitor_timeout_seconds: with {hc.interval_seconds} s probes Traffic Manager accepts {low} to "
            f"{high} s, not {dns.monitor_timeout_seconds}"
        )
    lo, hi = TRAFFIC_MANAGER_TOLERATED_FAILURES
    if not lo + 1 <= hc.failure_threshold <= hi + 1:
        raise ValueError(
            f"health_check.failure_threshold: Traffic Manager tolerates {lo} to {hi} failures before the next "
            f"one fails over, so the threshold is {lo + 1} to {hi + 1}, not {hc.failure_threshold}"
        )
    if answered_by_ip(service.primary) != answered_by_ip(service.secondary):
        raise ValueError(
            "secondary: Traffic Manager external endpoints of one profile cannot mix hostnames and IP addresses"
        )
    service.check_in_zone("it becomes a CNAME to the Traffic Manager profile")


SITE = SiteKind(
    kind="azure",
    spec=AzureSiteSpec,
    component="bascule.components.azure.site:AzureSite",
    extra="azure",
    cloud=Cloud.AZURE,
    certificate="Let's Encrypt certificate by ACME DNS-01 in the service's zone (pulumiverse-acme), renewed by "
    "`pulumi up` within `renew_days_before` of expiry, stored in the site's Key Vault, which Front Door follows "
    "(latest version)",
    validation_prefix=ACME_CHALLENGE_PREFIX,
    certificate_authorities=CERTIFICATE_AUTHORITIES,
    data_end=Role.SECONDARY,
    computed_inputs=frozenset({"image"}),
    check=_azure_site_rules,
)

TRAFFIC_MANAGER = DnsBackend(
    kind="trafficmanager",
    spec=TrafficManagerDnsSpec,
    component="bascule.components.azure.traffic_manager:TrafficManagerFailover",
    extra="azure",
    cloud=Cloud.AZURE,
    check=_traffic_manager_rules,
    creates_zone=lambda dns: "zone_resource_group" if dns.zone_resource_group is None else None,
    acme_dns="azuredns",  # lego's Azure DNS provider (terraform-provider-acme docs/guides/dns-providers-azuredns.md)
)
