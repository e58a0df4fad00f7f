"""A team's existing project (tests/projects/existing-service) adds a standby for the service it runs: its ALB is the
primary, its zone (an Output) holds the failover pair, its stack's provider settings reach Bascule's resources."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from typing import Any

import pytest
from typer.testing import CliRunner

from bascule import facts
from bascule.cli.app import app
from bascule.facts import Cloud
from bascule.inventory.records import from_offline_run
from bascule.inventory.sources import load_inventory
from bascule.offline.engine import ProgramError, RegisteredResource, load_program_dir, run_offline
from bascule.policies.config import Settings
from bascule.policies.rules import failover_budget, workloads
from bascule.spec import read_stack_config
from tests.conftest import ROOT, Plan

PROJECT = ROOT / "tests" / "projects" / "existing-service"
STACK = PROJECT / "Pulumi.prod.yaml"
RECORD, HC, RULE = (
    "aws:route53/record:Record",
    "aws:route53/healthCheck:HealthCheck",
    "aws:lb/listenerRule:ListenerRule",
)
SERVICE = "urn:pulumi:prod::checkout-platform::bascule:service:FailoverService::checkout"


def _plan(drill: str | None = None) -> Plan:
    project, program = load_program_dir(PROJECT)
    config: dict[str, Any] = read_stack_config(STACK)
    if drill is not None:
        config["bascule:drill"] = {"service": "checkout", "fault": drill}
    return Plan(run_offline(program, config, project=project, stack="prod"))


@pytest.fixture(scope="module")
def prod() -> Plan:
    return _plan()


def _bascule(plan: Plan) -> list[RegisteredResource]:
    """Resources the FailoverService declared, at any depth."""
    found = []
    for r in plan.resources:
        parent = r.parent
        while parent is not None and parent != SERVICE:
            parent = plan.by_urn[parent].parent if parent in plan.by_urn else None
        if parent == SERVICE:
            found.append(r)
    return found


def _records(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        r.inputs["failoverRoutingPolicies"][0]["type"]: r.inputs
        for r in plan.of_type(RECORD)
        if r.inputs.get("failoverRoutingPolicies")
    }


def test_check_program_passes_through_the_cli() -> None:
    result = CliRunner().invoke(
        app, ["check", "--program", str(PROJECT), "--stack-config", str(STACK), "-f", "json", "-q"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["mandatory"] == 0 and summary["resources"] >= 40


def test_the_inventory_sees_the_existing_alb_as_the_primary_site() -> None:
    inventory, _ = load_inventory(program=PROJECT, stack_config=STACK)
    (site,) = [r for r in inventory.resources if r.type == facts.AWS_ALB_SITE]
    assert (site.cloud, site.region, site.service, site.role) == (Cloud.AWS, "eu-west-3", "checkout", "primary")


def test_the_existing_alb_is_the_primary_and_nothing_is_built_for_it(prod: Plan) -> None:
    alb = prod.named("web", "aws:lb/loadBalancer:LoadBalancer")
    primary = _records(prod)["PRIMARY"]
    assert primary["aliases"] == [
        {"name": alb.outputs["dnsName"], "zoneId": alb.outputs["zoneId"], "evaluateTargetHealth": True}
    ]
    assert "healthCheckId" not in primary  # target health alone outside a drill (never Host = the ALB's name)
    bascule_types = {r.type for r in _bascule(prod)}
    for built in ("aws:lb/loadBalancer:LoadBalancer", "aws:ecs/service:Service", "aws:lb/listener:Listener",
                  "aws:acm/certificate:Certificate", "aws:ec2/vpc:Vpc", "aws:route53/zone:Zone", RULE):  # fmt: skip
        assert built not in bascule_types
    checks = {r.name for r in _bascule(prod) if r.type == HC}
    assert checks == {"checkout-dns-secondary"}  # the standby's IP check; none on the primary
    site = prod.named("checkout-primary", "bascule:aws:AwsAlbSite")
    assert (site.inputs["cloud"], site.inputs["region"]) == ("aws", "eu-west-3")
    # Only the team's own load balancer, listener and service exist.
    assert len(prod.of_type("aws:lb/loadBalancer:LoadBalancer")) == len(prod.of_type("aws:ecs/service:Service")) == 1


def test_the_team_s_zone_output_holds_the_records(prod: Plan) -> None:
    (zone,) = prod.of_type("aws:route53/zone:Zone")
    assert zone.name == "shop"  # the team's; Bascule created none
    bascule_records = [r for r in _bascule(prod) if r.type == RECORD]
    assert len(bascule_records) >= 3  # the failover pair and the standby's certificate authorization
    assert {r.inputs["zoneId"] for r in bascule_records} == {zone.outputs["zoneId"]}


def test_bascule_s_aws_resources_go_through_the_stack_s_default_provider(prod: Plan) -> None:
    """No explicit AWS provider anywhere: the engine's default provider, configured from the stack's aws:assumeRoles
    and aws:defaultTags (Pulumi's documented default-provider config), serves Bascule's resources too."""
    config = read_stack_config(STACK)
    assert config["aws:assumeRoles"][0]["roleArn"] == "arn:aws:iam::210987654321:role/checkout-deploy"
    assert config["aws:defaultTags"]["tags"]["team"] == "checkout"
    assert prod.of_type("pulumi:providers:aws") == []
    aws_resources = [r for r in _bascule(prod) if r.custom and r.type.startswith("aws:")]
    assert aws_resources
    assert all(not r.provider for r in aws_resources), [r.name for r in aws_resources if r.provider]


def test_health_drill_adds_a_rule_on_the_team_s_listener_and_a_check_through_it(prod: Plan) -> None:
    drilled = _plan("health")
    listener = prod.named("https", "aws:lb/listener:Listener")
    alb = prod.named("web", "aws:lb/loadBalancer:LoadBalancer")
    (rule,) = [r for r in _bascule(drilled) if r.type == RULE]
    # The URN a deployed stack's drill state holds: the rule's name and parent are part of the interface.
    assert rule.urn == (
        "urn:pulumi:prod::checkout-platform::bascule:service:FailoverService$bascule:aws:AwsAlbSite"
        "$aws:lb/listenerRule:ListenerRule::checkout-primary-drill-health"
    )
    assert rule.inputs["listenerArn"] == listener.outputs["arn"]
    assert rule.inputs["priority"] == 1
    assert rule.inputs["region"] == "eu-west-3" and not rule.provider
    conditions = rule.inputs["conditions"]
    assert conditions[0]["pathPattern"]["values"] == ["/healthz"]
    assert conditions[1]["hostHeader"]["values"] == ["checkout.shop.example.com", alb.outputs["dnsName"]]
    assert rule.inputs["actions"][0]["fixedResponse"]["statusCode"] == "503"
    (check,) = [r for r in _bascule(drilled) if r.type == HC and r.name == "checkout-dns-primary-drill"]
    assert check.inputs["type"] == "HTTPS" and check.inputs["fqdn"] == alb.outputs["dnsName"]
    assert check.inputs["resourcePath"] == "/healthz" and check.inputs["port"] == 443
    assert "invertHealthcheck" not in check.inputs
    assert _records(drilled)["PRIMARY"]["healthCheckId"] == check.id
    # Nothing else changes: the team's resources are untouched.
    before = {(r.type, r.name): r.inputs for r in prod.resources}
    after = {(r.type, r.name): r.inputs for r in drilled.resources}
    changed = {key for key in after if before.get(key) != after[key]}
    assert changed == {(RULE, "checkout-primary-drill-health"), (HC, "checkout-dns-primary-drill"),
                       (RECORD, "checkout-dns-primary")}  # fmt: skip


def test_switch_drill_is_a_calculated_check_above_its_one_child(prod: Plan) -> None:
    """Always unhealthy whether or not Route 53's checkers reach the team's load balancer (an inverted TCP check of
    an unreachable one would be healthy and never fail over)."""
    drilled = _plan("switch")
    alb = prod.named("web", "aws:lb/loadBalancer:LoadBalancer")
    (check,) = [r for r in _bascule(drilled) if r.type == HC and r.name == "checkout-dns-primary-drill"]
    (child,) = [r for r in _bascule(drilled) if r.type == HC and r.name == "checkout-dns-primary-drill-child"]
    assert check.inputs["type"] == "CALCULATED" and check.inputs["childHealthchecks"] == [child.id]
    assert check.inputs["childHealthThreshold"] > len(check.inputs["childHealthchecks"])
    assert "invertHealthcheck" not in check.inputs and "invertHealthcheck" not in child.inputs
    assert child.inputs["type"] == "TCP" and child.inputs["fqdn"] == alb.outputs["dnsName"]
    assert _records(drilled)["PRIMARY"]["healthCheckId"] == check.id
    assert not [r for r in _bascule(drilled) if r.type == RULE]
    # The calculated check declares no interval (the mocks make up a failure threshold of 1): the RTO budget counts
    # its child's (10 s x 3), not Route 53's defaults for an unset interval and threshold (30 s x 3).
    (workload,) = workloads(from_offline_run(drilled.run), Settings()).values()
    workload.checks = [replace(c, props={"type": c.props["type"]}) if c.props["type"] == "CALCULATED" else c
                       for c in workload.checks]  # fmt: skip
    assert failover_budget(workload) == (30.0, 60.0)


def test_outage_is_refused_with_the_reason() -> None:
    with pytest.raises(ProgramError, match=r"'outage' cannot be injected into 'checkout' \(its primary is kind 'aws-alb'\): "
                       r"Bascule does not own an existing site's capacity"):  # fmt: skip
        _plan("outage")


# --- The 'aws-alb' kind and a computed zone, from a stack file and from a program ------------------------------
LB = "arn:aws:elasticloadbalancing:eu-west-3:210987654321:loadbalancer/app/web/50dc6c495c0c9188"
LISTENER = "arn:aws:elasticloadbalancing:eu-west-3:210987654321:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"


def _alb_primary(dev_service: dict[str, Any], **fields: Any) -> dict[str, Any]:
    dev_service["primary"] = {"kind": "aws-alb", "region": "eu-west-3", **fields}
    return dev_service


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"load_balancer_arn": LB.replace("/app/", "/net/")}, "belongs to a Network Load Balancer"),
        (
            {"load_balancer_arn": LB.replace("eu-west-3", "eu-west-1")},
            "is in eu-west-1, the site's region is eu-west-3",
        ),
        ({"load_balancer_arn": "web"}, "'web' is not a load balancer ARN"),
        ({"load_balancer_arn": LB, "load_balancer_dns_name": "x.elb.amazonaws.com"}, "by ARN or by DNS name"),
        ({"load_balancer_dns_name": "web-1.eu-west-3.elb.amazonaws.com"}, "load_balancer_zone_id: a load balancer"),
        ({"load_balancer_dns_name": "w.elb.amazonaws.com", "load_balancer_zone_id": "/hostedzone/Z1"}, "not a hosted"),
        ({"load_balancer_arn": LB, "listener_arn": LISTENER.replace("50dc6c", "aaaaaa")}, "another load balancer"),
    ],
)
def test_a_wrong_load_balancer_is_one_line(
    plan_services: Any, dev_service: dict[str, Any], fields: dict[str, Any], message: str
) -> None:
    from bascule.spec import SpecError, parse_services

    with pytest.raises(SpecError, match=message):
        parse_services([_alb_primary(dev_service, **fields)], "Pulumi.prod.yaml")


def test_a_stack_file_alb_by_arn_is_looked_up_in_its_region(plan_services: Any, dev_service: dict[str, Any]) -> None:
    plan = plan_services([_alb_primary(dev_service, load_balancer_arn=LB, listener_arn=LISTENER)])
    primary = _records(plan)["PRIMARY"]
    assert primary["aliases"][0]["name"] == "web-1234567890.eu-west-3.elb.amazonaws.com"
    assert primary["aliases"][0]["evaluateTargetHealth"] is True
    assert not [r for r in plan.resources if r.type.startswith(("aws:lb/", "aws:ecs/", "aws:acm/"))]


def test_a_stack_file_alb_without_a_load_balancer_names_both_places(
    plan_services: Any, dev_service: dict[str, Any]
) -> None:
    with pytest.raises(ProgramError, match=r"load_balancer_arn: none given: .*SiteInputs.load_balancer"):
        plan_services([_alb_primary(dev_service)])


def test_health_without_a_listener_names_the_field(plan_services: Any, dev_service: dict[str, Any]) -> None:
    services = [_alb_primary(dev_service, load_balancer_arn=LB)]
    with pytest.raises(ProgramError, match=r"listener_arn: the 'health' drill adds its 503 rule"):
        plan_services(services, {"bascule:drill": {"service": "checkout", "fault": "health"}})


def test_the_health_rule_matches_the_path_without_its_query(plan_services: Any, dev_service: dict[str, Any]) -> None:
    """An ALB compares a path pattern with the URL's path only, and `?` in a pattern is a wildcard."""
    dev_service["health_check"] = {"path": "/healthz?deep=1"}
    services = [_alb_primary(dev_service, load_balancer_arn=LB, listener_arn=LISTENER)]
    plan = plan_services(services, {"bascule:drill": {"service": "checkout", "fault": "health"}})
    (rule,) = plan.of_type(RULE)
    assert rule.inputs["conditions"][0]["pathPattern"]["values"] == ["/healthz"]
    (check,) = [r for r in plan.of_type(HC) if r.name.endswith("-primary-drill")]
    assert check.inputs["resourcePath"] == "/healthz?deep=1"  # Route 53 asks with the query; the rule still matches


def test_the_stack_file_refuses_outage_on_an_existing_alb(plan_services: Any, dev_service: dict[str, Any]) -> None:
    services = [_alb_primary(dev_service, load_balancer_arn=LB)]
    with pytest.raises(Exception, match=r"fault: 'outage' cannot be injected .*Bascule does not own"):
        plan_services(services, {"bascule:drill": {"service": "checkout", "fault": "outage"}})


@pytest.mark.parametrize(("kind", "fields"), [
    ("powerdns", {"api_url": "https://ns1.example.eu:8081"}),
    ("clouddns", {"project": "shop-dr-eu"}),
])  # fmt: skip
def test_ip_only_switches_refuse_an_existing_alb(
    dev_service: dict[str, Any], kind: str, fields: dict[str, Any]
) -> None:
    from bascule.spec import SpecError, parse_services

    service = _alb_primary(dev_service, load_balancer_arn=LB)
    service["dns"] = {"kind": kind, "zone": "shop.example.com", **fields}
    with pytest.raises(SpecError, match=r"primary: .*'aws-alb' site"):
        parse_services([service], "Pulumi.prod.yaml")


def test_a_literal_zone_id_is_checked_for_form(dev_service: dict[str, Any]) -> None:
    from bascule.spec import SpecError, parse_services

    dev_service["dns"]["zone_id"] = "shop.example.com"
    with pytest.raises(SpecError, match=r"dns.zone_id: 'shop.example.com' is not a hosted zone id"):
        parse_services([dev_service], "Pulumi.prod.yaml")


def _program(zone_id: Any, literal_zone: str | None = None) -> Any:
    import pulumi

    from bascule.components import ExistingLoadBalancer, FailoverService, FailoverServiceArgs, SiteInputs
    from bascule.spec import AwsAlbSiteSpec, GcpSiteSpec, Route53DnsSpec, ServiceSpec

    def main() -> None:
        spec = ServiceSpec(
            name="svc",
            hostname="svc.shop.example.com",
            primary=AwsAlbSiteSpec(region="eu-west-3"),
            secondary=GcpSiteSpec(project="shop-dr-eu", region="europe-west9", image="img:1"),
            dns=Route53DnsSpec(zone="shop.example.com", zone_id=literal_zone),
        )
        lb = ExistingLoadBalancer(dns_name="web.eu-west-3.elb.amazonaws.com", zone_id="Z3Q77PNBQS71R4")
        args = FailoverServiceArgs(spec, primary=SiteInputs(load_balancer=lb), zone_id=zone_id(pulumi))
        FailoverService("svc", args)

    return main


def test_a_computed_zone_id_is_checked_once_known(caplog: pytest.LogCaptureFixture) -> None:
    """Refused once known, and the failed run leaves nothing behind: the SDK's tasks still pending when the check
    failed were left to the cyclic collector, which reported each ("Task was destroyed but it is pending!", with a
    traceback) at whatever collection came next. On Python 3.11 formatting that traceback parses source with `ast`;
    inside hypothesis's own `ast.parse` in a later test that was CPython's "AST constructor recursion depth
    mismatch" (test_names.py failed after this file)."""
    with pytest.raises(ProgramError, match=r"svc.zone_id: '/hostedzone/Z1' is not a hosted zone id"):
        run_offline(_program(lambda pulumi: pulumi.Output.from_input("/hostedzone/Z1")), {})
    caplog.clear()
    with caplog.at_level("ERROR", logger="asyncio"):
        gc.collect()
    assert not [r.getMessage() for r in caplog.records if r.name == "asyncio"]


def test_a_zone_id_given_twice_is_refused() -> None:
    with pytest.raises(ProgramError, match=r"dns.zone_id: given by both the spec and the program"):
        run_offline(_program(lambda pulumi: pulumi.Output.from_input("Z1"), literal_zone="Z2"), {})
