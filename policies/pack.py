"""The CrossGuard front-end: each rule as a `pulumi_policy.StackValidationPolicy`.

Kept apart from `__main__.py` because constructing a `PolicyPack` starts the analyzer server and blocks;
tests and `bascule check` import the policies from here without starting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from bascule.inventory.records import Inventory, RawResource, build
from bascule.policies.config import SCHEMA_PROPERTIES, settings_from
from bascule.policies.rules import RULES, Rule, run_rule
from bascule.policies.waivers import load_waivers, match

PACK_NAME = "bascule-concentration"


def plain(value: Any) -> Any:
    """The engine hands props as read-only mapping proxies (and numbers as floats): copy to plain data."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def config_numbers(config: Mapping[str, Any]) -> dict[str, Any]:
    """Policy config crosses gRPC as a protobuf Struct, whose numbers are doubles: `defaultRtoSeconds: 300` arrives
    as 300.0. Whole numbers become ints again, so the settings validate as they do from the JSON file."""
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in plain(config).items()}


def inventory_from_policy_resources(resources: list[PolicyResource]) -> Inventory:
    raw: dict[str, RawResource] = {}
    for r in resources:
        provider = r.provider
        if provider is not None and provider.urn not in raw:
            raw[provider.urn] = RawResource(
                provider.urn, provider.resource_type, True, None, None, plain(provider.props)
            )
        raw[r.urn] = RawResource(
            urn=r.urn,
            type=r.resource_type,
            # Components have no provider; every custom resource has one (default or explicit).
            custom=provider is not None or r.resource_type.startswith("pulumi:providers:"),
            parent=r.parent.urn if r.parent is not None else None,
            provider=provider.urn if provider is not None else None,
            inputs=plain(r.props),
            dependencies=tuple(d.urn for d in r.dependencies),
        )
    return build(raw.values())


def _policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        settings = settings_from(config_numbers(args.get_config()), rule.id)
        # Pulumi starts a policy pack in its own folder (NewPolicyAnalyzer: `pwd := policyPackPath`, in
        # sdk/go/common/resource/plugin/analyzer_plugin.go), so a relative waivers path is read from the pack folder.
        waivers = load_waivers(Path(settings.waivers)) if settings.waivers else []
        inventory = inventory_from_policy_resources(args.resources)
        today = date.today()
        for finding in run_rule(rule, inventory, settings):
            found = match(finding, waivers, today)
            if found.active is not None:
                continue  # accepted by its owner until it expires: not a violation, as in `bascule check`
            lapsed = found.expired
            note = f" (a waiver by {lapsed.owner} expired on {lapsed.expires}; it no longer applies)" if lapsed else ""
            report_violation(finding.message + note, finding.urn)

    return StackValidationPolicy(
        name=rule.id,
        description=rule.title,
        validate=validate,
        enforcement_level=EnforcementLevel(rule.default.value),
        config_schema=PolicyConfigSchema(properties=SCHEMA_PROPERTIES),
        remediation_steps=rule.remediation,
        framework=PolicyComplianceFramework(name="DORA", version="2022/2554", reference=rule.dora),
        tags=["resilience", "concentration-risk"],
    )


def policies() -> list[Policy]:
    return [_policy(rule) for rule in RULES]
