"""The offline checker: verdicts from the rules, waivers applied, rendered for people and for CI.

Waived findings stay in every output, marked suppressed with their reason and owner, so an auditor sees
what was accepted and by whom; an expired waiver stops waiving and says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from bascule import __version__
from bascule.inventory.records import Inventory
from bascule.io.escaping import xml_tree
from bascule.policies.config import Enforcement, PackConfig
from bascule.policies.rules import RULES, Finding, evaluate
from bascule.policies.waivers import Waiver, match


@dataclass(frozen=True)
class Anchor:
    """Where a finding points in the repository: code scanning needs a file (and a line) for each result."""

    file: str
    lines: dict[str, int]
    """Workload name -> the line of its `name:` in the file, when the file is a stack config."""
    declared: dict[str, tuple[str, int]] = field(default_factory=dict)
    """URN, and workload name, -> the program file and line that declared it (a program run offline); a workload
    points at its first resource the program declared (for Bascule's components, the `FailoverService(...)` line)."""

    def line_for(self, workload: str | None) -> int:
        return self.lines.get(workload or "", 1)

    def location_for(self, finding: Finding) -> tuple[str, int]:
        """The file and line a finding points at: where its resource, else its workload, was declared."""
        for key in (finding.urn, finding.workload):
            if key and key in self.declared:
                return self.declared[key]
        return self.file, self.line_for(finding.workload)


def _shown(path: Path, root: Path | None) -> str:
    try:
        return str(path.resolve().relative_to((root or Path.cwd()).resolve()))
    except ValueError:
        return str(path)


def anchor_for(path: Path, root: Path | None = None, inventory: Inventory | None = None) -> Anchor:
    """Results point at `path` (a stack file: at the workload's `name:` line), or, with the inventory of a program
    run offline, at the program line that declared each finding's resource."""
    lines: dict[str, int] = {}
    if path.suffix in (".yaml", ".yml") and path.is_file():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            match = re.match(r"^\s*-?\s*name:\s*['\"]?([a-z0-9-]+)", line)
            if match and match.group(1) not in lines:
                lines[match.group(1)] = number
    declared: dict[str, tuple[str, int]] = {}
    if inventory is not None:
        shown: dict[str, str] = {}
        for resource in inventory.resources:
            position = inventory.declared.get(resource.urn)
            if position is None:
                continue
            file, _, line = position.rpartition(":")
            if file not in shown:
                shown[file] = _shown(Path(file), root)
            declared[resource.urn] = (shown[file], int(line))
            if resource.service is not None:
                declared.setdefault(resource.service, declared[resource.urn])
    return Anchor(_shown(path, root), lines, declared)


@dataclass(frozen=True)
class Result:
    finding: Finding
    enforcement: Enforcement
    waiver: Waiver | None
    expired: Waiver | None

    @property
    def blocking(self) -> bool:
        return self.enforcement is Enforcement.MANDATORY and self.waiver is None

    def fingerprint(self) -> str:
        """Stable across runs and line moves: the rule and what it is about, nothing positional."""
        subject = self.finding.urn or self.finding.workload or ""
        return hashlib.sha256(f"{self.finding.rule}\0{subject}".encode()).hexdigest()[:32]


def check(
    inventory: Inventory,
    config: PackConfig,
    waivers: list[Waiver],
    today: date | None = None,
    by_rule: Mapping[str, list[Waiver]] | None = None,
) -> list[Result]:
    """Verdicts with waivers applied: `waivers` (from `--waivers`) for every rule, `by_rule` (the files the policy
    config names, `configured_waivers`) for their rule, as the pack applies them."""
    today = today or date.today()
    results = []
    for verdict in evaluate(inventory, config):
        found = match(verdict.finding, [*waivers, *(by_rule or {}).get(verdict.finding.rule, [])], today)
        results.append(Result(verdict.finding, verdict.enforcement, found.active, found.expired))
    return results


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.blocking for r in results) else 0


def _status(r: Result) -> str:
    if r.waiver is not None:
        return "waived"
    return r.enforcement.value


def render_text(results: list[Result], resources: int) -> str:
    lines = []
    for r in sorted(results, key=lambda r: (not r.blocking, r.finding.rule, r.finding.workload or "")):
        lines.append(f"{_status(r).upper():9} {r.finding.rule}: {r.finding.message}")
        if r.finding.urn:
            lines.append(f"{'':9} resource: {r.finding.urn}")
        if r.waiver:
            lines.append(f"{'':9} waived until {r.waiver.expires} by {r.waiver.owner}: {r.waiver.reason}")
        if r.expired:
            lines.append(f"{'':9} a waiver by {r.expired.owner} expired on {r.expired.expires}; it no longer applies")
    blocking = sum(r.blocking for r in results)
    advisory = sum(1 for r in results if r.enforcement is Enforcement.ADVISORY and r.waiver is None)
    waived = sum(1 for r in results if r.waiver)
    lines.append(
        f"{resources} resources checked against {len(RULES)} rules: {blocking} mandatory, {advisory} advisory, "
        f"{waived} waived. {'FAIL' if blocking else 'PASS'}"
    )
    return "\n".join(lines)


def render_json(results: list[Result], resources: int) -> str:
    return json.dumps(
        {
            "summary": {
                "resources": resources,
                "mandatory": sum(r.blocking for r in results),
                "advisory": sum(1 for r in results if r.enforcement is Enforcement.ADVISORY and r.waiver is None),
                "waived": sum(1 for r in results if r.waiver),
                "exit_code": exit_code(results),
            },
            "results": [
                {
                    "rule": r.finding.rule,
                    "enforcement": r.enforcement.value,
                    "status": _status(r),
                    "workload": r.finding.workload,
                    "urn": r.finding.urn,
                    "message": r.finding.message,
                    "fingerprint": r.fingerprint(),
                    "waiver": r.waiver.model_dump(mode="json") if r.waiver else None,
                    "expired_waiver": r.expired.model_dump(mode="json") if r.expired else None,
                }
                for r in results
            ],
        },
        indent=2,
        allow_nan=False,
    )


def render_sarif(results: list[Result], anchor: Anchor) -> str:
    index = {rule.id: i for i, rule in enumerate(RULES)}
    rules = [
        {
            "id": rule.id,
            "name": "".join(word.capitalize() for word in rule.id.split("-")[1:]),
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": f"{rule.title}. Serves DORA {rule.dora}."},
            "help": {
                "text": f"{rule.remediation} (DORA {rule.dora})",
                "markdown": f"**Fix:** {rule.remediation}\n\n*Serves DORA {rule.dora}.*",
            },
            "defaultConfiguration": {
                "level": "error" if rule.default is Enforcement.MANDATORY else "warning",
                "enabled": rule.default is not Enforcement.DISABLED,
            },
            "properties": {"tags": ["resilience", "concentration-risk"], "dora": rule.dora},
        }
        for rule in RULES
    ]
    sarif_results = []
    for r in results:
        item: dict[str, Any] = {
            "ruleId": r.finding.rule,
            "ruleIndex": index[r.finding.rule],
            "level": "error" if r.enforcement is Enforcement.MANDATORY else "warning",
            "message": {"text": r.finding.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": anchor.location_for(r.finding)[0]},
                        "region": {"startLine": anchor.location_for(r.finding)[1]},
                    }
                }
            ],
            "partialFingerprints": {"basculeFinding/v1": r.fingerprint()},
            "properties": {"workload": r.finding.workload, "urn": r.finding.urn},
        }
        if r.waiver:
            item["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{r.waiver.reason} (owner {r.waiver.owner}, until {r.waiver.expires})",
                }
            ]
        sarif_results.append(item)
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "bascule", "version": __version__, "rules": rules}},
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(log, indent=2, allow_nan=False)


def render_junit(results: list[Result], resources: int) -> str:
    """One test case per rule: failed with its mandatory findings, skipped when only waived ones remain."""
    suite = ET.Element("testsuite", name="bascule-check", tests=str(len(RULES)))
    failures = skipped = 0
    for rule in RULES:
        case = ET.SubElement(suite, "testcase", classname="bascule.policies", name=rule.id)
        mine = [r for r in results if r.finding.rule == rule.id]
        blocking = [r for r in mine if r.blocking]
        if blocking:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{len(blocking)} mandatory finding(s)")
            failure.text = "\n".join(r.finding.message for r in blocking)
        elif mine and all(r.waiver for r in mine):
            skipped += 1
            ET.SubElement(case, "skipped", message="all findings waived")
        advisory = [r for r in mine if not r.blocking and not r.waiver]
        if advisory:
            ET.SubElement(case, "system-out").text = "\n".join(f"advisory: {r.finding.message}" for r in advisory)
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    ET.SubElement(suite, "properties").append(ET.Element("property", name="resources", value=str(resources)))
    return ET.tostring(xml_tree(suite), encoding="unicode", xml_declaration=True)


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"


REPORT_FILES = {Format.TEXT: "bascule.txt", Format.JSON: "bascule.json", Format.SARIF: "bascule.sarif",
                Format.JUNIT: "bascule.junit.xml"}  # fmt: skip
"""The file of each format in an output folder (`bascule check --output-dir`)."""


def render(output_format: Format, results: list[Result], resources: int, anchor: Anchor) -> str:
    if output_format is Format.TEXT:
        return render_text(results, resources)
    if output_format is Format.JSON:
        return render_json(results, resources)
    if output_format is Format.SARIF:
        return render_sarif(results, anchor)
    return render_junit(results, resources)


def write_reports(folder: Path, results: list[Result], resources: int, anchor: Anchor) -> list[Path]:
    """Every format from one run into `folder` (created): CI reads the verdict (JSON), uploads SARIF and JUnit, and
    shows the text, without running the program once per format."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for output_format, name in REPORT_FILES.items():
        path = folder / name
        path.write_text(render(output_format, results, resources, anchor) + "\n", encoding="utf-8")
        written.append(path)
    return written
