"""The `health` drill's listener rule, one for both AWS site kinds: the health path answers 503 at the load balancer.

`AwsSite` adds it to the HTTPS listener it owns, `AwsAlbSite` to the team's listener (with a host condition, as a
listener may be shared). Each names it `<site>-drill-health` under its own component, as it always has, so a
deployed stack's drill state keeps its URN.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from bascule.components.aws.plugin import alb_path_pattern


def health_fault_rule(
    name: str,
    *,
    listener_arn: pulumi.Input[str],
    priority: int,
    health_path: str,
    conditions: Sequence[aws.lb.ListenerRuleConditionArgs] = (),
    region: str | None,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.lb.ListenerRule:
    """`<name>-drill-health`: a fixed 503 for `health_path` (as an ALB path pattern, `alb_path_pattern`) on the
    listener, at `priority`, ANDed with `conditions`. A fixed-response action answers at the load balancer itself
    ("returning a custom HTTP response",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-elasticloadbalancingv2-listenerrule-fixedresponseconfig.html),
    which is what clients and probes through the listener see."""
    path = aws.lb.ListenerRuleConditionArgs(
        path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=[alb_path_pattern(health_path)])
    )
    return aws.lb.ListenerRule(
        f"{name}-drill-health",
        listener_arn=listener_arn,
        priority=priority,
        conditions=[path, *conditions],
        actions=[
            aws.lb.ListenerRuleActionArgs(
                type="fixed-response",
                fixed_response=aws.lb.ListenerRuleActionFixedResponseArgs(
                    content_type="text/plain", status_code="503", message_body="bascule drill: health fault"
                ),
            )
        ],
        region=region,
        tags=tags,
        opts=opts,
    )
