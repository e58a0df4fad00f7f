"""Azure site: Container Apps in an EU location behind Azure Front Door, which holds the service hostname.

Container Apps binds a custom domain only while the hostname's CNAME points straight at the app: with
the TXT `asuid` record alone the binding fails with "Not found CNAME of hostname ... directly pointing to
a default hostname" (https://github.com/microsoft/azure-container-apps/issues/525), and Container Apps
behind Traffic Manager as an external endpoint answers 404 for the profile's name
(https://github.com/microsoft/azure-container-apps/issues/537). A failover CNAME points at the other site
most of the time, so the app never carries the hostname here.

Front Door (Standard) carries it instead: its custom domain is validated by a TXT record `_dnsauth.<host>`
alone, which the documentation describes for exactly this case, a name already serving production
elsewhere ("add the DNS TXT record to validate domain ownership before adding the CNAME record",
https://learn.microsoft.com/en-us/azure/frontdoor/domain). Front Door issues the managed certificate
for the hostname and forwards to the app's own default name, so the app needs no custom domain at all.

Renewal is never automatic in this design. Front Door does not rotate a managed certificate when the domain's
CNAME points to other records, nor when it reaches Front Door through a chain such as Traffic Manager ("Azure Front
Door can't verify the whole chain": https://learn.microsoft.com/en-us/azure/frontdoor/domain#renew-azure-front-door-managed-certificates).
Here the hostname is always a CNAME to the Traffic Manager profile, so one of the two always holds. 45 days before
expiry the domain goes to "Pending revalidation" and needs a new TXT token, which someone must ask for ("Regenerate";
tokens expire after seven days); pulumi-azure-native has no call for the API's refreshValidationToken, and a
`pulumi up --refresh` alone only re-reads the old token. The documented procedure, in the README: `az afd
custom-domain regenerate-validation-token`, then `pulumi up --refresh`, which re-reads the custom domain's
`validation_properties` and rewrites the `_dnsauth` record below from them. `bascule verify --min-cert-days N`
is the guard: it refuses a site whose certificate expires within N days.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from bascule import facts
from bascule.components.azure import service_tags
from bascule.components.azure.plugin import AzureSiteSpec
from bascule.components.base import (
    Site,
    SiteArgs,
    SiteEndpoint,
    bascule_tags,
    caller_provider,
    default_provider_allowed,
    fit_name,
)

OFFLINE_STAND_IN = ("192.0.2.0/24",)
"""What an offline run (no Azure login: `bascule plan`, `check`; its engine answers `facts.OFFLINE_AZURE_TOKEN` for the
token) shows for prefixes read at deploy time: a documentation range (RFC 5737), never a real one."""

_PROFILE = "Consumption"
"""The workload profile a site in a database's virtual network runs on: serverless, billed per use."""


class AzureSite(Site):
    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, AzureSiteSpec):
            raise TypeError(f"AzureSite needs an 'azure' site spec, got '{site.kind}'")
        args.check(name)
        super().__init__("bascule:azure:AzureSite", name, None, opts)
        tags = bascule_tags(args.service, args.role)
        # The caller's provider when given (its location must be the spec's, which plans and policies read), and its
        # resources exactly as before. Else the stack's default provider: "each provider uses its package's global
        # configuration settings, which are controlled by your stack's configuration"
        # (https://www.pulumi.com/docs/iac/concepts/resources/providers/), so the stack's azure-native:subscriptionId,
        # tenantId, clientId and the rest reach every resource here. Every resource that takes a `location` names
        # the spec's (or "global"); the others (Front Door's origins, domain, route) have none.
        provider = caller_provider(opts, "azure-native", name)
        if provider is None:
            default_provider_allowed("azure-native", name, "SiteInputs.provider")
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        group = azure.resources.ResourceGroup(f"{name}-rg", location=site.location, tags=tags, opts=child)
        database = args.database
        # With a database beside the site: the environment joins its virtual network (a subnet delegated to
        # Microsoft.App/environments; only a workload-profiles environment takes a /27 and egress through a NAT
        # gateway), so the app reaches the private database: https://learn.microsoft.com/azure/container-apps/networking
        subnet = database.subnet_id if database is not None else None
        env = azure.app.ManagedEnvironment(
            f"{name}-env",
            resource_group_name=group.name,
            location=site.location,
            vnet_configuration=None if subnet is None else azure.app.VnetConfigurationArgs(
                infrastructure_subnet_id=subnet),
            workload_profiles=None if subnet is None else [
                azure.app.WorkloadProfileArgs(name=_PROFILE, workload_profile_type=_PROFILE)],
            tags=tags,
            opts=child,
        )  # fmt: skip
        # The database's endpoint and credentials as app secrets, each referenced by an environment variable
        # (`secretRef`), never as plain values in the template: https://learn.microsoft.com/azure/container-apps/manage-secrets
        database_env = dict(database.env) if database is not None else {}
        secrets = {variable: variable.lower() for variable in sorted(database_env)}
        hc = args.service.health_check
        # The profile comes first: the app is told its Front Door id (below).
        profile = azure.cdn.Profile(
            f"{name}-afd",
            resource_group_name=group.name,
            location="global",
            sku=azure.cdn.SkuArgs(name="Standard_AzureFrontDoor"),
            tags=tags,
            opts=child,
        )
        app = azure.app.ContainerApp(
            f"{name}-app",
            # Named explicitly (unique within the site's own resource group) so the name's limit is checked here.
            container_app_name=fit_name(
                f"{args.service.name}-{args.role.value}", facts.CONTAINER_APP, auto_named=False
            ),
            resource_group_name=group.name,
            managed_environment_id=env.id,
            location=site.location,
            workload_profile_name=None if subnet is None else _PROFILE,
            configuration=azure.app.ConfigurationArgs(
                active_revisions_mode="Single",
                secrets=[
                    azure.app.SecretArgs(name=secret, value=database_env[variable])
                    for variable, secret in secrets.items()
                ]
                or None,
                # No custom domain here (see the module docstring): Front Door reaches the app by its own name.
                # Only Front Door's back-end addresses may connect (Allow rules; "when no IP restriction rules are
                # defined, all inbound traffic is allowed", https://learn.microsoft.com/azure/container-apps/ip-restrictions),
                # so `*.azurecontainerapps.io` no longer bypasses Front Door for clients outside Azure's edge. The
                # prefixes are the AzureFrontDoor.Backend service tag's, read from Azure at each `up`
                # (`_front_door_ranges`), or the spec's when it lists them. Not enforced:
                # other Front Door profiles share these addresses ("IP address filtering alone isn't sufficient",
                # https://learn.microsoft.com/azure/frontdoor/origin-security); the app must check `X-Azure-FDID`
                # against FRONT_DOOR_ID itself, as Container Apps filters no headers
                # (https://github.com/microsoft/azure-container-apps/issues/120).
                ingress=azure.app.IngressArgs(
                    external=True,
                    target_port=site.container_port,
                    transport="auto",
                    allow_insecure=False,
                    ip_security_restrictions=self._front_door_ranges(site, provider).apply(
                        lambda cidrs: [
                            azure.app.IpSecurityRestrictionRuleArgs(
                                name=f"front-door-{index}", action="Allow", ip_address_range=cidr
                            )
                            for index, cidr in enumerate(cidrs, start=1)
                        ]
                    ),
                ),
            ),
            template=azure.app.TemplateArgs(
                containers=[
                    azure.app.ContainerArgs(
                        name=args.service.name,
                        image=args.image_to_run,
                        resources=azure.app.ContainerResourcesArgs(cpu=site.cpu, memory=site.memory),
                        # The value of the `X-Azure-FDID` header on requests from this site's Front Door profile.
                        env=[
                            azure.app.EnvironmentVarArgs(name="FRONT_DOOR_ID", value=profile.front_door_id),
                            *(
                                azure.app.EnvironmentVarArgs(name=variable, secret_ref=secret)
                                for variable, secret in secrets.items()
                            ),
                        ],
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
            opts=child,
        )
        app_fqdn = pulumi.Output.concat(app.name, ".", env.default_domain)
        front = self._front_door(name, args, group.name, profile, app_fqdn, tags, child)
        self.app = app
        self.endpoint = SiteEndpoint(
            role=args.role, cloud=site.cloud, region=site.location, target=front, target_is_ip=False
        )
        self.register_outputs(
            {"target": front, "region": site.location, "container_app_id": app.id, "origin": app_fqdn}
        )

    def _front_door_ranges(
        self, site: AzureSiteSpec, provider: pulumi.ProviderResource | None
    ) -> pulumi.Output[list[str]]:
        """The spec's `front_door_backend_cidrs`, else the AzureFrontDoor.Backend service tag's IPv4 prefixes read
        from Azure now (`service_tags`), with the subscription and login of the provider the site's resources use (the
        stack's default unless one is passed), so each `up` admits the tag as it is that day (Front Door: use the
        tag, never a copied list). A failed read stops the `up` with the call and its answer, before the app is
        changed."""
        if site.front_door_backend_cidrs is not None:
            return pulumi.Output.from_input(list(site.front_door_backend_cidrs))
        invoke = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        subscription = azure.authorization.get_client_config_output(opts=invoke).subscription_id
        token = azure.authorization.get_client_token_output(opts=invoke).token

        def read(values: list[str]) -> list[str]:
            subscription_id, bearer = values
            if bearer == facts.OFFLINE_AZURE_TOKEN:  # an offline run: no login, no network call
                return list(OFFLINE_STAND_IN)
            if not bearer:
                # Not the stand-in: on a real app it would admit no Front Door address and take the site off the
                # air while the `up` succeeds. An empty token has come from the provider's own login before
                # (https://github.com/pulumi/pulumi-azure-native/issues/3294, managed identity).
                raise pulumi.RunError(
                    "front_door_backend_cidrs: not given, and the Azure provider's login gave an empty token to read "
                    f"the {service_tags.FRONT_DOOR_BACKEND} service tag with; give the prefixes in the site spec "
                    "instead"
                )
            try:
                return list(service_tags.fetch_front_door_backend_ipv4(subscription_id, site.location, bearer))
            except service_tags.ServiceTagError as exc:
                raise pulumi.RunError(
                    f"front_door_backend_cidrs: not given, and reading the {service_tags.FRONT_DOOR_BACKEND} service "
                    f"tag failed: {exc}; give the prefixes in the site spec instead"
                ) from None

        # The token only authorizes the read; the prefixes are public and need not be kept secret in the state.
        return pulumi.Output.unsecret(pulumi.Output.all(subscription, token).apply(read))

    @staticmethod
    def _front_door(
        name: str,
        args: SiteArgs,
        group: pulumi.Input[str],
        profile: azure.cdn.Profile,
        origin: pulumi.Output[str],
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        """Front Door endpoint, origin and custom domain on the profile; returns the endpoint's host name.

        Order: the custom domain is created first and hands out its TXT token; the `_dnsauth` record goes into the
        service's zone; the route that serves the hostname is created after that record. Nothing waits for the
        hostname to resolve to Front Door. Custom domain and managed certificate:
        https://learn.microsoft.com/en-us/azure/frontdoor/domain and
        https://learn.microsoft.com/en-us/azure/frontdoor/standard-premium/how-to-configure-https-custom-domain
        """
        hc = args.service.health_check
        host = args.service.hostname
        endpoint = azure.cdn.AFDEndpoint(
            f"{name}-afd",
            resource_group_name=group,
            profile_name=profile.name,
            location="global",
            enabled_state="Enabled",
            tags=tags,
            opts=child,
        )
        origin_group = azure.cdn.AFDOriginGroup(
            f"{name}-afd",
            resource_group_name=group,
            profile_name=profile.name,
            health_probe_settings=azure.cdn.HealthProbeParametersArgs(
                probe_path=hc.path,
                probe_protocol=azure.cdn.ProbeProtocol.HTTPS,
                probe_request_type=azure.cdn.HealthProbeRequestType.GET,
                probe_interval_in_seconds=30,
            ),
            load_balancing_settings=azure.cdn.LoadBalancingSettingsParametersArgs(
                sample_size=4, successful_samples_required=3
            ),
            opts=child,
        )
        origin_resource = azure.cdn.AFDOrigin(
            f"{name}-afd",
            resource_group_name=group,
            profile_name=profile.name,
            origin_group_name=origin_group.name,
            host_name=origin,
            # Container Apps routes on Host: the app's own name, which it always serves.
            origin_host_header=origin,
            https_port=443,
            enforce_certificate_name_check=True,
            enabled_state="Enabled",
            opts=child,
        )
        domain = azure.cdn.AFDCustomDomain(
            f"{name}-afd",
            resource_group_name=group,
            profile_name=profile.name,
            host_name=host,
            tls_settings=azure.cdn.AFDDomainHttpsParametersArgs(
                certificate_type="ManagedCertificate", minimum_tls_version=azure.cdn.AfdMinimumTlsVersion.TLS12
            ),
            opts=child,
        )
        # Written from the domain's output: after `az afd custom-domain regenerate-validation-token` (renewal, see the
        # module docstring; https://learn.microsoft.com/en-us/cli/azure/afd/custom-domain) only an update with refresh
        # reads the new token; a plain `up` writes the token cached in state again.
        token = domain.validation_properties.apply(lambda v: v.validation_token if v else "")
        proof = args.dns.validation_record(f"{name}-dnsauth", f"_dnsauth.{host}", "TXT", token)
        azure.cdn.Route(
            f"{name}-afd",
            resource_group_name=group,
            profile_name=profile.name,
            endpoint_name=endpoint.name,
            origin_group=azure.cdn.ResourceReferenceArgs(id=origin_group.id),
            custom_domains=[azure.cdn.ActivatedResourceReferenceArgs(id=domain.id)],
            supported_protocols=["Http", "Https"],
            patterns_to_match=["/*"],
            forwarding_protocol="HttpsOnly",
            https_redirect="Enabled",
            link_to_default_domain="Enabled",
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[proof.resource, origin_resource])
            ),
        )
        return endpoint.host_name
