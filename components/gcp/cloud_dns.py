"""GCP Cloud DNS failover: a primary/backup routing policy on an A record, health-checked from three regions.

The switch and its checks run on Google's DNS, outside AWS and Azure. Endpoints are IP addresses, as Cloud
DNS health checks require; the spec refuses sites without a fixed IP before anything is declared.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from bascule import facts
from bascule.components.base import (
    AcmeDnsChallenge,
    DnsFailover,
    SiteEndpoint,
    ValidationRecord,
    bascule_tags,
    caller_provider,
    default_provider_allowed,
    fit_name,
    gcp_labels,
    warn_delegation,
)
from bascule.components.gcp.plugin import CLOUD_DNS_APIS, CloudDnsSpec
from bascule.components.gcp.site import enable_apis
from bascule.spec import DrillFault, Role, ServiceSpec

_VALIDATION_TTL = 300


def _absolute(name: str) -> str:
    return name.rstrip(".") + "."


class CloudDnsFailover(DnsFailover):
    def __init__(self, name: str, service: ServiceSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:dns:CloudDnsFailover", name, None, opts)
        dns = service.dns
        if not isinstance(dns, CloudDnsSpec):
            raise TypeError(f"CloudDnsFailover needs a 'clouddns' DNS spec, got '{dns.kind}'")
        self._name, self._service, self._dns = name, service, dns
        labels = gcp_labels(bascule_tags(service, Role.DNS))
        # The caller's provider when given (`FailoverServiceArgs.dns_provider`), else the stack's default one with the
        # stack's gcp settings, as for `GcpSite`; each resource then names the DNS project (the zone, its records
        # and the health check are global: no region).
        provider = caller_provider(opts, "gcp", name)
        if provider is None:
            default_provider_allowed("gcp", name, "FailoverServiceArgs.dns_provider")
        self._project = None if provider is not None else dns.project
        # The APIs are enabled in the DNS project (which may differ from a GCP site's) before the zone and checks.
        apis = enable_apis(name, dns.project, CLOUD_DNS_APIS, pulumi.ResourceOptions(parent=self, provider=provider))
        self._child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(apis))
        if dns.managed_zone is not None:
            self._zone: pulumi.Input[str] = dns.managed_zone
        else:
            zone = gcp.dns.ManagedZone(
                f"{name}-zone", dns_name=_absolute(dns.zone), description=f"Bascule failover zone ({service.name})",
                labels=labels, project=self._project, opts=self._child,
            )  # fmt: skip
            self._zone = zone.name
            warn_delegation(service, dns.zone, zone.name_servers, zone)

    def acme_challenge(self) -> AcmeDnsChallenge:
        """lego's `gcloud` provider, pinned to this zone: `GCE_PROJECT` (else "auto-detected by using the metadata
        service") and `GCE_ZONE_ID`, which "Allows to skip the automatic detection of the zone"
        (terraform-provider-acme docs/guides/dns-providers-gcloud.md). Its credentials are lego's own: Application
        Default Credentials of the `pulumi up` (or `GCE_SERVICE_ACCOUNT_FILE`, `GCE_IMPERSONATE_SERVICE_ACCOUNT`),
        never a value in the stack's state."""
        return AcmeDnsChallenge("gcloud", {"GCE_PROJECT": self._dns.project, "GCE_ZONE_ID": self._zone})

    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord:
        data = pulumi.Output.from_input(value).apply(lambda v: f'"{v}"' if rtype == "TXT" else v)
        record = gcp.dns.RecordSet(
            name,
            managed_zone=self._zone,
            name=pulumi.Output.from_input(record_name).apply(_absolute),
            type=rtype,
            ttl=_VALIDATION_TTL,
            rrdatas=[data],
            project=self._project,
            opts=self._child,
        )
        return ValidationRecord(
            resource=record, fqdn=pulumi.Output.from_input(record_name).apply(lambda n: n.rstrip("."))
        )

    def route(self, primary: SiteEndpoint, secondary: SiteEndpoint, fault: DrillFault | None = None) -> None:
        hc, dns, svc = self._service.health_check, self._dns, self._service
        check = gcp.compute.HealthCheck(
            fit_name(f"{self._name}-check", facts.GCP_HEALTH_CHECK),
            check_interval_sec=hc.interval_seconds,
            timeout_sec=dns.check_timeout_seconds,
            healthy_threshold=2,
            unhealthy_threshold=hc.failure_threshold,
            source_regions=list(dns.source_regions),
            # `host` is the Host header sent to each endpoint's IP. A probe passes only on HTTP 200 (any other code,
            # redirects included, is a failure), and `response` must match the beginning of the body (the provider's
            # description; the API reference allows it within the first 1,024 bytes), not anywhere in it:
            # https://cloud.google.com/load-balancing/docs/health-check-concepts#criteria-protocol-http and
            # https://cloud.google.com/compute/docs/reference/rest/v1/healthChecks
            https_health_check=gcp.compute.HealthCheckHttpsHealthCheckArgs(
                port=hc.effective_port, request_path=hc.path, host=svc.hostname, response=hc.search_string
            )
            if hc.protocol == "HTTPS"
            else None,
            http_health_check=gcp.compute.HealthCheckHttpHealthCheckArgs(
                port=hc.effective_port, request_path=hc.path, host=svc.hostname, response=hc.search_string
            )
            if hc.protocol == "HTTP"
            else None,
            project=self._project,
            opts=self._child,
        )
        gcp.dns.RecordSet(
            f"{self._name}-record",
            managed_zone=self._zone,
            name=_absolute(svc.hostname),
            type="A",
            ttl=dns.ttl,
            routing_policy=gcp.dns.RecordSetRoutingPolicyArgs(
                health_check=check.id,
                primary_backup=gcp.dns.RecordSetRoutingPolicyPrimaryBackupArgs(
                    primary=gcp.dns.RecordSetRoutingPolicyPrimaryBackupPrimaryArgs(external_endpoints=[primary.ip]),
                    backup_geos=[
                        gcp.dns.RecordSetRoutingPolicyPrimaryBackupBackupGeoArgs(
                            location=dns.backup_region,
                            health_checked_targets=gcp.dns.RecordSetRoutingPolicyPrimaryBackupBackupGeoHealthCheckedTargetsArgs(
                                external_endpoints=[secondary.ip]
                            ),
                        )
                    ],
                    # `switch`: send all traffic to the backup through Cloud DNS's own data plane.
                    trickle_ratio=1.0 if fault is DrillFault.SWITCH else 0.0,
                ),
            ),
            project=self._project,
            opts=self._child,
        )
        self.health_check_ids = pulumi.Output.all(primary=check.id, secondary=check.id)
        self.register_outputs({"managed_zone": self._zone, "health_check": check.id})
