"""Azure Traffic Manager failover: a Priority profile probing both sites, the hostname a CNAME to it.

With an AWS primary this puts the switch on another provider's control plane, the lesson of 20 Oct 2025.
Records the sites need for ownership (ACM, Container Apps) go into the same Azure DNS zone.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_azure_native as azure

from bascule.components.azure.plugin import TrafficManagerDnsSpec
from bascule.components.base import (
    AcmeDnsChallenge,
    DnsFailover,
    SiteEndpoint,
    ValidationRecord,
    bascule_tags,
    caller_provider,
    default_provider_allowed,
    warn_delegation,
)
from bascule.spec import DrillFault, Role, ServiceSpec

_VALIDATION_TTL = 300


class TrafficManagerFailover(DnsFailover):
    def __init__(self, name: str, service: ServiceSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:dns:TrafficManagerFailover", name, None, opts)
        dns = service.dns
        if not isinstance(dns, TrafficManagerDnsSpec):
            raise TypeError(f"TrafficManagerFailover needs a 'trafficmanager' DNS spec, got '{dns.kind}'")
        self._name, self._service, self._dns = name, service, dns
        self._tags = bascule_tags(service, Role.DNS)
        # The caller's provider when given (`FailoverServiceArgs.dns_provider`), else the stack's default one with the
        # stack's azure-native settings, as for `AzureSite`; the resource group and zone name their location.
        provider = caller_provider(opts, "azure-native", name)
        if provider is None:
            default_provider_allowed("azure-native", name, "FailoverServiceArgs.dns_provider")
        self._child = pulumi.ResourceOptions(parent=self, provider=provider)
        # The subscription the zone is in: the one this component's provider deploys to.
        self._subscription = azure.authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
        ).subscription_id
        group = azure.resources.ResourceGroup(f"{name}-rg", location=dns.location, tags=self._tags, opts=self._child)
        self._group = group.name
        if dns.zone_resource_group is not None:
            self._zone_group: pulumi.Input[str] = dns.zone_resource_group
            self.name_servers: pulumi.Output[list[str]] = pulumi.Output.from_input([])
        else:
            zone = azure.dns.Zone(
                f"{name}-zone", zone_name=dns.zone, location="global", resource_group_name=group.name,
                tags=self._tags, opts=self._child,
            )  # fmt: skip
            self._zone_group = group.name
            self.name_servers = zone.name_servers.apply(list)
            warn_delegation(service, dns.zone, zone.name_servers, zone)

    def _relative(self, fqdn: str) -> str:
        name = fqdn.rstrip(".").lower()
        if name == self._dns.zone:
            return "@"
        if not name.endswith("." + self._dns.zone):
            raise ValueError(f"record '{fqdn}' is not in the zone '{self._dns.zone}'")
        return name[: -len(self._dns.zone) - 1]

    def _record(
        self, name: str, fqdn: pulumi.Input[str], rtype: str, value: pulumi.Input[str], ttl: int
    ) -> azure.dns.RecordSet:
        values = {
            "CNAME": {"cname_record": azure.dns.CnameRecordArgs(cname=value)},
            "TXT": {"txt_records": [azure.dns.TxtRecordArgs(value=[value])]},
            "A": {"a_records": [azure.dns.ARecordArgs(ipv4_address=value)]},
        }[rtype]
        return azure.dns.RecordSet(
            name,
            zone_name=self._dns.zone,
            resource_group_name=self._zone_group,
            relative_record_set_name=pulumi.Output.from_input(fqdn).apply(self._relative),
            record_type=rtype,
            ttl=ttl,
            metadata={k.replace(":", "_"): v for k, v in self._tags.items()},
            opts=self._child,
            **values,  # type: ignore[arg-type]
        )

    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord:
        record = self._record(name, record_name, rtype, value, _VALIDATION_TTL)
        return ValidationRecord(
            resource=record, fqdn=pulumi.Output.from_input(record_name).apply(lambda n: n.rstrip("."))
        )

    def acme_challenge(self) -> AcmeDnsChallenge:
        """lego's `azuredns` provider, pinned to this zone: `AZURE_SUBSCRIPTION_ID`, `AZURE_RESOURCE_GROUP` and
        `AZURE_ZONE_NAME` ("Zone name to use inside Azure DNS service to add the TXT record in"); without them "Lego
        automatically finds all visible Azure (private) DNS zones" by a Resource Graph query
        (terraform-provider-acme docs/guides/dns-providers-azuredns.md). Its credentials are lego's own, "separate
        from any that you supply in a corresponding provider" (that project's docs/resources/certificate.md): the
        Default Azure Credentials of the `pulumi up` (`AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/`AZURE_CLIENT_SECRET`, a
        CI's OIDC with `AZURE_AUTH_METHOD=oidc`, or the Azure CLI's login), never a value in the stack's state."""
        return AcmeDnsChallenge(
            "azuredns",
            {
                "AZURE_SUBSCRIPTION_ID": self._subscription,
                "AZURE_RESOURCE_GROUP": self._zone_group,
                "AZURE_ZONE_NAME": self._dns.zone,
            },
        )

    def route(self, primary: SiteEndpoint, secondary: SiteEndpoint, fault: DrillFault | None = None) -> None:
        hc = self._service.health_check
        svc = self._service
        # Traffic Manager names are global: a stable suffix from the hostname keeps them unique per service.
        relative_name = f"{svc.name}-{hashlib.sha256(svc.hostname.encode()).hexdigest()[:10]}"
        profile = azure.trafficmanager.Profile(
            f"{self._name}-profile",
            profile_name=relative_name,
            resource_group_name=self._group,
            location="global",
            profile_status="Enabled",
            traffic_routing_method="Priority",
            dns_config=azure.trafficmanager.DnsConfigArgs(relative_name=relative_name, ttl=self._dns.ttl),
            monitor_config=azure.trafficmanager.MonitorConfigArgs(
                protocol=hc.protocol,
                port=hc.effective_port,
                path=hc.path,
                interval_in_seconds=hc.interval_seconds,
                timeout_in_seconds=self._dns.monitor_timeout_seconds,
                tolerated_number_of_failures=hc.failure_threshold - 1,
                expected_status_code_ranges=[
                    azure.trafficmanager.MonitorConfigExpectedStatusCodeRangesItemArgs(min=200, max=399)
                ],
                # Probes go to each endpoint's own target name; without this header a site that routes on Host
                # (Front Door, Container Apps, Cloud Run's load balancer map) answers for the wrong name. For Front
                # Door this is Microsoft's own design for Traffic Manager in front of it: the endpoint is the
                # `*.azurefd.net` name with "Custom Header settings: Host=$CUSTOM_DOMAIN (required for Azure Front
                # Door to route to the correct custom domain)" (https://learn.microsoft.com/azure/frontdoor/high-availability).
                # Front Door refuses a TLS name that differs from Host (domain fronting, 421); a Microsoft engineer's
                # capture shows the probe's SNI follows this Host header
                # (https://github.com/MicrosoftDocs/azure-docs/issues/28209), not documented elsewhere: unverified.
                # What the probe does not test: "HTTPS monitoring does not verify whether your SSL certificate is
                # valid--it only checks that the certificate is present", and probes "originate only from US-based
                # Azure regions" (https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring):
                # `bascule verify --min-cert-days` guards the certificate.
                custom_headers=[
                    azure.trafficmanager.MonitorConfigCustomHeadersItemArgs(name="Host", value=svc.hostname)
                ],
            ),
            tags=self._tags,
            opts=self._child,
        )
        endpoint_ids: dict[str, pulumi.Output[str]] = {}
        for priority, endpoint in enumerate((primary, secondary), start=1):
            # `switch`: the primary endpoint is disabled, Traffic Manager answers the secondary at once.
            disabled = fault is DrillFault.SWITCH and endpoint is primary
            created = azure.trafficmanager.Endpoint(
                f"{self._name}-{endpoint.role.value}",
                endpoint_name=endpoint.role.value,
                profile_name=profile.name,
                resource_group_name=self._group,
                endpoint_type="ExternalEndpoints",
                target=endpoint.target,
                priority=priority,
                endpoint_status="Disabled" if disabled else "Enabled",
                opts=self._child,
            )
            endpoint_ids[endpoint.role.value] = created.id
        fqdn = profile.dns_config.apply(lambda c: c.fqdn if c and c.fqdn else f"{relative_name}.trafficmanager.net")
        self._record(f"{self._name}-cname", svc.hostname, "CNAME", fqdn, self._dns.ttl)
        self.health_check_ids = pulumi.Output.all(**endpoint_ids)
        self.register_outputs({"profile_fqdn": fqdn, "name_servers": self.name_servers, "endpoints": endpoint_ids})
