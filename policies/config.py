"""Policy configuration: one schema for the CrossGuard pack and `bascule check`, so verdicts agree.

The file format is Pulumi's `--policy-pack-config` JSON: one object per policy name, each with an
optional `enforcementLevel` and that policy's properties. `bascule check --config FILE` reads the same
file, so a team keeps one config for pull requests with and without cloud credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Enforcement(StrEnum):
    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    DISABLED = "disabled"


class Settings(BaseModel):
    """Properties every rule understands (camelCase, as Pulumi policy config is written)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    workload_tag: str = Field("workload", alias="workloadTag")
    """Tag/label naming the workload of resources not built with Bascule."""
    criticality_tag: str = Field("criticality", alias="criticalityTag")
    critical_values: tuple[str, ...] = Field(("critical",), alias="criticalValues")
    hot_regions: tuple[str, ...] = Field(("us-east-1",), alias="hotRegions")
    """Regions whose incidents have the widest blast radius; a critical workload only there is flagged."""
    require_eu_site: bool = Field(False, alias="requireEuSite")
    """Critical workloads must have at least one site in an EU jurisdiction (for the jurisdiction rule)."""
    require_eu_provider: bool = Field(False, alias="requireEuProvider")
    """Critical workloads must have a site at an EU-headquartered provider (for the EU-provider rule)."""
    default_rto_seconds: int | None = Field(None, alias="defaultRtoSeconds", gt=0)
    """RTO for workloads without a `bascule:rto-seconds` tag; without it the RTO rule skips them."""


SCHEMA_PROPERTIES: dict[str, Any] = {
    "workloadTag": {"type": "string", "default": "workload"},
    "criticalityTag": {"type": "string", "default": "criticality"},
    "criticalValues": {"type": "array", "items": {"type": "string"}, "default": ["critical"]},
    "hotRegions": {"type": "array", "items": {"type": "string"}, "default": ["us-east-1"]},
    "requireEuSite": {"type": "boolean", "default": False},
    "requireEuProvider": {"type": "boolean", "default": False},
    "defaultRtoSeconds": {"type": "integer", "minimum": 1},
}


class ConfigError(Exception):
    pass


def settings_from(properties: Mapping[str, Any], where: str) -> Settings:
    known = {k: v for k, v in properties.items() if k != "enforcementLevel"}
    try:
        return Settings.model_validate(known)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {field}: {first['msg']}") from None


class PackConfig(BaseModel):
    """The parsed config file: settings per policy and enforcement overrides."""

    model_config = ConfigDict(frozen=True)

    settings: dict[str, Settings] = {}
    enforcement: dict[str, Enforcement] = {}

    def for_rule(self, rule_id: str) -> Settings:
        return self.settings.get(rule_id) or Settings()

    def level(self, rule_id: str, default: Enforcement) -> Enforcement:
        return self.enforcement.get(rule_id) or self.enforcement.get("all") or default


def load_pack_config(path: Path | None, rule_ids: set[str]) -> PackConfig:
    if path is None:
        return PackConfig()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read policy config: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected an object of policy names, as for --policy-pack-config")
    settings: dict[str, Settings] = {}
    enforcement: dict[str, Enforcement] = {}
    for name, value in raw.items():
        if name not in rule_ids and name != "all":
            raise ConfigError(f"{path}: unknown policy '{name}' (known: {', '.join(sorted(rule_ids))}, all)")
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if name == "all" and set(value) - {"enforcementLevel"}:
            raise ConfigError(f"{path}: all: only an enforcement level applies to every policy")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name}: expected an object or an enforcement level")
        level = value.get("enforcementLevel")
        if level is not None:
            try:
                enforcement[name] = Enforcement(level)
            except ValueError:
                raise ConfigError(
                    f"{path}: {name}.enforcementLevel: '{level}' is not one of advisory, mandatory, disabled"
                ) from None
        settings[name] = settings_from(value, f"{path}: {name}")
    return PackConfig(settings=settings, enforcement=enforcement)
