"""The continuity audit: per critical workload, where it runs, what can take it down, and what was measured.

An audit answers the questions management and auditors ask after a large outage, from what Bascule already
knows: the inventory (sites, switches, RTO/RPO tags), the policy rules (switch on the primary's provider,
failover without health checks), the drill history (last measured failover) and a saved `bascule verify
--format json` (last readiness, certificate days left). It never probes the network itself. The
concentration section is input to the concentration assessment of DORA Art. 28(4)(c)/29: critical workloads
per provider brand; its region, country and jurisdiction counts go beyond what Art. 29 names.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from bascule import facts
from bascule.drills import history
from bascule.inventory.records import GLOBAL, UNKNOWN, Inventory, Resource
from bascule.io.documents import InputError, read_json
from bascule.io.escaping import markdown, one_line, quoted
from bascule.policies.config import Settings
from bascule.policies.rules import (
    Workload,
    dns_on_primary_provider,
    eu_provider_sites,
    failover_budget,
    unhealthy_failover,
    workloads,
)

# Single points of failure, by stable code (tests, `--fail-on spof` and dashboards key on these).
ONE_REGION = "one-region"
ONE_PROVIDER = "one-provider"
DNS_ON_PRIMARY = "dns-on-primary-provider"
DATA_ONE_PROVIDER = "data-one-provider"
NO_HEALTH_CHECK = "no-health-check"
STANDBY_NOT_READY = "standby-not-ready"
GLOBAL_EDGE = "global-edge-ingress"
"""A site reached through a global edge service (Azure Front Door), as the `bascule-global-edge-ingress` rule."""
SPOF_CODES = (ONE_REGION, ONE_PROVIDER, DNS_ON_PRIMARY, DATA_ONE_PROVIDER, NO_HEALTH_CHECK, STANDBY_NOT_READY,
              GLOBAL_EDGE)  # fmt: skip
"""Every point of failure the audit checks: "none found" means none of these, not that there is none."""

EU_REGION_MEANS = (
    "EU region (bascule-eu-jurisdiction): at least one site runs in a region located in an EU member state. "
    "It says where the resource is deployed (the provider's stated region), not where every copy of its data or "
    "metadata is, nor whose law applies."
)
CONCENTRATION_MEANS = (
    "input to the concentration assessment of DORA Art. 28(4)(c)/29: critical workloads per provider brand; the "
    "region, country and jurisdiction counts go beyond what Art. 29 names"
)
EU_PROVIDER_MEANS = (
    "EU-headquartered provider (bascule-eu-provider): at least one site runs at a provider whose company and "
    "parent are incorporated in the EU. A US-parented provider stays subject to US law such as the CLOUD Act "
    "(18 U.S.C. 2713) for data it controls, even in its EU regions. Neither property guarantees availability, "
    "and an EU headquarters does not by itself rule out every foreign legal reach (e.g. through a non-EU "
    "subsidiary); this is a statement of incorporation, not legal advice."
)


class AuditError(Exception):
    """A history or readiness file that cannot be read: one line naming the file."""


@dataclass(frozen=True)
class AuditInput:
    """One audited inventory and what to call it in the report (a stack name or a file)."""

    name: str
    inventory: Inventory


@dataclass
class SiteView:
    role: str
    provider: str
    region: str
    country: str
    """A label: a region's ISO country, or a multi-region's name for its area (`EU`)."""
    countries: list[str]
    """ISO 3166-1 alpha-2 countries of the location; empty where unknown (e.g. the GCS `EU` multi-region)."""
    jurisdiction: str
    legal_home: str
    eu_headquartered: bool
    data_store: bool
    type: str
    name: str


@dataclass
class Spof:
    code: str
    detail: str


@dataclass
class WorkloadAudit:
    stack: str
    name: str
    critical: bool
    criticality: str
    sites: list[SiteView]
    data_locations: list[str]
    backups: list[str]
    """Where its backups live: provider, region (country), the provider's legal home, and the store."""
    backup_age: dict[str, Any]
    """The newest backup per database as a saved `bascule backup list|verify --format json` read it, or why it is
    unknown (`read` false, `why`): the audit never reads the store (it would need the store's credentials)."""
    last_restore: dict[str, Any] | None
    """The last restore from backup recorded in the history for this stack (`bascule backup restore --stack S
    --history DIR`); None when the history was read and holds none, `{"read": false}` when it was not given."""
    spofs: list[Spof]
    rto: dict[str, Any]
    rpo: dict[str, Any]
    last_drill: dict[str, Any] | None
    readiness: dict[str, Any] | None
    eu_region: bool
    eu_provider: bool


@dataclass
class Audit:
    entries: list[WorkloadAudit]
    """Every workload with a site; the audit proper is about the critical ones, the register lists all."""
    concentration: dict[str, list[dict[str, Any]]]

    @property
    def workloads(self) -> list[WorkloadAudit]:
        return [w for w in self.entries if w.critical]

    @property
    def other_workloads(self) -> list[str]:
        return [f"{w.stack}/{w.name}" for w in self.entries if not w.critical]

    @property
    def has_spof(self) -> bool:
        return any(w.spofs for w in self.workloads)

    def as_json(self) -> dict[str, Any]:
        return {
            "workloads": [asdict(w) for w in self.workloads],
            "other_workloads": self.other_workloads,
            "concentration": self.concentration,
            "definitions": {"eu_region": EU_REGION_MEANS, "eu_provider": EU_PROVIDER_MEANS},
            "single_points_of_failure": sum(len(w.spofs) for w in self.workloads),
        }


def _site(r: Resource) -> SiteView:
    cloud = r.cloud
    known = facts.region(cloud, r.region) if cloud is not None else None
    home = facts.LEGAL_HOMES[cloud] if cloud is not None else None
    return SiteView(
        role=r.role or "-",
        provider=cloud.value if cloud else UNKNOWN,
        region=r.region,
        country=known.country if known else (GLOBAL if r.region == GLOBAL else UNKNOWN),
        countries=list(known.countries) if known else [],
        jurisdiction=known.jurisdiction.value if known else UNKNOWN,
        legal_home=home.summary if home else UNKNOWN,
        eu_headquartered=bool(home and home.eu_headquartered),
        data_store=r.type in facts.DATA_STORE_TYPES,
        type=r.type,
        name=r.name,
    )


def _spofs(w: Workload, dns_findings: set[str], unhealthy: set[str], readiness: dict[str, Any] | None) -> list[Spof]:
    found: list[Spof] = []
    regions = w.site_regions()
    clouds = {r.cloud.value for r in w.sites if r.cloud}
    if len(regions) == 1 and not any(r.region == UNKNOWN for r in w.sites):
        ((cloud, region),) = regions
        found.append(Spof(ONE_REGION, f"every site runs in {cloud} {region}"))
    if len(clouds) == 1:
        found.append(Spof(ONE_PROVIDER, f"every site runs on {next(iter(clouds))}"))
    if w.name in dns_findings:
        switch_clouds = sorted({r.cloud.value for r in w.switches if r.cloud})
        found.append(
            Spof(DNS_ON_PRIMARY, f"the failover switch runs on {', '.join(switch_clouds)}, the primary's provider")
        )
    stores = [r for r in w.sites if r.type in facts.DATABASE_TYPES]
    store_clouds = {r.cloud.value for r in stores if r.cloud}
    if len(store_clouds) == 1:
        found.append(Spof(DATA_ONE_PROVIDER, f"all {len(stores)} databases are on {next(iter(store_clouds))}"))
    if not w.switches:
        found.append(Spof(NO_HEALTH_CHECK, "no health-checked failover switch in this stack"))
    elif w.name in unhealthy:
        found.append(Spof(NO_HEALTH_CHECK, "the failover switch has no health check: traffic never moves"))
    for edge in w.edges:
        role = f"{edge.role} " if edge.role else ""
        found.append(Spof(GLOBAL_EDGE, f"the {role}site is reached through {facts.GLOBAL_EDGE_TYPES[edge.type]} "
                                       f"'{edge.name}', a global service: one outage there takes it down in every "
                                       "region at once"))  # fmt: skip
    if readiness is not None and not readiness["standby_ready"]:
        found.append(Spof(STANDBY_NOT_READY, "; ".join(readiness["standby_problems"]) or "the standby was not ready"))
    return found


def _rto(w: Workload, last: dict[str, Any] | None) -> dict[str, Any]:
    timing = failover_budget(w)
    if timing is not None and sum(timing) == 0:
        # Nothing in the inventory declares detection or TTL (e.g. Route 53 aliases that evaluate a load
        # balancer's target health): the budget is unknown, not zero.
        timing = None
    return {
        "target_s": w.rto_seconds,
        "budget_s": sum(timing) if timing else None,
        "detection_s": timing[0] if timing else None,
        "ttl_s": timing[1] if timing else None,
        "measured_s": last.get("failover_http_s") if last else None,
    }


def read_history(directory: Path | None) -> list[dict[str, Any]] | None:
    """The drill history's rows; None when no folder was given (the audit then says it was not read)."""
    if directory is None:
        return None
    try:
        return history.read(directory)
    except InputError as exc:
        raise AuditError(str(exc)) from None


def _drills_of(rows: list[dict[str, Any]], service: str, stack: str) -> list[dict[str, Any]]:
    """This service's drills of this very stack, oldest first. A drill of another stack (or of the sandbox)
    with the same service name shows nothing about this one, so it is never borrowed."""
    mine = [r for r in rows if r.get("service") == service and f"Pulumi stack {stack} " in str(r.get("target", ""))]
    return sorted(mine, key=lambda r: str(r.get("started", "")))


def _last_drill(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last failover drill (a restore from backup measures no failover: `_last_restore`)."""
    rows = [r for r in rows if r.get("fault") not in history.RESTORE_FAULTS]
    if not rows:
        return None
    last = rows[-1]
    return {key: last.get(key) for key in ("started", "status", "fault", "target", "failover_http_s", "report")}


def _data_rpo(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last data drill's observed RPO: the `data.rpo_observed_s` of its report.json, when one has it."""
    for row in reversed(rows):
        if not row.get("report"):  # a `backup restore --history` row has none: never a path relative to the cwd
            continue
        report = Path(str(row["report"])) / "report.json"
        try:
            data = json.loads(report.read_text(encoding="utf-8")).get("data") or {}
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        if isinstance(data, dict) and data.get("rpo_observed_s") is not None:
            return {"started": row.get("started"), "rpo_observed_s": data["rpo_observed_s"], "report": str(report)}
    return None


def _last_restore(rows: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    if rows is None:
        return {"read": False}
    restores = [r for r in rows if r.get("fault") in history.RESTORE_FAULTS]
    if not restores:
        return None
    last = restores[-1]
    return {"read": True, **{key: last.get(key) for key in ("started", "status", "fault", "restore_s", "backup_age_s",
                                                            "backup", "target")}}  # fmt: skip


BACKUPS_STATUS_FILE = "saved `bascule backup list|verify --stack S --format json` output"


def read_backups_status(paths: list[Path] | None) -> list[dict[str, Any]] | None:
    """Each file's newest backup per database, as `backup list` or `backup verify` saw it (`read_at`); None when no
    file was given. An `AuditError` names the file and the field that is not what those commands write."""
    if not paths:
        return None
    entries = []
    for path in paths:
        try:
            doc = read_json(path, BACKUPS_STATUS_FILE)
        except InputError as exc:
            raise AuditError(str(exc)) from None
        if not isinstance(doc, dict):
            raise AuditError(f"{path}: not {BACKUPS_STATUS_FILE} (not an object)")
        for key in ("service", "read_at"):
            if not isinstance(doc.get(key), str):
                raise AuditError(f"{path}: {key}: missing or not text; not {BACKUPS_STATUS_FILE}")
        read_at = _instant(path, "read_at", doc["read_at"])
        databases = doc.get("databases")
        newest: list[tuple[str, str | None]] = []
        if isinstance(databases, dict):  # backup list: {database: {"complete": [newest first, ...]}}
            for name, listing in databases.items():
                complete = listing.get("complete") if isinstance(listing, dict) else None
                if not isinstance(complete, list):
                    raise AuditError(f"{path}: databases.{name}.complete: expected a list")
                first = complete[0] if complete else None
                newest.append((str(name), first.get("finished_at") if isinstance(first, dict) else None))
        elif isinstance(databases, list):  # backup verify: [{"database", "newest", "finished_at"}]
            for item in databases:
                if not isinstance(item, dict) or not isinstance(item.get("database"), str):
                    raise AuditError(f"{path}: databases: expected objects with a 'database'")
                newest.append((item["database"], item.get("finished_at")))
        else:
            raise AuditError(f"{path}: databases: missing; not {BACKUPS_STATUS_FILE}")
        ages = []
        for name, finished in newest:
            at = _instant(path, f"{name}: finished_at", finished) if finished is not None else None
            ages.append({"database": name, "finished_at": finished,
                         "age_s": round((read_at - at).total_seconds(), 1) if at else None})  # fmt: skip
        problems = doc.get("problems")
        entries.append({
            "source": str(path), "stack": doc.get("stack"), "service": doc["service"], "read_at": doc["read_at"],
            "every_hours": doc.get("every_hours") if _number(doc.get("every_hours")) else None,
            "ok": doc.get("ok") if isinstance(doc.get("ok"), bool) else None,
            "problems": [str(p) for p in problems] if isinstance(problems, list) else [], "databases": ages,
        })  # fmt: skip
    return entries


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _instant(path: Path, field: str, value: Any) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise AuditError(f"{path}: {field}: not an ISO 8601 time: {quoted(value)}") from None
    if at.tzinfo is None:
        raise AuditError(f"{path}: {field}: no time zone: {quoted(value)}")
    return at


def _backup_age(status: list[dict[str, Any]] | None, service: str, stack: str, stored: bool) -> dict[str, Any]:
    """The newest backups of this service of this very stack, from the saved files (another stack's or the
    sandbox's listing says nothing about this one, as with drills); else why the age is unknown. `stored`: the
    inventory has a backup store for it."""
    command = f"bascule backup list --stack {stack} --service {service} --format json > FILE"
    entry = next((e for e in reversed(status or []) if e["service"] == service and e["stack"] == stack), None)
    if entry is None and not stored:
        return {"read": False, "why": "no backup store in this stack"}
    if status is None:
        return {"read": False, "why": f"not read: pass --backups-status FILE ({command})"}
    if entry is None:
        return {"read": False, "why": f"not in the --backups-status files given (none of stack {stack}, service "
                                      f"{service}; {command})"}  # fmt: skip
    return {"read": True, **entry}


def read_readiness(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        doc = read_json(path, "readiness file (`bascule verify --format json`)")
    except InputError as exc:
        raise AuditError(str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), list):
        raise AuditError(f"{path}: not `bascule verify --format json` output (no 'services' list)")
    return doc


def _readiness_of(doc: Mapping[str, Any] | None, service: str, stack: str) -> dict[str, Any] | None:
    if doc is None:
        return None
    entries = [s for s in doc["services"] if isinstance(s, dict) and s.get("service") == service]
    entry = next((s for s in entries if f"Pulumi stack {stack} " in str(s.get("target", ""))), None)
    entry = entry or (entries[0] if entries else None)
    if entry is None:
        return None
    sites = [s for s in entry.get("sites") or [] if isinstance(s, dict)]
    standby = [s for s in sites if s.get("role") != "primary"]
    return {
        "checked_at": doc.get("checked_at"),
        "ready": bool(entry.get("ready")),
        "standby_ready": bool(standby) and all(s.get("ready") for s in standby),
        "standby_problems": [p for s in standby for p in s.get("problems") or []],
        "cert_days_left": {str(s.get("role")): (s.get("certificate") or {}).get("days_left") for s in sites},
    }


def _concentration(audited: list[WorkloadAudit]) -> dict[str, list[dict[str, Any]]]:
    """Critical workloads per provider, region, country, jurisdiction and provider home (each counted once)."""
    total = len(audited)
    keys: dict[str, dict[str, set[str]]] = {
        "provider": {}, "region": {}, "country": {}, "jurisdiction": {}, "provider_home": {},
    }  # fmt: skip
    for w in audited:
        label = f"{w.stack}/{w.name}"
        for s in w.sites:
            home = facts.LEGAL_HOMES[facts.Cloud(s.provider)].headquarters if s.provider != UNKNOWN else UNKNOWN
            for dimension, value in (
                ("provider", s.provider),
                ("region", f"{s.provider} {s.region}"),
                ("country", s.country),
                ("jurisdiction", s.jurisdiction),
                ("provider_home", home),
            ):
                keys[dimension].setdefault(value, set()).add(label)
    return {
        dimension: sorted(
            (
                {
                    "key": key,
                    "workloads": sorted(names),
                    "count": len(names),
                    "share": len(names) / total,
                    "all_critical": len(names) == total,
                }
                for key, names in values.items()
            ),
            key=lambda e: (-e["count"], e["key"]),
        )
        for dimension, values in keys.items()
    }


def audit(
    inputs: list[AuditInput],
    settings: Settings | None = None,
    drill_rows: list[dict[str, Any]] | None = None,
    readiness: Mapping[str, Any] | None = None,
    backups_status: list[dict[str, Any]] | None = None,
) -> Audit:
    """`drill_rows` None: no history was given (said per workload); `backups_status`: `read_backups_status`."""
    settings = settings or Settings()
    rows = drill_rows or []
    audited: list[WorkloadAudit] = []
    for item in inputs:
        ws = workloads(item.inventory, settings)
        dns = {f.workload for f in dns_on_primary_provider(ws, item.inventory, settings) if f.workload}
        unhealthy = {f.workload for f in unhealthy_failover(ws, item.inventory, settings) if f.workload}
        for w in sorted(ws.values(), key=lambda w: w.name):
            if not w.sites:
                continue
            drills = _drills_of(rows, w.name, item.name)
            last = _last_drill(drills)
            ready = _readiness_of(readiness, w.name, item.name)
            sites = [_site(r) for r in w.sites]
            criticality = next((r.criticality for r in w.sites if r.criticality), None)
            audited.append(
                WorkloadAudit(
                    stack=item.name,
                    name=w.name,
                    critical=w.critical,
                    criticality=criticality or ("critical" if w.critical else UNKNOWN),
                    sites=sites,
                    data_locations=sorted({f"{s.provider} {s.region} ({s.country})" for s in sites if s.data_store}),
                    backups=[_backup_line(_site(r)) for r in w.backups],
                    backup_age=_backup_age(backups_status, w.name, item.name, bool(w.backups)),
                    last_restore=_last_restore(drills if drill_rows is not None else None),
                    spofs=_spofs(w, dns, unhealthy, ready),
                    rto=_rto(w, last),
                    rpo={"target_s": w.rpo_seconds, "measured": _data_rpo(drills)},
                    last_drill=last,
                    readiness=ready,
                    eu_region=any(s.jurisdiction == facts.Jurisdiction.EU.value for s in sites),
                    eu_provider=bool(eu_provider_sites(w)),
                )
            )
    critical = [w for w in audited if w.critical]
    return Audit(audited, _concentration(critical) if critical else {})


# --- Renderers --------------------------------------------------------------------------------------
def _seconds(value: Any) -> str:
    return "—" if value is None else f"{float(value):g} s"


def _rto_line(w: WorkloadAudit) -> str:
    rto = w.rto
    drill = w.last_drill
    measured = (
        f"last drill {drill['started']} {str(drill['status']).upper()} ({drill['fault']}): failover "
        f"{_seconds(rto['measured_s'])}"
        if drill
        else "no drill recorded"
    )
    return (
        f"RTO target {_seconds(rto['target_s'])}; settings' budget {_seconds(rto['budget_s'])} (detection "
        f"{_seconds(rto['detection_s'])} + TTL {_seconds(rto['ttl_s'])}); {measured}"
    )


def _rpo_line(w: WorkloadAudit) -> str:
    measured = w.rpo["measured"]
    seen = (
        f"last data drill {measured['started']}: observed {_seconds(measured['rpo_observed_s'])}"
        if measured
        else "no data drill recorded"
    )
    return f"RPO target {_seconds(w.rpo['target_s'])}; {seen}"


def _age(seconds: Any) -> str:
    if seconds is None:
        return "no complete backup"
    return f"{float(seconds) / 3600:.1f} h old" if float(seconds) >= 3600 else f"{float(seconds):.0f} s old"


def _backup_age_line(w: WorkloadAudit) -> str:
    a = w.backup_age
    if not a["read"]:
        return f"backup age: {a['why']}"
    ages = ", ".join(f"{d['database']} {_age(d['age_s'])}" for d in a["databases"]) or "no database listed"
    every = f" (every {float(a['every_hours']):g} h)" if a["every_hours"] is not None else ""
    verdict = "" if a["ok"] is None else "; verify: ok" if a["ok"] else f"; verify: {'; '.join(a['problems'])}"
    return f"backup age when read {a['read_at']} ({a['source']}): {ages}{every}{verdict}"


def _restore_line(w: WorkloadAudit) -> str:
    r = w.last_restore
    if r is None:
        return (f"last restore drill: none recorded for stack {w.stack} (`bascule backup restore --stack {w.stack} "
                "--to ... --history DIR`)")  # fmt: skip
    if not r["read"]:
        return "last restore drill: not read: pass --history DIR (`bascule backup restore --history DIR` records one)"
    age = f", backup {_age(r['backup_age_s'])}" if r.get("backup_age_s") is not None else ""
    return (f"last restore drill {r['started']} {str(r['status']).upper()} ({r['fault']}): restore "
            f"{_seconds(r['restore_s'])}{age}")  # fmt: skip


def _readiness_line(w: WorkloadAudit) -> str:
    r = w.readiness
    if r is None:
        return "readiness: no saved check for this service (bascule verify --format json > FILE; --readiness FILE)"
    days = ", ".join(f"{role} {_days(d)}" for role, d in r["cert_days_left"].items())
    return (
        f"readiness checked {r['checked_at']}: {'READY' if r['ready'] else 'NOT READY'}; certificate days left: {days}"
    )


def _days(value: Any) -> str:
    return "no certificate" if value is None else f"{float(value):g} d"


def _backup_line(s: SiteView) -> str:
    home = f"{s.legal_home}{', EU-headquartered' if s.eu_headquartered else ''}"
    return f"{s.provider} {s.region} ({s.country}) - {home} - {s.type.rsplit(':', 1)[-1]} {s.name}"


def _site_lines(w: WorkloadAudit) -> list[str]:
    """One line per role and place, naming the resources there (a site is often a service plus its balancer)."""
    places: dict[tuple[str, str, str], list[SiteView]] = {}
    for s in w.sites:
        places.setdefault((s.role, s.provider, s.region), []).append(s)
    lines = []
    for (role, provider, region), sites in places.items():
        first = sites[0]
        what = ", ".join(f"{s.type.rsplit(':', 1)[-1]} {s.name}" + (" (data)" if s.data_store else "") for s in sites)
        home = f"{first.legal_home}{', EU-headquartered' if first.eu_headquartered else ''}"
        lines.append(f"{role}: {provider} {region} ({first.country}, {first.jurisdiction} region) - {home} - {what}")
    return lines


def _concentration_lines(result: Audit) -> list[str]:
    lines = []
    for dimension, entries in result.concentration.items():
        shown = ", ".join(f"{e['key']} {e['count']}/{len(result.workloads)}" for e in entries)
        lines.append(f"  per {dimension.replace('_', ' ')}: {shown}")
        every = [e["key"] for e in entries if e["all_critical"] and e["key"] != UNKNOWN]
        if every and dimension in ("provider", "region", "provider_home"):
            lines.append(f"    every critical workload depends on {dimension.replace('_', ' ')} {', '.join(every)}")
    return lines


def render_text(result: Audit) -> str:
    lines: list[str] = []
    for w in result.workloads:
        lines.append(f"{w.stack}/{w.name} ({w.criticality})")
        lines += [f"  {line}" for line in _site_lines(w)]
        lines.append(f"  data at rest: {', '.join(w.data_locations) or 'no data store in this stack'}")
        lines.append(f"  backups: {'; '.join(w.backups) or 'no backup store in this stack'}")
        lines.append(f"  {_backup_age_line(w)}")
        lines.append(f"  {_restore_line(w)}")
        lines.append(f"  EU region: {'yes' if w.eu_region else 'NO'}; EU-headquartered provider: "
                     f"{'yes' if w.eu_provider else 'NO'}")  # fmt: skip
        lines.append(f"  {_rto_line(w)}")
        lines.append(f"  {_rpo_line(w)}")
        lines.append(f"  {_readiness_line(w)}")
        lines += [f"  SPOF {s.code}: {s.detail}" for s in w.spofs] or [
            f"  none of the checked points of failure ({', '.join(SPOF_CODES)}) found"
        ]
    if result.other_workloads:
        lines.append(f"not critical (not audited): {', '.join(result.other_workloads)}")
    lines.append(f"concentration over {len(result.workloads)} critical workloads ({CONCENTRATION_MEANS}):")
    lines += _concentration_lines(result)
    lines += ["", EU_REGION_MEANS, EU_PROVIDER_MEANS]
    lines.append(_summary(result) + ".")
    return "\n".join(lines)


def _summary(result: Audit) -> str:
    spofs = sum(len(w.spofs) for w in result.workloads)
    return f"{len(result.workloads)} critical workload(s), {spofs} single point(s) of failure"


def render_json(result: Audit) -> str:
    return json.dumps(result.as_json(), indent=2, allow_nan=False)


_md = markdown
"""Every untrusted value entering the Markdown page (names, tags, details): `bascule.io.escaping.markdown`."""


def render_markdown(result: Audit) -> str:
    lines = [f"# Continuity audit: {_summary(result)}", ""]
    lines += ["| workload | sites | EU region | EU provider | RTO target / budget / measured | last drill | SPOF |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for w in result.workloads:
        sites = "<br>".join(dict.fromkeys(_md(f"{s.role}: {s.provider} {s.region} ({s.country})") for s in w.sites))
        drill = f"{w.last_drill['started']} {w.last_drill['status']}" if w.last_drill else "none"
        spofs = "<br>".join(_md(s.code) for s in w.spofs) or "none of the checked"
        rto = " / ".join(_seconds(w.rto[k]) for k in ("target_s", "budget_s", "measured_s"))
        lines.append(f"| {_md(w.stack)}/{_md(w.name)} | {sites} | {'yes' if w.eu_region else 'no'} | "
                     f"{'yes' if w.eu_provider else 'no'} | {rto} | {_md(drill)} | {spofs} |")  # fmt: skip
    lines += ["", f"Points of failure checked: {', '.join(SPOF_CODES)}.", ""]
    for w in result.workloads:
        lines += [f"## {_md(w.stack)}/{_md(w.name)}", ""]
        lines += [f"- {_md(line)}" for line in _site_lines(w)]
        lines += [f"- data at rest: {_md(', '.join(w.data_locations) or 'no data store in this stack')}",
                  f"- backups: {_md('; '.join(w.backups) or 'no backup store in this stack')}",
                  f"- {_md(_backup_age_line(w))}", f"- {_md(_restore_line(w))}",
                  f"- {_md(_rto_line(w))}", f"- {_md(_rpo_line(w))}", f"- {_md(_readiness_line(w))}"]  # fmt: skip
        lines += [f"- **SPOF {s.code}**: {_md(s.detail)}" for s in w.spofs]
        lines.append("")
    # In a code block nothing is markup, but a line break or a fence in a name could end the block early.
    fenced = [one_line(line).replace("`", "'") for line in _concentration_lines(result)]
    lines += ["## Concentration", "", CONCENTRATION_MEANS, "", "```", *fenced, "```", ""]
    lines += [f"- {EU_REGION_MEANS}", f"- {EU_PROVIDER_MEANS}", ""]
    return "\n".join(lines)


# The chart's bars: one colour per dimension, like the drill report's fixed palette.
_CHART_COLOURS = {"provider": "#3b6fb6", "provider_home": "#8a4fb0", "country": "#2e8b57", "region": "#c77c1e"}


def concentration_svg(result: Audit) -> str:
    """Horizontal bars: how many critical workloads depend on each provider, provider home, country, region.

    Bar length is the workload count over the number of critical workloads, so a full-width bar is a
    dependency every critical workload shares (input to a concentration assessment, see `CONCENTRATION_MEANS`).
    """
    total = len(result.workloads)
    rows = [(dimension, e) for dimension in _CHART_COLOURS for e in result.concentration.get(dimension, [])]
    if not rows:
        return "<p>No critical workload to chart.</p>"
    width, left, bar_h, top = 900, 280, 20, 30
    scale = (width - left - 80) / total
    height = top + len(rows) * (bar_h + 6) + 20
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-size='12' role='img' "
        f"aria-label='critical workloads per provider, provider home, country and region'>",
        f"<text x='4' y='16' font-weight='bold'>critical workloads per dependency (of {total})</text>",
    ]
    for i, (dimension, e) in enumerate(rows):
        y = top + i * (bar_h + 6)
        label = f"{dimension.replace('_', ' ')}: {e['key']}"
        parts.append(f"<text x='4' y='{y + 15}'>{html.escape(label)}</text>")
        parts.append(
            f"<rect x='{left}' y='{y}' width='{e['count'] * scale:.1f}' height='{bar_h}' "
            f"fill='{_CHART_COLOURS[dimension]}'><title>{html.escape(', '.join(e['workloads']))}</title></rect>"
        )
        parts.append(f"<text x='{left + e['count'] * scale + 6:.1f}' y='{y + 15}'>{e['count']}/{total}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bascule.audit", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )


def render_html(result: Audit) -> str:
    """One page, rendered like the drill report: the concentration chart, then a row per critical workload."""
    rows = [
        {
            "label": f"{w.stack}/{w.name}",
            "sites": _site_lines(w),
            "eu_region": w.eu_region,
            "eu_provider": w.eu_provider,
            "rto": _rto_line(w),
            "rpo": _rpo_line(w),
            "readiness": _readiness_line(w),
            "backups": [*w.backups, _backup_age_line(w), _restore_line(w)],
            "spofs": w.spofs,
        }
        for w in result.workloads
    ]
    return (
        _templates()
        .get_template("audit.html.j2")
        .render(
            summary=_summary(result),
            chart=concentration_svg(result),
            workloads=rows,
            others=result.other_workloads,
            eu_region_means=EU_REGION_MEANS,
            eu_provider_means=EU_PROVIDER_MEANS,
            concentration_means=CONCENTRATION_MEANS,
            checked=", ".join(SPOF_CODES),
        )
    )
