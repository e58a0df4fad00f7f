"""Waivers: findings a team accepted, by rule and URN or workload, with a reason, an owner and an end date.

One model for both front-ends: `bascule check` (its `--waivers` file, and the file a policy's `waivers` setting
names) and the CrossGuard pack (the file its policy config names), so a finding waived in one does not block in the
other. An expired waiver stops waiving and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bascule.io.documents import InputError, at, read_yaml
from bascule.io.escaping import quoted
from bascule.policies.config import PackConfig
from bascule.policies.rules import RULES, RULES_BY_ID, Finding


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
            raise ValueError(f"unknown rule {quoted(self.rule)}")
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


def configured_waivers(config: PackConfig) -> dict[str, list[Waiver]]:
    """Rule id -> the waivers of the file its `waivers` setting names (each file read once); relative paths from
    `config.base`, the policy config file's folder (the working directory when the config has no file)."""
    files: dict[Path, list[Waiver]] = {}
    by_rule: dict[str, list[Waiver]] = {}
    for rule in RULES:
        name = config.for_rule(rule.id).waivers
        if name is None:
            continue
        path = (config.base or Path()) / name
        if path not in files:
            files[path] = load_waivers(path)
        by_rule[rule.id] = files[path]
    return by_rule


@dataclass(frozen=True)
class Match:
    active: Waiver | None
    """The waiver in force: the finding does not block."""
    expired: Waiver | None
    """Set only when no waiver is in force but one lapsed: said in every output, so its owner renews or fixes."""


def match(finding: Finding, waivers: Iterable[Waiver], today: date) -> Match:
    matching = [w for w in waivers if w.matches(finding)]
    active = next((w for w in matching if w.expires >= today), None)
    expired = next((w for w in matching if w.expires < today), None) if active is None else None
    return Match(active, expired)
