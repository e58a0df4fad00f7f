"""Policy configuration: one schema for the CrossGuard pack and `bascule check`, so verdicts agree.

The file format is Pulumi's `--policy-pack-config` JSON: one object per policy name, each with an
optional `enforcementLevel` and that policy's properties. `bascule check --config FILE` reads the same
file, so a team keeps one config for pull requests with and without cloud credentials.

Enforcement is resolved as Pulumi's engine resolves it (pkg/resource/analyzer/config.go, `applyConfig`): the
policy's own level, else the level given to `all`, else the rule's default. A rule that is off by default has the
default level `disabled`, so setting its `enforcementLevel` (or `all`) turns it on, as in any CrossGuard pack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bascule.io.documents import InputError, location, read_json
from bascule.io.escaping import quoted
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
    default_rto_seconds: int | None = Field(None, alias="defaultRtoSeconds", gt=0, le=MAX_RTO_SECONDS, strict=True)
    """RTO for workloads without a `bascule:rto-seconds` tag; without it the RTO rule skips them."""
    waivers: NonBlank | None = None
    """Waivers file (the format of `bascule check --waivers`) for this policy's findings. A relative path is read
    from the folder of the policy config file for `bascule check`, and from the pack's folder for the pack (Pulumi
    starts a pack in its own folder): keep the config and the waivers in the pack folder and both agree."""


SCHEMA_PROPERTIES: dict[str, Any] = {
    "workloadTag": {"type": "string", "default": "workload"},
    "criticalityTag": {"type": "string", "default": "criticality"},
    "criticalValues": {"type": "array", "items": {"type": "string"}, "default": ["critical"], "minItems": 1},
    "hotRegions": {"type": "array", "items": {"type": "string"}, "default": ["us-east-1"]},
    "defaultRtoSeconds": {"type": "integer", "minimum": 1, "maximum": MAX_RTO_SECONDS},
    "waivers": {"type": "string", "minLength": 1},
}

RETIRED = {"requireEuSite": "bascule-eu-jurisdiction", "requireEuProvider": "bascule-eu-provider"}
"""Switches of 0.1.0 betas that an `enforcementLevel` replaced: named in the error so a config can be fixed."""


class ConfigError(InputError):
    pass


def settings_from(properties: Mapping[str, Any], where: str) -> Settings:
    for key, rule in RETIRED.items():
        if key in properties:
            raise ConfigError(
                f"{where}: {key}: no longer a setting; turn {rule} on with its enforcementLevel "
                f'({{"{rule}": {{"enforcementLevel": "mandatory"}}}}, or "advisory")'
            )
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
    base: Path | None = None
    """The folder relative paths in the settings (waivers) are read from: the config file's."""

    def for_rule(self, rule_id: str) -> Settings:
        return self.settings.get(rule_id) or Settings()

    def level(self, rule_id: str, default: Enforcement) -> Enforcement:
        return self.enforcement.get(rule_id) or self.enforcement.get("all") or default


def load_pack_config(path: Path | None, rule_ids: set[str]) -> PackConfig:
    if path is None:
        return PackConfig()
    return parse_pack_config(read_json(path, "policy config"), str(path), rule_ids, base=path.parent)


def parse_pack_config(raw: object, where: str, rule_ids: set[str], base: Path | None = None) -> PackConfig:
    """A `--policy-pack-config` document; `where` names it in errors, `base` is the folder of its relative paths."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object of policy names, as for --policy-pack-config")
    settings: dict[str, Settings] = {}
    enforcement: dict[str, Enforcement] = {}
    for name, value in raw.items():
        if name not in rule_ids and name != "all":
            raise ConfigError(f"{where}: unknown policy {quoted(name)} (known: {', '.join(sorted(rule_ids))}, all)")
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {name}: expected an object or an enforcement level")
        if name == "all" and set(value) - {"enforcementLevel"}:
            raise ConfigError(f"{where}: all: only an enforcement level applies to every policy")
        level = value.get("enforcementLevel")
        if level is not None:
            if not isinstance(level, str) or level not in {e.value for e in Enforcement}:
                raise ConfigError(
                    f"{where}: {name}.enforcementLevel: {json.dumps(level)[:80]} is not one of advisory, mandatory, "
                    "disabled"
                )
            enforcement[name] = Enforcement(level)
        settings[name] = settings_from(value, f"{where}: {name}")
    return PackConfig(settings=settings, enforcement=enforcement, base=base)
