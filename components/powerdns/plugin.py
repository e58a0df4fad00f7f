"""The 'powerdns' DNS backend: its spec model and its rules. No Pulumi here: `bascule check` reads it."""

# pyright: reportIncompatibleVariableOverride=false, reportIncompatibleMethodOverride=false
# (a spec model narrows its base's `kind` to a Literal and gives `region` as a field: safe, the models are frozen)

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from bascule import facts
from bascule.io.escaping import quoted
from bascule.spec.base import DnsSpecBase
from bascule.spec.models import ServiceSpec
from bascule.spec.plugins import DnsBackend, has_fixed_ip

_API_URL = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*)?")
"""The PowerDNS API's base URL: scheme, host name or address, port, path; no query, no user info, nothing a newline
or a space could end (https://doc.powerdns.com/authoritative/http-api/index.html)."""


class PowerDnsSpec(DnsSpecBase):
    """A LUA `ifurlup()` record in a self-hosted PowerDNS zone, managed through its HTTP API.

    The switch runs outside every cloud's control plane; its checks run on the PowerDNS servers. The API
    key comes from the secret stack config `bascule:powerdnsApiKey`, never from this file.
    """

    kind: Literal["powerdns"] = "powerdns"
    api_url: str
    server_id: str = "localhost"
    ttl: int = Field(default=30, ge=0, le=facts.DNS_TTL_MAX)
    check_timeout_seconds: int = Field(default=2, ge=1, le=30)

    @field_validator("api_url")
    @classmethod
    def _api(cls, v: str) -> str:
        if not _API_URL.fullmatch(v):
            raise ValueError(
                f"{quoted(v)} is not an http(s) URL of the PowerDNS API (e.g. https://ns1.example.eu:8081)"
            )
        return v.rstrip("/")


def _powerdns_rules(service: ServiceSpec) -> None:
    """`ifurlup()` checks and answers IP addresses, and its check must end before the next one starts."""
    dns, hc = service.dns, service.health_check
    assert isinstance(dns, PowerDnsSpec)
    for role, site in (("primary", service.primary), ("secondary", service.secondary)):
        if not has_fixed_ip(site):
            raise ValueError(
                f"{role}: PowerDNS ifurlup() checks and answers IP addresses, and a '{site.kind}' site is "
                "reached by a hostname without a fixed IP; use a 'gcp' site or an 'endpoint' with an IP"
            )
    service.check_in_zone(None)
    if hc.failure_threshold < 1:
        raise ValueError(f"health_check.failure_threshold: must be 1 or more, not {hc.failure_threshold}")
    if hc.timeout_exceeds(dns.check_timeout_seconds):
        raise ValueError("health_check.interval_seconds: must be longer than dns.check_timeout_seconds")


DNS = DnsBackend(
    kind="powerdns",
    spec=PowerDnsSpec,
    component="bascule.components.powerdns.failover:PowerDnsFailover",
    extra=None,
    cloud=None,
    check=_powerdns_rules,
    acme_dns="pdns",  # lego's PowerDNS provider (terraform-provider-acme docs/guides/dns-providers-pdns.md)
)
