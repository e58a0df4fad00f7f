"""The root Pulumi program: every service of the stack's `bascule:services` as a FailoverService.

Each FailoverService reads the drill marker and registers what drills and `verify` read itself; this program turns
the stack file into services and refuses a marker that names none of them (a typo would otherwise drill nothing).
A stack with a `bascule:status` section also gets its status site (`components/status/`).
"""

from __future__ import annotations

import pulumi

from bascule.components.registry import status_site_class
from bascule.components.service import FailoverService, FailoverServiceArgs
from bascule.spec import CONFIG_NAMESPACE, SpecError, parse_drill, parse_services, parse_status


def main() -> None:
    config = pulumi.Config(CONFIG_NAMESPACE)
    source = f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
    try:
        spec = parse_services(config.get_object("services"), source=source)
        parse_drill(config.get("drill"), spec, source)
        status = parse_status(config.get_object("status"), spec, source)
    except SpecError as exc:
        raise pulumi.RunError(str(exc)) from None
    for svc in spec.services:
        FailoverService(svc.name, FailoverServiceArgs(service=svc))
    if status is not None:
        site = status_site_class()("status", status)  # loads the Scaleway SDK only for a stack with a page
        pulumi.export("status_url", site.url)
        pulumi.export("status_bucket", site.bucket)
        pulumi.export("status_endpoint", site.endpoint)
        pulumi.export("status_cname_target", site.cname_target)
