"""Reports are a pure function of the journal: synthetic journals pin down every verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bascule.drills.journal import Journal, JournalError, read_journal
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.report import percentile, render_html, render_markdown, summarize, write_reports
from bascule.readiness.probes import classify
from bascule.readiness.target import DrillTarget, Resolver

SITES = {"primary": ("192.0.2.1",), "secondary": ("198.51.100.1",)}
ANSWER = {"primary": ["192.0.2.1"], "secondary": ["198.51.100.1"], "both": ["192.0.2.1", "198.51.100.1"]}


def plan(rto: float = 10, resolvers: int = 2) -> DrillPlan:
    target = DrillTarget(
        service="checkout",
        hostname="checkout.example.test",
        resolvers=tuple(Resolver(f"r{i}", "127.0.0.1", 5300 + i) for i in range(resolvers)),
        sites=SITES,
        addresses={"primary": "192.0.2.1", "secondary": "198.51.100.1"},
        port=443,
        health_path="/healthz",
        failover_bound_seconds=4,
        description="synthetic",
    )
    return DrillPlan(target=target, fault=Fault.HEALTH, rto_seconds=rto, timeout_seconds=30)


class Recorder:
    """Builds a journal with explicit monotonic times, as the runner would have written it."""

    def __init__(self, drill: DrillPlan):
        self.events: list[dict[str, Any]] = []
        self.add(0, "plan", plan=drill.as_json())

    def add(self, t: float, kind: str, **data: Any) -> None:
        self.events.append({"seq": len(self.events), "t": 1000 + t, "wall": f"T+{t}", "kind": kind, **data})

    def probe(self, t: float, phase: str, sites: list[str], http: str | None, error: str | None = None) -> None:
        dns = [
            {"resolver": f"r{i}", "answers": ANSWER[s], "site": s, "error": None, "ms": 1} for i, s in enumerate(sites)
        ]
        self.add(t, "probe", phase=phase, dns=dns, http={"address": None, "site": http, "status": 200 if http else None,
                                                          "error": error, "ms": 1})  # fmt: skip


def good_drill(rto: float = 10) -> Recorder:
    r = Recorder(plan(rto))
    r.add(0.1, "preflight", ok=True, problems=[])
    r.add(1, "inject", fault="health")
    r.add(2, "injected", fault="health")
    r.probe(2, "failover", ["primary", "primary"], "primary")
    r.probe(3, "failover", ["secondary", "primary"], "primary")
    r.probe(4, "failover", ["secondary", "secondary"], None, error="ConnectError")
    r.probe(5, "failover", ["secondary", "secondary"], "secondary")
    r.add(5, "reached", phase="failover", site="secondary")
    r.add(5.1, "restore", fault="health")
    r.add(6, "restored", fault="health")
    r.probe(6, "failback", ["secondary", "secondary"], "secondary")
    r.probe(8, "failback", ["primary", "primary"], "primary")
    r.add(8, "reached", phase="failback", site="primary")
    r.add(8, "end")
    return r


def test_measures_each_part_from_the_injected_and_restored_moments() -> None:
    s = summarize(good_drill().events)
    assert s["status"] == "pass" and s["exit_code"] == 0 and s["reasons"] == []
    fo, fb = s["failover"], s["failback"]
    assert (fo["detection_s"], fo["dns_all_s"], fo["http_s"]) == (1.0, 2.0, 3.0)
    assert fo["per_resolver_s"] == {"r0": 1.0, "r1": 2.0}
    assert (fo["p50_s"], fo["p95_s"], fo["max_s"]) == (1.0, 2.0, 2.0)
    assert fo["http_errors"] == 1
    assert (fb["detection_s"], fb["dns_all_s"], fb["http_s"]) == (2.0, 2.0, 2.0)
    assert (s["inject_apply_s"], s["restore_apply_s"]) == (1.0, 0.9)
    assert s["restore"] == "ok"


def test_rto_missed_fails_with_the_numbers() -> None:
    s = summarize(good_drill(rto=2).events)
    assert s["exit_code"] == 1
    assert s["reasons"] == ["RTO missed: HTTP moved after 3.0 s, target 2 s"]


def test_refused_drill_is_exit_3() -> None:
    r = Recorder(plan())
    r.add(1, "preflight", ok=False, problems=["secondary site unhealthy"])
    r.add(1, "refused", reasons=["secondary site unhealthy"])
    s = summarize(r.events)
    assert (s["status"], s["exit_code"], s["reasons"]) == ("refused", 3, ["secondary site unhealthy"])
    assert "Measured" not in render_markdown(s)


def test_fail_open_is_no_healthy_site() -> None:
    r = Recorder(plan())
    r.add(1, "inject", fault="health")
    r.add(1, "injected", fault="health")
    r.probe(2, "failover", ["both", "both"], None, error="ConnectError")
    r.add(31, "timeout", phase="failover", after_seconds=30)
    r.add(31, "restore", fault="health")
    r.add(31, "restored", fault="health")
    r.probe(32, "failback", ["primary", "primary"], "primary")
    r.add(32, "reached", phase="failback", site="primary")
    s = summarize(r.events)
    assert s["status"] == "fail"
    assert s["reasons"][0].startswith("no healthy site")
    assert "traffic never fully moved to the secondary within 30 s" in s["reasons"]


def test_restore_failure_and_missing_restore() -> None:
    r = good_drill()
    r.events = [e for e in r.events if e["kind"] not in ("restored", "reached") or e.get("phase") == "failover"]
    r.events = [e for e in r.events if not (e["kind"] == "probe" and e["phase"] == "failback")]
    r.add(9, "restore-failed", error="sandbox: restore after health: boom")
    s = summarize(r.events)
    assert s["restore"] == "failed" and s["status"] == "fail"
    assert "restore failed" in s["reasons"]

    killed = Recorder(plan())
    killed.add(1, "inject", fault="health")
    killed.add(1, "injected", fault="health")
    assert summarize(killed.events)["restore"] == "missing"
    killed.add(50, "recovered", by="bascule drill recover")
    assert summarize(killed.events)["restore"] == "recovered"


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0
    assert percentile([1.0, 9.0], 100) == 9.0


def test_classify_answers() -> None:
    assert classify(["192.0.2.1"], SITES) == "primary"
    assert classify(["198.51.100.1", "192.0.2.1"], SITES) == "both"
    assert classify([], SITES) == "none"
    assert classify(["203.0.113.9"], SITES) == "unknown"


def test_reports_are_written_from_the_journal_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    for event in good_drill().events:
        journal.append(event.pop("kind"), **{k: v for k, v in event.items() if k not in ("seq", "t", "wall")})
    journal.close()
    events = read_journal(tmp_path / "journal.jsonl")
    assert [e["seq"] for e in events] == list(range(len(events)))
    summary = write_reports(tmp_path, events)
    assert summary["status"] == "pass"
    html = (tmp_path / "report.html").read_text()
    assert html.count("<rect") > 10 and "RTO 10 s" in html and "injected" in html
    assert "| HTTP served by the new site |" in (tmp_path / "report.md").read_text()
    assert render_html(summary, events) == html


def test_torn_last_line_is_skipped_but_corruption_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"kind": "plan"}\n{"kind": "inj')
    assert read_journal(path) == [{"kind": "plan"}]
    path.write_text('{"kind": "plan"}\nnot json\n{"kind": "end"}\n')
    with pytest.raises(JournalError, match=r"journal\.jsonl:2"):
        read_journal(path)


def test_html_renders_a_drill_interrupted_before_any_probe() -> None:
    r = Recorder(plan())
    r.add(0.1, "preflight", ok=True, problems=[])
    r.add(1, "inject", fault="health")
    r.add(1.5, "interrupted", signal="SIGTERM")
    r.add(2, "restore", fault="health")
    r.add(2.5, "restored", fault="health")
    summary = summarize(r.events)
    page = render_html(summary, r.events)
    assert summary["failover"] == {"observed": False, "probes": 0}
    assert "interrupted by SIGTERM" in page and "No probes were recorded" in page
