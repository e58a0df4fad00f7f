"""A drill is a declarative plan: what to break, whom to ask, how long to wait, when to give up."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from bascule.readiness import DEFAULT_MIN_CERT_DAYS, Trust


class Fault(StrEnum):
    HEALTH = "health"
    """The primary's health path answers 503: the real health checkers must notice."""
    OUTAGE = "outage"
    """The primary stops serving altogether (process stopped, capacity at zero)."""
    SWITCH = "switch"
    """DNS is told to skip the primary: tests the switch and the clients' caches, not detection."""


@dataclass(frozen=True)
class Resolver:
    name: str
    address: str
    port: int = 53
    kind: str = "authoritative"
    """`authoritative` sees the switch itself; `recursive` adds resolver caching (the TTL) on top."""


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


@dataclass(frozen=True)
class DrillPlan:
    target: DrillTarget
    fault: Fault
    rto_seconds: float
    timeout_seconds: float
    poll_interval: float = 0.25
    preflight_timeout: float = 20.0
    dns_abort_after: int = 12
    """Consecutive probes in which no resolver answers before the drill aborts (the switch itself is down)."""
    probe_timeout: float = 1.0
    min_cert_days: float = DEFAULT_MIN_CERT_DAYS
    """Preflight refuses a site whose certificate for the hostname expires sooner than this."""
    rpo_seconds: float | None = None
    """Set for a data drill: the observed RPO (last acknowledged minus last surviving write) must not exceed it."""

    @property
    def trust(self) -> Trust:
        return Trust(self.target.ca_bundle, self.min_cert_days)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["fault"] = self.fault.value
        return data
