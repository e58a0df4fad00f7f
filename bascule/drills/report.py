"""Reports derived from the journal alone: summary numbers, pass/fail, Markdown and an HTML timeline.

Times are measured from the moment the fault was in effect (`injected`) and from the moment the
restore completed (`restored`), so the time a control needs to apply a change (a `pulumi up`) is
reported separately and never flatters or penalises the failover itself.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2

from bascule.io.escaping import markdown as md
from bascule.readiness.probes import BOTH

PRIMARY, SECONDARY = "primary", "secondary"
RESTORE_FAULT = "corruption"
"""The fault a restore drill answers (`bascule.drills.restore`): no failover, a backup restored."""
EXIT_PASS, EXIT_FAIL, EXIT_REFUSED = 0, 1, 3
COLOURS = {PRIMARY: "#2f6fdf", SECONDARY: "#f08c2e", BOTH: "#c0392b", "error": "#9e9e9e", "none": "#555555"}


def _first(events: list[dict[str, Any]], kind: str, **match: Any) -> dict[str, Any] | None:
    return next((e for e in events if e["kind"] == kind and all(e.get(k) == v for k, v in match.items())), None)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: with few resolvers it reports a time that really happened."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def _phase(
    events: list[dict[str, Any]], phase: str, start: float | None, want: str, kinds: dict[str, str]
) -> dict[str, Any]:
    probes = [e for e in events if e["kind"] == "probe" and e.get("phase") == phase]
    if start is None or not probes:
        return {"observed": False, "probes": len(probes)}
    resolvers = sorted({d["resolver"] for p in probes for d in p["dns"]})
    away = next((p["t"] for p in probes if any(d["site"] not in (None, _other(want)) for d in p["dns"])), None)
    per_resolver = {}
    for name in resolvers:
        reached = next(
            (p["t"] for p in probes if any(d["resolver"] == name and d["site"] == want for d in p["dns"])), None
        )
        per_resolver[name] = _rel(reached, start)
    all_dns = next((p["t"] for p in probes if all(d["site"] == want for d in p["dns"])), None)
    http = next((p["t"] for p in probes if p["http"]["site"] == want), None)
    reached = _first(events, "reached", phase=phase)
    ending = next((e for e in events if e["kind"] in ("reached", "timeout", "abort") and e.get("phase") == phase), None)
    times = [v for v in per_resolver.values() if v is not None]
    by_kind: dict[str, float | None] = {}
    for name, value in per_resolver.items():
        kind = kinds.get(name, "authoritative")
        previous = by_kind.get(kind, 0.0)
        by_kind[kind] = None if value is None or previous is None else max(previous, value)
    return {
        "observed": True,
        "probes": len(probes),
        "outcome": "reached" if reached else (ending["kind"] if ending else "incomplete"),
        "detection_s": _rel(away, start),
        "dns_all_s": _rel(all_dns, start),
        "http_s": _rel(http, start),
        "per_resolver_s": per_resolver,
        "by_resolver_kind_s": by_kind,
        "p50_s": percentile(times, 50),
        "p95_s": percentile(times, 95),
        "max_s": percentile(times, 100),
        "http_errors": sum(1 for p in probes if p["http"]["error"]),
        "dns_errors": sum(1 for p in probes for d in p["dns"] if d["error"]),
        "no_healthy_site_probes": sum(1 for p in probes if any(d["site"] == BOTH for d in p["dns"])),
        "abort_reason": ending.get("reason") if ending and ending["kind"] == "abort" else None,
        "client_errors": dict(
            Counter(
                a["error"] for p in probes for a in p["http"].get("attempts", [p["http"]]) if a["error"]
            ).most_common()
        ),
    }


def _other(role: str) -> str:
    return SECONDARY if role == PRIMARY else PRIMARY


def _rel(t: float | None, start: float) -> float | None:
    return None if t is None else round(max(0.0, t - start), 3)


def summarize(events: list[dict[str, Any]]) -> dict[str, Any]:
    plan_event = _first(events, "plan")
    if plan_event is None:
        raise ValueError("journal has no plan event: not a drill journal")
    plan = plan_event["plan"]
    target = plan["target"]
    summary: dict[str, Any] = {
        "service": target["service"],
        "hostname": target["hostname"],
        "target": target["description"],
        "fault": plan["fault"],
        "rto_seconds": plan["rto_seconds"],
        "bound_seconds": target["failover_bound_seconds"],
        "started": events[0]["wall"],
        "ended": events[-1]["wall"],
    }
    readiness = _first(events, "readiness")
    summary["readiness"] = [_readiness_row(site) for site in readiness["sites"]] if readiness else []
    forced = _first(events, "forced")
    summary["forced"] = {"reason": forced["reason"], "overridden": forced["overridden"]} if forced else None
    summary["approval"] = plan.get("approval")
    refused = _first(events, "refused")
    if refused:
        summary.update(status="refused", reasons=refused["reasons"], exit_code=EXIT_REFUSED)
        return summary
    if plan["fault"] == RESTORE_FAULT:
        summary["data"] = data = summarize_restore(events)
        reasons = restore_reasons(data)
        interrupted, recovered = _first(events, "interrupted"), _first(events, "recovered")
        if interrupted:
            reasons.append(f"interrupted by {interrupted['signal']} during {interrupted.get('phase') or 'the drill'}")
        crash = _first(events, "internal-error")
        if crash:
            reasons.append(f"internal error in Bascule: {crash.get('error')}")
        if recovered and _first(events, "end") is None:
            reasons.append("the drill process was killed before it ended; `bascule drill recover` finished it")
        elif _first(events, "end") is None and not interrupted:
            reasons.append("the drill ended before its last step")
        passed = not reasons
        summary.update(
            status="pass" if passed else "fail", reasons=reasons, exit_code=EXIT_PASS if passed else EXIT_FAIL
        )
        return summary
    inject, injected = _first(events, "inject"), _first(events, "injected")
    restore, restored = _first(events, "restore"), _first(events, "restored")
    summary["inject_apply_s"] = _rel(injected["t"], inject["t"]) if inject and injected else None
    summary["restore_apply_s"] = _rel(restored["t"], restore["t"]) if restore and restored else None
    kinds = {r["name"]: r.get("kind", "authoritative") for r in target["resolvers"]}
    summary["failover"] = _phase(events, "failover", injected["t"] if injected else None, SECONDARY, kinds)
    summary["failback"] = _phase(events, "failback", restored["t"] if restored else None, PRIMARY, kinds)
    recovered = _first(events, "recovered")
    if restored:
        summary["restore"] = "ok"
    elif recovered and inject:
        summary["restore"] = "recovered"
    elif _first(events, "restore-failed"):
        summary["restore"] = "failed"
    else:
        summary["restore"] = "missing" if inject else "not-needed"

    reasons = []
    failover, failback = summary["failover"], summary["failback"]
    interrupted = _first(events, "interrupted")
    if interrupted:
        during = f" during {interrupted['phase']}" if interrupted.get("phase") else ""
        reasons.append(f"interrupted by {interrupted['signal']}{during}")
    elif recovered and not _first(events, "end"):
        reasons.append("the drill process was killed before it ended; `bascule drill recover` finished it")
    crash = _first(events, "internal-error")
    if crash:
        reasons.append(f"internal error in Bascule: {crash.get('error')}")
    for event in events:
        if event["kind"] == "abort":
            reasons.append(f"aborted during {event['phase']}: {event['reason']}")
    if summary["restore"] in ("failed", "missing"):
        reasons.append(f"restore {summary['restore']}")
    elif summary["restore"] == "recovered":
        reasons.append("restore recovered: the fault stayed in place until `bascule drill recover` undid it")
    if failover.get("no_healthy_site_probes"):
        reasons.append(
            "no healthy site: DNS answered every address at once (fail open) during failover, "
            "so clients were sent to the broken primary too"
        )
    if failover.get("observed") and failover["outcome"] == "timeout":
        reasons.append(f"traffic never fully moved to the secondary within {plan['timeout_seconds']:g} s")
        if failover["client_errors"]:
            seen = ", ".join(f"{text} ({n} probes)" for text, n in list(failover["client_errors"].items())[:3])
            reasons.append(f"clients got errors instead of the service: {seen}")
    http_s = failover.get("http_s")
    if http_s is not None and http_s > plan["rto_seconds"]:
        reasons.append(f"RTO missed: HTTP moved after {http_s:.1f} s, target {plan['rto_seconds']:g} s")
    if failover.get("observed") and failover["outcome"] == "reached" and failback.get("outcome") != "reached":
        reasons.append("failback to the primary was not verified")
    if _first(events, "canary-start") is not None or _first(events, "data-start") is not None:
        summary["data"] = data = summarize_data(events, plan.get("rpo_seconds"))
        reasons += data_reasons(data)
    passed = not reasons and failover.get("outcome") == "reached"
    summary.update(status="pass" if passed else "fail", reasons=reasons, exit_code=EXIT_PASS if passed else EXIT_FAIL)
    return summary


def summarize_data(events: list[dict[str, Any]], rpo_seconds: float | None) -> dict[str, Any]:
    """The data block: acknowledged and lost writes, observed RPO, promotion and first-write times, lag, WAL.

    With a canary writer (the sandbox), observed RPO is the time between the last write the old primary acknowledged
    and the last acknowledged write that survived on the new primary (0 when none was lost), both by the writer's
    acknowledgement times. Without one (a stack: `data-start`), no write went through the service, so writes are
    not counted (None); what stands for them is whether the standby had confirmed everything the fenced primary
    committed (`caught_up`), and the first write is the one the promoted standby accepted from the app role on a
    direct connection. First write counts from the fault in effect, as the failover times do."""
    canary = _first(events, "canary-start") is not None
    writes = [e for e in events if e["kind"] == "write"]
    on_primary = [e for e in writes if e["database"] == PRIMARY]
    injected, promote, promoted = _first(events, "injected"), _first(events, "promote"), _first(events, "promoted")
    lost_event = _first(events, "lost-writes")
    replication = _first(events, "replication")
    lags = [float(v) for v in replication["lags_s"]] if replication else []
    missing = set(lost_event["missing_ids"]) if lost_event else None
    rpo = None
    if missing is not None:
        last_acked = max((e["t"] for e in on_primary), default=None)
        survived = [e["t"] for e in on_primary if e["id"] not in missing]
        since = max(survived, default=_first(events, "canary-start")["t"])  # type: ignore[index]
        rpo = 0.0 if not missing or last_acked is None else round(last_acked - since, 3)
    if canary:
        first = next((e for e in writes if e["database"] == SECONDARY and promoted and e["seq"] > promoted["seq"]),
                     None)  # fmt: skip
    else:
        first = _first(events, "first-write")
    return {
        "canary": canary,
        "rpo_seconds": rpo_seconds,
        "acknowledged_writes": len(writes) if canary else None,
        "acknowledged_by_old_primary": len(on_primary) if canary else None,
        "acknowledged_by_new_primary": len(writes) - len(on_primary) if canary else None,
        "lost_writes": None if missing is None else len(missing),
        "lost_ids": None if missing is None else sorted(missing),
        "rpo_observed_s": rpo,
        "caught_up": promoted.get("caught_up") if promoted else None,
        "primary_fenced": promoted.get("fenced") if promoted else None,
        "promotion_s": _rel(promoted["t"], promote["t"]) if promote and promoted else None,
        "promotion_error": (_first(events, "promote-failed") or {}).get("error"),
        "sequences_advanced": promoted["sequences"] if promoted else None,
        "first_write_s": _rel(first["t"], injected["t"]) if first and injected else None,
        "first_write_error": (_first(events, "first-write-failed") or {}).get("last"),
        "lag_p50_s": percentile(lags, 50),
        "lag_p99_s": percentile(lags, 99),
        "lag_samples": len(lags),
        "wal_retained_bytes": replication["wal_retained_bytes"] if replication else None,
        "write_errors": sum(1 for e in events if e["kind"] == "write-error"),
    }


def summarize_restore(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The restore drill's block: which backup, its age when the fault hit, whether the fault reached the standby,
    how long the restore took, the writes lost since the backup and the rows verified against the manifest."""
    backup, injected = _first(events, "backup"), _first(events, "injected")
    replicated, restored = _first(events, "replicated"), _first(events, "backup-restored")
    failed = _first(events, "backup-restore-failed")
    return {
        "restore_drill": True,
        "backup": backup["key"] if backup else None,
        "backup_taken_by_drill": _first(events, "backup-taken") is not None,
        "backup_size_bytes": backup["size_bytes"] if backup else None,
        "backup_age_s": injected["backup_age_s"] if injected else None,
        "deleted_rows": injected["deleted_rows"] if injected else None,
        "reached_standby": replicated["reached"] if replicated else None,
        "reached_standby_s": replicated["after_s"] if replicated and replicated["reached"] else None,
        "restore_s": restored["restore_s"] if restored else None,
        "restore_error": failed["error"] if failed else None,
        "writes_lost_since_backup": len(restored["lost_ids"]) if restored else None,
        "lost_ids": restored["lost_ids"] if restored else None,
        "verified_rows": restored["verified_rows"] if restored else None,
        "row_counts": restored["row_counts"] if restored else None,
        "row_mismatches": restored["mismatches"] if restored else [],
        "canary_rows": restored["canary_rows"] if restored else None,
        "canary_changed_ids": restored["canary_changed_ids"] if restored else [],
        "repaired_rows": (_first(events, "repaired") or {}).get("rows"),
        "repair_error": (_first(events, "repair-failed") or {}).get("error"),
        "undone_rows": (_first(events, "restored") or _first(events, "recovered") or {}).get("rows"),
        "undo_error": (_first(events, "restore-failed") or {}).get("error"),
        "recovered": (_first(events, "recovered") or {}).get("by"),
    }


def restore_reasons(data: dict[str, Any]) -> list[str]:
    """Why a restore drill failed: no usable backup (missing, altered, unreadable: the error names it), rows that
    differ from the manifest or from what the primary held, or a fault that never reached the standby."""
    reasons = []
    if data["restore_error"]:
        reasons.append(f"restore failed: {data['restore_error']}")
    if data["reached_standby"] is False:
        reasons.append("the destructive change never reached the standby: replication is not running")
    reasons += [f"restored rows differ from the manifest: {line}" for line in data["row_mismatches"]]
    if data["canary_changed_ids"]:
        ids = ", ".join(map(str, data["canary_changed_ids"][:10]))
        reasons.append(f"restored canary rows differ from the primary's before the fault (ids {ids})")
    if data["restore_s"] is None and not data["restore_error"]:
        reasons.append("no restore was observed")
    if data["undo_error"]:
        reasons.append(f"the deleted canary rows could not be put back: {data['undo_error']} (`bascule drill "
                       "recover` puts them back from the journal)")  # fmt: skip
    return reasons


def restore_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The restore drill's table, shared by Markdown and HTML."""
    size = data["backup_size_bytes"]
    lost = data["writes_lost_since_backup"]
    taken = " (taken by the drill)" if data["backup_taken_by_drill"] else ""
    return [
        ("backup restored", (data["backup"] or "—") + taken),
        ("backup size (encrypted)", "—" if size is None else f"{size} bytes"),
        ("backup age at the fault", _fmt(data["backup_age_s"])),
        ("rows deleted on the primary", "—" if data["deleted_rows"] is None else str(data["deleted_rows"])),
        ("the deletion reached the standby through replication, after",
         _fmt(data["reached_standby_s"]) if data["reached_standby"] else "NOT reached"),
        ("restore (download, sha256, decrypt, pg_restore into a fresh database)", _fmt(data["restore_s"])),
        ("writes lost since the backup", "—" if lost is None else str(lost)),
        ("rows verified against the manifest", "—" if data["verified_rows"] is None else str(data["verified_rows"])),
        ("canary rows in the backup, each as the primary had it",
         "—" if data["canary_rows"] is None else f"{data['canary_rows']} ({len(data['canary_changed_ids'])} differ)"),
        ("rows put back on the primary", "—" if data["repaired_rows"] is None else str(data["repaired_rows"])),
    ] + ([("deleted rows put back from the drill's journal (no repair from the backup)",
           str(data["undone_rows"]) + (f", by {data['recovered']}" if data["recovered"] else ""))]
         if data["undone_rows"] is not None else [])  # fmt: skip


def data_reasons(data: dict[str, Any]) -> list[str]:
    """Why the data half failed: RPO beyond target (with a canary), a standby that had not caught up with the fenced
    primary (without one), no promotion, or no write ever succeeding on the standby."""
    reasons = []
    if data["promotion_error"]:
        reasons.append(f"promotion failed: {data['promotion_error']}")
    if data.get("canary", True):
        if data["lost_writes"] is None:
            reasons.append("lost writes were not counted (no promotion, or the new primary could not be asked)")
        rpo, target = data["rpo_observed_s"], data["rpo_seconds"]
        if rpo is not None and target is not None and rpo > target:
            reasons.append(f"RPO missed: {data['lost_writes']} acknowledged writes lost, {rpo:.2f} s of data, "
                           f"target {target:g} s")  # fmt: skip
    else:
        behind = sorted(db for db, done in (data.get("caught_up") or {}).items() if not done)
        if behind:
            reasons.append(f"the standby had not confirmed everything the old primary committed ({', '.join(behind)}"
                           "): writes may be lost (not counted: no canary writer on a stack)")  # fmt: skip
    if data["first_write_s"] is None:
        why = f": {data['first_write_error']}" if data.get("first_write_error") else ""
        reasons.append(f"no write succeeded on the promoted standby{why}")
    return reasons


def _data_markdown(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    return [
        "## Restore from backup" if data.get("restore_drill") else "## Data standby",
        "",
        "| | |",
        "|---|---|",
        *[f"| {label} | {md(value)} |" for label, value in data_rows(data)],
        "",
    ]


def _ms(value: float | None) -> str:
    """Replication lag on loopback is milliseconds: seconds with two decimals would show 0.00."""
    return "—" if value is None else f"{value * 1000:.1f} ms"


def data_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The data table, shared by Markdown and HTML."""
    if data.get("restore_drill"):
        return restore_rows(data)
    wal = data["wal_retained_bytes"]
    target = data["rpo_seconds"]
    promotion = ("promotion (old primary fenced if reachable, subscription stopped, sequences advanced, standby "
                 "opened)", _fmt(data["promotion_s"]))  # fmt: skip
    after = [
        ("WAL retained by the slot before the fault", "—" if wal is None else f"{wal} bytes"),
    ]
    if not data.get("canary", True):
        caught = data.get("caught_up")
        return [
            ("acknowledged writes", "not measured: no canary writer through the service (the stack's application "
             "has none)"),
            ("standby caught up with the fenced primary (no committed write lost)",
             "—" if caught is None else ", ".join(f"{db}: {'yes' if done else 'NO'}" for db, done in caught.items())),
            promotion,
            ("first write accepted by the new primary (the app role, direct connection), since the fault",
             _fmt(data["first_write_s"])),
            (f"replication lag p50 / p99 before the fault ({data['lag_samples']} databases measured)",
             f"{_ms(data['lag_p50_s'])} / {_ms(data['lag_p99_s'])}"),
            *after,
        ]  # fmt: skip
    return [
        ("acknowledged writes (old primary / new primary)",
         f"{data['acknowledged_writes']} ({data['acknowledged_by_old_primary']} / "
         f"{data['acknowledged_by_new_primary']})"),
        ("acknowledged writes lost", "—" if data["lost_writes"] is None else str(data["lost_writes"])),
        ("observed RPO (last acknowledged - last surviving)",
         _fmt(data["rpo_observed_s"]) + ("" if target is None else f" (target {target:g} s)")),
        promotion,
        ("first write on the new primary, since the fault", _fmt(data["first_write_s"])),
        (f"replication lag p50 / p99 before the fault ({data['lag_samples']} rows)",
         f"{_ms(data['lag_p50_s'])} / {_ms(data['lag_p99_s'])}"),
        *after,
    ]  # fmt: skip


def _readiness_row(site: dict[str, Any]) -> dict[str, Any]:
    """What the report keeps of a site's readiness check: enough to see why a standby was (not) ready."""
    cert = site.get("certificate") or {}
    return {
        "role": site["role"],
        "address": site["address"],
        "ready": site["ready"],
        "certificate_names": cert.get("names"),
        "certificate_issuer": cert.get("issuer"),
        "certificate_days_left": cert.get("days_left"),
        "certificate_trusted": site.get("trusted"),
        "health_status": site.get("status"),
        "latency_ms": site.get("latency_ms"),
        "problems": site.get("problems", []),
    }


def _readiness_markdown(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "## Readiness before the fault",
        "",
        "Each site asked directly, as a client of the hostname (SNI and Host), certificate verified.",
        "",
        "| site | address | certificate for | issuer | days left | trusted | health | latency | ready |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        days, latency = r["certificate_days_left"], r["latency_ms"]
        names = ", ".join(map(str, r["certificate_names"] or [])) or "—"
        lines.append(
            f"| {md(r['role'])} | {md(r['address'])} | {md(names)} | {md(r['certificate_issuer'] or '—')} | "
            f"{'—' if days is None else md(f'{days:g}')} | {'yes' if r['certificate_trusted'] else 'no'} | "
            f"{md(r['health_status'] or '—')} | {'—' if latency is None else md(f'{latency:g} ms')} | "
            f"{'yes' if r['ready'] else 'NO'} |"
        )
    return [*lines, ""]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def measured_rows(summary: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The measured table, one row per figure, failover and failback side by side: shared by every format."""
    fo, fb = summary["failover"], summary["failback"]
    rows = [
        ("first DNS answer change (detection)", "detection_s"),
        ("every resolver answers the new site", "dns_all_s"),
        ("HTTP served by the new site", "http_s"),
        ("p50 / p95 / max over resolvers", None),
        ("authoritative servers all moved", "auth"),
        ("recursive resolvers all moved (adds their cache TTL)", "recursive"),
        ("HTTP errors seen by clients", "http_errors"),
        ("probes", "probes"),
    ]
    table = []
    for label, key in rows:
        if key in ("auth", "recursive"):
            kind = "authoritative" if key == "auth" else "recursive"
            if not any(kind in p.get("by_resolver_kind_s", {}) for p in (fo, fb)):
                continue
            cells = [_fmt(p.get("by_resolver_kind_s", {}).get(kind)) for p in (fo, fb)]
        elif key is None:
            cells = [f"{_fmt(p.get('p50_s'))} / {_fmt(p.get('p95_s'))} / {_fmt(p.get('max_s'))}" for p in (fo, fb)]
        elif key.endswith("_s"):
            cells = [_fmt(p.get(key)) for p in (fo, fb)]
        else:
            cells = [str(p.get(key, "—")) for p in (fo, fb)]
        table.append((label, cells))
    return table


SUMMARY_COLUMNS = ("", "detection", "all resolvers", "HTTP moved", "client errors")
"""The columns of the short table a terminal shows after a drill (the reports hold the full one)."""


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """The short table's rows, failover then failback: times in seconds, and the HTTP errors clients saw."""
    rows = []
    for name in ("failover", "failback"):
        phase = summary[name]
        keys = ("detection_s", "dns_all_s", "http_s")
        times = (f"{phase[k]:.2f} s" if phase.get(k) is not None else "—" for k in keys)
        rows.append((name, *times, str(phase.get("http_errors", "—"))))
    return rows


def summary_targets(summary: dict[str, Any]) -> str:
    """The line under the short table: what the times are measured against, and how the restore went."""
    return (
        f"RTO target {summary['rto_seconds']:g} s, bound of the settings {summary['bound_seconds']:g} s, "
        f"restore: {summary['restore']}"
    )


def render_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Failover drill: {md(summary['service'])} ({md(summary['fault'])})",
        "",
        f"**Result: {md(summary['status'].upper())}**  ",
        f"{md(verdict(summary))}  ",
        f"Target: {md(summary['target'])}  ",
        f"Started {md(summary['started'])}, ended {md(summary['ended'])}.",
        "",
    ]
    if summary.get("forced"):
        forced = summary["forced"]
        lines += [f"**Forced** ({forced['reason']}), overriding: {'; '.join(forced['overridden'])}", ""]
    if summary.get("approval"):
        lines += [f"Approved: {summary['approval']}", ""]
    if summary.get("reasons"):
        lines += ["## Why", "", *[f"- {md(r)}" for r in summary["reasons"]], ""]
    lines += _readiness_markdown(summary.get("readiness", []))
    if summary["status"] == "refused":
        return "\n".join(lines)
    lines += _data_markdown(summary.get("data"))
    if summary["fault"] == RESTORE_FAULT:
        return "\n".join(lines)
    lines += ["## Measured", "", "| | failover | failback |", "|---|---|---|"]
    lines += [f"| {label} | {md(cells[0])} | {md(cells[1])} |" for label, cells in measured_rows(summary)]
    lines += [
        "",
        f"RTO target {summary['rto_seconds']:g} s; theoretical bound of the settings (interval x failures + TTL) "
        f"{summary['bound_seconds']:g} s. Applying the fault took {_fmt(summary.get('inject_apply_s'))}, "
        f"restoring took {_fmt(summary.get('restore_apply_s'))}. Restore: {summary['restore']}.",
        "",
    ]
    for name in ("failover", "failback"):
        errors = summary[name].get("client_errors") or {}
        if errors:
            lines += [
                f"Client errors during {name}:",
                "",
                *[f"- {md(text)}: {md(n)} probe{'' if n == 1 else 's'}" for text, n in errors.items()],
                "",
            ]
    return "\n".join(lines)


def verdict(summary: dict[str, Any]) -> str:
    """Why the drill passed or failed, in one sentence."""
    reasons = summary.get("reasons") or []
    more = f" (and {len(reasons) - 1} more: see below)" if len(reasons) > 1 else ""
    if summary["status"] == "refused":
        return f"Refused before any fault was injected: {reasons[0]}{more}." if reasons else "Refused."
    if summary["status"] == "fail":
        return f"Failed: {reasons[0]}{more}." if reasons else "Failed: the failover was not observed."
    if summary["fault"] == RESTORE_FAULT:
        data = summary["data"]
        return (
            f"Passed: the newest backup ({_fmt(data['backup_age_s'])} old at the fault) was restored into a fresh "
            f"database in {_fmt(data['restore_s'])}, {data['verified_rows']} rows verified; "
            f"{data['writes_lost_since_backup']} writes since the backup were lost."
        )
    fo, fb = summary["failover"], summary["failback"]
    return (
        f"Passed: clients were served by the secondary {_fmt(fo.get('http_s'))} after the fault "
        f"(RTO target {summary['rto_seconds']:g} s) and by the primary again {_fmt(fb.get('http_s'))} "
        "after the restore."
    )


def render_html(summary: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """The report as a page people read: verdict, readiness, measured table, chart and phases, all from the journal."""
    template = _templates().get_template("report.html.j2")
    return template.render(
        s=summary,
        verdict=verdict(summary),
        rows=measured_rows(summary) if summary["status"] != "refused" and summary["fault"] != RESTORE_FAULT else [],
        data_rows=data_rows(summary["data"]) if summary.get("data") else [],
        data_canary=bool((summary.get("data") or {}).get("canary", True)),
        chart=timeline_svg(summary, events)
        if summary["status"] != "refused" and summary["fault"] != RESTORE_FAULT
        else "",
        phases=phase_rows(events),
        num=lambda value, unit: "—" if value is None else f"{value:g}{unit}",
        sec=_fmt,
    )


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("bascule.drills", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )


PHASE_EVENTS = ("plan", "readiness", "forced", "preflight", "refused", "inject", "injected", "reached", "timeout",
                "abort", "interrupted", "restore", "restored", "restore-failed", "recovered", "end", "data-preflight",
                "canary-start", "data-start", "promote", "data-step", "promoted", "promote-failed", "lost-writes",
                "first-write", "first-write-failed", "canary-stop", "data-stop", "backup", "backup-taken", "replicated",
                "backup-restore", "backup-restored", "backup-restore-failed", "repaired", "repair-failed")  # fmt: skip


def _origin(events: list[dict[str, Any]]) -> float:
    """0 s of the chart and the phase table: the moment the fault was in effect (else the drill's start)."""
    injected = _first(events, "injected")
    return float((injected or events[0])["t"])


def phase_rows(events: list[dict[str, Any]]) -> list[dict[str, str]]:
    origin = _origin(events)
    rows = []
    for e in events:
        if e["kind"] not in PHASE_EVENTS:
            continue
        detail = {
            "preflight": "ok" if e.get("ok") else "; ".join(e.get("problems", [])),
            "refused": "; ".join(e.get("reasons", [])),
            "forced": f"{e.get('reason')}: overriding {'; '.join(e.get('overridden', []))}",
            "inject": e.get("fault", ""),
            "reached": f"{e.get('phase')}: every resolver and HTTP on the {e.get('site')}",
            "timeout": f"{e.get('phase')}: not reached after {e.get('after_seconds')} s",
            "abort": f"{e.get('phase')}: {e.get('reason')}",
            "interrupted": f"{e.get('signal')}" + (f" during {e['phase']}" if e.get("phase") else ""),
            "restore-failed": str(e.get("error", "")),
            "restored": f"{e['rows']} deleted canary rows put back from the journal" if "rows" in e else "",
            "backup": f"{e.get('key')}, finished {e.get('finished_at')}",
            "replicated": f"standby rows {e.get('standby_rows')} after {e.get('after_s')} s",
            "backup-restore": f"{e.get('backup')} into {e.get('database')}",
            "backup-restored": f"{e.get('verified_rows')} rows verified, {len(e.get('lost_ids', []))} writes lost",
            "backup-restore-failed": str(e.get("error", "")),
            "repair-failed": str(e.get("error", "")),
            "lost-writes": f"{len(e.get('missing_ids', []))} of {e.get('checked')} acknowledged writes missing",
            "data-step": f"{e.get('step')} on {e.get('where')}: {e.get('status')} {e.get('detail', '')}".strip(),
            "canary-stop": f"{e.get('acknowledged')} writes acknowledged",
            "data-start": str(e.get("why", "")),
            "first-write": f"accepted through {e.get('via')}",
            "first-write-failed": str(e.get("last", "")),
            "readiness": ", ".join(f"{x['role']} {'ready' if x['ready'] else 'NOT ready'}" for x in e.get("sites", [])),
        }.get(e["kind"], "")
        rows.append({"event": e["kind"], "wall": str(e["wall"]), "offset": f"{e['t'] - origin:+.2f} s",
                     "detail": detail})  # fmt: skip
    return rows


CHART_WIDTH, CHART_LEFT, CHART_RIGHT, LANE_HEIGHT, LABEL_ROW = 1000, 170, 16, 28, 16
CHAR_WIDTH = 7.0
"""Pixels per character of 12 px text, on the wide side: labels are placed so that they can never overlap."""


def _place_labels(marks: list[tuple[float, str]]) -> list[tuple[float, str, int, bool]]:
    """Each label in the first row where it overlaps nothing; labels that would run off the right edge end at
    their line instead of starting there. Returns (x, text, row, anchored at the end)."""
    placed: list[tuple[float, str, int, bool]] = []
    rows: list[list[tuple[float, float]]] = []
    for x, text in sorted(marks):
        width = len(text) * CHAR_WIDTH + 6
        at_end = x + 3 + width > CHART_WIDTH - 2
        span = (x - 3 - width, x - 3) if at_end else (x + 3, x + 3 + width)
        row = next((i for i, taken in enumerate(rows) if all(span[1] < a or span[0] > b for a, b in taken)), None)
        if row is None:
            rows.append([])
            row = len(rows) - 1
        rows[row].append(span)
        placed.append((x, text, row, at_end))
    return placed


def timeline_svg(summary: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """Which site each probe saw over time, per resolver and for HTTP, with phase markers and the RTO.

    0 s is the moment the fault was in effect, as in the measured table. A probe's colour lasts until the next
    probe (at most four poll intervals); time without probes stays blank, so the chart never shows an
    observation that was not made. The axis fits the drill; an RTO beyond it is marked at the right edge.
    """
    probes = [e for e in events if e["kind"] == "probe"]
    if not probes:
        return "<p>No probes were recorded.</p>"
    plan_event = _first(events, "plan")
    poll = float(plan_event["plan"].get("poll_interval", 0.25)) if plan_event else 0.25
    origin = _origin(events)
    t0, t1 = min(origin, float(probes[0]["t"])), float(probes[-1]["t"]) + poll
    scale = (CHART_WIDTH - CHART_LEFT - CHART_RIGHT) / max(t1 - t0, 1e-6)

    def x(t: float) -> float:
        return CHART_LEFT + (t - t0) * scale

    marks = []
    for e in events:
        if e["kind"] in ("injected", "restored", "reached", "abort", "timeout") and t0 <= e["t"] <= t1:
            name = {"injected": "fault in effect"}.get(e["kind"], f"{e.get('phase', '')} {e['kind']}".strip())
            marks.append((x(e["t"]), f"{name} {e['t'] - origin:.1f} s"))
    rto = float(summary["rto_seconds"])
    rto_in_view = _first(events, "injected") is not None and origin + rto <= t1
    if rto_in_view:
        marks.append((x(origin + rto), f"RTO {rto:g} s"))
    placed = _place_labels(marks)
    label_rows = 1 + max((row for *_, row, _ in placed), default=0)
    top = 10 + LABEL_ROW * label_rows + 6
    lanes = [*sorted({d["resolver"] for p in probes for d in p["dns"]}), "HTTP (clients)"]
    bottom = top + LANE_HEIGHT * len(lanes)
    height = bottom + 84
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {CHART_WIDTH} {height}' width='{CHART_WIDTH}' "
        f"height='{height}' font-size='12' font-family='system-ui, sans-serif' role='img' "
        f"aria-label='timeline of DNS answers and HTTP per probe'>"
    ]
    for i, lane in enumerate(lanes):
        y = top + i * LANE_HEIGHT
        label = (
            lane if len(lane) * CHAR_WIDTH < CHART_LEFT - 10 else lane[: int((CHART_LEFT - 10) / CHAR_WIDTH) - 1] + "…"
        )
        parts.append(f"<text x='4' y='{y + 17}'><title>{html.escape(lane)}</title>{html.escape(label)}</text>")
        for j, p in enumerate(probes):
            end = min(probes[j + 1]["t"], p["t"] + 4 * poll) if j + 1 < len(probes) else p["t"] + poll
            if lane.startswith("HTTP"):
                site = p["http"]["site"] or "error"
            else:
                d = next((d for d in p["dns"] if d["resolver"] == lane), None)
                site = "error" if d is None or d["error"] else d["site"]
            parts.append(
                f"<rect x='{x(p['t']):.1f}' y='{y}' width='{max(x(end) - x(p['t']), 0.5):.1f}' "
                f"height='{LANE_HEIGHT - 6}' fill='{COLOURS.get(site, COLOURS['none'])}'>"
                f"<title>{html.escape(str(site))} at {p['t'] - origin:.2f} s</title></rect>"
            )
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if (t1 - t0) / s <= 10)
    for k in range(math.ceil((t0 - origin) / step), math.floor((t1 - origin) / step) + 1):
        tx = x(origin + k * step)
        parts.append(f"<line x1='{tx:.1f}' x2='{tx:.1f}' y1='{bottom}' y2='{bottom + 5}' stroke='#555'/>")
        parts.append(f"<text x='{tx:.1f}' y='{bottom + 18}' fill='#555' text-anchor='middle'>{k * step:g} s</text>")
    for mx, text, row, at_end in placed:
        ly = 10 + LABEL_ROW * (label_rows - row) - 2
        parts.append(f"<line x1='{mx:.1f}' x2='{mx:.1f}' y1='{ly + 3}' y2='{bottom}' stroke='#111' "
                     "stroke-dasharray='4 3'/>")  # fmt: skip
        anchor = f"x='{mx - 3:.1f}' text-anchor='end'" if at_end else f"x='{mx + 3:.1f}'"
        parts.append(f"<text {anchor} y='{ly}'>{html.escape(text)}</text>")
    axis = "seconds since the fault was in effect; blank: no probe"
    if _first(events, "injected") is not None and not rto_in_view:
        axis += f"; RTO {rto:g} s is beyond the right edge →"
    legend_y, legend_x = bottom + 34, float(CHART_LEFT)
    for name, colour in COLOURS.items():
        parts.append(f"<rect x='{legend_x:.0f}' y='{legend_y}' width='14' height='14' fill='{colour}'/>")
        parts.append(f"<text x='{legend_x + 18:.0f}' y='{legend_y + 12}'>{name}</text>")
        legend_x += 18 + len(name) * CHAR_WIDTH + 24
    parts.append(f"<text x='{CHART_LEFT}' y='{legend_y + 34}' fill='#555'>{html.escape(axis)}</text>")
    parts.append("</svg>")
    return "".join(parts)


class DamagedJournal(ValueError):
    """The journal's events parse but are not as Bascule writes them (edited, or damaged on disk)."""


def write_reports(out_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """report.json, report.md and report.html, derived from the journal's events alone.

    `read_journal` checks each line and the fields every event carries; the fields of each kind of event are checked
    by using them. A value of the wrong type there (a journal edited or damaged in place) is a `DamagedJournal`, which
    callers report as bad input naming the file, never an internal error."""
    try:
        summary = summarize(events)
        markdown, html = render_markdown(summary), render_html(summary, events)
        document = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:
        raise DamagedJournal(
            f"an event is not as Bascule writes it ({type(exc).__name__}: {exc}); was it edited?"
        ) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(document, encoding="utf-8")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    (out_dir / "report.html").write_text(html, encoding="utf-8")
    return summary
