"""What a client of a service sees: its hostname, the resolvers to ask, and how to recognise each site."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from bascule.io.escaping import quoted

SITE_HEADER = "X-Bascule-Site"
"""Response header naming the site that served a request; drills read it to see where traffic went. A platform's
own 404 for a name it does not route carries no such header: only the app names itself."""


@dataclass(frozen=True)
class Resolver:
    name: str
    address: str
    port: int = 53
    kind: str = "authoritative"
    """`authoritative` sees the switch itself; `recursive` adds resolver caching (the TTL) on top."""


def parse_resolver(value: str) -> Resolver:
    """`IP[:port]` (port 53 by default) as a recursive resolver to ask; `ValueError` naming `--resolver` otherwise."""
    host, _, port = value.partition(":")
    try:
        ipaddress.ip_address(host)
        number = int(port) if port else 53
    except ValueError:
        raise ValueError(f"--resolver: {quoted(value)} is not IP[:port]") from None
    return Resolver(name=value, address=host, port=number, kind="recursive")


@dataclass(frozen=True)
class AcmeRenewal:
    """A site whose certificate an ACME client renews on a schedule: where from, and how early."""

    directory: str
    """The ACME server's directory URL."""
    renew_days: int
    """The certificate is renewed once no more than this many days remain: fewer left means renewal stopped."""


@dataclass(frozen=True)
class DrillTarget:
    """What a control tells the drill about the service under test."""

    service: str
    hostname: str
    resolvers: tuple[Resolver, ...]
    sites: dict[str, tuple[str, ...]]
    """Role -> the DNS answers that identify it (addresses, or CNAME targets)."""
    addresses: dict[str, str]
    """Role -> where to reach the site itself, bypassing DNS (an address or the platform's own hostname)."""
    port: int
    """The HTTPS port clients use."""
    health_path: str
    failover_bound_seconds: float
    """interval x failures + TTL of the settings in force: what the drill is measured against."""
    description: str
    check_timeout_seconds: float | None = None
    """How long the DNS switch's health checker waits for the health path, where known."""
    ca_bundle: str | None = None
    """CAs a client trusts for this service (private PKI, the sandbox CA); None: the system trust store."""
    certificate_authorities: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Role -> the CAA domains of the public CA its certificate comes from, for the CAA check (empty: not checked,
    e.g. the sandbox's own CA)."""
    acme: dict[str, AcmeRenewal] = field(default_factory=dict)
    """Role -> how its certificate is renewed by ACME, where known: readiness shows it beside the days left, and
    names the stopped renewal when too few remain."""
