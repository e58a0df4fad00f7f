"""The root Pulumi program: every service of the stack's `bascule:services` as a FailoverService.

Each FailoverService reads the drill marker and registers what drills and `verify` read itself; this program turns
the stack file into services and refuses a marker that names none of them (a typo would otherwise drill nothing).
"""

from __future__ import annotations

import pulumi

from bascule.components.service import FailoverService, FailoverServiceArgs
from bascule.spec import CONFIG_NAMESPACE, SpecError, parse_drill, parse_services


def main() -> None:
    config = pulumi.Config(CONFIG_NAMESPACE)
    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    try:
        spec = parse_services(config.get_object("services"), source=source)
        parse_drill(config.get("drill"), spec, source)
    except SpecError as exc:
        raise pulumi.RunError(str(exc)) from None
    for warning in spec.warnings():
        pulumi.log.warn(warning)
    for svc in spec.services:
        FailoverService(svc.name, FailoverServiceArgs(service=svc))
