"""The offline checker: verdicts from the rules, waivers applied, rendered for people and for CI.

Waived findings stay in every output, marked suppressed with their reason and owner, so an auditor sees
what was accepted and by whom; an expired waiver stops waiving and says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bascule import __version__
from bascule.inventory.records import Inventory
from bascule.io.documents import InputError, at, read_yaml
from bascule.policies.config import Enforcement, PackConfig
from bascule.policies.rules import RULES, RULES_BY_ID, Finding, evaluate


class Waiver(BaseModel):
    """An accepted finding. Reason and owner are stripped first: a blank one would accept a risk in nobody's name."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    rule: str
    urn: str | None = None
    workload: str | None = None
    reason: str = Field(min_length=3)
    owner: str = Field(min_length=1)
    expires: date

    @model_validator(mode="after")
    def _target(self) -> Waiver:
        if (self.urn is None) == (self.workload is None):
            raise ValueError("give exactly one of urn or workload")
        if self.rule not in RULES_BY_ID:
            raise ValueError(f"unknown rule '{self.rule}'")
        return self

    def matches(self, finding: Finding) -> bool:
        if finding.rule != self.rule:
            return False
        return finding.urn == self.urn if self.urn is not None else finding.workload == self.workload


class WaiverError(InputError):
    pass


def load_waivers(path: Path | None) -> list[Waiver]:
    if path is None:
        return []
    doc = read_yaml(path, "waivers file")
    items = doc.get("waivers") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise WaiverError(f"{path}: expected a mapping with a 'waivers' list")
    waivers = []
    for i, item in enumerate(items):
        try:
            waivers.append(Waiver.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            parts = ("waivers", i, *(p for p in err["loc"] if isinstance(p, str | int)))
            raise WaiverError(str(at(path, parts, err["msg"].removeprefix("Value error, ")))) from None
    return waivers


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


def check(inventory: Inventory, config: PackConfig, waivers: list[Waiver], today: date | None = None) -> list[Result]:
    today = today or date.today()
    results = []
    for verdict in evaluate(inventory, config):
        matching = [w for w in waivers if w.matches(verdict.finding)]
        active = next((w for w in matching if w.expires >= today), None)
        expired = next((w for w in matching if w.expires < today), None) if active is None else None
        results.append(Result(verdict.finding, verdict.enforcement, active, expired))
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
            "defaultConfiguration": {"level": "error" if rule.default is Enforcement.MANDATORY else "warning"},
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
    return json.dumps(log, indent=2)


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
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
