"""The 'ovhcloud' site kind: its spec model, OVHcloud Public Cloud's limits, its capabilities.

No Pulumi and no OVH or ACME SDK here: the spec and `bascule check` read this module without the `ovhcloud` extra.

Why Public Cloud (OpenStack) rather than the older IP Load Balancing product: every piece the site needs has a
resource of pulumi-ovh 2.22 with its terraform-provider-ovh documentation, on one API (`/v2/publicCloud/project/...`)
and one project: instances with user data (`ovh_cloud_instance`), an Octavia load balancer whose VIP carries a floating
IP (`ovh_cloud_loadbalancer`, `network.ip`), a TERMINATED_HTTPS listener fed a certificate from the project's Key
Manager (Barbican, `ovh_cloud_key_manager_secret`, `default_tls_container_ref`), and a pool whose HTTP health monitor
sends the service hostname as Host (`health_monitor.domain_name`). An IP Load Balancing service must be ordered (and
paid) outside the stack, and its farms' probes were not found to send a Host header in the provider's docs.
"""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal: safe, the models are frozen)

from __future__ import annotations

import re
from typing import Literal

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

# --- OVHcloud Public Cloud limits and choices, each with its source ---------------------------------------------
INSTANCE_NAME = NameLimit(
    63,
    r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$",
    "name",
    "Bascule's own bound: terraform-provider-ovh docs/resources/cloud_instance.md gives no limit for `name`, and "
    "cloud-init may make it the instance's hostname, so it is kept to one DNS label (RFC 1123, at most 63 characters)",
)
"""The other resources' names are Pulumi's auto-names of Bascule's short logical names, far below any limit."""

USER_DATA_MAX = 65535
"""Nova's bound on user data: "The provided user data must be base64 encoded and is restricted to 65535 bytes"
(https://docs.openstack.org/nova/latest/user/user-data.html). pulumi-ovh 2.22 leaves `CloudInstance.user_data`
undescribed and Bascule sends the raw cloud-config document; it checks the base64-encoded size, which bounds the raw
one too, so either encoding fits."""

IMAGE_NAME = "Debian 12"
"""The OS image the instances boot unless the spec names one by id (`os_image_id`), looked up by name in the region's
catalogue (`get_cloud_instance_images`, whose `name` is "Display name of the image as reported by the backend (for
example the distribution and version, such as `Debian 12`)", pulumi-ovh 2.22 docstring in `pulumi_ovh/outputs.py`);
Debian 12 ships Docker as its `docker.io` package. Found by name, the id is kept from the first `up` on: OVHcloud
publishes a refreshed image under the same name and renames the old one ("OVH deprecated the image ... `Ubuntu 22.04 -
deprecated - 2024-04-18` ... Running terraform now causes a replacement of the compute instance",
ovh/terraform-provider-ovh#631), which must not replace every instance during a routine `up`."""

MAX_INSTANCES = 5
"""A new OS image, flavor or service image replaces every instance, each new one created (in the same anti-affinity
group) before the old one is deleted, so the group holds twice `instances` for a while. OpenStack's default quota of
members per server group is 10 (`server_group_members`, https://docs.openstack.org/nova/latest/user/quotas.html);
OVHcloud's was not sourced, so Bascule stays within that default. ANTI_AFFINITY also needs a distinct hypervisor for
each of them, or OpenStack refuses the new instance and the replacement fails (docs/deploy.md)."""


class OvhcloudSiteSpec(ImageSite, AcmeCertificateFields):
    """Instances running the service image behind an OVHcloud Public Cloud Load Balancer, with a Let's Encrypt
    certificate.

    The floating IP on the load balancer's VIP is the site's fixed address: DNS backends answer it and their health
    checks send the service hostname to it (Host and SNI), where the TERMINATED_HTTPS listener serves the certificate
    it was given. That certificate comes from ACME with a DNS-01 challenge written into the failover zone, so it is
    issued and renewed while the hostname still points at the other site: OVHcloud's own Let's Encrypt tutorial for
    this load balancer validates by HTTP-01 through the load balancer, which needs the hostname to point at it
    (https://github.com/ovh/docs, pages/platform/network-services/tutorials-01-secure-lb-letsencrypt).
    """

    kind: Literal["ovhcloud"] = "ovhcloud"
    region: str
    project_id: str
    """The Public Cloud project (`service_name` of every resource), whose id the OVHcloud Control Panel shows."""
    flavor: str = "b3-8"
    """An instance flavor of the region's catalogue, looked up by name (`ovh_cloud_instance_flavors`, whose docs
    resolve `flavor.name == "b3-8"`; OVHcloud checks the rest)."""
    instances: int = Field(default=2, ge=1, le=MAX_INSTANCES)
    """Always running (warm): at least one; two or more, each on its own hypervisor (an ANTI_AFFINITY group), ride out
    a host failure."""
    os_image_id: str | None = None
    """The catalogue id of the OS image the instances boot (an image with Docker as `docker.io`, as Debian 12). Unset,
    the region's "Debian 12" is found by name at the first `up` and kept; set, it is the image, and changing it is the
    only thing that moves the instances to another image (each replaced, all in the same `up`)."""
    load_balancer_flavor: Literal["SMALL", "MEDIUM", "LARGE", "XL"] = "SMALL"
    """`flavor_name` of `ovh_cloud_loadbalancer`: "Must be one of `SMALL`, `MEDIUM`, `LARGE`, `XL`"."""
    container_port: int = Field(default=8080, ge=1, le=65534)
    """The port the instances publish the container on; the `health` drill probes the next one, which the security
    group keeps closed, so 65535 is not available."""

    @property
    def cloud(self) -> Cloud:
        return Cloud.OVHCLOUD

    @field_validator("project_id")
    @classmethod
    def _project_id(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-zA-Z]{1,64}", v):
            raise ValueError(f"{quoted(v)} is not a Public Cloud project id (letters and digits)")
        return v

    @field_validator("os_image_id")
    @classmethod
    def _os_image_id(cls, v: str | None) -> str | None:
        # Glance ids are UUIDs; only the characters are checked here, the id itself against the catalogue on `up`.
        if v is not None and not re.fullmatch(r"[0-9a-zA-Z.-]{1,64}", v):
            raise ValueError(f"{quoted(v)} is not an image id such as the catalogue lists (a UUID)")
        return v

    @field_validator("flavor")
    @classmethod
    def _flavor(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,31}", v):  # b3-8, c3-16, d2-2: short names
            raise ValueError(f"{quoted(v)} is not an OVHcloud instance flavor such as b3-8 or d2-4")
        return v


SITE = SiteKind(
    kind="ovhcloud",
    spec=OvhcloudSiteSpec,
    component="bascule.components.ovhcloud.site:OvhcloudSite",
    extra="ovhcloud",
    cloud=Cloud.OVHCLOUD,
    certificate="Let's Encrypt certificate by ACME DNS-01 in the service's zone (pulumiverse-acme), renewed by "
    "`pulumi up` within `renew_days_before` of expiry, stored as a PKCS#12 secret in the project's Key Manager "
    "(Barbican) for the load balancer's TERMINATED_HTTPS listener",
    fixed_ip=ALWAYS,  # the floating IP on the load balancer's VIP, the project's until the stack deletes it
    answered_by_ip=ALWAYS,
    validation_prefix=ACME_CHALLENGE_PREFIX,
    certificate_authorities=CERTIFICATE_AUTHORITIES,
    levers={
        DrillFault.HEALTH: "its load balancer's health monitor pointed, for every member, at a port the instances' "
        "security group keeps closed, so every member turns unhealthy and the load balancer answers 503",
        DrillFault.OUTAGE: "its instances taken out of its load balancer's pool, so the load balancer answers 503",
    },
    computed_inputs=frozenset({"image"}),
    check=acme_load_balancer_rules(
        "ovhcloud",
        "an 'ovhcloud' site's load balancer listens only on HTTPS port 443 (TLS ends there with the service's "
        "certificate)",
    ),
)
