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

from bascule.drills.probes import BOTH

PRIMARY, SECONDARY = "primary", "secondary"
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
    refused = _first(events, "refused")
    if refused:
        summary.update(status="refused", reasons=refused["reasons"], exit_code=EXIT_REFUSED)
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
    elif recovered:
        summary["restore"] = "recovered"
    elif _first(events, "restore-failed"):
        summary["restore"] = "failed"
    else:
        summary["restore"] = "missing" if inject else "not-needed"

    reasons = []
    failover, failback = summary["failover"], summary["failback"]
    if _first(events, "interrupted"):
        reasons.append(f"interrupted by {_first(events, 'interrupted')['signal']}")  # type: ignore[index]
    for event in events:
        if event["kind"] == "abort":
            reasons.append(f"aborted during {event['phase']}: {event['reason']}")
    if summary["restore"] not in ("ok",):
        reasons.append(f"restore {summary['restore']}")
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
    passed = not reasons and failover.get("outcome") == "reached"
    summary.update(status="pass" if passed else "fail", reasons=reasons, exit_code=EXIT_PASS if passed else EXIT_FAIL)
    return summary


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
        lines.append(
            f"| {r['role']} | {r['address']} | {', '.join(r['certificate_names'] or []) or '—'} | "
            f"{r['certificate_issuer'] or '—'} | {'—' if days is None else f'{days:g}'} | "
            f"{'yes' if r['certificate_trusted'] else 'no'} | {r['health_status'] or '—'} | "
            f"{'—' if latency is None else f'{latency:g} ms'} | {'yes' if r['ready'] else 'NO'} |"
        )
    return [*lines, ""]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def render_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Failover drill: {summary['service']} ({summary['fault']})",
        "",
        f"**Result: {summary['status'].upper()}**  ",
        f"Target: {summary['target']}  ",
        f"Started {summary['started']}, ended {summary['ended']}.",
        "",
    ]
    if summary.get("reasons"):
        lines += ["## Why", "", *[f"- {r}" for r in summary["reasons"]], ""]
    lines += _readiness_markdown(summary.get("readiness", []))
    if summary["status"] == "refused":
        return "\n".join(lines)
    lines += [
        "## Measured",
        "",
        "| | failover | failback |",
        "|---|---|---|",
    ]
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
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
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
            lines += [f"Client errors during {name}:", "", *[f"- {text}: {n} probes" for text, n in errors.items()], ""]
    return "\n".join(lines)


def render_html(summary: dict[str, Any], events: list[dict[str, Any]]) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Drill {html.escape(summary['service'])} {html.escape(summary['fault'])}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        "pre{white-space:pre-wrap}"
        ".pass{color:#1b7f3b}.fail,.refused{color:#b3261e}</style></head><body>"
        f"<h1>Failover drill: {html.escape(summary['service'])} "
        f"<span class='{html.escape(summary['status'])}'>{html.escape(summary['status'].upper())}</span></h1>"
        f"<p>{html.escape(summary['target'])}</p>"
        + timeline_svg(summary, events)
        + _markdown_table_html(summary)
        + "</body></html>"
    )


def _markdown_table_html(summary: dict[str, Any]) -> str:
    """The Markdown report's text, shown as-is: one renderer for the numbers, two containers."""
    return f"<pre>{html.escape(render_markdown(summary))}</pre>"


def timeline_svg(summary: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """Which site each probe saw over time, per resolver and for HTTP, with phase markers and the RTO line.

    A probe's colour lasts until the next probe (or one poll interval for the last one); time without
    probes stays blank, so the chart never shows an observation that was not made.
    """
    probes = [e for e in events if e["kind"] == "probe"]
    if not probes:
        return "<p>No probes were recorded.</p>"
    plan_event = _first(events, "plan")
    poll = float(plan_event["plan"].get("poll_interval", 0.25)) if plan_event else 0.25
    t0, t1 = float(probes[0]["t"]), float(probes[-1]["t"]) + poll
    injected = _first(events, "injected")
    if injected:  # keep injection and the RTO line in view: the distance between them is the point
        t0 = min(t0, float(injected["t"]))
        t1 = max(t1, float(injected["t"]) + summary["rto_seconds"] + 0.5)
    lanes = [*sorted({d["resolver"] for p in probes for d in p["dns"]}), "HTTP"]
    width, left, lane_h, top = 1000, 190, 28, 64
    bottom = top + lane_h * len(lanes)
    height = bottom + 80
    scale = (width - left - 20) / max(t1 - t0, 1e-6)

    def x(t: float) -> float:
        return left + (t - t0) * scale

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-size='12'>"]
    for i, lane in enumerate(lanes):
        y = top + i * lane_h
        parts.append(f"<text x='4' y='{y + 17}'>{html.escape(lane)}</text>")
        for j, p in enumerate(probes):
            end = min(probes[j + 1]["t"], p["t"] + 4 * poll) if j + 1 < len(probes) else p["t"] + poll
            if lane == "HTTP":
                site = p["http"]["site"] or "error"
            else:
                d = next((d for d in p["dns"] if d["resolver"] == lane), None)
                site = "error" if d is None or d["error"] else d["site"]
            colour = COLOURS.get(site, COLOURS["none"])
            parts.append(
                f"<rect x='{x(p['t']):.1f}' y='{y}' width='{max(x(end) - x(p['t']), 0.5):.1f}' "
                f"height='{lane_h - 6}' fill='{colour}'><title>{html.escape(str(site))}</title></rect>"
            )
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if (t1 - t0) / s <= 12)
    for k in range(int((t1 - t0) / step) + 1):
        tick = t0 + k * step
        parts.append(f"<line x1='{x(tick):.1f}' x2='{x(tick):.1f}' y1='{bottom}' y2='{bottom + 5}' stroke='#555'/>")
        parts.append(f"<text x='{x(tick) - 6:.1f}' y='{bottom + 17}' fill='#555'>{k * step:g}</text>")
    marks = [
        (e["t"], f"{e['phase']} {e['kind']}" if e.get("phase") else e["kind"])
        for e in events
        if e["kind"] in ("injected", "restored", "reached", "abort")
    ]
    if injected:
        marks.append((injected["t"] + summary["rto_seconds"], f"RTO {summary['rto_seconds']:g} s"))
    for n, (t, label) in enumerate(sorted(marks)):
        if t0 <= t <= t1:
            label_y = top - 10 - 14 * (n % 3)  # staggered: markers seconds apart would print over each other
            parts.append(f"<line x1='{x(t):.1f}' x2='{x(t):.1f}' y1='{label_y + 3}' y2='{bottom}' stroke='#111' "
                         "stroke-dasharray='4 3'/>")  # fmt: skip
            parts.append(f"<text x='{x(t) + 3:.1f}' y='{label_y}'>{html.escape(label)} {t - t0:.1f} s</text>")
    legend_y = bottom + 35
    for k, (name, colour) in enumerate(COLOURS.items()):
        parts.append(f"<rect x='{left + k * 130}' y='{legend_y}' width='14' height='14' fill='{colour}'/>")
        parts.append(f"<text x='{left + k * 130 + 18}' y='{legend_y + 12}'>{name}</text>")
    parts.append(f"<text x='{left}' y='{legend_y + 32}'>seconds from the left edge; blank: no probe</text>")
    parts.append("</svg>")
    return "".join(parts)


def write_reports(out_dir: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    summary = summarize(events)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(summary), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(summary, events), encoding="utf-8")
    return summary
