"""The 'gcp' site kind and the 'clouddns' DNS backend: their spec models, GCP's limits, their capabilities.

No Pulumi and no GCP SDK here: the spec and `bascule check` read this module without the `gcp` extra.
"""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bascule import facts
from bascule.facts import Cloud
from bascule.io.escaping import quoted
from bascule.spec.base import DnsSpecBase, ImageSite, check_region
from bascule.spec.models import ServiceSpec
from bascule.spec.plugins import ALWAYS, DnsBackend, SiteKind, has_fixed_ip

# --- Cloud Run (v2) CPU and memory: https://cloud.google.com/run/docs/configuring/services/memory-limits and
# https://cloud.google.com/run/docs/configuring/cpu -------------------------------------------------------
CLOUD_RUN_MEMORY_MIB = (128, 32 * 1024)
"""Smallest (first-generation environment) and largest memory limit."""
CLOUD_RUN_MIN_CPU_FOR_MEMORY = ((24 * 1024, 8), (16 * 1024, 6), (8 * 1024, 4), (4 * 1024, 2))
"""(memory above this many MiB, CPUs it needs), largest first."""
CLOUD_RUN_MIN_MEMORY_FOR_CPU = {4: 2 * 1024, 6: 4 * 1024, 8: 4 * 1024}
"""CPUs -> the least memory (MiB) they may be given."""

CERTIFICATE_MANAGER_VALIDATION_PREFIX = len("_acme-challenge_") + 16 + len(".")
"""A per-project DNS authorization is a CNAME `_acme-challenge_<id>.<host>` before the hostname: Google's example is
"_acme-challenge_ujmmovf2vn55tgye.myorg.example.com" (a 16-character id;
https://cloud.google.com/certificate-manager/docs/deploy-google-managed-dns-auth). That the id is always 16 characters
is read from that example and from public configurations, not stated by Google (unverified). The fixed-record form is
the shorter `_acme-challenge.` (https://cloud.google.com/certificate-manager/docs/dns-authorizations)."""

CERTIFICATE_AUTHORITIES = ("pki.goog",)
"""CAA `issue` domain of the CA a certificate authorized per project comes from: Google Trust Services ("CAA records
must permit pki.goog", https://developers.google.com/public-key-infrastructure/dns-debugging). Not Let's Encrypt:
Certificate Manager's fallback to it (https://cloud.google.com/certificate-manager/docs/how-it-works) does not apply
here, "For PER_PROJECT_RECORD DNS authorization, Certificate Manager supports only the certificates issued by Google
Trust Services. Certificates issued by other authorities, such as Let's Encrypt CA, aren't supported"
(https://cloud.google.com/certificate-manager/docs/deploy-google-managed-dns-auth), so a CAA set naming only
letsencrypt.org stops the certificate."""

# --- The APIs a project must have enabled, per component (the Service Usage API itself must already be on) --
SITE_APIS = (
    "run.googleapis.com",
    "compute.googleapis.com",
    "certificatemanager.googleapis.com",
    "iam.googleapis.com",
)
"""Cloud Run; the load balancer (NEG, backend service, URL maps, proxies, SSL policy, address, forwarding rules);
Certificate Manager (DNS authorization, certificate, map and entries); IAM (the service's own runtime account)."""
CLOUD_DNS_APIS = ("dns.googleapis.com", "compute.googleapis.com")
"""The zone and record sets; the health check the routing policy uses."""

# --- GCP Cloud DNS routing policies with health checks ---------------------------------------------
CLOUD_DNS_SOURCE_REGIONS = 3
"""A health check for Cloud DNS routing policies lists exactly three source regions..."""
CLOUD_DNS_MIN_INTERVAL = 30
"""...and then probes every 30 s or more."""


def _check_gcp_project(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", value):
        raise ValueError(f"{quoted(value)} is not a GCP project id (6-30 lowercase letters, digits, hyphens)")
    return value


class GcpSiteSpec(ImageSite):
    """Cloud Run (v2) behind a global external HTTPS load balancer: a fixed IP and a managed certificate.

    The load balancer gives the site what Cloud Run alone lacks for DNS failover: one stable address that
    serves the service's own hostname with TLS, and that health checkers and IP-only switches can use.
    """

    kind: Literal["gcp"] = "gcp"
    project: str
    region: str
    container_port: int = Field(default=8080, ge=1, le=65535)
    cpu: Literal["1", "2", "4", "8"] = "1"
    memory: str = "512Mi"
    min_instances: int = Field(default=1, ge=1, le=1000)
    max_instances: int = Field(default=3, ge=1, le=1000)

    @property
    def cloud(self) -> Cloud:
        return Cloud.GCP

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        return _check_gcp_project(v)

    @property
    def memory_mib(self) -> int:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", self.memory).groups()  # type: ignore[union-attr]
        return int(number) * (1024 if unit == "Gi" else 1)

    @field_validator("memory")
    @classmethod
    def _memory(cls, v: str) -> str:
        if not re.fullmatch(r"\d+(Mi|Gi)", v):
            raise ValueError(f"{quoted(v)} is not a Cloud Run memory limit such as 512Mi or 2Gi")
        return v

    @model_validator(mode="after")
    def _cpu_memory(self) -> GcpSiteSpec:
        """Cloud Run's pairing rules: memory range, memory that needs more CPUs, CPUs that need more memory."""
        cpu, mib = int(self.cpu), self.memory_mib
        low, high = CLOUD_RUN_MEMORY_MIB
        if not low <= mib <= high:
            raise ValueError(f"memory: Cloud Run takes {low}Mi to {high // 1024}Gi, not {self.memory}")
        needed = next((n for above, n in CLOUD_RUN_MIN_CPU_FOR_MEMORY if mib > above), 1)
        if cpu < needed:
            raise ValueError(f"cpu: Cloud Run needs at least {needed} CPUs for {self.memory}, not {self.cpu}")
        least = CLOUD_RUN_MIN_MEMORY_FOR_CPU.get(cpu, 0)
        if mib < least:
            raise ValueError(f"memory: Cloud Run with {cpu} CPUs needs at least {least // 1024}Gi, not {self.memory}")
        return self

    @model_validator(mode="after")
    def _scale(self) -> GcpSiteSpec:
        if self.max_instances < self.min_instances:
            raise ValueError(f"max_instances ({self.max_instances}) is below min_instances ({self.min_instances})")
        return self


class CloudDnsSpec(DnsSpecBase):
    """GCP Cloud DNS primary/backup routing policy, health-checked from three GCP regions.

    Health-checked external endpoints are IP addresses: both sites need a fixed IP (a 'gcp' site, or an
    'endpoint' with an IP such as an AWS NLB's Elastic IP). The org policy
    `compute.disableInternetNetworkEndpointGroup` must be off for public-IP health checks.
    """

    kind: Literal["clouddns"] = "clouddns"
    project: str
    managed_zone: str | None = None
    """Name of an existing managed zone for `zone`; without it one is created (delegate it)."""
    ttl: int = Field(default=30, ge=0, le=facts.DNS_TTL_MAX)
    source_regions: tuple[str, ...] = ("europe-west1", "europe-west4", "europe-north1")
    backup_region: str = "europe-west1"
    check_timeout_seconds: int = Field(default=5, ge=1, le=300)

    @field_validator("source_regions")
    @classmethod
    def _sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            check_region(Cloud.GCP, name)
        if len(set(v)) != CLOUD_DNS_SOURCE_REGIONS:
            raise ValueError(
                f"Cloud DNS health checks need exactly {CLOUD_DNS_SOURCE_REGIONS} distinct source regions, "
                f"not {len(set(v))}"
            )
        return v

    @field_validator("backup_region")
    @classmethod
    def _backup(cls, v: str) -> str:
        return check_region(Cloud.GCP, v)

    @field_validator("project")
    @classmethod
    def _project(cls, v: str) -> str:
        return _check_gcp_project(v)


def _cloud_dns_rules(service: ServiceSpec) -> None:
    """Cloud DNS checks external endpoints by IP from three source regions: fixed IPs, 30 s or more."""
    dns, hc = service.dns, service.health_check
    assert isinstance(dns, CloudDnsSpec)
    for role, site in (("primary", service.primary), ("secondary", service.secondary)):
        if not has_fixed_ip(site):
            raise ValueError(
                f"{role}: Cloud DNS health-checks external endpoints by IP address, and a '{site.kind}' site "
                "has no fixed IP (an AWS ALB's addresses change); use a 'gcp' site or an 'endpoint' with an IP "
                "(e.g. an NLB Elastic IP), or another DNS backend"
            )
    if hc.interval_seconds < CLOUD_DNS_MIN_INTERVAL:
        raise ValueError(
            f"health_check.interval_seconds: with {CLOUD_DNS_SOURCE_REGIONS} source regions Cloud DNS "
            f"health checks run every {CLOUD_DNS_MIN_INTERVAL} s or more, not {hc.interval_seconds}"
        )
    if not 1 <= hc.failure_threshold <= 10:
        raise ValueError(f"health_check.failure_threshold: GCP accepts 1 to 10, not {hc.failure_threshold}")
    if dns.check_timeout_seconds > hc.interval_seconds:
        raise ValueError("dns.check_timeout_seconds: must not exceed health_check.interval_seconds")
    service.check_in_zone(None)


SITE = SiteKind(
    kind="gcp",
    spec=GcpSiteSpec,
    component="bascule.components.gcp.site:GcpSite",
    extra="gcp",
    cloud=Cloud.GCP,
    certificate="Certificate Manager certificate with a DNS authorization (an `_acme-challenge.` CNAME the site "
    "writes), served by the load balancer",
    fixed_ip=ALWAYS,  # the load balancer's global address; DNS still answers the site by its own A record's name
    validation_prefix=CERTIFICATE_MANAGER_VALIDATION_PREFIX,
    certificate_authorities=CERTIFICATE_AUTHORITIES,
    computed_inputs=frozenset({"image"}),
    own_record=True,
)

CLOUD_DNS = DnsBackend(
    kind="clouddns",
    spec=CloudDnsSpec,
    component="bascule.components.gcp.cloud_dns:CloudDnsFailover",
    extra="gcp",
    cloud=Cloud.GCP,
    check=_cloud_dns_rules,
    creates_zone=lambda dns: "managed_zone" if dns.managed_zone is None else None,
    acme_dns="gcloud",  # lego's Google Cloud DNS provider (terraform-provider-acme docs/guides/dns-providers-gcloud.md)
)
