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
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bascule.io.documents import InputError, location, read_json
from bascule.spec.models import MAX_RTO_SECONDS

NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Enforcement(StrEnum):
    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    DISABLED = "disabled"


class Settings(BaseModel):
    """Properties every rule understands (camelCase, as Pulumi policy config is written)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    workload_tag: NonBlank = Field("workload", alias="workloadTag")
    """Tag/label naming the workload of resources not built with Bascule."""
    criticality_tag: NonBlank = Field("criticality", alias="criticalityTag")
    critical_values: tuple[NonBlank, ...] = Field(("critical",), alias="criticalValues", min_length=1)
    """At least one: an empty list would make no workload critical and silently switch the mandatory rules off."""
    hot_regions: tuple[NonBlank, ...] = Field(("us-east-1",), alias="hotRegions")
    """Regions whose incidents have the widest blast radius; a critical workload only there is flagged."""
    require_eu_site: bool = Field(False, alias="requireEuSite")
    """Critical workloads must have at least one site in an EU jurisdiction (for the jurisdiction rule)."""
    require_eu_provider: bool = Field(False, alias="requireEuProvider")
    """Critical workloads must have a site at an EU-headquartered provider (for the EU-provider rule)."""
    default_rto_seconds: int | None = Field(None, alias="defaultRtoSeconds", gt=0, le=MAX_RTO_SECONDS, strict=True)
    """RTO for workloads without a `bascule:rto-seconds` tag; without it the RTO rule skips them."""


SCHEMA_PROPERTIES: dict[str, Any] = {
    "workloadTag": {"type": "string", "default": "workload"},
    "criticalityTag": {"type": "string", "default": "criticality"},
    "criticalValues": {"type": "array", "items": {"type": "string"}, "default": ["critical"], "minItems": 1},
    "hotRegions": {"type": "array", "items": {"type": "string"}, "default": ["us-east-1"]},
    "requireEuSite": {"type": "boolean", "default": False},
    "requireEuProvider": {"type": "boolean", "default": False},
    "defaultRtoSeconds": {"type": "integer", "minimum": 1, "maximum": MAX_RTO_SECONDS},
}


class ConfigError(InputError):
    pass


def settings_from(properties: Mapping[str, Any], where: str) -> Settings:
    known = {k: v for k, v in properties.items() if k != "enforcementLevel"}
    try:
        return Settings.model_validate(known)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{where}: {location(first['loc'])}: {first['msg']}") from None


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
    raw = read_json(path, "policy config")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected an object of policy names, as for --policy-pack-config")
    settings: dict[str, Settings] = {}
    enforcement: dict[str, Enforcement] = {}
    for name, value in raw.items():
        if name not in rule_ids and name != "all":
            raise ConfigError(f"{path}: unknown policy '{name}' (known: {', '.join(sorted(rule_ids))}, all)")
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name}: expected an object or an enforcement level")
        if name == "all" and set(value) - {"enforcementLevel"}:
            raise ConfigError(f"{path}: all: only an enforcement level applies to every policy")
        level = value.get("enforcementLevel")
        if level is not None:
            if not isinstance(level, str) or level not in {e.value for e in Enforcement}:
                raise ConfigError(
                    f"{path}: {name}.enforcementLevel: {json.dumps(level)[:80]} is not one of advisory, mandatory, "
                    "disabled"
                )
            enforcement[name] = Enforcement(level)
        settings[name] = settings_from(value, f"{path}: {name}")
    return PackConfig(settings=settings, enforcement=enforcement)
