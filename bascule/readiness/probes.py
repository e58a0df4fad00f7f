"""Probes: what a client sees. DNS answers from each chosen resolver, and what HTTPS clients get from that answer."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx

from bascule.readiness.site import describe_error, get_as_client
from bascule.readiness.target import SITE_HEADER, DrillTarget, Resolver

BOTH = "both"
"""Answers naming every site at once: what PowerDNS and Route 53 do when no site is healthy (fail open)."""
NONE = "none"
MAX_ADDRESSES = 4
"""Addresses of one answer tried per probe: enough for a primary/secondary pair answered together."""


@dataclass(frozen=True)
class DnsResult:
    resolver: str
    answers: list[str]
    site: str | None
    error: str | None
    ms: float

    def as_json(self) -> dict[str, Any]:
        return {"resolver": self.resolver, "answers": self.answers, "site": self.site, "error": self.error,
                "ms": round(self.ms, 1)}  # fmt: skip


@dataclass(frozen=True)
class HttpResult:
    address: str | None
    site: str | None
    """The site that answered: its identity header, else the role its address belongs to."""
    status: int | None
    error: str | None
    """What a client got instead of a 2xx, naming the site: `HTTP 404 from secondary`, `TLS: ... from primary`."""
    ms: float

    def as_json(self) -> dict[str, Any]:
        return {"address": self.address, "site": self.site, "status": self.status, "error": self.error,
                "ms": round(self.ms, 1)}  # fmt: skip


def classify(answers: list[str], sites: dict[str, tuple[str, ...]]) -> str:
    """Which site an answer points at; `both` when it names several, `none` when it is empty."""
    if not answers:
        return NONE
    found = {role for role, ids in sites.items() for a in answers if a.rstrip(".") in ids}
    if len(found) > 1:
        return BOTH
    return found.pop() if found else "unknown"


def query_dns(resolver: Resolver, target: DrillTarget, timeout: float) -> DnsResult:
    query = dns.message.make_query(target.hostname, dns.rdatatype.A)
    start = time.monotonic()
    try:
        response = dns.query.udp(query, resolver.address, port=resolver.port, timeout=timeout)
    except (OSError, dns.exception.DNSException) as exc:
        return DnsResult(resolver.name, [], None, f"{type(exc).__name__}: {exc}".strip(": "), _ms(start))
    if response.rcode() != dns.rcode.NOERROR:  # a resolver whose upstream is gone answers SERVFAIL
        return DnsResult(resolver.name, [], None, dns.rcode.to_text(response.rcode()), _ms(start))
    answers = [item.to_text() for rrset in response.answer for item in rrset]
    return DnsResult(resolver.name, answers, classify(answers, target.sites), None, _ms(start))


def probe_http(
    client: httpx.Client, address: str | None, target: DrillTarget, timeout: float, hint: str | None = None
) -> HttpResult:
    """One request as a client would make it: to the address DNS gave, SNI and Host the service hostname, the
    certificate verified by `client`, a 2xx on the health path required. Anything else is a client error.
    `hint` is the site the whole DNS answer pointed to (a CNAME target names the site; its addresses do not)."""
    start = time.monotonic()
    if address is None:
        return HttpResult(None, None, None, "no address to connect to", _ms(start))
    by_address = classify([address], target.sites)
    named = next((s for s in (by_address, hint) if s in target.sites), address)
    try:
        response = get_as_client(client, address, target.port, target.hostname, target.health_path, timeout)
    except httpx.HTTPError as exc:
        return HttpResult(address, None, None, f"{describe_error(exc)} from {named}", _ms(start))
    site = response.headers.get(SITE_HEADER) or named
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code} from {site}"
    return HttpResult(address, site if error is None else None, response.status_code, error, _ms(start))


def probe_clients(client: httpx.Client, answers: list[str], target: DrillTarget, timeout: float) -> dict[str, Any]:
    """What clients get for one DNS answer. Each address in it is tried, because clients spread over them (a
    fail-open answer sends some to each site); the answer counts as served only if every address serves one site."""
    names = [*dict.fromkeys(a.rstrip(".") for a in answers)]
    ips = [a for a in names if _is_ip(a)]  # behind a CNAME, clients connect to the addresses it resolved to
    addresses: list[str | None] = [*(ips or names)[:MAX_ADDRESSES]]
    hint = classify(answers, target.sites)
    attempts = [probe_http(client, address, target, timeout, hint) for address in addresses or [None]]
    sites = {a.site for a in attempts}
    errors = [a.error for a in attempts if a.error]
    served = sites.pop() if len(sites) == 1 and not errors else None
    return {
        "address": attempts[0].address,
        "site": served,
        "status": attempts[0].status,
        "error": "; ".join(errors) or None,
        "ms": round(max(a.ms for a in attempts), 1),
        "attempts": [a.as_json() for a in attempts],
    }


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ms(start: float) -> float:
    return (time.monotonic() - start) * 1000
