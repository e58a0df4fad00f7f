"""GCP site: Cloud Run (v2) in an EU region behind a global external HTTPS load balancer.

Cloud Run always keeps `min_instances` warm. The load balancer (serverless NEG, backend service, URL map,
Google-managed certificate for the service hostname, global address) gives the site one fixed IP; an A
record `<service>-<role>.<zone>` in the service's zone names it, so hostname-based switches (Route 53,
Traffic Manager) can point at it and IP-only ones (PowerDNS) can use the address itself.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from bascule.components.base import Site, SiteArgs, SiteEndpoint, bascule_tags, gcp_labels
from bascule.spec import GcpSiteSpec


class GcpSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:gcp:GcpSite", name, None, opts)
        site = args.site
        if not isinstance(site, GcpSiteSpec):
            raise TypeError(f"GcpSite needs a 'gcp' site spec, got '{site.kind}'")
        labels = gcp_labels(bascule_tags(args.service, args.role))
        provider = gcp.Provider(
            f"{name}-provider", project=site.project, region=site.region, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        hc = args.service.health_check

        service = gcp.cloudrunv2.Service(
            f"{name}-run",
            location=site.region,
            ingress="INGRESS_TRAFFIC_ALL",
            deletion_protection=False,
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                containers=[
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        image=site.image,
                        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(container_port=site.container_port),
                        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                            limits={"cpu": site.cpu, "memory": site.memory}
                        ),
                        startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(path=hc.path),
                            period_seconds=10,
                            failure_threshold=3,
                        ),
                    )
                ],
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=site.min_instances, max_instance_count=site.max_instances
                ),
            ),
            labels=labels,
            opts=child,
        )
        gcp.cloudrunv2.ServiceIamMember(
            f"{name}-public", name=service.name, location=site.region, role="roles/run.invoker", member="allUsers",
            opts=child,
        )  # fmt: skip
        neg = gcp.compute.RegionNetworkEndpointGroup(
            f"{name}-neg",
            region=site.region,
            network_endpoint_type="SERVERLESS",
            cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(service=service.name),
            opts=child,
        )
        backend = gcp.compute.BackendService(
            f"{name}-backend",
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTPS",
            backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id)],
            opts=child,
        )
        url_map = gcp.compute.URLMap(f"{name}-urlmap", default_service=backend.id, opts=child)
        cert = gcp.compute.ManagedSslCertificate(
            f"{name}-cert",
            managed=gcp.compute.ManagedSslCertificateManagedArgs(domains=[args.service.hostname]),
            opts=child,
        )
        proxy = gcp.compute.TargetHttpsProxy(
            f"{name}-https", url_map=url_map.id, ssl_certificates=[cert.id], opts=child
        )
        address = gcp.compute.GlobalAddress(f"{name}-ip", labels=labels, opts=child)
        gcp.compute.GlobalForwardingRule(
            f"{name}-https",
            target=proxy.id,
            ip_address=address.address,
            port_range="443",
            load_balancing_scheme="EXTERNAL_MANAGED",
            labels=labels,
            opts=child,
        )
        alias = args.dns.validation_record(
            f"{name}-alias", f"{args.service.name}-{args.role.value}.{args.service.dns.zone}", "A", address.address
        )
        self.endpoint = SiteEndpoint(
            role=args.role,
            cloud=site.cloud,
            region=site.region,
            target=alias.fqdn,
            target_is_ip=False,
            address=address.address,
        )
        self.register_outputs({"target": alias.fqdn, "address": address.address, "region": site.region})
