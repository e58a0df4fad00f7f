"""Probes: what a client sees. DNS answers from each chosen resolver, and which site serves HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx

from bascule.drills.plan import DrillTarget, Resolver
from bascule.sandbox.modes import SITE_HEADER

BOTH = "both"
"""Answers naming every site at once: what PowerDNS and Route 53 do when no site is healthy (fail open)."""
NONE = "none"


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
    status: int | None
    error: str | None
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


def probe_http(client: httpx.Client, address: str | None, target: DrillTarget, timeout: float) -> HttpResult:
    """One request as a client would make it: to the address DNS gave, with the service's Host header."""
    start = time.monotonic()
    if address is None:
        return HttpResult(None, None, None, "no address to connect to", _ms(start))
    url = f"{target.http_scheme}://{address}:{target.http_port}/"
    try:
        response = client.get(url, headers={"Host": target.hostname}, timeout=timeout)
    except httpx.HTTPError as exc:
        return HttpResult(address, None, None, f"{type(exc).__name__}: {exc}".strip(": "), _ms(start))
    error = None if response.status_code < 500 else f"HTTP {response.status_code}"
    # Sites that name themselves are believed; otherwise a good answer came from the site DNS pointed to.
    site = response.headers.get(SITE_HEADER) or (classify([address], target.sites) if error is None else None)
    return HttpResult(address, site, response.status_code, error, _ms(start))


def check_health(client: httpx.Client, url: str, timeout: float) -> str | None:
    """None when healthy, else why not."""
    try:
        response = client.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}".strip(": ")
    return None if response.status_code < 400 else f"HTTP {response.status_code}"


def _ms(start: float) -> float:
    return (time.monotonic() - start) * 1000
