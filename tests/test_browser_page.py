"""The `browser_page` harness (tests/conftest.py) on a real `bascule drill --local` report: served over HTTP on
127.0.0.1 to a fresh headless Chromium, as a reader who opens the report sees it. The status page of `bascule watch`
uses the same fixture.

Needs the sandbox (PowerDNS) for the drill: skipped without it locally, an error in CI, like the other sandbox tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BrowserPage, have_pdns

pytestmark = pytest.mark.sandbox

if not have_pdns():
    if os.environ.get("CI"):
        raise RuntimeError("pdns_server is missing in CI: .ci/run must install pdns-server pdns-backend-bind")
    pytest.skip("pdns_server not installed (apt-get install pdns-server pdns-backend-bind)", allow_module_level=True)


@pytest.fixture(scope="module")
def drill_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder a real `bascule drill --local` wrote (its sandbox under a temp folder of this module's own)."""
    work = tmp_path_factory.mktemp("drill")
    scratch = work / "tmp"
    scratch.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "TMPDIR": str(scratch)}
    out = work / "report"
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "drill", "--local", "--out", str(out)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=work, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_a_reader_sees_the_title_verdict_and_a_drawn_timeline(browser_page: BrowserPage, drill_report: Path) -> None:
    summary = json.loads((drill_report / "report.json").read_text())
    page = browser_page.open(drill_report, "report.html")
    assert page.title() == f"Drill {summary['service']} ({summary['fault']}): PASS"
    verdict = page.locator("#verdict")
    assert verdict.is_visible()
    assert verdict.inner_text().startswith("Passed: clients were served by the secondary")
    assert page.locator("h1 .badge.pass").inner_text() == "PASS"
    chart = page.locator("#chart svg")
    box = chart.bounding_box()
    assert chart.is_visible() and box is not None and box["width"] > 100 and box["height"] > 50, box
    bars = [b for e in page.locator("#chart svg rect").all() if (b := e.bounding_box()) and b["width"] > 0]
    assert len(bars) > 5  # the timeline's bands and probes are drawn, not merely present in the markup
    assert browser_page.errors == []


def test_the_harness_reports_what_the_page_gets_wrong(browser_page: BrowserPage, tmp_path: Path) -> None:
    """A harness that cannot see a broken page proves nothing: a script error and a missing file are both caught."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><title>broken</title><img src="missing.png"><script>undefined_function()</script>'
    )
    page = browser_page.open(tmp_path)
    assert page.title() == "broken"
    assert any("undefined_function" in e for e in browser_page.errors), browser_page.errors
    assert any("404" in e or "missing.png" in e for e in browser_page.errors), browser_page.errors
