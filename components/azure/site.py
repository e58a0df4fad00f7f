"""Azure site: Container Apps in an EU location behind Azure Front Door, which holds the service hostname.

Container Apps binds a custom domain only while the hostname's CNAME points straight at the app: with
the TXT `asuid` record alone the binding fails with "Not found CNAME of hostname ... directly pointing to
a default hostname" (https://github.com/microsoft/azure-container-apps/issues/525), and Container Apps
behind Traffic Manager as an external endpoint answers 404 for the profile's name
(https://github.com/microsoft/azure-container-apps/issues/537). A failover CNAME points at the other site
most of the time, so the app never carries the hostname here.

Front Door (Standard) carries it instead, with the team's own certificate ("bring your own certificate"), so no
manual step remains. The certificate comes from Let's Encrypt by ACME DNS-01 in the service's zone
(`components/acme.py`), so it is issued and renewed while the hostname points at the other site; the site imports it
as a certificate object into a Key Vault of its own (`keyvault_certificate.py`); a Front Door secret refers to its
backing secret at its latest version; the custom domain
uses that secret. A domain whose certificate's name matches it needs no `_dnsauth` TXT record: "As of September 2023,
Azure Front Door supports BYOC-based domain ownership validation. Azure Front Door automatically approves domain
ownership if the Certificate Name (CN) or Subject Alternative Name (SAN) of the provided certificate matches the custom
domain" (https://learn.microsoft.com/azure/frontdoor/standard-premium/how-to-add-custom-domain, quoted in
https://github.com/Azure/bicep-registry-modules/issues/5135, where a BYOC domain went to Approved without one).
Front Door forwards to the app's own default name, so the app needs no custom domain at all.

Why not Front Door's managed certificate: it is not rotated when the domain's CNAME points to other records, nor when
it reaches Front Door through a chain such as Traffic Manager ("Azure Front Door can't verify the whole chain"), and
then 45 days before expiry the domain waits for a regenerated TXT token, a manual step each cycle
(https://learn.microsoft.com/azure/frontdoor/domain, "Renew Azure Front Door-managed certificates"). Here the
hostname is always a CNAME to the Traffic Manager profile.

Renewal: `pulumi up` renews the ACME certificate once fewer than `renew_days_before` days remain, which imports a new
version of the Key Vault certificate (an import under an existing name makes a new version); Front Door, set to the
latest version, "can automatically detect and use the updated certificate" and "It takes up to 72 hours for the new
version of the certificate/secret to be automatically deployed" (https://learn.microsoft.com/azure/frontdoor/domain,
"Renew customer-managed TLS certificates"). `renew_days_before` (at least 30 by default) leaves that time many times
over.
"""

from __future__ import annotations

import pulumi
import pulumi_azure_native as azure

from bascule import facts
from bascule.components.acme import issue_certificate
from bascule.components.azure import service_tags
from bascule.components.azure.keyvault_certificate import KeyVaultCertificate
from bascule.components.azure.plugin import KEY_VAULT, AzureSiteSpec
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
        # the spec's (or "global"); the others (Front Door's origins, domain, route) have none. The one exception is
        # the certificate's import into the vault (`keyvault_certificate.py`): a data-plane call no provider makes,
        # logged in by DefaultAzureCredential from the environment, which must be the identity azure-native runs as
        # (the vault's access policy admits that one, by `get_client_config_output`'s object id).
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
        # The profile comes first: the app is told its Front Door id (below). Its system-assigned identity is what
        # reads the certificate from the site's Key Vault: "We recommend using managed identity to allow access to
        # your Azure Key Vault certificates because App registration will be retired in the future"
        # (https://learn.microsoft.com/azure/frontdoor/standard-premium/how-to-configure-https-custom-domain), and
        # it needs no tenant-wide registration of Front Door's app by a Global Administrator (same page, "Register
        # Azure Front Door"): https://learn.microsoft.com/azure/frontdoor/managed-identity.
        profile = azure.cdn.Profile(
            f"{name}-afd",
            resource_group_name=group.name,
            location="global",
            sku=azure.cdn.SkuArgs(name="Standard_AzureFrontDoor"),
            identity=azure.cdn.ManagedServiceIdentityArgs(type=azure.cdn.ManagedServiceIdentityType.SYSTEM_ASSIGNED),
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
        secret = self._certificate(name, args, site, group.name, profile, tags, child)
        front = self._front_door(name, args, group.name, profile, app_fqdn, secret, tags, child)
        self.app = app
        self.register_endpoint(
            SiteEndpoint(role=args.role, cloud=site.cloud, region=site.location, target=front, target_is_ip=False),
            container_app_id=app.id,
            origin=app_fqdn,
            renew_days_before=site.renew_days_before,
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
        secret: azure.cdn.Secret,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        """Front Door endpoint, origin and custom domain on the profile; returns the endpoint's host name.

        Order: the Front Door secret (the certificate), then the custom domain that uses it, then the route that
        serves the hostname. Nothing waits for the hostname to resolve to Front Door. Custom domain and certificate:
        https://learn.microsoft.com/azure/frontdoor/domain and
        https://learn.microsoft.com/azure/frontdoor/standard-premium/how-to-configure-https-custom-domain
        """
        hc = args.service.health_check
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
            host_name=args.service.hostname,
            # "configure your domain to use the Azure Front Door secret for its TLS certificate"
            # (https://learn.microsoft.com/azure/frontdoor/domain, "Add your custom certificate to Azure Front Door").
            tls_settings=azure.cdn.AFDDomainHttpsParametersArgs(
                certificate_type=azure.cdn.AfdCertificateType.CUSTOMER_CERTIFICATE,
                minimum_tls_version=azure.cdn.AfdMinimumTlsVersion.TLS12,
                secret=azure.cdn.ResourceReferenceArgs(id=secret.id),
            ),
            opts=child,
        )
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
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[origin_resource])),
        )
        return endpoint.host_name

    @staticmethod
    def _certificate(
        name: str,
        args: SiteArgs,
        site: AzureSiteSpec,
        group: pulumi.Input[str],
        profile: azure.cdn.Profile,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> azure.cdn.Secret:
        """The hostname's Let's Encrypt certificate (`components/acme.py`) in a Key Vault of the site's own, and the
        Front Door secret that follows its latest version."""
        issued = issue_certificate(name, args, site, child.parent)
        # In the same subscription as the profile, as Front Door requires ("Azure Front Door only supports key vaults
        # in the same subscription as the Front Door profile": https://learn.microsoft.com/azure/frontdoor/domain),
        # so through the site's provider. Front Door's identity reads secrets through a vault access policy with
        # Secret permissions "List and Get" (https://learn.microsoft.com/azure/frontdoor/managed-identity, "Access
        # policy"), so the deployer needs no role-assignment right, only write on the vault (access policies are
        # part of the vault's properties). Public network access stays on: with network restrictions, trusted
        # Microsoft services must be let through (same page as the subscription rule, "Grant access to Azure Front
        # Door"). Soft delete cannot be turned off; the shortest retention (7 days, the SDK's `>=7 and <=90`) keeps
        # a destroyed site's private key no longer than needed, and the vault is auto-named (`KEY_VAULT`), so a
        # site created again within those days gets a name of its own.
        # The deployer (the identity azure-native runs as, `getClientConfig`) imports the certificate through Key
        # Vault's data plane (`keyvault_certificate.py`), which ARM permissions do not reach: its own access-policy
        # entry, Certificates Import (the SDK's "Requires certificates/import permission"), Get and List (reading
        # it back on `refresh`) and Delete (the certificate leaving the program without its vault). No secret and
        # no purge right: it writes no secret, and the vault's deletion, not the deployer, removes what it holds.
        client = azure.authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=child.parent, provider=child.provider)
        )
        tenant = client.tenant_id
        principal = profile.identity.apply(lambda i: i.principal_id if i else "")
        certificates = azure.keyvault.CertificatePermissions
        vault = azure.keyvault.Vault(
            fit_name(f"{name}-kv", KEY_VAULT),
            resource_group_name=group,
            location=site.location,
            properties=azure.keyvault.VaultPropertiesArgs(
                tenant_id=tenant,
                sku=azure.keyvault.SkuArgs(family=azure.keyvault.SkuFamily.A, name=azure.keyvault.SkuName.STANDARD),
                enable_rbac_authorization=False,
                soft_delete_retention_in_days=7,
                access_policies=[
                    # Front Door reads the certificate's backing secret: "Under Secret permissions, select List and
                    # Get" (https://learn.microsoft.com/azure/frontdoor/managed-identity, "Access policy").
                    azure.keyvault.AccessPolicyEntryArgs(
                        tenant_id=tenant,
                        object_id=principal,
                        permissions=azure.keyvault.PermissionsArgs(
                            secrets=[azure.keyvault.SecretPermissions.GET, azure.keyvault.SecretPermissions.LIST]
                        ),
                    ),
                    azure.keyvault.AccessPolicyEntryArgs(
                        tenant_id=tenant,
                        object_id=client.object_id,
                        permissions=azure.keyvault.PermissionsArgs(
                            certificates=[certificates.IMPORT_, certificates.GET, certificates.LIST,
                                          certificates.DELETE]
                        ),
                    ),
                ],
            ),
            tags=tags,
            opts=child,
        )  # fmt: skip
        # A Key Vault certificate object, as Microsoft asks for Front Door ("Certificates must be uploaded as a
        # certificate object, rather than a secret", https://learn.microsoft.com/azure/frontdoor/domain), imported
        # from a 3DES PFX built from the ACME key and chain (`keyvault_certificate.py` says why not the ACME
        # provider's own PFX). A renewal changes `certificate_pem`, and the import makes a new version.
        # `deleted_with=vault`: the vault is the site's own and its deletion takes the certificate along, so
        # `pulumi destroy` makes no data-plane call for it.
        certificate_name = f"{args.service.name}-{args.role.value}"
        stored = KeyVaultCertificate(
            f"{name}-cert",
            vault_url=vault.properties.vault_uri,
            certificate_name=certificate_name,
            certificate_pem=issued.full_chain_pem,
            private_key_pem=issued.private_key_pem,
            opts=pulumi.ResourceOptions(
                parent=child.parent, deleted_with=vault
            ),  # its provider is its own: no `provider`
        )
        # Front Door takes the certificate by its backing secret, "an addressable key and secret ... that have the
        # same name" as the certificate (https://learn.microsoft.com/azure/key-vault/certificates/how-to-export-certificate),
        # in the form `/providers/Microsoft.KeyVault/vaults/{vaultName}/secrets/{certificateName}` (the SDK's
        # `CustomerCertificateParametersArgs.secret_source`), the Key Vault secret "representing the full certificate
        # PFX" (https://learn.microsoft.com/dotnet/api/azure.resourcemanager.cdn.models.keyvaultcertificatesource.secretname).
        # Named after the certificate resource's output, so the Front Door secret waits for the import.
        secret_source = pulumi.Output.concat(vault.id, "/secrets/", stored.certificate_name)
        # `use_latest_version`: "If you select Latest, Azure Front Door will automatically update whenever the
        # certificate is rotated (renewed)" (https://learn.microsoft.com/azure/frontdoor/standard-premium/how-to-configure-https-custom-domain).
        return azure.cdn.Secret(
            f"{name}-cert",
            resource_group_name=group,
            profile_name=profile.name,
            parameters=azure.cdn.CustomerCertificateParametersArgs(
                type="CustomerCertificate",
                secret_source=azure.cdn.ResourceReferenceArgs(id=secret_source),
                use_latest_version=True,
            ),
            opts=child,
        )
