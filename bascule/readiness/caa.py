"""CAA: may the CA a site's certificate comes from issue for the hostname at all?

A CAA record set stops every CA it does not name. The set that counts (the "relevant RRset") is the first non-empty
CAA set found at the hostname, then at each parent up to but not including the root; lookups follow CNAMEs as any
DNS query does, so a hostname that is a CNAME to a switch's name can pick up the target's records (RFC 8659 section
3, https://datatracker.ietf.org/doc/html/rfc8659). In it, only `issue` properties restrict a certificate for a
single name (`issuewild` applies to wildcards, which Bascule never requests); a set with no `issue` property does
not restrict issuance (RFC 8659, per erratum 5244 of RFC 6844); an unknown property with the critical flag forbids
issuance; an `issue` value names its CA before any `;`, and `;` alone names none. A value that names the CA but binds
it to an account (`accounturi=`, RFC 8657 section 3: the CA "MUST NOT issue" unless the requesting account matches)
names the account of whoever wrote the record, not the cloud's, so it is reported as stopping the site's CA unless
another value names that CA without a binding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

_KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"})
_CRITICAL = 128


@dataclass(frozen=True)
class CaaProperty:
    flags: int
    tag: str
    value: str


@dataclass(frozen=True)
class RelevantSet:
    """The CAA set that governs a hostname: where it was found (None: nowhere, no restriction) and what it holds."""

    owner: str | None
    properties: tuple[CaaProperty, ...] = ()


def relevant_set(hostname: str, resolver: dns.resolver.Resolver) -> RelevantSet:
    """Climb from the hostname to the top-level domain and return the first non-empty CAA set.

    An answer of "no CAA here" (no data, or no such name) moves one label up; anything else (a timeout, SERVFAIL,
    a refusal) raises `dns.exception.DNSException`, since then nobody can say what the CA would see.
    """
    name = dns.name.from_text(hostname)
    while name != dns.name.root:
        try:
            answer = resolver.resolve(name, dns.rdatatype.CAA, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            answer = None
        if answer is not None and answer.rrset is not None and len(answer.rrset) > 0:
            return RelevantSet(
                name.to_text(omit_final_dot=True),
                tuple(CaaProperty(int(r.flags), r.tag.decode().lower(), r.value.decode()) for r in answer.rrset),
            )
        name = name.parent()
    return RelevantSet(None)


def _issuer(value: str) -> tuple[str, bool]:
    """An `issue` value's CA domain (lowercase; "" for none) and whether it binds that CA to an account."""
    domain, _, parameters = value.partition(";")
    keys = {p.split("=", 1)[0].strip().lower() for p in parameters.split(";") if "=" in p}
    return domain.strip().lower(), "accounturi" in keys


def issuers(found: RelevantSet) -> tuple[str, ...] | None:
    """The CA domains the set lets issue a single-name certificate; None when it does not restrict issuance."""
    issue = [p for p in found.properties if p.tag == "issue"]
    if not issue:
        return None
    return tuple(sorted({_issuer(p.value)[0] for p in issue} - {""}))


def _account_bound(found: RelevantSet, authorities: set[str]) -> bool:
    """Whether every `issue` value naming one of the authorities binds it to an account (`accounturi`)."""
    named = [_issuer(p.value) for p in found.properties if p.tag == "issue" and _issuer(p.value)[0] in authorities]
    return bool(named) and all(bound for _, bound in named)


def caa_problem(hostname: str, authorities: Sequence[str], found: RelevantSet) -> str | None:
    """One line saying why the set stops this site's CA (any of `authorities`), or None when it may issue."""
    if found.owner is None:
        return None
    critical = [p.tag for p in found.properties if p.flags & _CRITICAL and p.tag not in _KNOWN_TAGS]
    if critical:
        return (
            f"caa: {hostname}: the CAA records at {found.owner} carry the unknown critical property "
            f"{', '.join(sorted(set(critical)))}, so no CA may issue"
        )
    allowed = issuers(found)
    wanted = {a.lower() for a in authorities}
    if allowed is not None and _account_bound(found, wanted):
        return (
            f"caa: {hostname}: the CAA records at {found.owner} bind {', '.join(sorted(set(allowed) & wanted))} to an "
            "account (accounturi=), which is not the cloud's account this site's certificate is requested under: "
            f'add a record `0 issue "{authorities[0]}"` without it'
        )
    if allowed is None or set(allowed) & wanted:
        return None
    named = ", ".join(allowed) or 'no CA (issue ";")'
    return (
        f"caa: {hostname}: the CAA records at {found.owner} allow {named}, not the CA this site's certificate comes "
        f'from ({" or ".join(authorities)}): add a record `0 issue "{authorities[0]}"` there'
    )


def new_resolver(timeout: float, address: str | None = None, port: int = 53) -> dns.resolver.Resolver:
    """The system's resolver, or one at `address`, giving up after `timeout` seconds per lookup."""
    resolver = dns.resolver.Resolver(configure=address is None)
    if address is not None:
        resolver.nameservers = [address]
        resolver.port = port
    resolver.lifetime = timeout
    return resolver


def caa_problems(hostname: str, authorities: dict[str, tuple[str, ...]], resolver: dns.resolver.Resolver) -> list[str]:
    """One line per site whose CA the hostname's CAA records stop (the lookup is made once)."""
    try:
        found = relevant_set(hostname, resolver)
    except dns.exception.DNSException as exc:
        return [f"caa: {hostname}: could not look up CAA records ({type(exc).__name__}: {exc})"]
    problems = []
    for role, cas in authorities.items():
        problem = caa_problem(hostname, cas, found)
        if problem is not None:
            problems.append(problem.replace("this site's certificate", f"the {role}'s certificate"))
    return problems
