"""The audit page as people see it: a real headless browser (Debian's Chromium, driven by Playwright), as for the
drill report. The workloads table and the concentration chart must be visible, the chart's labels must neither
overlap nor leave the chart, and untrusted names must stay text.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bascule.cli.app import app
from tests.conftest import STACKS, need_chromium
from tests.test_report_browser import boxes, overlap

need_chromium()


def open_audit(browser: Any, tmp_path: Path, *args: str) -> Any:
    page_file = tmp_path / "audit.html"
    result = CliRunner().invoke(app, ["audit", *args, "--format", "html", "-o", str(page_file),
                                      "--stacks-dir", str(STACKS)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.goto(page_file.as_uri())
    return page


def test_audit_page_shows_the_workloads_table_and_the_concentration_chart(browser: Any, tmp_path: Path) -> None:
    page = open_audit(browser, tmp_path, "--stack", "prod", "--stack", "sovereign", "--stack", "single-region")
    assert (
        page.locator("#summary").inner_text()
        == "Continuity audit: 3 critical workload(s), 3 single point(s) of failure"
    )
    table = page.locator("#workloads")
    assert table.is_visible()
    rows = page.locator("#workloads tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == [
        "prod/checkout", "sovereign/portal", "single-region/payments",
    ]  # fmt: skip
    portal = rows.nth(1).locator("td")
    assert "scaleway fr-par (FR, eu region) - Scaleway SAS (FR)" in portal.nth(1).inner_text()
    assert (portal.nth(2).inner_text(), portal.nth(3).inner_text(), portal.nth(6).inner_text()) == (
        "yes",
        "yes",
        "none of the checked points of failure (one-region, one-provider, dns-on-primary-provider, "
        "data-one-provider, no-health-check, standby-not-ready, global-edge-ingress)",
    )
    assert rows.nth(2).locator("td").nth(6).inner_text().startswith("one-region: every site runs in aws eu-west-3")
    assert page.locator("#others").inner_text() == "Not critical (not audited): prod/catalog, prod/newsletter"

    chart = page.locator("#chart svg")
    assert chart.is_visible()
    labels = [t for t in page.locator("#chart svg text").all_text_contents() if ": " in t]
    assert labels == ["provider: aws", "provider: gcp", "provider: scaleway", "provider home: US", "provider home: FR",
                      "country: DE", "country: FR", "region: aws eu-central-1", "region: aws eu-west-3",
                      "region: gcp europe-west3", "region: scaleway fr-par"]  # fmt: skip
    bars = boxes(page, "#chart svg rect")
    assert len(bars) == len(labels)
    assert bars[0]["width"] == max(b["width"] for b in bars) > bars[1]["width"] > 0  # aws: 3 of 3; gcp: 1
    svg = chart.bounding_box()
    texts = boxes(page, "#chart svg text")
    for a, b in itertools.combinations(texts, 2):
        assert not overlap(a, b), (a, b)
    for box in texts + bars:
        assert svg["x"] <= box["x"] and box["x"] + box["width"] <= svg["x"] + svg["width"] + 0.5, box
    assert svg["x"] + svg["width"] <= 1300  # the chart fits the window
    page.close()


def test_untrusted_names_stay_text(browser: Any, tmp_path: Path) -> None:
    """A workload named with markup (from a state file: its stack in the URN, its service in a tag) is shown as
    written; the browser builds no element from it."""
    export = tmp_path / "a<b>.json"
    export.write_text('{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:a<b>::a::aws:ecs/service:Service::s",'
                      ' "custom": true, "type": "aws:ecs/service:Service", "inputs": {"region": "eu-west-3",'
                      ' "tags": {"bascule:service": "w</td><td>x", "bascule:criticality": "critical"}}}]}}')  # fmt: skip
    page = open_audit(browser, tmp_path, "--export", str(export))
    cells = page.locator("#workloads tbody tr td")
    assert cells.count() == 8
    assert cells.first.inner_text() == "a<b>/w</td><td>x"
    page.close()
