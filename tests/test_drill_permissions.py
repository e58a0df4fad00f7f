"""The drills' least-privilege documents, evaluated against the API calls each fault makes (issue 22, item 5).

No cloud is reachable here, so a small evaluator of IAM policy documents stands in for AWS's: explicit Deny wins,
otherwise an Allow statement must match the action, the resource and every condition (the operators the policy
uses: StringEquals, StringLike, StringNotEquals and the ForAllValues: set form;
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
Each fault's calls are what the Terraform AWS provider, which pulumi-aws bridges, sends for the targeted update:
an updated Route 53 record is one UPSERT (`resourceRecordUpdate` falls through to create with UPSERT when neither type
nor set identifier changes), then GetChange until INSYNC and a read (GetHostedZone, ListResourceRecordSets); a
health check is created, then tagged (Route 53 takes no tags on create), read back with GetHealthCheck and
ListTagsForResource; an existing ALB looked up by ARN (`aws.lb.get_load_balancer`, on every update of a stack that has
one, whatever the fault) is DescribeLoadBalancers then DescribeLoadBalancerAttributes (`dataSourceLoadBalancerRead`
calls `findLoadBalancerAttributesByARN`, internal/service/elbv2/load_balancer_data_source.go); a listener rule is created with its tags (CreateRule with Tags, which also authorises AddTags)
and read with DescribeRules. The reads of tags by ECS (ListTagsForResource) are as the policy had them: unverified.
A call the policy refuses fails the test (missing); an allowed action no call uses fails it too (excess).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCS = Path(__file__).parent.parent / "docs"
ZONE, OTHER_ZONE = "Z0123456789ABCDEFGHIJ", "Z9999999999OTHERZONE"
HOST = "checkout.shop.example.com"
PRIMARY_CHECK, DRILL_CHECK = "11111111-aaaa-bbbb-cccc-000000000001", "22222222-aaaa-bbbb-cccc-000000000002"
ACCOUNT, REGION = "123456789012", "eu-west-3"
LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/checkout-primary-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = LISTENER.replace(":listener/", ":listener-rule/") + "/9683b2d02a6cabee"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/checkout-primary-tg/73e2d6bc24d8a067"
ECS_SERVICE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/checkout-primary/checkout-primary"
TAGGED = {"aws:ResourceTag/bascule:service": "checkout"}
TEAM_LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/shop-prod/7a1b2c3d4e5f6a7b/0f1e2d3c4b5a6978"
)
"""An `aws-alb` primary: the team's own HTTPS listener (untagged), named in the policy as `<TEAM_LISTENER_ARN>`."""
TEAM_RULE = TEAM_LISTENER.replace(":listener/", ":listener-rule/") + "/5e6f7a8b9c0d1e2f"


@dataclass(frozen=True)
class Call:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


def _aws_policy() -> dict[str, Any]:
    """The published template with its placeholders filled as a user fills them from the stack's outputs."""
    text = (DOCS / "drill-aws-policy.json").read_text()
    for placeholder, value in {
        "<ZONE_ID>": ZONE,
        "<HOSTNAME>": HOST,
        "<PRIMARY_HEALTH_CHECK_ID>": PRIMARY_CHECK,
        "<TEAM_LISTENER_ARN>": TEAM_LISTENER,
    }.items():
        text = text.replace(placeholder, value)
    assert "<" not in text, "a placeholder the test does not fill"
    return dict(json.loads(text))


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, wanted: list[str], context: dict[str, Any]) -> bool:
    multi = operator.startswith("ForAllValues:")
    op = operator.removeprefix("ForAllValues:")
    match = {
        "StringEquals": lambda v: v in wanted,
        "StringLike": lambda v: any(fnmatch.fnmatchcase(v, w) for w in wanted),
        "StringNotEquals": lambda v: v not in wanted,
    }[op]
    if key not in context:
        # A missing key: ForAllValues is vacuously true, a Not operator matches, the others do not.
        return multi or op == "StringNotEquals"
    values = _listed(context[key])
    return all(match(v) for v in values) if multi else any(match(v) for v in values)


def _matches(statement: dict[str, Any], call: Call) -> bool:
    if not any(fnmatch.fnmatchcase(call.action, a) for a in _listed(statement["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(call.resource, r) for r in _listed(statement["Resource"])):
        return False
    return all(
        _condition_holds(operator, key, _listed(wanted), call.context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, wanted in keys.items()
    )


def allowed(policy: dict[str, Any], call: Call) -> bool:
    """Explicit Deny wins; otherwise one matching Allow allows; nothing matching is an implicit deny."""
    hits = [s for s in policy["Statement"] if _matches(s, call)]
    return bool(hits) and all(s["Effect"] == "Allow" for s in hits)


def _record_upsert(name: str = HOST, zone: str = ZONE, rtype: str = "A", action: str = "UPSERT") -> list[Call]:
    return [
        Call("route53:GetHostedZone", f"arn:aws:route53:::hostedzone/{zone}"),
        Call(
            "route53:ChangeResourceRecordSets",
            f"arn:aws:route53:::hostedzone/{zone}",
            {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": [name],
                "route53:ChangeResourceRecordSetsRecordTypes": [rtype],
                "route53:ChangeResourceRecordSetsActions": [action],
            },
        ),
        Call("route53:GetChange", "arn:aws:route53:::change/C2682N5HXP0BZ4"),
        Call("route53:ListResourceRecordSets", f"arn:aws:route53:::hostedzone/{zone}"),
    ]


def _check_read(check: str) -> list[Call]:
    arn = f"arn:aws:route53:::healthcheck/{check}"
    return [Call("route53:GetHealthCheck", arn), Call("route53:ListTagsForResource", arn)]


LOOKUPS = [Call("sts:GetCallerIdentity", "*"), Call("ec2:DescribeAvailabilityZones", "*")]
"""What every targeted update asks while the program runs (the provider's identity, the site's zones)."""

FAULT_CALLS: dict[str, list[Call]] = {
    # An IP site's check inverted, then inverted back.
    "switch, fixed-IP primary": [
        *LOOKUPS,
        Call("route53:UpdateHealthCheck", f"arn:aws:route53:::healthcheck/{PRIMARY_CHECK}"),
        *_check_read(PRIMARY_CHECK),
    ],
    # An ALB alias: a new always-unhealthy check, tagged, attached to the primary record; restore detaches, deletes.
    "switch, ALB primary": [
        *LOOKUPS,
        Call("route53:CreateHealthCheck", "*"),
        Call("route53:ChangeTagsForResource", f"arn:aws:route53:::healthcheck/{DRILL_CHECK}"),
        *_check_read(DRILL_CHECK),
        *_record_upsert(),
        Call("route53:DeleteHealthCheck", f"arn:aws:route53:::healthcheck/{DRILL_CHECK}"),
    ],
    # A 503 rule on the tagged HTTPS listener (tagged as it is created), deleted on restore; behind Route 53 the
    # tagged target group's health check port moves and moves back.
    "health": [
        *LOOKUPS,
        Call("elasticloadbalancing:CreateRule", LISTENER, dict(TAGGED)),
        Call("elasticloadbalancing:CreateRule", RULE, {"aws:RequestTag/bascule:service": "checkout"}),
        Call(
            "elasticloadbalancing:AddTags",
            RULE,
            {"aws:RequestTag/bascule:service": "checkout", "elasticloadbalancing:CreateAction": "CreateRule"},
        ),
        Call("elasticloadbalancing:DescribeRules", "*"),
        Call("elasticloadbalancing:DescribeTags", "*"),
        Call("elasticloadbalancing:DeleteRule", RULE, dict(TAGGED)),
        Call("elasticloadbalancing:ModifyTargetGroup", TARGET_GROUP, dict(TAGGED)),
        Call("elasticloadbalancing:DescribeTargetGroups", "*"),
        Call("elasticloadbalancing:DescribeTargetGroupAttributes", "*"),
    ],
    # An existing ALB (`aws-alb`, looked up by ARN): a 503 rule on the team's listener, tagged as it is created and
    # deleted on restore, seen by a drill-only Route 53 check through that listener (created, tagged, attached).
    "health, existing ALB": [
        *LOOKUPS,
        Call("elasticloadbalancing:DescribeLoadBalancers", "*"),
        Call("elasticloadbalancing:DescribeLoadBalancerAttributes", "*"),
        Call("elasticloadbalancing:CreateRule", TEAM_LISTENER),
        Call("elasticloadbalancing:CreateRule", TEAM_RULE, {"aws:RequestTag/bascule:service": "checkout"}),
        Call(
            "elasticloadbalancing:AddTags",
            TEAM_RULE,
            {"aws:RequestTag/bascule:service": "checkout", "elasticloadbalancing:CreateAction": "CreateRule"},
        ),
        Call("elasticloadbalancing:DescribeRules", "*"),
        Call("elasticloadbalancing:DescribeTags", "*"),
        Call("elasticloadbalancing:DeleteRule", TEAM_RULE, dict(TAGGED)),
        Call("route53:CreateHealthCheck", "*"),
        Call("route53:ChangeTagsForResource", f"arn:aws:route53:::healthcheck/{DRILL_CHECK}"),
        *_check_read(DRILL_CHECK),
        *_record_upsert(),
        Call("route53:DeleteHealthCheck", f"arn:aws:route53:::healthcheck/{DRILL_CHECK}"),
    ],
    # Behind Route 53 a check through the load balancer's listener (created, tagged, attached; detached and deleted
    # on restore), then the tagged ECS service scaled to zero and back.
    "outage": [
        *LOOKUPS,
        Call("route53:CreateHealthCheck", "*"),
        Call("route53:ChangeTagsForResource", f"arn:aws:route53:::healthcheck/{DRILL_CHECK}"),
        *_check_read(DRILL_CHECK),
        *_record_upsert(),
        Call("route53:DeleteHealthCheck", f"arn:aws:route53:::healthcheck/{DRILL_CHECK}"),
        Call("ecs:UpdateService", ECS_SERVICE, dict(TAGGED)),
        Call("ecs:DescribeServices", ECS_SERVICE, dict(TAGGED)),
        Call("ecs:ListTagsForResource", ECS_SERVICE, dict(TAGGED)),
    ],
}

REFUSED: dict[str, Call] = {
    "a record of another name": _record_upsert(name="www.shop.example.com")[1],
    "a record in another zone": _record_upsert(zone=OTHER_ZONE)[1],
    "a TXT record of the hostname": _record_upsert(rtype="TXT")[1],
    "deleting the failover record": _record_upsert(action="DELETE")[1],
    "inverting another health check": Call("route53:UpdateHealthCheck", f"arn:aws:route53:::healthcheck/{DRILL_CHECK}"),
    "tagging the hosted zone": Call("route53:ChangeTagsForResource", f"arn:aws:route53:::hostedzone/{ZONE}"),
    "a rule on an untagged listener": Call("elasticloadbalancing:CreateRule", LISTENER),
    "tagging an existing rule": Call("elasticloadbalancing:AddTags", RULE, {"aws:RequestTag/bascule:service": "x"}),
    "moving an untagged target group": Call("elasticloadbalancing:ModifyTargetGroup", TARGET_GROUP),
    "scaling an untagged service": Call("ecs:UpdateService", ECS_SERVICE),
    "modifying a listener rule": Call("elasticloadbalancing:ModifyRule", RULE, dict(TAGGED)),
}


@pytest.mark.parametrize("fault", FAULT_CALLS)
def test_every_call_of_a_fault_is_allowed(fault: str) -> None:
    policy = _aws_policy()
    refused = [c for c in FAULT_CALLS[fault] if not allowed(policy, c)]
    assert not refused, f"{fault}: the policy refuses {refused}"


def test_no_action_is_allowed_that_no_fault_uses() -> None:
    policy = _aws_policy()
    used = {c.action for calls in FAULT_CALLS.values() for c in calls}
    granted = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in _listed(s["Action"])}
    assert granted == used, f"excess: {sorted(granted - used)}, missing: {sorted(used - granted)}"


@pytest.mark.parametrize("what", REFUSED)
def test_what_the_drill_must_not_touch_is_refused(what: str) -> None:
    assert not allowed(_aws_policy(), REFUSED[what])


def test_the_evaluator_itself() -> None:
    """The evaluator's own rules, on a policy small enough to read: a Deny beats an Allow, a condition with a missing
    key fails (ForAllValues passes vacuously), wildcards match within one ARN."""
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/secret"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "private"}}},
        ]
    }  # fmt: skip
    assert allowed(policy, Call("s3:GetObjectTagging", "arn:aws:s3:::b/k"))
    assert not allowed(policy, Call("s3:GetObject", "arn:aws:s3:::b/secret"))
    assert not allowed(policy, Call("s3:GetObject", "arn:aws:s3:::c/k"))
    assert allowed(policy, Call("s3:PutObject", "x", {"s3:x-amz-acl": "private"}))
    assert not allowed(policy, Call("s3:PutObject", "x"))
    assert _condition_holds("ForAllValues:StringEquals", "k", ["a"], {})
    assert not _condition_holds("ForAllValues:StringEquals", "k", ["a"], {"k": ["a", "b"]})


# --- GCP and Azure: the switch fault's permissions, exactly --------------------------------------------------
GCP_SWITCH = {
    # The targeted update of the one record set: read the zone and the set, one change that may carry the deletion
    # of the old set and the addition of the new one (each checked on its own), and the change's status.
    "dns.managedZones.get", "dns.resourceRecordSets.get", "dns.resourceRecordSets.list",
    "dns.resourceRecordSets.create", "dns.resourceRecordSets.delete", "dns.resourceRecordSets.update",
    "dns.changes.create", "dns.changes.get",
}  # fmt: skip
AZURE_SWITCH = {
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Network/trafficManagerProfiles/read",
    "Microsoft.Network/trafficManagerProfiles/externalEndpoints/read",
    "Microsoft.Network/trafficManagerProfiles/externalEndpoints/write",
}


def test_gcp_role_is_the_switch_and_is_bound_on_the_zone() -> None:
    text = (DOCS / "drill-gcp-role.yaml").read_text()
    role = yaml.safe_load(text)
    assert set(role["includedPermissions"]) == GCP_SWITCH
    # Every permission is one Cloud DNS checks on a managed zone, so the role can be bound there, not on the project.
    assert all(p.startswith(("dns.managedZones.", "dns.resourceRecordSets.", "dns.changes.")) for p in GCP_SWITCH)
    assert "gcloud dns managed-zones set-iam-policy" in text and "--project" not in text.split("Bind it")[1]


def test_the_azure_service_tag_read_is_a_role_of_its_own_on_the_subscription() -> None:
    """Every `up` of a program with an Azure site that reads the Front Door service tag calls Service Tags - List
    (subscription scope): a drill's targeted update and its restore too. One read action, nothing else."""
    role = json.loads((DOCS / "drill-azure-service-tags-role.json").read_text())
    assert role["Actions"] == ["Microsoft.Network/locations/serviceTags/read"] and role["NotActions"] == []
    assert role["AssignableScopes"] == ["/subscriptions/<subscription-id>"]


def test_azure_role_is_the_switch_on_one_resource_group() -> None:
    role = json.loads((DOCS / "drill-azure-role.json").read_text())
    assert set(role["Actions"]) == AZURE_SWITCH and role["NotActions"] == []
    assert role["AssignableScopes"] == [
        "/subscriptions/<subscription-id>/resourceGroups/<traffic-manager-resource-group>"
    ]
