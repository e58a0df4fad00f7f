"""`bascule:drill` makes the components change exactly what a fault needs, for one service, and nothing else."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bascule.offline.engine import ProgramError
from bascule.spec import DRILL_KEY
from tests.conftest import Plan, stack_config

PlanFn = Callable[..., Plan]


def snapshot(plan: Plan) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r.type, r.name): r.inputs for r in plan.resources}


def diff(before: Plan, after: Plan) -> dict[tuple[str, str], tuple[Any, Any]]:
    a, b = snapshot(before), snapshot(after)
    return {key: (a.get(key), b.get(key)) for key in a.keys() | b.keys() if a.get(key) != b.get(key)}


@pytest.fixture
def prod() -> list[dict[str, Any]]:
    return copy.deepcopy(stack_config("prod")["bascule:services"])


def drilled(plan_services: PlanFn, services: list[dict[str, Any]], fault: str, service: str = "checkout") -> Plan:
    return plan_services(services, {DRILL_KEY: {"service": service, "fault": fault}})


def test_switch_fails_the_primary_alias_only(plan_services: PlanFn, prod: list[dict[str, Any]]) -> None:
    """The ALB primary is an alias with target health; `switch` attaches a check that can never connect: TCP to the
    load balancer's own name on a port its security group does not admit."""
    after = drilled(plan_services, prod, "switch")
    changes = diff(plan_services(prod), after)
    hc_key = ("aws:route53/healthCheck:HealthCheck", "checkout-dns-primary-drill")
    record_key = ("aws:route53/record:Record", "checkout-dns-primary")
    assert set(changes) == {hc_key, record_key}
    before_hc, check = changes[hc_key]
    assert before_hc is None
    alb = after.named("checkout-primary-alb", "aws:lb/loadBalancer:LoadBalancer")
    assert (check["type"], check["fqdn"], check["port"]) == ("TCP", alb.outputs["dnsName"], 444)
    assert "ipAddress" not in check and "invertHealthcheck" not in check and "childHealthchecks" not in check
    alb_sg = after.named("checkout-primary-alb", "aws:ec2/securityGroup:SecurityGroup")
    admitted = {(rule["fromPort"], rule["toPort"]) for rule in alb_sg.inputs["ingress"]}
    assert admitted == {(443, 443), (80, 80)}
    assert len(check["regions"]) >= 3
    before, record = changes[record_key]
    assert "healthCheckId" not in before and record["healthCheckId"] == "checkout-dns-primary-drill-id"
    assert {k: v for k, v in record.items() if k != "healthCheckId"} == before


def test_switch_inverts_an_ip_primary_check(plan_services: PlanFn, prod: list[dict[str, Any]]) -> None:
    services = [dict(prod[0], primary={"kind": "endpoint", "provider": "aws", "region": "eu-central-1",
                                       "address": "192.0.2.8"})]  # fmt: skip
    changes = diff(plan_services(services), drilled(plan_services, services, "switch"))
    assert list(changes) == [("aws:route53/healthCheck:HealthCheck", "checkout-dns-primary")]
    before, after = changes[("aws:route53/healthCheck:HealthCheck", "checkout-dns-primary")]
    assert "invertHealthcheck" not in before and after["invertHealthcheck"] is True
    assert {k: v for k, v in after.items() if k != "invertHealthcheck"} == before
    assert "disabled" not in after


RULE = ("aws:lb/listenerRule:ListenerRule", "checkout-primary-drill-health")
TARGET_GROUP = ("aws:lb/targetGroup:TargetGroup", "checkout-primary-tg")


def test_health_adds_one_503_rule_for_the_health_path(plan_services: PlanFn, prod: list[dict[str, Any]]) -> None:
    after = drilled(plan_services, prod, "health")
    changes = diff(plan_services(prod), after)
    assert set(changes) == {RULE, TARGET_GROUP}
    rule = changes[RULE][1]
    assert rule["priority"] == 1
    assert rule["conditions"] == [{"pathPattern": {"values": ["/healthz"]}}]
    assert rule["actions"] == [{"type": "fixed-response", "fixedResponse": {
        "contentType": "text/plain", "statusCode": "503", "messageBody": "bascule drill: health fault"}}]  # fmt: skip
    # The URN a deployed stack's drill state holds: the rule's name and parent are part of the interface.
    assert after.named(RULE[1], RULE[0]).urn == (
        "urn:pulumi:test::bascule::bascule:service:FailoverService$bascule:aws:AwsSite"
        "$aws:lb/listenerRule:ListenerRule::checkout-primary-drill-health"
    )
    https = after.named("checkout-primary-https", "aws:lb/listener:Listener")
    assert rule["listenerArn"] == https.outputs["arn"]


def test_health_rule_matches_a_health_path_with_a_query(plan_services: PlanFn, prod: list[dict[str, Any]]) -> None:
    """An ALB compares a path pattern with the URL's path only, and `?` in a pattern is a one-character wildcard."""
    services = [dict(prod[0], health_check={**prod[0].get("health_check", {}), "path": "/healthz?deep=1"})]
    rule = diff(plan_services(services), drilled(plan_services, services, "health"))[RULE][1]
    assert rule["conditions"] == [{"pathPattern": {"values": ["/healthz"]}}]


def test_health_behind_a_route53_alias_also_fails_the_target_group(
    plan_services: PlanFn, prod: list[dict[str, Any]]
) -> None:
    """The alias inherits the target groups' health, checked task by task past the listener: only the health
    check's port moves, to one the tasks' security group does not open, so every check times out."""
    plan = drilled(plan_services, prod, "health")
    before, after = diff(plan_services(prod), plan)[TARGET_GROUP]
    assert "port" not in before["healthCheck"]
    port = after["healthCheck"].pop("port")
    assert after == before
    tasks = plan.named("checkout-primary-tasks", "aws:ec2/securityGroup:SecurityGroup")
    opened = {(rule["fromPort"], rule["toPort"]) for rule in tasks.inputs["ingress"]}
    assert opened == {(8080, 8080)} and port == "8081"


def test_health_behind_traffic_manager_leaves_the_target_group_alone(plan_services: PlanFn) -> None:
    """Traffic Manager probes the hostname through the listener, so the 503 rule is what it sees; the tasks'
    own check keeps passing and ECS does not replace them."""
    services = copy.deepcopy(stack_config("tm")["bascule:services"])
    name = services[0]["name"]
    changes = diff(plan_services(services), drilled(plan_services, services, "health", service=name))
    assert list(changes) == [("aws:lb/listenerRule:ListenerRule", f"{name}-primary-drill-health")]


def test_outage_scales_only_the_primary_to_zero(plan_services: PlanFn, prod: list[dict[str, Any]]) -> None:
    """Behind Route 53 the primary alias also gets a check through the load balancer's HTTPS listener, which its
    empty target group answers 503: AWS documents the alias's view of an empty target group both ways."""
    after = drilled(plan_services, prod, "outage", service="catalog")
    changes = diff(plan_services(prod), after)
    service = ("aws:ecs/service:Service", "catalog-primary-service")
    check_key = ("aws:route53/healthCheck:HealthCheck", "catalog-dns-primary-drill")
    record_key = ("aws:route53/record:Record", "catalog-dns-primary")
    assert set(changes) == {service, check_key, record_key}
    before, scaled = changes[service]
    assert (before["desiredCount"], scaled["desiredCount"]) == (2, 0)
    # The restore's tasks update returns once they run, so the check it removes next never leaves an empty target
    # group alone behind the alias.
    assert before["waitForSteadyState"] is True and scaled["waitForSteadyState"] is True
    _, check = changes[check_key]
    alb = after.named("catalog-primary-alb", "aws:lb/loadBalancer:LoadBalancer")
    # HTTPS on 443 although the service's own checks may speak HTTP: port 80 only redirects, which counts healthy.
    assert (check["type"], check["fqdn"], check["port"], check["resourcePath"]) == (
        "HTTPS",
        alb.outputs["dnsName"],
        443,
        "/ready",
    )
    assert check["enableSni"] is True and "ipAddress" not in check
    old_record, record = changes[record_key]
    assert record["healthCheckId"] == "catalog-dns-primary-drill-id" and "healthCheckId" not in old_record


def test_outage_behind_traffic_manager_only_scales_to_zero(plan_services: PlanFn) -> None:
    """Traffic Manager probes the hostname through the listener: the empty load balancer's 503 is what it sees."""
    services = copy.deepcopy(stack_config("tm")["bascule:services"])
    name = services[0]["name"]
    changes = diff(plan_services(services), drilled(plan_services, services, "outage", service=name))
    assert list(changes) == [("aws:ecs/service:Service", f"{name}-primary-service")]


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ({"service": "nope", "fault": "switch"}, "bascule:drill.service: no service 'nope' in this stack"),
        ({"service": "checkout", "fault": "melt"}, "bascule:drill.fault: Input should be 'health', 'outage' or 'switch'"),
        ("{not json", "bascule:drill: not JSON"),
    ],
)  # fmt: skip
def test_bad_drill_config_is_refused(
    plan_services: PlanFn, prod: list[dict[str, Any]], hook: Any, message: str
) -> None:
    with pytest.raises(ProgramError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_services(prod, {DRILL_KEY: hook})


def test_health_fault_needs_an_aws_primary(plan_services: PlanFn, prod: list[dict[str, Any]]) -> None:
    prod[0]["primary"], prod[0]["secondary"] = prod[0]["secondary"], prod[0]["primary"]
    with pytest.raises(
        ProgramError, match="'health' needs an aws or aws-alb or hetzner or ovhcloud or scaleway primary"
    ):
        drilled(plan_services, prod, "health")
    changes = diff(plan_services(prod), drilled(plan_services, prod, "switch"))
    assert list(changes) == [("aws:route53/healthCheck:HealthCheck", "checkout-dns-primary")]


def test_the_drill_policy_lets_a_health_drill_move_only_tagged_target_groups() -> None:
    policy = json.loads((Path(__file__).parent.parent / "docs" / "drill-aws-policy.json").read_text())
    grants = [s for s in policy["Statement"] if "elasticloadbalancing:ModifyTargetGroup" in s["Action"]]
    assert [(s["Effect"], s["Resource"], s["Condition"]) for s in grants] == [
        (
            "Allow",
            "arn:aws:elasticloadbalancing:*:*:targetgroup/*",
            {"StringLike": {"aws:ResourceTag/bascule:service": "*"}},
        )
    ]
