"""The drill report as people see it: rendered by a real headless browser (Debian's Chromium, driven by Playwright).

Checks what a reader needs and what broke before: the verdict sentence, the tables and the chart are visible;
no chart label overlaps another or runs off the chart; an RTO beyond the drill's span is still marked.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from bascule.drills.report import write_reports
from tests.conftest import need_chromium
from tests.test_drill_report import Recorder, good_drill, plan

need_chromium()


def open_report(browser: Any, events: list[dict[str, Any]], out: Path) -> Any:
    write_reports(out, events)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto((out / "report.html").as_uri())
    return page


def boxes(page: Any, selector: str) -> list[dict[str, float]]:
    return [box for e in page.locator(selector).all() if (box := e.bounding_box()) is not None]


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])  # fmt: skip


def crowded_drill() -> Recorder:
    """Everything within half a second, an RTO far beyond the span, resolvers with long names."""
    r = Recorder(plan(rto=300))
    r.add(0.1, "preflight", ok=True, problems=[])
    r.add(1, "inject", fault="health")
    r.add(1.05, "injected", fault="health")
    r.probe(1.1, "failover", ["secondary", "secondary"], "secondary")
    r.add(1.1, "reached", phase="failover", site="secondary")
    r.add(1.15, "restore", fault="health")
    r.add(1.2, "restored", fault="health")
    r.probe(1.25, "failback", ["primary", "primary"], "primary")
    r.add(1.25, "reached", phase="failback", site="primary")
    r.add(1.3, "end")
    return r


def test_a_passing_report_shows_verdict_tables_and_chart(browser: Any, tmp_path: Path) -> None:
    page = open_report(browser, good_drill().events, tmp_path)
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and verdict.inner_text().startswith("Passed: clients were served by the secondary")
    assert page.locator(".badge.pass").inner_text() == "PASS"
    measured = page.locator("#measured tr")
    assert measured.count() >= 7 and page.locator("#measured").is_visible()
    assert "3.00 s" in page.locator("#measured").inner_text()  # HTTP moved, as summarize measured it
    chart = page.locator("#chart svg")
    assert chart.is_visible()
    assert page.locator("#chart svg rect").count() > 10
    assert "fault in effect 0.0 s" in chart.text_content() and "RTO 10 s" in chart.text_content()
    assert page.locator("#phases tr").count() >= 8
    page.close()


def test_labels_never_overlap_or_clip_and_an_off_scale_rto_is_marked(browser: Any, tmp_path: Path) -> None:
    page = open_report(browser, crowded_drill().events, tmp_path)
    svg = page.locator("#chart svg").bounding_box()
    texts = boxes(page, "#chart svg text")
    assert len(texts) >= 10
    for a, b in itertools.combinations(texts, 2):
        assert not overlap(a, b), (a, b)
    for box in texts:
        assert svg["x"] <= box["x"] and box["x"] + box["width"] <= svg["x"] + svg["width"] + 0.5, box
        assert svg["y"] <= box["y"] and box["y"] + box["height"] <= svg["y"] + svg["height"] + 0.5, box
    assert "RTO 300 s is beyond the right edge" in page.locator("#chart svg").text_content()
    assert svg["x"] + svg["width"] <= 1200  # the chart fits the window: nothing cut off at the right
    page.close()


def test_a_refused_report_says_why_and_shows_no_chart(browser: Any, tmp_path: Path) -> None:
    r = Recorder(plan())
    problem = "secondary 127.0.0.3: certificate is for default.sandbox.invalid, not checkout.example.test"
    r.add(1, "preflight", ok=False, problems=[problem])
    r.add(1, "refused", reasons=[problem])
    page = open_report(browser, r.events, tmp_path)
    assert page.locator("#verdict").inner_text() == f"Refused before any fault was injected: {problem}."
    assert page.locator("#chart").count() == 0 and page.locator("#measured").count() == 0
    page.close()
