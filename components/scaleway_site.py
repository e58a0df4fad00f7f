"""Scaleway site: Serverless Containers in a namespace, the service hostname bound as a container domain.

Scaleway is headquartered in France: a secondary here keeps a critical service running under EU law
alone when a US hyperscaler is the primary. Tags are `key=value` strings, as Scaleway stores them.
"""

from __future__ import annotations

import pulumi
import pulumiverse_scaleway as scaleway

from bascule.components.base import Site, SiteArgs, SiteEndpoint, bascule_tags
from bascule.spec import ScalewaySiteSpec


class ScalewaySite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:scaleway:ScalewaySite", name, None, opts)
        site = args.site
        if not isinstance(site, ScalewaySiteSpec):
            raise TypeError(f"ScalewaySite needs a 'scaleway' site spec, got '{site.kind}'")
        tags = [f"{k}={v}" for k, v in bascule_tags(args.service, args.role).items()]
        provider = scaleway.Provider(
            f"{name}-provider", region=site.region, project_id=site.project_id, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        namespace = scaleway.containers.Namespace(
            f"{name}-ns", region=site.region, description=f"Bascule {args.role.value} of {args.service.name}",
            tags=tags, opts=child,
        )  # fmt: skip
        container = scaleway.containers.Container(
            f"{name}-container",
            namespace_id=namespace.id,
            region=site.region,
            registry_image=site.image,
            port=site.container_port,
            cpu_limit=site.cpu_limit,
            memory_limit=site.memory_limit,
            min_scale=site.min_scale,
            max_scale=site.max_scale,
            privacy="public",
            protocol="http1",
            http_option="redirected",
            deploy=True,
            tags=tags,
            opts=child,
        )
        scaleway.containers.Domain(
            f"{name}-domain", container_id=container.id, hostname=args.service.hostname, region=site.region,
            opts=child,
        )  # fmt: skip
        # `public_endpoint` is `https://<name>.functions.fnc.<region>.scw.cloud`: DNS wants the bare name.
        target = container.public_endpoint.apply(lambda url: url.split("://", 1)[-1].rstrip("/"))
        self.endpoint = SiteEndpoint(
            role=args.role, cloud=site.cloud, region=site.region, target=target, target_is_ip=False
        )
        self.register_outputs({"target": target, "region": site.region})
