"""What every site kind certified by ACME DNS-01 shares: the CA, its limits, the spec fields, the zone rule, and the
health-check rule of a load balancer that serves the certificate.

A standby whose provider cannot issue a certificate while the hostname points at the other site gets one from Let's
Encrypt with a DNS-01 challenge written into the failover zone through the DNS backend (`components/acme.py` issues
it; each such site kind uploads it to its load balancer). No Pulumi and no ACME SDK here: the spec reads this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import Field, field_validator

from bascule.io.escaping import quoted
from bascule.spec.base import Model, Role
from bascule.spec.models import ServiceSpec
from bascule.spec.plugins import DNS_BACKENDS, dns_backend

LETS_ENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
"""Let's Encrypt's production ACME v2 directory (the terraform-provider-acme docs' examples use its staging twin,
https://acme-staging-v02.api.letsencrypt.org/directory, whose certificates no browser trusts)."""
CERTIFICATE_AUTHORITIES = ("letsencrypt.org",)
"""CAA `issue` domain of Let's Encrypt (https://letsencrypt.org/docs/caa/): a CAA record set that names only other CAs
stops the certificate."""
ACME_CHALLENGE_PREFIX = len("_acme-challenge.")
"""DNS-01 proves control with a TXT record `_acme-challenge.<host>` (RFC 8555 section 8.4; the lego route53 provider's
least-privilege policy names it, terraform-provider-acme docs/guides/dns-providers-route53.md)."""
LETS_ENCRYPT_LIFETIME_DAYS = 90
"""Let's Encrypt's certificates last 90 days today; the CA/Browser Forum's SC-081 ballot brings every public
certificate down to 47 days by 2029, so `renew_days_before` must leave room for that shrinking lifetime."""


class AcmeCertificateFields(Model):
    """The spec fields of a site whose certificate comes from ACME DNS-01 (mixed into its spec model)."""

    acme_email: str | None = None
    """Contact address of the ACME account (optional for Let's Encrypt)."""
    renew_days_before: int = Field(default=30, ge=1, le=LETS_ENCRYPT_LIFETIME_DAYS - 1)
    """Renew when fewer days than this remain (the ACME provider's `min_days_remaining`), on the next `pulumi up`:
    the scheduled renewal run must come more often than this (docs/deploy.md). At or above the certificate's
    lifetime every run would renew it."""

    @field_validator("acme_email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        # 254: the longest address an SMTP path holds (RFC 5321 section 4.5.3.1.3, 256 with the angle brackets).
        if v is not None and (len(v) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v)):
            raise ValueError(f"{quoted(v)} is not an e-mail address")
        return v


def acme_renewals(service: ServiceSpec) -> dict[str, tuple[str, int]]:
    """Role -> (ACME directory, days left at which it renews) of each site whose certificate comes from ACME: every
    site kind with these spec fields issues it through `components/acme.py` from `LETS_ENCRYPT_DIRECTORY`, renewing
    within `renew_days_before`. The service registers it so `bascule verify --stack` can say a renewal stopped."""
    found: dict[str, tuple[str, int]] = {}
    for role, site in ((Role.PRIMARY, service.primary), (Role.SECONDARY, service.secondary)):
        if isinstance(site, AcmeCertificateFields):
            found[role.value] = (LETS_ENCRYPT_DIRECTORY, site.renew_days_before)
    return found


def require_acme_dns(kind: str, service: ServiceSpec, role: Role) -> None:
    """The certificate's DNS-01 challenge goes into the service's zone through its DNS backend, which must declare
    how an ACME client writes there (`DnsBackend.acme_dns`)."""
    if dns_backend(service.dns.kind).acme_dns is None:
        able = " or ".join(f"'{name}'" for name, declared in DNS_BACKENDS.all().items() if declared.acme_dns)
        raise ValueError(
            f"dns.kind: a '{kind}' {role.value} gets its certificate from Let's Encrypt by a DNS-01 challenge in the "
            f"service's zone, which Bascule answers through a {able or 'no'} backend, not '{service.dns.kind}'"
        )


def acme_load_balancer_rules(kind: str, why: str) -> Callable[[ServiceSpec, Role], None]:
    """The cross-field rules of a site kind whose load balancer serves the ACME certificate: the DNS-01 challenge goes
    into the service's zone (`require_acme_dns`), and the health check the DNS backend runs must be HTTPS on port 443,
    the one port where the load balancer serves the hostname for real. `why` is the kind's own reason, the error's
    text before "; check HTTPS on port 443" (e.g. what the load balancer answers on other ports)."""

    def rules(service: ServiceSpec, role: Role) -> None:
        require_acme_dns(kind, service, role)
        hc = service.health_check
        if hc.protocol != "HTTPS" or hc.effective_port != 443:
            raise ValueError(f"health_check.protocol: {why}; check HTTPS on port 443")

    return rules
