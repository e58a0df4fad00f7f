"""The audit's HTML page in a real headless browser (Debian's chromium): the DOM it builds has the chart and table.

`--dump-dom` prints the document as the browser parsed it, so markup the browser would repair or drop (an
unescaped `<` in a workload name, an unclosed element) shows up here as a missing row or bar.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bascule.cli.app import app
from tests.conftest import STACKS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is missing in CI: scripts/setup.sh installs it (apt-get install chromium)")
    pytest.skip("chromium not installed (apt-get install chromium)", allow_module_level=True)


class Dom(HTMLParser):
    """What the test looks for: the workloads table's rows (cell texts), the chart's bars and their labels."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.bars: list[dict[str, str]] = []
        self.svg_texts: list[str] = []
        self._in_table = self._in_svg_text = self._in_cell = False
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "table" and attributes.get("id") == "workloads":
            self._in_table = True
        elif tag == "tbody" and self._in_table:
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self.rows[-1].append("")
            self._in_cell = True
        elif tag == "rect":
            self.bars.append(attributes)
        elif tag == "text":
            self._in_svg_text = True
            self.svg_texts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = self._in_body = False
        elif tag == "td":
            self._in_cell = False
        elif tag == "text":
            self._in_svg_text = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.rows[-1][-1] += data
        elif self._in_svg_text:
            self.svg_texts[-1] += data


def browse(page: Path, tmp_path: Path) -> Dom:
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1300,900", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    dom = Dom()
    dom.feed(result.stdout)
    return dom


def test_audit_page_shows_the_workloads_table_and_the_concentration_chart(tmp_path: Path) -> None:
    page = tmp_path / "audit.html"
    result = CliRunner().invoke(app, ["audit", "--stack", "prod", "--stack", "sovereign", "--stack", "single-region",
                                      "--format", "html", "-o", str(page), "--stacks-dir", str(STACKS)])  # fmt: skip
    assert result.exit_code == 0, result.output
    dom = browse(page, tmp_path)
    assert [row[0] for row in dom.rows] == ["prod/checkout", "sovereign/portal", "single-region/payments"]
    portal, payments = dom.rows[1], dom.rows[2]
    assert payments[6].startswith("one-region: every site runs in aws eu-west-3")
    assert "scaleway fr-par (FR, eu region) - Scaleway SAS (FR)" in portal[1]
    assert (portal[2], portal[3], portal[6]) == ("yes", "yes", "none")
    # One bar per provider, provider home, country and region; a full-width bar for what all three share.
    labels = [t for t in dom.svg_texts if ": " in t]
    assert labels == ["provider: aws", "provider: gcp", "provider: scaleway", "provider home: US", "provider home: FR",
                      "country: DE", "country: FR", "region: aws eu-central-1", "region: aws eu-west-3",
                      "region: gcp europe-west3", "region: scaleway fr-par"]  # fmt: skip
    assert len(dom.bars) == len(labels)
    widths = [float(bar["width"]) for bar in dom.bars]
    assert widths[0] == max(widths) > widths[1] > 0  # aws carries 3 of 3 critical workloads, gcp 1
    assert "3/3" in dom.svg_texts


def test_untrusted_names_are_escaped_in_the_page(tmp_path: Path) -> None:
    """A workload named with markup (from a state file) stays text: the browser shows it, builds no element."""
    page = tmp_path / "audit.html"
    export = tmp_path / "a<b>.json"
    export.write_text('{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:p::a::aws:ecs/service:Service::s",'
                      ' "custom": true, "type": "aws:ecs/service:Service", "inputs": {"region": "eu-west-3",'
                      ' "tags": {"bascule:service": "w</td><td>x", "bascule:criticality": "critical"}}}]}}')  # fmt: skip
    result = CliRunner().invoke(app, ["audit", "--export", str(export), "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    dom = browse(page, tmp_path)
    assert len(dom.rows) == 1 and len(dom.rows[0]) == 7
    assert dom.rows[0][0] == "a<b>/w</td><td>x"
