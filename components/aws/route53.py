"""Route 53 failover: a PRIMARY/SECONDARY pair of A records, each checked at the site for the service hostname.

Health checkers (data plane) move traffic; nothing needs the Route 53 API during an incident. A new
zone is created with accelerated recovery, which keeps it editable from us-west-2 when us-east-1's
control plane is impaired.

What each site's check really tests (the spec refuses sites that fit neither way):
- a site with a fixed IP: a health check with `ip_address` = the site and `fqdn` = the service hostname, so
  the request carries the hostname as Host header and, with SNI on, in the TLS handshake; the answer must come
  from the site's binding for the hostname, not from its default name. Route 53 documents that with an IP
  address set, FullyQualifiedDomainName is what it sends in the Host header:
  https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html
- an AWS load balancer (no fixed IP): an alias record with `evaluate_target_health`, which inherits the
  health of the load balancer's target groups, the documented way for ELB:
  https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-failover-alias.html
  The listener forwards every Host to the service, so the hostname is not what decides health there.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from bascule.components.aws.plugin import ROUTE53_CONTROL_REGION, Route53DnsSpec, check_zone_id
from bascule.components.base import (
    AcmeDnsChallenge,
    DnsFailover,
    SiteEndpoint,
    ValidationRecord,
    bascule_tags,
    caller_provider,
    checked_when_known,
    default_provider_allowed,
    warn_delegation,
)
from bascule.spec import DrillFault, Role, ServiceSpec

_VALIDATION_TTL = 300
_CLOSED_PORT = 444
"""A port an AWS site's load balancer never admits (its security group opens `aws.site.ALB_OPEN_PORTS` only)."""
_ALWAYS_UNHEALTHY_THRESHOLD = 2
"""A CALCULATED check's threshold above its one child: always unhealthy (`Route53Failover._unhealthy_by_threshold`)."""


class Route53Failover(DnsFailover):
    """`zone_id` is a zone the program computes (the team's own `aws.route53.Zone`, another stack's output) instead
    of the spec's `zone_id`; FailoverService refuses both at once."""

    def __init__(
        self,
        name: str,
        service: ServiceSpec,
        opts: pulumi.ResourceOptions | None = None,
        *,
        zone_id: pulumi.Input[str] | None = None,
    ):
        dns = service.dns
        if not isinstance(dns, Route53DnsSpec):
            raise TypeError(f"Route53Failover needs a 'route53' DNS spec, got '{dns.kind}'")
        # Route 53 is global: a caller's provider (the DNS account's role) serves whatever its region, and so does the
        # stack's default provider, which carries the stack's own settings (see `default_provider_allowed`).
        provider = caller_provider(opts, "aws", name)
        if provider is None:
            default_provider_allowed("aws", name, "FailoverServiceArgs.dns_provider")
        declared_at = traceback.extract_stack()
        super().__init__("bascule:dns:Route53Failover", name, None, opts)
        self._name = name
        self._service = service
        self._dns = dns
        self._tags = bascule_tags(service, Role.DNS)
        self._child = pulumi.ResourceOptions(parent=self, provider=provider)
        self.name_servers: pulumi.Output[Sequence[str]]
        if zone_id is not None:
            # Its form once known, as the spec's is checked when parsed (`Route53DnsSpec.zone_id`).
            self.zone_id: pulumi.Output[str] = checked_when_known(
                zone_id, service.name, lambda v: check_zone_id("zone_id", v), declared_at
            )
            self.name_servers = pulumi.Output.from_input(())
        elif dns.zone_id is not None:
            self.zone_id = pulumi.Output.from_input(dns.zone_id)
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
            warn_delegation(service, dns.zone, zone.name_servers, zone)

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
            # No `allow_overwrite` (default false; "not recommended for most environments", the provider's
            # `aws.route53.Record` docs): an existing `_acme-challenge`/`_dnsauth`/ACM record set of another stack or
            # a manual ACME client would be silently taken over and deleted on destroy. Route 53 refuses the create
            # instead and the user imports the set or removes it (docs/deploy.md).
            opts=self._child,
        )
        return ValidationRecord(resource=record, fqdn=record.fqdn)

    def acme_challenge(self) -> AcmeDnsChallenge:
        """lego's `route53` provider, pinned to this zone: "If `AWS_HOSTED_ZONE_ID` is not set, Lego tries to determine
        the correct public hosted zone via the FQDN" (terraform-provider-acme docs/guides/dns-providers-route53.md);
        pinned, it writes into the zone this backend's records are in. Its credentials are lego's own, "separate
        from any that you supply in a corresponding provider" (that project's docs/resources/certificate.md, "Relation
        to Terraform provider configuration"): the AWS SDK's environment (`AWS_ACCESS_KEY_ID`..., `AWS_PROFILE`, a
        CI's OIDC role), not this component's provider. Route 53 is global; its control plane is in us-east-1."""
        return AcmeDnsChallenge("route53", {"AWS_HOSTED_ZONE_ID": self.zone_id, "AWS_REGION": ROUTE53_CONTROL_REGION})

    def route(self, primary: SiteEndpoint, secondary: SiteEndpoint, fault: DrillFault | None = None) -> None:
        checks: dict[str, pulumi.Output[str]] = {}
        for endpoint, policy in ((primary, "PRIMARY"), (secondary, "SECONDARY")):
            role = endpoint.role.value
            switched = fault is DrillFault.SWITCH and endpoint is primary
            if endpoint.alias_zone_id is not None:
                # `switch` on an alias: attach a check that is always unhealthy (`_always_unhealthy`, or for a load
                # balancer that is the team's own, `_unhealthy_by_threshold`); `health` on the team's own load
                # balancer: a check that goes through its listener, where the drill's 503 rule is (`_through_listener`);
                # `outage` of an 'aws' site: the same check, which the empty load balancer answers 503.
                check = None
                if switched:
                    lever = self._unhealthy_by_threshold if endpoint.existing else self._always_unhealthy
                    check = lever(endpoint)
                elif fault is DrillFault.HEALTH and endpoint is primary and endpoint.existing:
                    check = self._through_listener(endpoint)
                elif fault is DrillFault.OUTAGE and endpoint is primary and not endpoint.existing:
                    check = self._through_listener(endpoint, own=True)
                if check is not None:
                    checks[role] = check.id
                alias = aws.route53.RecordAliasArgs(
                    name=endpoint.target, zone_id=endpoint.alias_zone_id, evaluate_target_health=True
                )
                self._failover_record(endpoint, policy, check.id if check is not None else None, aliases=[alias])
            else:
                # `invert_healthcheck`, not `disabled`: Route 53 counts a disabled check as healthy.
                site_check = self._health_check(endpoint, invert=switched)
                checks[role] = site_check.id
                self._failover_record(endpoint, policy, site_check.id, ttl=self._dns.ttl, records=[endpoint.ip])
        self.health_check_ids = pulumi.Output.all(**checks)
        self.register_outputs(
            {
                "zone_id": self.zone_id,
                "name_servers": self.name_servers,
                "health_check_ids": self.health_check_ids,
            }
        )

    def _failover_record(
        self,
        endpoint: SiteEndpoint,
        policy: str,
        health_check_id: pulumi.Output[str] | None,
        *,
        aliases: list[aws.route53.RecordAliasArgs] | None = None,
        ttl: int | None = None,
        records: list[pulumi.Output[str]] | None = None,
    ) -> aws.route53.Record:
        """One A record of the failover pair: an alias (no TTL) or the site's address."""
        role = endpoint.role.value
        return aws.route53.Record(
            f"{self._name}-{role}",
            zone_id=self.zone_id,
            name=self._service.hostname,
            type="A",
            set_identifier=f"{self._service.name}-{role}",
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type=policy)],
            aliases=aliases,
            ttl=ttl,
            records=records,
            health_check_id=health_check_id,
            opts=self._child,
        )

    def _health_check(self, endpoint: SiteEndpoint, invert: bool) -> aws.route53.HealthCheck:
        """Checks the site's own address for the service hostname: Host header and SNI are the hostname."""
        hc = self._service.health_check
        check_type = hc.protocol + ("_STR_MATCH" if hc.search_string else "")
        return aws.route53.HealthCheck(
            f"{self._name}-{endpoint.role.value}",
            type=check_type,
            ip_address=endpoint.ip,
            fqdn=self._service.hostname,
            port=hc.effective_port,
            resource_path=hc.path,
            search_string=hc.search_string,
            request_interval=hc.interval_seconds,
            failure_threshold=hc.failure_threshold,
            regions=list(self._dns.checker_regions),
            enable_sni=hc.protocol == "HTTPS",
            invert_healthcheck=True if invert else None,
            tags={**self._tags, "Name": f"{self._service.name}-{endpoint.role.value}"},
            opts=self._child,
        )

    def _always_unhealthy(self, endpoint: SiteEndpoint) -> aws.route53.HealthCheck:
        """The `switch` drill's lever for an alias record: a TCP check of the load balancer's own name on a port its
        security group does not admit, so no connection is ever established and the check is unhealthy ("TCP health
        checks: Route 53 must be able to establish a TCP connection with the endpoint within ten seconds",
        https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html;
        with `FullyQualifiedDomainName` and no `IPAddress` Route 53 resolves the name at every interval,
        https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html). A failover alias record
        with a health check fails over when the check is unhealthy.

        Not a CALCULATED check without children: the provider drops a zero threshold and an empty child list (it
        sends only non-zero values), and what Route 53 does with a bare calculated check is not documented. Not a
        documentation address (192.0.2.0/24) either: Route 53 refuses health checks of the RFC 5735 special-use
        ranges (HealthCheckConfig `IPAddress`, "Constraints").
        """
        hc = self._service.health_check
        return aws.route53.HealthCheck(
            f"{self._name}-{endpoint.role.value}-drill",
            type="TCP",
            fqdn=endpoint.target,
            port=_CLOSED_PORT,
            request_interval=hc.interval_seconds,
            failure_threshold=hc.failure_threshold,
            regions=list(self._dns.checker_regions),
            tags={**self._tags, "Name": f"{self._service.name}-{endpoint.role.value}-drill"},
            opts=self._child,
        )

    def _unhealthy_by_threshold(self, endpoint: SiteEndpoint) -> aws.route53.HealthCheck:
        """The `switch` drill's lever for a load balancer that is the team's own, whose open ports and security
        groups Bascule does not know (so not `_always_unhealthy`'s closed port): a CALCULATED check with one child
        and a threshold of two. "If you specify a number greater than the number of child health checks, Route 53
        always considers this health check to be unhealthy" (HealthCheckConfig `HealthThreshold`,
        https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html), whatever the child says.

        Not an inverted TCP check of the load balancer: when Route 53's checkers cannot reach it (an internal load
        balancer, a security group that admits only CloudFront's prefix list or an office range: checkers must be
        allowed in, https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/route-53-ip-addresses.html), the TCP
        check fails, inverted it is healthy, and the drill never fails over. The child is such a TCP check (no Host
        header, so host rules do not matter); its result is never read, it exists because a threshold needs a child.
        """
        hc = self._service.health_check
        name = f"{self._service.name}-{endpoint.role.value}-drill"
        child = aws.route53.HealthCheck(
            f"{self._name}-{endpoint.role.value}-drill-child",
            type="TCP",
            fqdn=endpoint.target,
            port=hc.effective_port,
            request_interval=hc.interval_seconds,
            failure_threshold=hc.failure_threshold,
            regions=list(self._dns.checker_regions),
            tags={**self._tags, "Name": f"{name}-child"},
            opts=self._child,
        )
        return aws.route53.HealthCheck(
            f"{self._name}-{endpoint.role.value}-drill",
            type="CALCULATED",
            child_healthchecks=[child.id],
            child_health_threshold=_ALWAYS_UNHEALTHY_THRESHOLD,
            tags={**self._tags, "Name": name},
            opts=self._child,
        )

    def _through_listener(self, endpoint: SiteEndpoint, *, own: bool = False) -> aws.route53.HealthCheck:
        """The check that makes a `health` drill on the team's own load balancer fail over: the health path on the
        load balancer's own name, which the site's drill rule answers 503 (`AwsAlbSite`).

        `own`: the `outage` drill of an 'aws' site (its tasks scaled to zero). Its load balancer then answers every
        request 503 ("The target groups for the load balancer have no registered targets",
        https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html),
        but what the alias's `evaluate_target_health` makes of an empty target group AWS documents both ways: "A
        target group that has no registered targets is considered healthy" (the Route 53 API reference's AliasTarget,
        as the SDKs ship it) and "... is considered unhealthy" (CloudFormation's AWS::Route53::RecordSetGroup
        AliasTarget, https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-route53-aliastarget.html).
        This check fails on the 503 either way. HTTPS on 443 whatever the service's checks speak: the site's port 80
        only redirects, and Route 53 counts a 3xx as healthy (HealthCheckConfig `Type`); the listener forwards every
        Host to the tasks, so the load balancer's name reaches them as the hostname would. Not the hostname: a check
        whose name matches the records it is associated with gives "unpredictable" results
        (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-failover-alias.html),
        and an ALB has no fixed IP to send the hostname to. With a check and `evaluate_target_health` on an alias,
        "both of the following must be true" for the record to be healthy
        (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-complex-configs.html): the 503 alone
        fails it over. HTTPS checks do not validate the certificate, and with SNI a mismatched name is retried without
        it (HealthCheckConfig `EnableSNI`), so the team's certificate for the hostname does not fail the check.
        Only while the drill runs: outside a drill, Host = the load balancer's name may meet a host-routing listener's
        default action, and a check of it would fail over for ever."""
        hc = self._service.health_check
        protocol, port = ("HTTPS", 443) if own else (hc.protocol, hc.effective_port)
        return aws.route53.HealthCheck(
            f"{self._name}-{endpoint.role.value}-drill",
            type=protocol,
            fqdn=endpoint.target,
            port=port,
            resource_path=hc.path,
            request_interval=hc.interval_seconds,
            failure_threshold=hc.failure_threshold,
            regions=list(self._dns.checker_regions),
            enable_sni=protocol == "HTTPS",
            tags={**self._tags, "Name": f"{self._service.name}-{endpoint.role.value}-drill"},
            opts=self._child,
        )
