"""Bring-your-own site: an endpoint Bascule routes to and health-checks but does not create."""

from __future__ import annotations

import pulumi

from bascule.components.base import Site, SiteArgs, SiteEndpoint
from bascule.spec import EndpointSiteSpec


class EndpointSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:endpoint:EndpointSite", name, None, opts)
        site = args.site
        if not isinstance(site, EndpointSiteSpec):
            raise TypeError(f"EndpointSite needs an 'endpoint' site spec, got '{site.kind}'")
        target = pulumi.Output.from_input(site.address)
        self.endpoint = SiteEndpoint(
            role=args.role, cloud=site.cloud, region=site.region, target=target, target_is_ip=site.is_ip
        )
        self.register_outputs({"target": target, "region": site.region})
