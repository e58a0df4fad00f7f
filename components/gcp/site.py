"""GCP site: Cloud Run (v2) in an EU region behind a global external HTTPS load balancer.

Cloud Run always keeps `min_instances` warm and accepts traffic only from the load balancer. The load
balancer (serverless NEG, backend service, URL map, global address) gives the site one fixed IP; an A
record `<service>-<role>.<zone>` in the service's zone names it, so hostname-based switches (Route 53,
Traffic Manager) can point at it and IP-only ones (PowerDNS, Cloud DNS) can use the address itself.

The certificate for the service hostname comes from Certificate Manager with a per-project DNS authorization:
Google proves control through a CNAME `_acme-challenge_<id>.<host>` in the service's zone, never through the
hostname resolving to this load balancer. A Compute `ManagedSslCertificate` would be authorized by the load
balancer itself and stay PROVISIONING while the hostname points at the other site.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_gcp as gcp

from bascule import facts
from bascule.components.base import (
    Site,
    SiteArgs,
    SiteEndpoint,
    bascule_tags,
    caller_provider,
    default_provider_allowed,
    fit_name,
    gcp_labels,
)
from bascule.components.gcp.plugin import SITE_APIS, GcpSiteSpec


def enable_apis(
    name: str, project: str, apis: tuple[str, ...], opts: pulumi.ResourceOptions
) -> list[gcp.projects.Service]:
    """Enable the APIs a component's resources call, in its project, before any of them is created.

    An API already on is adopted ("`pulumi up` can be successfully used to verify already enabled services", the
    provider's `gcp.projects.Service` docs). `disable_on_destroy=False`: the project is the team's, other workloads
    use these APIs, and the provider's docs say it "should generally only be `true` in configurations that manage
    the `organizations.Project` resource itself". Enabling returns before every front end accepts calls; a first
    `up` can then fail with "accessNotConfigured ... wait a few minutes" and a re-run succeeds
    (https://github.com/hashicorp/terraform-provider-google/issues/1789). The Service Usage API
    (serviceusage.googleapis.com) must already be on: it is what this resource calls.
    """
    return [
        gcp.projects.Service(
            f"{name}-api-{api.split('.')[0]}", project=project, service=api, disable_on_destroy=False, opts=opts
        )
        for api in apis
    ]


def _fit(name: str, token: str) -> str:
    return fit_name(name, f"gcp:{token}")


def _account_id(service: str, role: str) -> str:
    """`<service>-<role>-<6 hex>`, within the 30 characters an account id takes: unique per project, so the hex is
    the Pulumi project and stack's, as two stacks (a dev and a prod) may run their standbys in one GCP project."""
    digest = hashlib.sha256(f"{pulumi.get_project()}/{pulumi.get_stack()}".encode()).hexdigest()[:6]
    return fit_name(f"{service}-{role}-{digest}", facts.GCP_SERVICE_ACCOUNT, auto_named=False)


class GcpSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, GcpSiteSpec):
            raise TypeError(f"GcpSite needs a 'gcp' site spec, got '{site.kind}'")
        args.check(name)
        super().__init__("bascule:gcp:GcpSite", name, None, opts)
        labels = gcp_labels(bascule_tags(args.service, args.role))
        # The caller's provider when given (its project and region must be the spec's, which plans read), and its
        # resources exactly as before. Else the stack's default provider: "each provider uses its package's global
        # configuration settings, which are controlled by your stack's configuration"
        # (https://www.pulumi.com/docs/iac/concepts/resources/providers/), so the stack's gcp:credentials,
        # gcp:impersonateServiceAccount, gcp:defaultLabels and the rest reach every resource here. Each resource then
        # names the spec's project (pulumi_gcp's `project`: "If it is not provided, the provider project is used"),
        # and each regional one its region (Cloud Run's `location`, the NEG's `region`); the others are global.
        provider = caller_provider(opts, "gcp", name)
        if provider is None:
            default_provider_allowed("gcp", name, "SiteInputs.provider")
        project = None if provider is not None else site.project
        apis = enable_apis(name, site.project, SITE_APIS, pulumi.ResourceOptions(parent=self, provider=provider))
        # Every resource of the site waits for the APIs it calls.
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(apis))
        hc = args.service.health_check
        # The service's own runtime identity, with no role: without one a revision runs as the Compute Engine default
        # service account, which "has the Project Editor IAM role" in projects where the organisation policy does not
        # stop the automatic grant, and "Google recommends giving every Cloud Run service ... a dedicated identity" with
        # a minimal set of permissions (https://cloud.google.com/run/docs/securing/service-identity). The image is
        # pulled by Cloud Run's service agent, not by this account. The deployer needs `iam.serviceAccounts.actAs` on it
        # (roles/iam.serviceAccountUser, granted on the project: the account does not exist before the first `up`,
        # docs/deploy.md) and the right to create it (roles/iam.serviceAccountCreator). The provider waits until a new
        # account reads back consistently (https://github.com/GoogleCloudPlatform/magic-modules/pull/14447).
        identity = gcp.serviceaccount.Account(
            f"{name}-identity",
            account_id=_account_id(args.service.name, args.role.value),
            display_name=f"{args.service.name} {args.role.value} (Cloud Run, Bascule)",
            description="Runtime identity of the Cloud Run standby; no roles granted by Bascule",
            project=project,
            opts=child,
        )

        service = gcp.cloudrunv2.Service(
            _fit(f"{name}-run", "cloudrunv2/service:Service"),
            location=site.region,
            # Only the load balancer reaches the service (its default run.app URL is closed to the internet):
            # https://cloud.google.com/run/docs/securing/ingress
            ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
            # The load balancer's requests to a serverless NEG carry no identity, so the invoker check must be off for
            # the service to be public. "The recommended way to make a public service is to disable the Cloud Run
            # Invoker IAM check", which also works "when the project is subject to the domain restricted sharing
            # constraint" that refuses an `allUsers` binding (https://cloud.google.com/run/docs/authenticating/public).
            # Setting it needs run.services.setIamPolicy (roles/run.admin), same page.
            invoker_iam_disabled=True,
            deletion_protection=False,
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=identity.email,
                containers=[
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        image=args.image_to_run,
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
            project=project,
            opts=child,
        )
        neg = gcp.compute.RegionNetworkEndpointGroup(
            _fit(f"{name}-neg", "compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"),
            region=site.region,
            network_endpoint_type="SERVERLESS",
            cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(service=service.name),
            project=project,
            opts=child,
        )
        backend = gcp.compute.BackendService(
            _fit(f"{name}-backend", "compute/backendService:BackendService"),
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTPS",
            backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id)],
            project=project,
            opts=child,
        )
        url_map = gcp.compute.URLMap(
            _fit(f"{name}-urlmap", "compute/uRLMap:URLMap"), default_service=backend.id, project=project, opts=child
        )
        certificate_map = self._certificate_map(name, args, labels, project, child)
        # TLS 1.2 and up, as the AWS site's listener and Front Door: without a policy the proxy uses Google's default,
        # a minimum of TLS 1.0 with the COMPATIBLE profile (CIS Google Cloud Platform Benchmark 3.9, "the GCP default
        # SSL policy uses a minimum TLS version of 1.0 and a Compatible profile"; profiles and versions:
        # https://cloud.google.com/load-balancing/docs/ssl-policies-concepts). MODERN with TLS 1.2 is what that
        # benchmark accepts; Route 53's HTTPS checks and Traffic Manager's probes speak TLS 1.2.
        ssl_policy = gcp.compute.SSLPolicy(
            _fit(f"{name}-tls", "compute/sSLPolicy:SSLPolicy"),
            profile="MODERN",
            min_tls_version="TLS_1_2",
            project=project,
            opts=child,
        )
        # A certificate map on the proxy (not `ssl_certificates`) is how Certificate Manager certificates attach:
        # https://cloud.google.com/certificate-manager/docs/maps
        proxy = gcp.compute.TargetHttpsProxy(
            _fit(f"{name}-https", "compute/targetHttpsProxy:TargetHttpsProxy"),
            url_map=url_map.id,
            certificate_map=pulumi.Output.concat("//certificatemanager.googleapis.com/", certificate_map.id),
            project=project,
            ssl_policy=ssl_policy.id,
            opts=child,
        )
        address = gcp.compute.GlobalAddress(
            _fit(f"{name}-ip", "compute/globalAddress:GlobalAddress"), labels=labels, project=project, opts=child
        )
        gcp.compute.GlobalForwardingRule(
            _fit(f"{name}-https", "compute/globalForwardingRule:GlobalForwardingRule"),
            target=proxy.id,
            ip_address=address.address,
            port_range="443",
            load_balancing_scheme="EXTERNAL_MANAGED",
            labels=labels,
            project=project,
            opts=child,
        )
        # Port 80 answers only with a redirect to HTTPS, on the same address:
        # https://cloud.google.com/load-balancing/docs/https/setting-up-global-http-https-redirect
        redirect = gcp.compute.URLMap(
            _fit(f"{name}-redirect", "compute/uRLMap:URLMap"),
            default_url_redirect=gcp.compute.URLMapDefaultUrlRedirectArgs(
                https_redirect=True, strip_query=False, redirect_response_code="MOVED_PERMANENTLY_DEFAULT"
            ),
            project=project,
            opts=child,
        )
        http_proxy = gcp.compute.TargetHttpProxy(
            _fit(f"{name}-http", "compute/targetHttpProxy:TargetHttpProxy"),
            url_map=redirect.id,
            project=project,
            opts=child,
        )
        gcp.compute.GlobalForwardingRule(
            _fit(f"{name}-http", "compute/globalForwardingRule:GlobalForwardingRule"),
            target=http_proxy.id,
            ip_address=address.address,
            port_range="80",
            load_balancing_scheme="EXTERNAL_MANAGED",
            labels=labels,
            project=project,
            opts=child,
        )
        alias = args.dns.validation_record(
            f"{name}-alias", f"{args.service.name}-{args.role.value}.{args.service.dns.zone}", "A", address.address
        )
        self.register_endpoint(
            SiteEndpoint(
                role=args.role,
                cloud=site.cloud,
                region=site.region,
                target=alias.fqdn,
                target_is_ip=False,
                address=address.address,
            )
        )

    @staticmethod
    def _certificate_map(
        name: str, args: SiteArgs, labels: dict[str, str], project: str | None, child: pulumi.ResourceOptions
    ) -> gcp.certificatemanager.CertificateMap:
        """A Google-managed certificate authorized by DNS, served through a certificate map entry for the host.

        The DNS authorization's CNAME goes into the service's zone; Certificate Manager issues and renews the
        certificate through it whatever the hostname resolves to, so the standby has a valid certificate before,
        during and after a failover. Documents: https://cloud.google.com/certificate-manager/docs/dns-authorizations
        and https://cloud.google.com/certificate-manager/docs/domain-authorization (load balancer authorization
        needs the hostname to point at this load balancer, DNS authorization does not).
        """
        host = args.service.hostname
        # Per-project: "DNS authorizations and certificates that you use within a project are self-contained and don't
        # interact with those in other projects" (https://cloud.google.com/certificate-manager/docs/dns-authorizations).
        # The default for a global authorization, FIXED_RECORD, writes `_acme-challenge.<host>` (SDK `type`), the name
        # another project's authorization or any ACME DNS-01 client also needs. `type` is immutable: a stack created
        # with the fixed form sees this authorization and its certificate replaced (docs/deploy.md).
        authorization = gcp.certificatemanager.DnsAuthorization(
            _fit(f"{name}-dnsauth", "certificatemanager/dnsAuthorization:DnsAuthorization"),
            domain=host,
            location="global",
            type="PER_PROJECT_RECORD",
            labels=labels,
            project=project,
            opts=child,
        )
        challenge = authorization.dns_resource_records[0]
        proof = args.dns.validation_record(
            f"{name}-dnsauth",
            challenge.apply(lambda r: r.name or ""),
            "CNAME",
            challenge.apply(lambda r: r.data or ""),
        )
        certificate = gcp.certificatemanager.Certificate(
            _fit(f"{name}-cert", "certificatemanager/certificate:Certificate"),
            location="global",
            scope="DEFAULT",
            managed=gcp.certificatemanager.CertificateManagedArgs(
                domains=[host], dns_authorizations=[authorization.id]
            ),
            labels=labels,
            project=project,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[proof.resource])),
        )
        certificate_map = gcp.certificatemanager.CertificateMap(
            _fit(f"{name}-certmap", "certificatemanager/certificateMap:CertificateMap"),
            labels=labels,
            project=project,
            opts=child,
        )
        gcp.certificatemanager.CertificateMapEntry(
            _fit(f"{name}-certmap", "certificatemanager/certificateMapEntry:CertificateMapEntry"),
            map=certificate_map.name,
            hostname=host,
            certificates=[certificate.id],
            labels=labels,
            project=project,
            opts=child,
        )
        # The PRIMARY entry is served when a client sends no SNI or a name no entry matches; without it those
        # handshakes fail (https://cloud.google.com/certificate-manager/docs/maps, matcher PRIMARY: "served when SNI
        # wasn't specified in the request or SNI couldn't be found in the map",
        # https://cloud.google.com/certificate-manager/docs/reference/rest/v1/projects.locations.certificateMaps.certificateMapEntries).
        gcp.certificatemanager.CertificateMapEntry(
            _fit(f"{name}-certmap-primary", "certificatemanager/certificateMapEntry:CertificateMapEntry"),
            map=certificate_map.name,
            matcher="PRIMARY",
            certificates=[certificate.id],
            labels=labels,
            project=project,
            opts=child,
        )
        return certificate_map
