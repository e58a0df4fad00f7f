"""Route 53 failover: one health check per site and a PRIMARY/SECONDARY record pair.

Health checkers (data plane) move traffic; nothing needs the Route 53 API during an incident. A new
zone is created with accelerated recovery, which keeps it editable from us-west-2 when us-east-1's
control plane is impaired.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from bascule import facts
from bascule.components.base import DnsFailover, SiteEndpoint, ValidationRecord, bascule_tags
from bascule.spec import DrillFault, Role, Route53DnsSpec, ServiceSpec

_VALIDATION_TTL = 300


class Route53Failover(DnsFailover):
    def __init__(self, name: str, service: ServiceSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bascule:dns:Route53Failover", name, None, opts)
        dns = service.dns
        if not isinstance(dns, Route53DnsSpec):
            raise TypeError(f"Route53Failover needs a 'route53' DNS spec, got '{dns.kind}'")
        self._name = name
        self._service = service
        self._dns = dns
        self._tags = bascule_tags(service, Role.DNS)
        provider = aws.Provider(
            f"{name}-provider", region=facts.ROUTE53_CONTROL_REGION, opts=pulumi.ResourceOptions(parent=self)
        )
        self._child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.name_servers: pulumi.Output[Sequence[str]]
        if dns.zone_id is not None:
            self.zone_id: pulumi.Output[str] = pulumi.Output.from_input(dns.zone_id)
            self.name_servers = pulumi.Output.from_input(())
        else:
            zone = aws.route53.Zone(
                f"{name}-zone",
                name=dns.zone,
                enable_accelerated_recovery=True,
                comment=f"Bascule failover zone ({service.name})",
                tags=self._tags,
                opts=self._child,
            )
            self.zone_id = zone.zone_id
            self.name_servers = zone.name_servers

    def validation_record(
        self, name: str, record_name: pulumi.Input[str], rtype: str, value: pulumi.Input[str]
    ) -> ValidationRecord:
        record = aws.route53.Record(
            name,
            zone_id=self.zone_id,
            name=record_name,
            type=rtype,
            ttl=_VALIDATION_TTL,
            records=[value],
            allow_overwrite=True,
            opts=self._child,
        )
        return ValidationRecord(resource=record, fqdn=record.fqdn)

    def route(self, primary: SiteEndpoint, secondary: SiteEndpoint, fault: DrillFault | None = None) -> None:
        if primary.target_is_ip != secondary.target_is_ip:
            raise ValueError(
                "Route 53 failover records of one name share one type: both sites must be IPs or both hostnames"
            )
        rtype = "A" if primary.target_is_ip else "CNAME"
        checks: dict[str, pulumi.Output[str]] = {}
        for endpoint, policy in ((primary, "PRIMARY"), (secondary, "SECONDARY")):
            role = endpoint.role.value
            # `invert_healthcheck`, not `disabled`: Route 53 counts a disabled check as healthy.
            check = self._health_check(endpoint, invert=fault is DrillFault.SWITCH and endpoint is primary)
            checks[role] = check.id
            aws.route53.Record(
                f"{self._name}-{role}",
                zone_id=self.zone_id,
                name=self._service.hostname,
                type=rtype,
                ttl=self._dns.ttl,
                records=[endpoint.target],
                set_identifier=f"{self._service.name}-{role}",
                health_check_id=check.id,
                failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type=policy)],
                opts=self._child,
            )
        self.health_check_ids = pulumi.Output.all(**checks)
        self.register_outputs(
            {
                "zone_id": self.zone_id,
                "name_servers": self.name_servers,
                "health_check_ids": self.health_check_ids,
            }
        )

    def _health_check(self, endpoint: SiteEndpoint, invert: bool) -> aws.route53.HealthCheck:
        hc = self._service.health_check
        check_type = hc.protocol + ("_STR_MATCH" if hc.search_string else "")
        return aws.route53.HealthCheck(
            f"{self._name}-{endpoint.role.value}",
            type=check_type,
            port=hc.effective_port,
            resource_path=hc.path,
            search_string=hc.search_string,
            request_interval=hc.interval_seconds,
            failure_threshold=hc.failure_threshold,
            regions=list(self._dns.checker_regions),
            enable_sni=hc.protocol == "HTTPS" and not endpoint.target_is_ip,
            invert_healthcheck=True if invert else None,
            tags={**self._tags, "Name": f"{self._service.name}-{endpoint.role.value}"},
            ip_address=endpoint.target if endpoint.target_is_ip else None,
            fqdn=None if endpoint.target_is_ip else endpoint.target,
            opts=self._child,
        )
