"""The 'scaleway' site kind: its spec model, Scaleway's zones and limits, its capabilities.

No Pulumi and no Scaleway or ACME SDK here: the spec and `bascule check` read this module without the `scaleway` extra.

Why Instances behind a Load Balancer and not Serverless Containers: a container's custom domain gets its certificate
by HTTP-01 only, once Scaleway has checked that the hostname's CNAME points at the container
(scaleway/docs-content#3593, https://www.scaleway.com/en/docs/serverless/containers/how-to/add-a-custom-domain-to-a-container/),
which a failover hostname pointing at the other site never does. A Load Balancer takes a certificate the team brings
(`custom_certificate`), which Bascule gets from Let's Encrypt by DNS-01 in the failover zone, wherever the hostname
points.
"""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from bascule.facts import Cloud, NameLimit
from bascule.io.escaping import quoted
from bascule.spec.acme import (
    ACME_CHALLENGE_PREFIX,
    CERTIFICATE_AUTHORITIES,
    AcmeCertificateFields,
    acme_load_balancer_rules,
)
from bascule.spec.base import DrillFault, ImageSite
from bascule.spec.plugins import ALWAYS, SiteKind

# --- Scaleway's zones and limits, each with its source --------------------------------------------------------------
ZONES: dict[str, tuple[str, ...]] = {
    "fr-par": ("fr-par-1", "fr-par-2"),
    "nl-ams": ("nl-ams-1", "nl-ams-2", "nl-ams-3"),
    "pl-waw": ("pl-waw-1", "pl-waw-2", "pl-waw-3"),
}
"""Region -> the Availability Zones where both products the site needs exist, from Scaleway's own SDK (generated from
its API definitions), scaleway/scaleway-sdk-go at commit 2c5cd81b0528 (20 Aug 2026, v1.0.0-beta.37.0.20260820161448-
2c5cd81b0528, the version terraform-provider-scaleway's go.mod pins at b2d45ed, just after v2.81.0): the Load Balancer
API's `ZonedAPI.Zones()` (api/lb/v1/lb_sdk.go: fr-par-1, fr-par-2, nl-ams-1..3, pl-waw-1..3; older copies list only
nl-ams-1..2 and pl-waw-1..2) intersected with the Instance API's `API.Zones()` (api/instance/v1/instance_sdk.go, which
adds fr-par-3 and it-mil-1); Private Networks are regional and exist in all three regions (api/vpc/v2/vpc_sdk.go
`API.Regions()`). fr-par-3 has Instances but no Load Balancer, it-mil no Load Balancer either. A zone belongs to its
region by name ("fr-par-1" -> "fr-par", `Zone.Region()` in scw/locality.go)."""

SERVER_NAME = NameLimit(
    63,
    r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$",
    "name",
    'Scaleway Instance API, Create an Instance, `name`: "Any string containing only alphanumeric characters, dots, '
    'spaces and dashes" (https://www.scaleway.com/en/developers/api/instance/); no length is documented, so Bascule '
    "keeps a server's name within one DNS label (63 characters, RFC 1123), as for a Hetzner server",
)
"""Only the servers' names are bounded here. Every resource's `name` is auto-named by the bridge up to 255 characters
(`prov.SetAutonaming(255, "-")`, pulumiverse/pulumi-scaleway provider/resources.go); Bascule's logical names for the
others stay far below any limit."""

SERVER_IMAGE = "ubuntu_noble"
"""The OS image the servers boot, by its Marketplace label (Ubuntu 24.04; the Instance API's quickstart uses it,
https://www.scaleway.com/en/developers/api/instance/). "All the Operating System and InstantApp images provided by
Scaleway come with Cloud-init pre-installed and enabled, except for Microsoft Windows images"
(https://www.scaleway.com/en/docs/instances/how-to/use-cloud-init/)."""

MAX_SERVERS = 10
"""Bascule's own bound on the warm servers, not Scaleway's (its project quotas apply on top): a replacement (a new
image) creates every new server before deleting the old ones, so the zone holds twice `servers` for a while."""


class ScalewaySiteSpec(ImageSite, AcmeCertificateFields):
    """Instances running the service image behind a Scaleway Load Balancer, with a Let's Encrypt certificate.

    The Load Balancer's flexible IPv4 is the site's fixed address: DNS backends answer it and their health checks send
    the service hostname to it (Host and SNI), where the load balancer serves the certificate it was given. That
    certificate comes from ACME with a DNS-01 challenge written into the failover zone, so it is issued and renewed
    while the hostname still points at the other site; Scaleway's own Let's Encrypt option on a Load Balancer would
    not do: "Ensure that all domain names used in the configuration are pointing to the Load Balancer IP" (the SDK's
    `loadbalancers.Certificate`, "Additional notes").
    """

    kind: Literal["scaleway"] = "scaleway"
    region: str
    """fr-par (France), nl-ams (Netherlands) or pl-waw (Poland): `facts.SCALEWAY_REGIONS`."""
    zone: str | None = None
    """The Availability Zone of the servers and the load balancer; the region's first one (`ZONES`) when omitted."""
    server_type: str = "PRO2-XXS"
    """An Instance commercial type offered in the zone (the SDK's `instance.Server` examples use PRO2-XXS; Scaleway
    checks the rest)."""
    servers: int = Field(default=2, ge=1, le=MAX_SERVERS)
    """Always running (warm): at least one; two or more, spread over hypervisors, ride out a host failure."""
    load_balancer_type: str = "LB-S"
    """A Load Balancer commercial type (the SDK's examples use LB-S, the smallest: 200 Mbps, 20,000 connections,
    https://www.scaleway.com/en/docs/load-balancer/reference-content/load-balancers-limitations/)."""
    container_port: int = Field(default=8080, ge=1, le=65535)
    health_check_code: int = Field(default=200, ge=200, le=399)
    """The status the service answers on `health_check.path`: the load balancer's check expects exactly one ("The
    expected HTTP status code", default 200, terraform-provider-scaleway internal/services/lb/backend.go), where
    Route 53 counts any 2xx or 3xx as healthy."""

    @property
    def cloud(self) -> Cloud:
        return Cloud.SCALEWAY

    @property
    def availability_zone(self) -> str:
        """The zone every zonal resource of the site is created in."""
        return self.zone if self.zone is not None else ZONES[self.region][0]

    @field_validator("server_type", "load_balancer_type")
    @classmethod
    def _commercial_type(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z0-9]{1,12}(-[A-Z0-9]{1,12}){1,4}", v):  # PRO2-XXS, POP2-2C-8G, LB-S, LB-GP-M
            raise ValueError(f"{quoted(v)} is not a Scaleway commercial type such as PRO2-XXS or LB-S")
        return v

    @field_validator("zone")
    @classmethod
    def _zone_of_region(cls, v: str | None, info: ValidationInfo) -> str | None:
        region = info.data.get("region")
        if v is None or region not in ZONES:  # an unknown region is reported at `region`
            return v
        if v not in ZONES[region]:
            raise ValueError(
                f"{quoted(v)} is not a zone of {region} with both Instances and Load Balancers "
                f"(one of {', '.join(ZONES[region])})"
            )
        return v


SITE = SiteKind(
    kind="scaleway",
    spec=ScalewaySiteSpec,
    component="bascule.components.scaleway.site:ScalewaySite",
    extra="scaleway",
    cloud=Cloud.SCALEWAY,
    certificate="Let's Encrypt certificate by ACME DNS-01 in the service's zone (pulumiverse-acme), renewed by "
    "`pulumi up` within `renew_days_before` of expiry, uploaded to the load balancer as a custom certificate "
    "(Serverless Containers were not used: their custom domain is certified by HTTP-01 only, once the hostname "
    "points at the container)",
    fixed_ip=ALWAYS,  # the load balancer's flexible IPv4, a resource of its own kept for the stack's life
    answered_by_ip=ALWAYS,
    validation_prefix=ACME_CHALLENGE_PREFIX,
    certificate_authorities=CERTIFICATE_AUTHORITIES,
    levers={
        DrillFault.HEALTH: "its load balancer's health check switched to HTTPS against servers that speak plain HTTP, "
        "so every TLS handshake fails, every server is marked down and the load balancer has none to send to",
        DrillFault.OUTAGE: "its load balancer's HTTPS frontend removed, so nothing answers on port 443 (the servers "
        "keep running, so restore is quick)",
    },
    computed_inputs=frozenset({"image"}),
    check=acme_load_balancer_rules(
        "scaleway",
        "a 'scaleway' site's load balancer serves the hostname on HTTPS port 443 only (no frontend on another port)",
    ),
)
