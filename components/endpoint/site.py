"""Bring-your-own site: an endpoint Bascule routes to and health-checks but does not create."""

from __future__ import annotations

import pulumi

from bascule.components.base import Site, SiteArgs, SiteEndpoint, bascule_tags
from bascule.components.endpoint.plugin import EndpointSiteSpec


class EndpointSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, EndpointSiteSpec):
            raise TypeError(f"EndpointSite needs an 'endpoint' site spec, got '{site.kind}'")
        args.check(name)
        # The declared location, in the component's own state: inventories and policies see this site
        # (where it is, whose it is) although Bascule creates nothing there.
        target = pulumi.Output.from_input(site.address if args.address is None else args.address)
        declared = {
            "cloud": site.cloud.value,
            "region": site.region,
            "address": target,
            "tags": bascule_tags(args.service, args.role),
        }
        super().__init__("bascule:endpoint:EndpointSite", name, declared, opts)
        self.endpoint = SiteEndpoint(
            role=args.role, cloud=site.cloud, region=site.region, target=target, target_is_ip=site.is_ip
        )
        self.register_outputs({"target": target, **declared})
