"""The 'hetzner' site kind: its spec model, Hetzner Cloud's limits, its capabilities.

No Pulumi and no Hetzner or ACME SDK here: the spec and `bascule check` read this module without the `hetzner` extra.
"""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a property: safe, the models are frozen)

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

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

# --- Hetzner Cloud limits, each with its source ----------------------------------------------------------------
SERVER_NAME = NameLimit(
    63,
    r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$",
    "name",
    'Hetzner Cloud API, Update a Server: "Server names must be unique per Project and valid hostnames as per RFC '
    '1123 (i.e. may only contain letters, digits, periods, and dashes)" (https://docs.hetzner.cloud/reference/cloud); '
    "a name without periods is one DNS label, at most 63 characters",
)
"""A server's name is its hostname. The other resources' names are Pulumi's auto-names, which the hcloud bridge gives
every `name` input up to 255 characters (`tfbridge.AutoName(nameProperty, 255)`, pulumi/pulumi-hcloud
provider/resources.go); Bascule's logical names for them stay far below any limit."""

USER_DATA_MAX = 32 * 1024
"""Cloud-init user data: "This field is limited to 32KiB" (the SDK's `hcloud.Server` `user_data`)."""

SPREAD_MAX_SERVERS = 10
"""A spread placement group puts each server on another physical host, "Up to 10 servers per Placement Group (type
Spread)" (https://docs.hetzner.com/cloud/placement-groups/overview)."""

MAX_SERVERS = SPREAD_MAX_SERVERS // 2
"""A new image (or anything else that replaces the servers: `user_data` is `ForceNew`) creates every new server in
the same placement group before the old ones are deleted (Pulumi's default create-before-delete replacement, the old
ones deleted at the end of the `up`), so the group holds twice `servers` for a while: at most half its limit, or the
`up` that ships a new image fails halfway with the group full."""

NETWORK_ZONES = {"fsn1": "eu-central", "nbg1": "eu-central", "hel1": "eu-central", "ash": "us-east", "hil": "us-west",
                 "sin": "ap-southeast"}  # fmt: skip
"""Location -> network zone, which a private Network's subnet names and which must hold every server and load balancer
attached to it: "all locations within a Network have to be from the same network zone as the subnet"
(https://docs.hetzner.com/cloud/networks/faq, which lists these zones)."""

SERVER_IMAGE = "ubuntu-24.04"
"""The OS image the servers boot (the SDK's examples use it). Cloud-init needs one of Hetzner's system images, which
"include a special cloud-init datasource" (Hetzner's Cloud Server FAQ, https://wiki.hetzner.de/index.php/CloudServer/en);
it installs Docker from Ubuntu's `docker.io` package and runs the service image (`site.py`)."""


class HetznerSiteSpec(ImageSite, AcmeCertificateFields):
    """Servers running the service image behind a Hetzner Cloud Load Balancer, with a Let's Encrypt certificate.

    The load balancer's public IPv4 is the site's fixed address: DNS backends answer it and their health checks send
    the service hostname to it (Host and SNI), where the load balancer serves the certificate it was given. That
    certificate comes from ACME with a DNS-01 challenge written into the failover zone, so it is issued and renewed
    while the hostname still points at the other site. A Hetzner managed certificate would not do: "Only domains
    managed by Hetzner DNS are supported" (Hetzner Cloud API, Create a Certificate, type `managed`,
    https://docs.hetzner.cloud/reference/cloud), and the failover zone lives at the DNS backend.
    """

    kind: Literal["hetzner"] = "hetzner"
    region_field: ClassVar[str] = "location"
    location: str
    server_type: str = "cx23"
    """A Hetzner Cloud server type available in the location (the SDK's examples use cx23; Hetzner checks the rest)."""
    servers: int = Field(default=2, ge=1, le=MAX_SERVERS)
    """Always running (warm): at least one; two or more, each on its own host, ride out a host failure; at most
    `MAX_SERVERS`, so a replacement's new servers fit in the placement group beside the old ones."""
    load_balancer_type: Literal["lb11", "lb21", "lb31"] = "lb11"
    """A Load Balancer type (`hcloud.get_load_balancer_type(name="lb11")`, the SDK's example). The site uses one HTTPS
    service, one certificate and at most `SPREAD_MAX_SERVERS` targets (old and new servers during a replacement),
    within the smallest type's limits (the API's `/load_balancer_types` lists each type's max services, targets and
    assigned certificates)."""
    container_port: int = Field(default=8080, ge=1, le=65535)

    @property
    def cloud(self) -> Cloud:
        return Cloud.HETZNER

    @property
    def region(self) -> str:
        return self.location

    @field_validator("server_type")
    @classmethod
    def _server_type(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z]{1,8}[0-9]{1,4}[a-z]{0,8}", v):  # cx23, cax11, ccx13: short names
            raise ValueError(f"{quoted(v)} is not a Hetzner Cloud server type such as cx23 or cax11")
        return v


SITE = SiteKind(
    kind="hetzner",
    spec=HetznerSiteSpec,
    component="bascule.components.hetzner.site:HetznerSite",
    extra="hetzner",
    cloud=Cloud.HETZNER,
    certificate="Let's Encrypt certificate by ACME DNS-01 in the service's zone (pulumiverse-acme), renewed by "
    "`pulumi up` within `renew_days_before` of expiry, uploaded to the load balancer",
    fixed_ip=ALWAYS,  # the load balancer's public IPv4, fixed for the load balancer's life
    answered_by_ip=ALWAYS,
    validation_prefix=ACME_CHALLENGE_PREFIX,
    certificate_authorities=CERTIFICATE_AUTHORITIES,
    levers={
        DrillFault.HEALTH: "its load balancer's health check made to require a body the service never sends, so "
        "every target is unhealthy and the load balancer answers 503",
        DrillFault.OUTAGE: "its servers taken out of its load balancer's targets, so the load balancer answers 503",
    },
    computed_inputs=frozenset({"image"}),
    check=acme_load_balancer_rules(
        "hetzner",
        "a 'hetzner' site's load balancer serves the hostname on HTTPS port 443 and answers port 80 only with a "
        "redirect to it, which any check would pass",
    ),
)
