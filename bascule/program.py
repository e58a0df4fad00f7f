"""The root Pulumi program: every service of the stack's `bascule:services` as a FailoverService."""

from __future__ import annotations

import pulumi

from bascule.components import FailoverService, FailoverServiceArgs
from bascule.spec import CONFIG_NAMESPACE, SpecError, parse_services


def main() -> None:
    raw = pulumi.Config(CONFIG_NAMESPACE).get_object("services")
    try:
        spec = parse_services(raw, source=f"stacks/Pulumi.{pulumi.get_stack()}.yaml")
    except SpecError as exc:
        raise pulumi.RunError(str(exc)) from None
    for warning in spec.warnings():
        pulumi.log.warn(warning)
    exported = {}
    for svc in spec.services:
        service = FailoverService(svc.name, FailoverServiceArgs(service=svc))
        exported[svc.name] = {
            "hostname": service.hostname,
            "endpoints": service.endpoints,
            "health_check_ids": service.health_check_ids,
            "rto_budget_seconds": service.rto_budget_seconds,
            "rto_target_seconds": svc.rto_seconds,
        }
    pulumi.export("services", exported)
