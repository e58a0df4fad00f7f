"""`bascule verify`'s assessment: is the standby ready right now, and does DNS answer the primary?

The same readiness checks a drill's preflight runs, without any fault: each site asked directly at its own
address as a client of the service hostname would ask it, and each resolver asked for the failover record.
Rendered as text for people, JSON for tools and JUnit for CI dashboards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from bascule.io.escaping import xml_tree
from bascule.readiness.caa import caa_problems, new_resolver
from bascule.readiness.probes import DnsResult, query_dns
from bascule.readiness.site import SiteReadiness, Trust, check_site
from bascule.readiness.target import DrillTarget

PRIMARY = "primary"
DATA_PREFIX = "data: "


def check_sites(target: DrillTarget, trust: Trust, timeout: float) -> list[SiteReadiness]:
    """Every site of the target, directly (not through DNS): what a client would get if DNS sent it there."""
    return [
        check_site(
            role,
            address,
            target.port,
            target.hostname,
            target.health_path,
            trust,
            timeout,
            target.check_timeout_seconds,
            target.acme.get(role),
        )
        for role, address in target.addresses.items()
    ]


@dataclass
class ServiceReadiness:
    service: str
    hostname: str
    target: str
    sites: list[SiteReadiness]
    dns: list[DnsResult]
    problems: list[str] = field(default_factory=list)
    data: dict[str, Any] | None = None
    """With `verify --data`: the data standby's status as `bascule.data` reports it (its problems are in
    `problems`, each starting `data: `)."""
    backups: list[dict[str, Any]] | None = None
    """With `verify --data` where the service is backed up: each database's newest backup and its age (its problems
    start `data: backup: `)."""

    @property
    def ready(self) -> bool:
        return not self.problems

    def add_data(self, document: dict[str, Any], problems: list[str]) -> None:
        """The data standby's status and the reasons it is not ready (`bascule.data.status`, `problems`)."""
        self.data = document
        self.problems += [f"{DATA_PREFIX}{line}" for line in problems]

    def add_backups(self, documents: list[dict[str, Any]], problems: list[str]) -> None:
        """Each backed-up database's newest backup against its schedule (`bascule.backup`), and what is wrong."""
        self.backups = documents
        self.problems += [f"{DATA_PREFIX}backup: {line}" for line in problems]

    @property
    def data_problems(self) -> list[str]:
        return [p for p in self.problems if p.startswith(DATA_PREFIX)]

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "hostname": self.hostname,
            "target": self.target,
            "ready": self.ready,
            "problems": self.problems,
            "sites": [s.as_json() for s in self.sites],
            "dns": [{**d.as_json(), "ok": d.error is None and d.site == PRIMARY} for d in self.dns],
            **({"data": self.data} if self.data is not None else {}),
            **({"backups": self.backups} if self.backups is not None else {}),
        }


def assess(target: DrillTarget, trust: Trust, timeout: float = 5.0) -> ServiceReadiness:
    sites = check_sites(target, trust, timeout)
    answers = [query_dns(resolver, target, timeout) for resolver in target.resolvers]
    problems = [line for site in sites for line in site.problems]
    for result in answers:
        if result.error:
            problems.append(f"dns {result.resolver}: no answer for {target.hostname}: {result.error}")
        elif result.site != PRIMARY:
            shown = ", ".join(result.answers) or "nothing"
            problems.append(
                f"dns {result.resolver}: {target.hostname} answers {shown} ({result.site}), not the primary"
            )
    if target.certificate_authorities:
        # What a CA sees: a recursive resolver's view (the first one given, else the system's), since the relevant
        # CAA set may sit above the service's zone.
        recursive = next((r for r in target.resolvers if r.kind == "recursive"), None)
        resolver = new_resolver(timeout, recursive.address, recursive.port) if recursive else new_resolver(timeout)
        problems += caa_problems(target.hostname, target.certificate_authorities, resolver)
    return ServiceReadiness(target.service, target.hostname, target.description, sites, answers, problems)


def report_json(results: list[ServiceReadiness], trust: Trust) -> dict[str, Any]:
    return {
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ready": all(r.ready for r in results),
        "min_cert_days": trust.min_cert_days,
        "ca_bundle": trust.ca_bundle,
        "services": [r.as_json() for r in results],
    }


def render_json(results: list[ServiceReadiness], trust: Trust) -> str:
    return json.dumps(report_json(results, trust), indent=2, allow_nan=False)


def _site_line(site: SiteReadiness) -> str:
    cert = site.certificate
    renewal = f" (ACME {site.acme.directory}, renewed at {site.acme.renew_days} days left)" if site.acme else ""
    tls = (
        f"cert {', '.join(cert.names)} from {cert.issuer}{renewal}, {cert.days_left:g} days left"
        + ("" if site.trusted else " (NOT trusted)")
        if cert
        else "no TLS"
    )
    health = f"HTTP {site.status} in {site.latency_ms:g} ms" if site.status is not None else "no health answer"
    who = f", answered by {site.site}" if site.site else ""
    return f"  {'ok ' if site.ready else 'BAD'} {site.role:<9} {site.address}:{site.port}  {tls}; {health}{who}"


def _lag(database: dict[str, Any]) -> str:
    """One database's lag as `verify` shows it: measured seconds, or more than the wait when not confirmed."""
    name = database.get("database")
    if database.get("lag_seconds") is not None:
        return f"{name} lag {database['lag_seconds']:g} s"
    if database.get("lag_over_seconds") is not None:
        return f"{name} lag over {database['lag_over_seconds']:g} s"
    return f"{name} lag unknown"


def render_text(results: list[ServiceReadiness]) -> str:
    lines = []
    for r in results:
        lines.append(f"{'READY' if r.ready else 'NOT READY'} {r.service} ({r.hostname}) on {r.target}")
        lines += [_site_line(site) for site in r.sites]
        for d in r.dns:
            seen = d.error or f"{', '.join(d.answers) or 'nothing'} ({d.site})"
            lines.append(f"  {'ok ' if d.error is None and d.site == PRIMARY else 'BAD'} dns {d.resolver}: {seen}")
        if r.data is not None:
            lags = ", ".join(_lag(db) for db in r.data.get("databases", []))
            lines.append(f"  {'BAD' if r.data_problems else 'ok '} data {r.data.get('state')}: {lags}")
        lines += [f"  problem: {p}" for p in r.problems]
    return "\n".join(lines)


def render_junit(results: list[ServiceReadiness]) -> str:
    """One test suite per service, one case per site and per resolver: a dashboard shows which part is not ready."""
    suites = ET.Element("testsuites", name="bascule verify")
    for r in results:
        cases: list[tuple[str, list[str]]] = [(f"site {s.role} {s.address}", s.problems) for s in r.sites] + [
            (f"dns {d.resolver}", [p for p in r.problems if p.startswith(f"dns {d.resolver}:")]) for d in r.dns
        ]
        if r.data is not None:
            cases.append(("data standby", r.data_problems))
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"{r.service} ({r.hostname})",
            tests=str(len(cases)),
            failures=str(sum(1 for _, problems in cases if problems)),
        )
        for name, problems in cases:
            case = ET.SubElement(suite, "testcase", classname=r.service, name=name)
            if problems:
                ET.SubElement(case, "failure", message=problems[0]).text = "\n".join(problems)
    return ET.tostring(xml_tree(suites), encoding="unicode", xml_declaration=True)
