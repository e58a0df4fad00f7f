"""The concentration-risk rules: pure functions from an inventory to findings.

Both front-ends (the CrossGuard pack and `bascule check`) call `evaluate`, so a stack gets the same
verdict with or without the Pulumi CLI. Every rule is one pass over the resources (linear), says what is
wrong in terms of the workload, and names the DORA article (Regulation (EU) 2022/2554) it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bascule import facts
from bascule.inventory.records import (
    CONFIG_REGION_KEYS,
    GLOBAL,
    UNKNOWN,
    Inventory,
    Resource,
    built_on,
    children_of,
    descendants,
)
from bascule.policies.config import Enforcement, PackConfig, Settings
from bascule.spec import TAG_RPO, TAG_RTO


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str
    urn: str | None
    workload: str | None


@dataclass
class Workload:
    name: str
    critical: bool
    sites: list[Resource] = field(default_factory=list)
    switches: list[Resource] = field(default_factory=list)
    """Failover DNS: records with a failover policy, Traffic Manager profiles, Cloud DNS routing policies."""
    checks: list[Resource] = field(default_factory=list)
    edges: list[Resource] = field(default_factory=list)
    """Global edge services its sites are reached through (`facts.GLOBAL_EDGE_TYPES`), e.g. Azure Front Door."""
    backups: list[Resource] = field(default_factory=list)
    """Where its backups live: resources carrying `facts.BACKUP_TAG` (the `data.backup` bucket)."""
    rto_seconds: int | None = None
    rpo_seconds: int | None = None

    def site_regions(self) -> set[tuple[str, str]]:
        return {(r.cloud.value, r.region) for r in self.sites if r.cloud and r.region not in (GLOBAL, UNKNOWN)}


def _is_switch(r: Resource) -> bool:
    if r.type == facts.ROUTE53_RECORD:
        return bool(r.props.get("failoverRoutingPolicies"))
    if r.type == facts.TRAFFIC_MANAGER_PROFILE:
        return True
    if r.type == facts.CLOUD_DNS_RECORD_SET:
        return bool((r.props.get("routingPolicy") or {}).get("primaryBackup"))
    if r.type == facts.DYNAMIC_RESOURCE:
        return r.props.get("rtype") == "LUA"
    return False


def workloads(inventory: Inventory, settings: Settings) -> dict[str, Workload]:
    found: dict[str, Workload] = {}
    # Tag keys and values match whatever their case (`Workload`, `Criticality: Critical`): teams' conventions
    # differ, and a missed tag would let a critical workload pass unchecked.
    workload_tag, criticality_tag = settings.workload_tag.lower(), settings.criticality_tag.lower()
    critical_values = {v.lower() for v in settings.critical_values}
    for r in inventory.resources:
        tags = {k.lower(): v for k, v in r.tags.items()}
        name = r.service or tags.get(workload_tag)
        if not name or not (r.custom or r.type in facts.DECLARED_SITES):
            continue
        criticality = r.criticality or tags.get(criticality_tag)
        w = found.get(name)
        if w is None:  # not setdefault: that would build a Workload per resource
            w = found[name] = Workload(name, critical=False)
        w.critical = w.critical or (criticality or "").lower() in critical_values
        if r.type in facts.SITE_TYPES:
            w.sites.append(r)
        elif _is_switch(r):
            w.switches.append(r)
        elif r.type in (facts.ROUTE53_HEALTH_CHECK, facts.GCP_HEALTH_CHECK):
            w.checks.append(r)
        elif r.type in facts.GLOBAL_EDGE_TYPES:
            w.edges.append(r)
        elif r.tags.get(facts.BACKUP_TAG[0]) == facts.BACKUP_TAG[1]:
            w.backups.append(r)
        rto, rpo = r.tags.get(TAG_RTO), r.tags.get(TAG_RPO)
        if rto and rto.isdigit():
            w.rto_seconds = int(rto) if w.rto_seconds is None else min(w.rto_seconds, int(rto))
        if rpo and rpo.isdigit():
            w.rpo_seconds = int(rpo) if w.rpo_seconds is None else min(w.rpo_seconds, int(rpo))
    for w in found.values():
        if w.rto_seconds is None:
            w.rto_seconds = settings.default_rto_seconds
        # Registration order varies between runs (resources register concurrently): anchor findings on the
        # same resource every time, so fingerprints and reports are stable.
        for group in (w.sites, w.switches, w.checks, w.edges, w.backups):
            group.sort(key=lambda r: r.urn)
    return found


def _multi_region(r: Resource) -> bool:
    """A multi- or dual-region location (a GCS `EU` bucket) is not one region, whatever its name."""
    known = facts.region(r.cloud, r.region) if r.cloud is not None else None
    return known is not None and known.multi_region


def _critical(ws: Mapping[str, Workload]) -> Iterable[Workload]:
    return (w for w in ws.values() if w.critical and w.sites)


def _describe(regions: set[tuple[str, str]]) -> str:
    return ", ".join(f"{cloud} {region}" for cloud, region in sorted(regions))


def single_region(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for w in _critical(ws):
        regions = w.site_regions()
        if (
            len(regions) == 1
            and not any(_multi_region(r) for r in w.sites)
            and not any(r.region == UNKNOWN for r in w.sites)
        ):
            ((cloud, region),) = regions
            yield Finding(
                "bascule-single-region",
                f"workload '{w.name}' is critical but all {len(w.sites)} compute and data resources this stack "
                f"manages for it run in one region, {cloud} {region}: an outage there takes it down. Fix: add a warm "
                "secondary in another region or provider behind health-checked DNS failover (a Bascule "
                "FailoverService whose secondary is in another region or on another provider).",
                w.sites[0].urn,
                w.name,
            )


def single_provider(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for w in _critical(ws):
        clouds = {r.cloud.value for r in w.sites if r.cloud}
        regions = w.site_regions()
        if len(clouds) == 1 and len(regions) > 1:
            yield Finding(
                "bascule-single-provider",
                f"workload '{w.name}' is critical and spreads over {_describe(regions)}, all on one provider "
                f"({clouds.pop()}): a provider-wide failure (control plane, identity, DNS) takes every site down. "
                "Fix: put the secondary on another provider.",
                w.sites[0].urn,
                w.name,
            )


def unhealthy_failover(_ws: Mapping[str, Workload], inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for r in inv.resources:
        if r.type == facts.ROUTE53_RECORD:
            policies = r.props.get("failoverRoutingPolicies") or []
            primary = any((p or {}).get("type") == "PRIMARY" for p in policies)
            # An alias that evaluates its target's health (an ELB) is health-checked without a health check id.
            target_health = any((a or {}).get("evaluateTargetHealth") for a in r.props.get("aliases") or [])
            if primary and not r.props.get("healthCheckId") and not target_health:
                yield Finding(
                    "bascule-unhealthy-failover",
                    f"Route 53 PRIMARY failover record '{r.props.get('name', r.name)}' has no health check: "
                    "Route 53 will treat it as always healthy and never fail over. Fix: set health_check_id "
                    "(or, for an alias to a load balancer, evaluate_target_health).",
                    r.urn,
                    r.service,
                )
        elif r.type == facts.TRAFFIC_MANAGER_PROFILE and not r.props.get("monitorConfig"):
            yield Finding(
                "bascule-unhealthy-failover",
                f"Traffic Manager profile '{r.name}' has no monitor config: endpoints are never probed, so "
                "traffic never moves. Fix: set monitor_config (protocol, port, path).",
                r.urn,
                r.service,
            )
        elif r.type == facts.CLOUD_DNS_RECORD_SET:
            policy = r.props.get("routingPolicy") or {}
            if policy.get("primaryBackup") and not policy.get("healthCheck"):
                yield Finding(
                    "bascule-unhealthy-failover",
                    f"Cloud DNS record set '{r.name}' fails over without a health check on its external endpoints. "
                    "Fix: set routing_policy.health_check.",
                    r.urn,
                    r.service,
                )


def _detection_seconds(check: Resource) -> float:
    if check.type == facts.GCP_HEALTH_CHECK:
        # pulumi-gcp's documented defaults when unset (compute.HealthCheck docstring): every 5 s, 2 failures.
        return float(check.props.get("checkIntervalSec") or 5) * float(check.props.get("unhealthyThreshold") or 2)
    if check.props.get("type") == "CALCULATED":
        # Its status is its children's (each a check of its own here), or fixed by its threshold: no interval.
        return 0.0
    # Route 53's documented defaults when unset: every 30 s, 3 failures.
    return float(check.props.get("requestInterval") or 30) * float(check.props.get("failureThreshold") or 3)


def _switch_timing(r: Resource) -> tuple[float, float]:
    """(detection, TTL) a switch resource itself declares; Route 53 records keep detection on health checks."""
    if r.type == facts.TRAFFIC_MANAGER_PROFILE:
        monitor = r.props.get("monitorConfig") or {}
        interval = float(monitor.get("intervalInSeconds") or 30)
        tolerated = monitor.get("toleratedNumberOfFailures")
        failures = float(tolerated) if tolerated is not None else 3.0
        return interval * (failures + 1), float((r.props.get("dnsConfig") or {}).get("ttl") or 0)
    if r.type == facts.DYNAMIC_RESOURCE:  # PowerDNS ifurlup(): checks run by the name servers themselves
        detection = float(r.props.get("check_interval") or 5) * float(r.props.get("check_failures") or 1)
        return detection, float(r.props.get("ttl") or 0)
    return 0.0, float(r.props.get("ttl") or 0)


def failover_budget(w: Workload) -> tuple[float, float] | None:
    """(detection, TTL) the deployed settings allow before clients move, or None without a failover switch."""
    if not w.switches:
        return None
    timings = [_switch_timing(r) for r in w.switches]
    detection = max([_detection_seconds(c) for c in w.checks] + [t[0] for t in timings])
    return detection, max(t[1] for t in timings)


def rto_budget(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for w in ws.values():
        timing = failover_budget(w)
        if timing is None or w.rto_seconds is None:
            continue
        detection, ttl = timing
        budget = detection + ttl
        if budget > w.rto_seconds:
            yield Finding(
                "bascule-rto-budget",
                f"workload '{w.name}': health-check detection {detection:g} s + DNS TTL {ttl:g} s = {budget:g} s "
                f"exceeds its RTO of {w.rto_seconds} s, before clients' own caches. Fix: shorten the check "
                "interval, the failure threshold or the TTL, or revisit the RTO.",
                w.switches[0].urn,
                w.name,
            )


ROUTE53_ZONE = "aws:route53/zone:Zone"


def dns_on_primary_provider(ws: Mapping[str, Workload], inv: Inventory, s: Settings) -> Iterable[Finding]:
    recoverable = {
        r.service or r.tags.get(s.workload_tag)
        for r in inv.resources
        if r.type == ROUTE53_ZONE and r.props.get("enableAcceleratedRecovery") is True
    }
    for w in ws.values():
        if not w.switches or not w.sites:
            continue
        primaries = [r for r in w.sites if r.role == "primary"]
        if not primaries and any(r.role for r in w.sites):
            continue  # Bascule says which site is primary, and that one is not in the stack (an endpoint)
        primaries = primaries or w.sites
        primary_clouds = {r.cloud for r in primaries}
        switch_clouds = {r.cloud for r in w.switches}
        shared = {c.value for c in switch_clouds & primary_clouds if c}
        if w.name in recoverable:
            # A copy of the zone in us-west-2 takes the record changes within about 60 minutes of us-east-1 failing:
            # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/accelerated-recovery.html
            continue
        if shared and switch_clouds <= primary_clouds:
            yield Finding(
                "bascule-dns-on-primary-provider",
                f"workload '{w.name}': its failover DNS runs on {', '.join(sorted(shared))}, the provider of its "
                "primary: when that provider's control plane fails, changing the switch by hand fails with it "
                "(health-checked failover still works). Fix: consider a switch hosted elsewhere (Traffic Manager, "
                "Cloud DNS, PowerDNS) or a Route 53 zone with accelerated recovery (`enable_accelerated_recovery`; "
                "zones Bascule creates have it; a zone given by `zone_id` cannot be seen from the stack).",
                w.switches[0].urn,
                w.name,
            )


def data_single_provider(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    """All databases with one provider: compute can fail over, but a standby that still reads that provider's
    database is down with it (the October 2025 outage began in DynamoDB). Databases only (facts.DATABASE_TYPES): a
    bucket at another provider is no standby for the records a site writes."""
    for w in _critical(ws):
        stores = [r for r in w.sites if r.type in facts.DATABASE_TYPES]
        clouds = {r.cloud.value for r in stores if r.cloud}
        if stores and len(clouds) == 1 and all(r.cloud for r in stores):
            provider = clouds.pop()
            yield Finding(
                "bascule-data-single-provider",
                f"workload '{w.name}' is critical but all {len(stores)} of its databases "
                f"({', '.join(sorted({r.type for r in stores}))}) sit with one provider, {provider}: when it fails, "
                "a secondary elsewhere has no data to serve. Fix: keep a standby of the data at another provider (a "
                "Bascule service `data` block: RDS PostgreSQL published by logical replication to a standby on Azure "
                "Database for PostgreSQL Flexible Server). A replica is not a backup: keep backups as well.",
                stores[0].urn,
                w.name,
            )


def hot_region(ws: Mapping[str, Workload], _inv: Inventory, s: Settings) -> Iterable[Finding]:
    hot = set(s.hot_regions)
    for w in _critical(ws):
        regions = w.site_regions()
        if regions and {region for _, region in regions} <= hot:
            yield Finding(
                "bascule-hot-region",
                f"workload '{w.name}' is critical and runs only in {_describe(regions)}, listed as a hot region "
                "(largest blast radius, e.g. us-east-1 on 20 Oct 2025). Fix: add a site outside the hot regions.",
                w.sites[0].urn,
                w.name,
            )


def jurisdiction(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for w in _critical(ws):
        if not any(r.jurisdiction is facts.Jurisdiction.EU for r in w.sites):
            yield Finding(
                "bascule-eu-jurisdiction",
                f"workload '{w.name}' is critical and has no site in an EU jurisdiction "
                f"(sites: {_describe(w.site_regions()) or 'none resolved'}). Fix: place a site in an EU region.",
                w.sites[0].urn,
                w.name,
            )


def eu_provider_sites(w: Workload) -> list[Resource]:
    """The workload's sites run by an EU-headquartered provider (facts.LEGAL_HOMES), wherever the region."""
    return [r for r in w.sites if r.cloud is not None and facts.LEGAL_HOMES[r.cloud].eu_headquartered]


def eu_provider(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for w in _critical(ws):
        if not eu_provider_sites(w):
            homes = sorted({f"{r.cloud.value} ({facts.LEGAL_HOMES[r.cloud].headquarters})" for r in w.sites if r.cloud})
            yield Finding(
                "bascule-eu-provider",
                f"workload '{w.name}' is critical and no site runs at an EU-headquartered provider (providers: "
                f"{', '.join(homes) or 'none resolved'}): an EU region of a non-EU provider keeps the data in the "
                "EU but the provider stays subject to its home law (e.g. the US CLOUD Act). Fix: run a site, e.g. "
                "the secondary, at an EU-headquartered provider (e.g. a 'hetzner' site, or an EU provider's front "
                "end as an endpoint site).",
                w.sites[0].urn,
                w.name,
            )


def global_edge_ingress(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for w in _critical(ws):
        for edge in w.edges:
            behind = [r for r in w.sites if edge.role is not None and r.role == edge.role]
            where = _describe({(r.cloud.value, r.region) for r in behind if r.cloud}) or "a site"
            role = f"{edge.role} " if edge.role else ""
            yield Finding(
                "bascule-global-edge-ingress",
                f"workload '{w.name}' is critical and its {role}site ({where}) is reached through "
                f"{facts.GLOBAL_EDGE_TYPES[edge.type]} '{edge.name}', a global service: one outage or change freeze "
                "there (Azure Front Door, 29 Oct 2025) takes that site off the internet in every region at once, "
                "whatever its own region's health. Fix: give the site a regional way in the DNS switch can reach "
                "directly, or a secondary whose platform serves the hostname from its own region, or record the "
                "accepted dependency with a waiver.",
                edge.urn,
                w.name,
            )


def unknown_region(ws: Mapping[str, Workload], _inv: Inventory, _s: Settings) -> Iterable[Finding]:
    for w in _critical(ws):
        for r in w.sites:
            if r.region == UNKNOWN:
                yield Finding(
                    "bascule-unknown-region",
                    f"workload '{w.name}' is critical but the region of {r.type} '{r.name}' cannot be resolved "
                    f"({r.region_source}), so concentration cannot be ruled out. Fix: give it an explicit "
                    "provider with a region (or a region input).",
                    r.urn,
                    w.name,
                )


def _set_by(r: Resource, by_urn: Mapping[str, Resource], config: Mapping[str, str]) -> str:
    """What put `r` in its region, in the words a team fixes it with. A resource's region is its own `region` input,
    else its provider's, else the stack's (the inventory's order), but a run's outputs carry the region the provider
    filled in (pulumi-aws 7's `region`: "Defaults to the Region set in the provider configuration") beside the
    inputs, so the provider and the stack's config are named only when they say the same region: a `region` input
    that differs from them is what put it there."""
    provider = by_urn.get(r.provider) if r.provider else None
    explicit = provider is not None and not provider.name.startswith("default")
    key = CONFIG_REGION_KEYS.get(r.cloud) if r.cloud else None
    if provider is not None and explicit and provider.region == r.region:
        return f"its provider '{provider.name}'"
    if not explicit and key is not None and config.get(key, (provider.region if provider else None)) == r.region:
        return f"the stack's default provider ({key}: {r.region})"
    if r.region_source == "resource input":
        return "its own `region` input"
    return f"its {r.region_source}"


def site_region(_ws: Mapping[str, Workload], inv: Inventory, _s: Settings) -> Iterable[Finding]:
    """A site that declares its region (an existing load balancer, a bring-your-own endpoint) against where the
    resources it is built on really are: the team's load balancer (or address) it names, its listener, and what
    Bascule adds there (a drill's listener rule). The region each resource really has is its provider's, which the
    inventory resolved (and where the inventory places the site, `records._sites_where_built`); the spec's `region`
    (kept in the site's props) is only its word, so a difference is refused until the spec says it. A listener and its
    rules live in their load balancer's region: their ARNs are `arn:${Partition}:elasticloadbalancing:${Region}:...
    listener/app/${LoadBalancerName}/...` (the resource types of Elastic Load Balancing V2,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html). A site
    whose spec names another region is wrong about where it runs, and the audit, hot-region and jurisdiction rules
    would all judge the wrong place."""
    by_urn = {r.urn: r for r in inv.resources}
    children = children_of(inv.resources)
    for site in inv.resources:
        declared = site.props.get("region")
        if site.type not in facts.DECLARED_SITES or site.cloud is None or not isinstance(declared, str):
            continue
        # What Bascule adds there (a drill's listener rule), held to the same types as what it is built on.
        own = [r for r in descendants(site.urn, children) if r.type in facts.SITE_REGION_TYPES]
        seen: set[str] = set()
        for r in sorted((*own, *built_on(site, by_urn, children)), key=lambda r: r.urn):
            if r.urn in seen or r.cloud is not site.cloud or r.region in (GLOBAL, UNKNOWN) or r.region == declared:
                continue
            seen.add(r.urn)
            yield Finding(
                "bascule-site-region",
                f"workload '{site.service}': its {site.role or 'declared'} site '{site.name}' declares region "
                f"{declared}, but {r.type} '{r.name}' it is built on is in {r.region} (set by "
                f"{_set_by(r, by_urn, inv.config)}): the site runs where its resources are, so the spec's region "
                f"misleads the audit and every region rule. Fix: give the site spec region {r.region}, or build the "
                f"site on resources in {declared} (a provider with `region` {declared}).",
                r.urn,
                site.service,
            )


_CONFLICTING_TYPES = frozenset({"A", "AAAA", "CNAME"})


def _record_name(r: Resource, zones: Mapping[str, str]) -> str | None:
    """A record's fully qualified name, lower case, no trailing dot; a relative one is completed with its zone's name
    as the provider does (terraform-provider-aws, internal/service/route53/record.go, `expandRecordName`: "If it does
    not [contain the zone suffix], add the zone name to form a fully qualified name"); as written when the zone is not
    in the stack (a zone given by id); None without a name.
    Route 53 stores '*' as '\\052' (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html)."""
    name = r.props.get("name")
    if not isinstance(name, str):
        return None
    name = name.replace("\\052", "*").rstrip(".").lower()
    zone = zones.get(str(r.props.get("zoneId")))
    if zone is None or name == zone or name.endswith(f".{zone}"):
        return name
    return f"{name}.{zone}" if name else zone


def _gcp_project(r: Resource, by_urn: Mapping[str, Resource], config: Mapping[str, str]) -> str | None:
    """The project a GCP resource is in, or None when the run cannot tell: its own `project` (an input, or the output
    the provider filled), else its explicit provider's `project`, else for the default provider the stack's
    `gcp:project` (or the default provider's own, as a policy pack sees it). An explicit provider that names no
    project takes it from its environment (`GOOGLE_PROJECT`...), not from the stack's config: unknown here."""
    own = r.props.get("project")
    if isinstance(own, str) and own:
        return own
    provider = by_urn.get(r.provider) if r.provider else None
    if provider is not None and not provider.name.startswith("default"):
        named = provider.props.get("project")
        return named if isinstance(named, str) and named else None
    stack = config.get("gcp:project") or (provider.props.get("project") if provider is not None else None)
    return stack if isinstance(stack, str) and stack else None


def _dns_key(
    r: Resource, zones: Mapping[str, str], by_urn: Mapping[str, Resource], config: Mapping[str, str]
) -> tuple[str, ...] | None:
    """Where a record lives and its name, or None when the run does not show it (an unknown output, a Cloud DNS
    record set whose project is not known): what cannot be compared is not compared."""
    if r.type == facts.ROUTE53_RECORD:
        zone_id, name = r.props.get("zoneId"), _record_name(r, zones)
        return ("route53", zone_id, name) if isinstance(zone_id, str) and zone_id and name else None
    if r.type == facts.CLOUD_DNS_RECORD_SET:
        # A record set is its project, managed zone, name and type: its import id is
        # `projects/{{project}}/managedZones/{{zone}}/rrsets/{{name}}/{{type}}` (pulumi_gcp dns/record_set.py).
        zone, name = r.props.get("managedZone"), r.props.get("name")
        project = _gcp_project(r, by_urn, config)
        if not all(isinstance(v, str) and v for v in (zone, name, project)):
            return None
        return ("clouddns", str(project), str(zone), str(name).rstrip(".").lower())
    return None


def _conflict(provider: str, rtype: str, types: set[str]) -> str | None:
    """Why the first `pulumi up` fails with a non-failover `rtype` record beside failover records of `types` at its
    name, or None when the provider takes it."""
    failover = "/".join(sorted(types))
    if provider == "route53" and (rtype in types or "CNAME" in types | {rtype}):
        return (f"Route 53 refuses a non-failover {rtype} record beside the failover {failover} records of the same "
                "name (a CNAME shares its name with no other record), so the first `pulumi up` fails")  # fmt: skip
    if provider == "clouddns" and (rtype in types or "CNAME" in types | {rtype}):
        # Cloud DNS's error page (https://cloud.google.com/dns/docs/error-messages): `alreadyExists` for a duplicate,
        # and record sets are matched by "the same name and type" (its `preconditionFailed` entry); a CNAME shares
        # its name with no other record set (RFC 1034 3.6.2), in Cloud DNS as in any zone.
        return (f"Cloud DNS keeps one record set per name and type and a CNAME beside no other record set, and the "
                f"failover record set is {failover} (alreadyExists), so the first `pulumi up` fails")  # fmt: skip
    return None


_DNS_DOCS = {
    "route53": "https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html (Failover)",
    "clouddns": "https://cloud.google.com/dns/docs/error-messages (alreadyExists)",
}


def _beside_failover(
    ws: Mapping[str, Workload], inv: Inventory
) -> Iterable[tuple[Workload, Resource, str, tuple[str, ...], set[str]]]:
    """Each record that is not a switch at the zone and name of a workload's failover records (Route 53 or Cloud
    DNS), as (workload, record, its type, where it is, the failover records' types). Zones are compared by what the
    records carry: a literal id or name, or the output of the same zone resource or lookup (the offline engine gives
    each Route 53 zone its own stand-in id). A record whose zone, name or project is not known (a preview's unknown
    output, a provider's project from its environment) is not compared: no finding rather than a guessed one.
    Traffic Manager and PowerDNS switches are not records in a shared zone the program declares beside the team's,
    so they have no such record to see."""
    zones = {str(r.props.get("zoneId")): str(r.props.get("name", "")).rstrip(".").lower()
             for r in inv.resources if r.type == ROUTE53_ZONE and isinstance(r.props.get("zoneId"), str)}  # fmt: skip
    by_urn = {r.urn: r for r in inv.resources}
    failover: dict[tuple[str, ...], tuple[Workload, set[str]]] = {}
    for w in ws.values():
        for r in w.switches:
            key, rtype = _dns_key(r, zones, by_urn, inv.config), r.props.get("type")
            if key is not None and isinstance(rtype, str):
                failover.setdefault(key, (w, set()))[1].add(rtype.upper())
    if not failover:
        return
    for r in inv.resources:
        if r.type not in (facts.ROUTE53_RECORD, facts.CLOUD_DNS_RECORD_SET) or _is_switch(r):
            continue
        key, rtype = _dns_key(r, zones, by_urn, inv.config), str(r.props.get("type") or "").upper()
        if key is not None and key in failover and rtype in _CONFLICTING_TYPES:
            w, types = failover[key]
            yield w, r, rtype, key, types


def dns_record_conflict(ws: Mapping[str, Workload], inv: Inventory, _s: Settings) -> Iterable[Finding]:
    """Another record (the team's, from before the standby) at the name and zone of a workload's failover records
    that makes the first `pulumi up` fail. Route 53 refuses it: "You can't create non-failover resource record sets
    that have the same values for the Name and Type elements as failover resource record sets" (ResourceRecordSet
    `Failover`, https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html), and a CNAME
    shares its name with no other record ("If a CNAME RR is present at a node, no other data should be present",
    RFC 1034 3.6.2, https://www.rfc-editor.org/rfc/rfc1034#section-3.6.2; Route 53 answers InvalidChangeBatch "RRSet
    of type A ... is not permitted because a conflicting RRSet of type CNAME with the same DNS name already exists").
    Cloud DNS keeps one record set per name and type, and a CNAME alone at its name too. What is compared, and what
    is not: `_beside_failover`."""
    for w, r, rtype, key, types in _beside_failover(ws, inv):
        why = _conflict(key[0], rtype, types)
        if why is not None:
            yield Finding(
                "bascule-dns-record-conflict",
                f"workload '{w.name}': DNS record '{r.name}' ({rtype} {key[-1]}) is in the zone of its failover "
                f"records for the same name: {why}. Fix: remove the record from the program (or move its removal "
                f"into the same `pulumi up`), or give the service another hostname; see {_DNS_DOCS[key[0]]}.",
                r.urn,
                w.name,
            )


def dns_aaaa_bypass(ws: Mapping[str, Workload], inv: Inventory, _s: Settings) -> Iterable[Finding]:
    """An AAAA record at the name and zone of A-only failover records. Route 53 and Cloud DNS take it (another type
    at the name), so nothing fails, and it is not known where it points; what is known is that IPv6 clients get it,
    whatever the failover records say: a failover leaves them where it points. Advisory: the team may mean it."""
    for w, r, rtype, key, types in _beside_failover(ws, inv):
        if rtype == "AAAA" and types == {"A"}:
            yield Finding(
                "bascule-dns-aaaa-bypass",
                f"workload '{w.name}': DNS record '{r.name}' (AAAA {key[-1]}) is beside its failover records, which "
                "are A only: IPv6 clients get this record whatever the failover says, so a failover does not move "
                "them. Fix: remove the AAAA record (clients fall back to IPv4 and follow the failover), or fail it "
                "over yourself.",
                r.urn,
                w.name,
            )


Check = Callable[[Mapping[str, Workload], Inventory, Settings], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    default: Enforcement
    dora: str
    remediation: str
    check: Check


RULES: tuple[Rule, ...] = (
    Rule("bascule-single-region", "Critical workload in a single region", Enforcement.MANDATORY,
         "Art. 12 (backup, restoration and recovery: redundant capacity)",
         "Add a warm secondary site in another region or provider, behind health-checked DNS failover.",
         single_region),
    Rule("bascule-single-provider", "Critical workload on a single provider", Enforcement.ADVISORY,
         "Art. 29 (ICT concentration risk)",
         "Run the secondary on another provider (an EU provider for sovereignty).", single_provider),
    Rule("bascule-unhealthy-failover", "Failover DNS without health checks", Enforcement.MANDATORY,
         "Art. 11 (response and recovery)",
         "Attach a health check to the primary failover record, or a monitor to the Traffic Manager profile.",
         unhealthy_failover),
    Rule("bascule-rto-budget", "Failover slower than the RTO", Enforcement.MANDATORY,
         "Art. 11 (response and recovery: recovery time objectives)",
         "Lower interval x failures + TTL below the RTO, or revise the RTO.", rto_budget),
    Rule("bascule-dns-on-primary-provider", "Failover switch on the primary's provider", Enforcement.ADVISORY,
         "Art. 29 (ICT concentration risk)",
         "Host the DNS switch outside the primary's provider, or keep its control plane recoverable.",
         dns_on_primary_provider),
    # Advisory: DORA does not require a second provider for data. Art. 12(3) asks that backups be restored on
    # systems segregated from the source, which another account or region satisfies, and a logical replica (which
    # copies a DELETE) is no backup at all. What the rule does test is Art. 11 (response and recovery plans that
    # keep critical functions going) and Art. 29 (concentration risk on one ICT provider): both ask entities to
    # weigh the risk, not to avoid it, so a stack is not rejected for it unless its config makes it mandatory.
    # Regulation (EU) 2022/2554: https://eur-lex.europa.eu/eli/reg/2022/2554/oj
    Rule("bascule-data-single-provider", "Critical workload's databases with a single provider", Enforcement.ADVISORY,
         "Art. 11 (response and recovery) and Art. 29 (ICT concentration risk)",
         "Keep a standby of the workload's databases at another provider, and backups besides.",
         data_single_provider),
    Rule("bascule-hot-region", "Critical workload only in hot regions", Enforcement.ADVISORY,
         "Art. 29 (ICT concentration risk)", "Add a site outside the configured hot regions.", hot_region),
    # Off by default (`disabled`): not every team must be in the EU. Turned on as any CrossGuard policy is, by its
    # enforcementLevel in the policy config (or by `all`).
    Rule("bascule-eu-jurisdiction", "Critical workload without an EU site", Enforcement.DISABLED,
         "Art. 28 (ICT third-party risk: location of data and processing)",
         "Place at least one site in an EU region (off by default: turn on with its enforcementLevel).", jurisdiction),
    Rule("bascule-eu-provider", "Critical workload without an EU-headquartered provider", Enforcement.DISABLED,
         "Art. 28 (ICT third-party risk) and Art. 29 (concentration risk: law of the provider's home country)",
         "Run at least one site at an EU-headquartered provider (off by default: turn on with its enforcementLevel).",
         eu_provider),
    Rule("bascule-global-edge-ingress", "Critical site reached through a global edge service",
         Enforcement.ADVISORY, "Art. 29 (ICT concentration risk)",
         "Give the site a regional ingress the switch can reach, or choose a secondary that serves the hostname "
         "from its own region.", global_edge_ingress),
    Rule("bascule-unknown-region", "Critical workload in an unknown region", Enforcement.MANDATORY,
         "Art. 8 (identification of ICT assets and their dependencies)",
         "Give the resource an explicit provider with a region so its location is known.", unknown_region),
    Rule("bascule-site-region", "Site declared in another region than its resources", Enforcement.MANDATORY,
         "Art. 8 (identification of ICT assets and their dependencies)",
         "Give the site spec the region its load balancer (or address) and listener are in, or build it on "
         "resources in the spec's region.", site_region),
    Rule("bascule-dns-record-conflict", "Another record at the failover records' name", Enforcement.MANDATORY,
         "Art. 11 (response and recovery)",
         "Remove the team's simple record for the hostname from the zone (in the same `pulumi up`).",
         dns_record_conflict),
    Rule("bascule-dns-aaaa-bypass", "An AAAA record beside A-only failover records", Enforcement.ADVISORY,
         "Art. 11 (response and recovery)",
         "Remove the AAAA record for the hostname, or fail it over yourself.", dns_aaaa_bypass),
)  # fmt: skip
RULES_BY_ID = {rule.id: rule for rule in RULES}


def run_rule(rule: Rule, inventory: Inventory, settings: Settings) -> list[Finding]:
    return list(rule.check(workloads(inventory, settings), inventory, settings))


@dataclass(frozen=True)
class Verdict:
    finding: Finding
    enforcement: Enforcement


def evaluate(inventory: Inventory, config: PackConfig) -> list[Verdict]:
    """Every enabled rule over the inventory; workloads are grouped once per distinct settings."""
    grouped: dict[Settings, dict[str, Workload]] = {}
    verdicts = []
    for rule in RULES:
        level = config.level(rule.id, rule.default)
        if level is Enforcement.DISABLED:
            continue
        settings = config.for_rule(rule.id)
        if settings not in grouped:
            grouped[settings] = workloads(inventory, settings)
        found = sorted(
            rule.check(grouped[settings], inventory, settings), key=lambda f: (f.workload or "", f.urn or "")
        )
        verdicts += [Verdict(f, level) for f in found]
    return verdicts
