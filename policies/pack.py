"""The CrossGuard front-end: each rule as a `pulumi_policy.StackValidationPolicy`.

Kept apart from `__main__.py` because constructing a `PolicyPack` starts the analyzer server and blocks;
tests and `bascule check` import the policies from here without starting anything.
"""

from __future__ import annotations

from collections.abc import Mapping
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

PACK_NAME = "bascule-concentration"


def plain(value: Any) -> Any:
    """The engine hands props as read-only mapping proxies (and numbers as floats): copy to plain data."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


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
        )
    return build(raw.values())


def _policy(rule: Rule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        settings = settings_from(args.get_config(), rule.id)
        inventory = inventory_from_policy_resources(args.resources)
        for finding in run_rule(rule, inventory, settings):
            report_violation(finding.message, finding.urn)

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
