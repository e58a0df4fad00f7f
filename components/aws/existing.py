"""An existing Application Load Balancer as a site ('aws-alb'): what a team already runs becomes the primary.

Nothing is created for the site itself: the DNS backend answers the hostname with an alias to the load balancer
(Route 53, `evaluate_target_health`), and a `health` drill adds one listener rule to the listener the team names,
for the drill's duration only. The load balancer, its listeners, target groups and tasks stay the team's program's.

What Route 53 sees of it: a failover alias with `evaluate_target_health` counts the load balancer healthy when
"every target group that contains targets [contains] at least one healthy target"
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-values-failover-alias.html); an empty
target group AWS documents both as healthy and as unhealthy (`Route53Failover._through_listener`). Every
target group of the load balancer counts: on a load balancer shared by several services, another service's broken
target group fails this one over too.
"""

from __future__ import annotations

import traceback

import pulumi
import pulumi_aws as aws

from bascule.components.aws.drill_rule import health_fault_rule
from bascule.components.aws.plugin import AwsAlbSiteSpec, check_zone_id
from bascule.components.base import (
    Site,
    SiteArgs,
    SiteEndpoint,
    bascule_tags,
    caller_provider,
    checked_when_known,
    default_provider_allowed,
)
from bascule.spec import DrillFault

_DEFAULT_PORTS = {"HTTP": 80, "HTTPS": 443}


class AwsAlbSite(Site):
    """The team's own load balancer as the site: its DNS name and canonical zone for the alias, its listener for the
    `health` drill. The component's state declares where the site runs, as an 'endpoint' site's does, so inventories
    and policies see it although Bascule creates nothing there."""

    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        site = args.site
        if not isinstance(site, AwsAlbSiteSpec):
            raise TypeError(f"AwsAlbSite needs an 'aws-alb' site spec, got '{site.kind}'")
        args.check(name)
        provider = caller_provider(opts, "aws", name)
        if provider is None:
            default_provider_allowed("aws", name, "SiteInputs.provider")
        # With the stack's default provider each regional resource and lookup names the site's region (pulumi-aws 7:
        # "most existing resources and data sources are now Region-aware", with a top-level `region`:
        # https://www.pulumi.com/registry/packages/aws/how-to-guides/aws-enhanced-region-support/); a caller's
        # provider is in the spec's region already and keeps its resources exactly as they were.
        region = None if provider is not None else site.region
        given = args.given_load_balancer
        where = f"{args.service.name}: {args.role.value}"
        declared_at = traceback.extract_stack()
        tags = bascule_tags(args.service, args.role)
        dns_name: pulumi.Input[str]
        zone_id: pulumi.Input[str]
        if given.arn is not None:
            # The lookup needs elasticloadbalancing:DescribeLoadBalancers at deploy time; a program that declares the
            # load balancer itself can pass `dns_name` and `zone_id` instead and needs none.
            found = aws.lb.get_load_balancer_output(
                arn=given.arn,
                region=region,
                opts=pulumi.InvokeOutputOptions(parent=opts.parent if opts else None, provider=provider),
            )
            checked = checked_when_known(found.load_balancer_type, where, _application, declared_at)
            dns_name = pulumi.Output.all(checked, found.dns_name).apply(lambda v: v[1])
            zone_id = found.zone_id
        else:
            assert given.dns_name is not None and given.zone_id is not None, "checked by check_site_inputs"
            dns_name = given.dns_name
            zone_id = checked_when_known(given.zone_id, where, _zone_id, declared_at)
        target = pulumi.Output.from_input(dns_name)
        declared = {"cloud": site.cloud.value, "region": site.region, "address": target, "tags": tags}
        super().__init__("bascule:aws:AwsAlbSite", name, declared, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        if args.fault is DrillFault.HEALTH:
            self._drill_health_rule(name, args, site, given.listener_arn, target, region, tags, child)
        self.endpoint = SiteEndpoint(
            role=args.role,
            cloud=site.cloud,
            region=site.region,
            target=target,
            target_is_ip=False,
            alias_zone_id=pulumi.Output.from_input(zone_id),
            existing=True,
        )
        self.register_outputs({"target": target, **declared})

    def _drill_health_rule(
        self,
        name: str,
        args: SiteArgs,
        site: AwsAlbSiteSpec,
        listener_arn: pulumi.Input[str] | None,
        dns_name: pulumi.Output[str],
        region: str | None,
        tags: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> aws.lb.ListenerRule:
        """The `health` fault: the health path answers 503 at the team's listener, for the hostname and for the load
        balancer's own name only (a path-only rule would fail every service on a shared listener).

        Real clients, `bascule verify` and Traffic Manager's probes (Host = the hostname) see the 503. A Route 53
        alias does not: target health comes from the target groups' own checks, which the load balancer sends to
        each target directly ("Each load balancer node checks the health of each target",
        https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html), never
        through a listener rule. So Route 53 attaches a check of the load balancer's name for the drill's duration
        (`Route53Failover`), which the rule answers 503 because its Host is that name.

        Rule limits (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html,
        load-balancer-limits.html): one `path-pattern` and one `host-header` condition, 5 condition values per rule:
        1 path + 2 hosts fits. The priority is the team's (`drill_rule_priority`): it must come before the rule
        that forwards the hostname, and a taken one fails the drill (PriorityInUse) rather than being moved.
        """
        if listener_arn is None:
            raise pulumi.RunError(
                f"{name}: listener_arn: the 'health' drill adds its 503 rule to the listener that serves "
                f"{args.service.hostname}; name it in the site spec or SiteInputs.load_balancer"
            )
        hc = args.service.health_check
        if hc.effective_port == _DEFAULT_PORTS.get(hc.protocol):
            host = aws.lb.ListenerRuleConditionHostHeaderArgs(values=[args.service.hostname, dns_name])
        else:
            # On another port Route 53 sends "name:port" as Host (HealthCheckConfig `Port`,
            # https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html), which host
            # patterns do not match: "To match host headers containing a non-standard port ..., use
            # `regex_values`" (`aws.lb.ListenerRuleConditionHostHeaderArgs`).
            host = aws.lb.ListenerRuleConditionHostHeaderArgs(
                regex_values=[_host_regex(args.service.hostname), dns_name.apply(_host_regex)]
            )
        return health_fault_rule(
            name,
            listener_arn=listener_arn,
            priority=site.drill_rule_priority,
            health_path=hc.path,
            conditions=[aws.lb.ListenerRuleConditionArgs(host_header=host)],
            region=region,
            tags=tags,
            opts=child,
        )


def _host_regex(name: str) -> str:
    return "^" + name.replace(".", "\\.") + "(:[0-9]+)?$"


def _application(value: object) -> None:
    if value != "application":
        raise ValueError(f"load_balancer_arn: the load balancer is of type '{value}', not an Application Load Balancer")


def _zone_id(value: object) -> None:
    check_zone_id("load_balancer.zone_id", value)
