"""Azure site: Container Apps in an EU location, always at least one replica (warm, not cold).

The custom domain is proven with two TXT records in the service's zone: `asuid.<host>` (the
environment's verification id) and `_dnsauth.<host>` (the managed certificate's token). The domain
binds as `Auto`, so the certificate attaches once issued without a second deployment.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from bascule.components.base import Site, SiteArgs, SiteEndpoint, bascule_tags
from bascule.spec import AzureSiteSpec


class AzureSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:azure:AzureSite", name, None, opts)
        site = args.site
        if not isinstance(site, AzureSiteSpec):
            raise TypeError(f"AzureSite needs an 'azure' site spec, got '{site.kind}'")
        tags = bascule_tags(args.service, args.role)
        host = args.service.hostname
        provider = azure.Provider(f"{name}-provider", location=site.location, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        group = azure.resources.ResourceGroup(f"{name}-rg", location=site.location, tags=tags, opts=child)
        env = azure.app.ManagedEnvironment(
            f"{name}-env",
            resource_group_name=group.name,
            location=site.location,
            tags=tags,
            opts=child,
        )
        verification_id = env.custom_domain_configuration.apply(lambda c: c.custom_domain_verification_id if c else "")
        asuid = args.dns.validation_record(f"{name}-asuid", f"asuid.{host}", "TXT", verification_id)

        hc = args.service.health_check
        app = azure.app.ContainerApp(
            f"{name}-app",
            resource_group_name=group.name,
            managed_environment_id=env.id,
            location=site.location,
            configuration=azure.app.ConfigurationArgs(
                active_revisions_mode="Single",
                ingress=azure.app.IngressArgs(
                    external=True,
                    target_port=site.container_port,
                    transport="auto",
                    allow_insecure=False,
                    custom_domains=[azure.app.CustomDomainArgs(name=host, binding_type="Auto")],
                ),
            ),
            template=azure.app.TemplateArgs(
                containers=[
                    azure.app.ContainerArgs(
                        name=args.service.name,
                        image=site.image,
                        resources=azure.app.ContainerResourcesArgs(cpu=site.cpu, memory=site.memory),
                        probes=[
                            azure.app.ContainerAppProbeArgs(
                                type="Readiness",
                                http_get=azure.app.ContainerAppProbeHttpGetArgs(path=hc.path, port=site.container_port),
                                period_seconds=10,
                                failure_threshold=3,
                            )
                        ],
                    )
                ],
                scale=azure.app.ScaleArgs(min_replicas=site.min_replicas, max_replicas=site.max_replicas),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[asuid.resource]),
        )
        cert = azure.app.ManagedCertificate(
            f"{name}-cert",
            resource_group_name=group.name,
            environment_name=env.name,
            location=site.location,
            properties=azure.app.ManagedCertificatePropertiesArgs(subject_name=host, domain_control_validation="TXT"),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[app]),
        )
        token = cert.properties.apply(lambda p: p.validation_token or "")
        args.dns.validation_record(f"{name}-dnsauth", f"_dnsauth.{host}", "TXT", token)

        fqdn = pulumi.Output.concat(app.name, ".", env.default_domain)
        self.app = app
        self.endpoint = SiteEndpoint(
            role=args.role, cloud=site.cloud, region=site.location, target=fqdn, target_is_ip=False
        )
        self.register_outputs({"target": fqdn, "region": site.location, "container_app_id": app.id})
