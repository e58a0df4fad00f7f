"""The root Pulumi program: every service of the stack's `bascule:services` as a FailoverService."""

from __future__ import annotations

import pulumi

from bascule.components.service import FailoverService, FailoverServiceArgs
from bascule.spec import CONFIG_NAMESPACE, SpecError, parse_drill, parse_services
from bascule.spec.plugins import site_authorities


def main() -> None:
    config = pulumi.Config(CONFIG_NAMESPACE)
    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    try:
        spec = parse_services(config.get_object("services"), source=source)
        drill = parse_drill(config.get("drill"), spec, source)
    except SpecError as exc:
        raise pulumi.RunError(str(exc)) from None
    if drill is not None:
        pulumi.log.warn(f"drill in progress: fault '{drill.fault.value}' injected into service '{drill.service}'")
    for warning in spec.warnings():
        pulumi.log.warn(warning)
    exported = {}
    for svc in spec.services:
        fault = drill.fault if drill is not None and drill.service == svc.name else None
        service = FailoverService(svc.name, FailoverServiceArgs(service=svc, drill=fault))
        exported[svc.name] = {
            "hostname": service.hostname,
            "endpoints": service.endpoints,
            "health_check_ids": service.health_check_ids,
            "health_urls": service.health_urls,
            # What every switch's health check sends as Host (and SNI where it can) to each site's address.
            "health_check_host": svc.hostname,
            "health_path": svc.health_check.path,
            "rto_budget_seconds": service.rto_budget_seconds,
            "rto_target_seconds": svc.rto_seconds,
            "zone": svc.dns.zone,
            # The CAA domains of each site's CA, for `bascule verify`'s CAA check.
            "certificate_authorities": {role: list(cas) for role, cas in site_authorities(svc).items()},
            "drill": fault.value if fault else None,
        }
    pulumi.export("services", exported)
