"""The resource graph the components register under Pulumi mocks, with the argument values that matter."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from bascule.spec import SERVICE_TYPE, TAG_CRITICALITY, TAG_ROLE, TAG_SERVICE
from tests.conftest import Plan

HC = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
PlanFn = Callable[..., Plan]


@pytest.fixture
def dev(plan_services: PlanFn, dev_service: dict[str, Any]) -> Plan:
    return plan_services([dev_service])


def failover_records(plan: Plan, hostname: str) -> dict[str, dict[str, Any]]:
    records = [r for r in plan.of_type(RECORD) if r.inputs.get("name") == hostname]
    return {r.inputs["failoverRoutingPolicies"][0]["type"]: r.inputs for r in records}


def test_failover_pair_is_wired_to_health_checks(dev: Plan) -> None:
    records = failover_records(dev, "checkout.shop.example.com")
    assert set(records) == {"PRIMARY", "SECONDARY"}
    alb = dev.named("checkout-primary-alb", "aws:lb/loadBalancer:LoadBalancer")
    primary = records["PRIMARY"]
    # The ALB has no fixed IP: an alias that inherits its target groups' health, no Route 53 check.
    assert (primary["type"], primary["setIdentifier"]) == ("A", "checkout-primary")
    assert primary["aliases"] == [
        {"name": alb.outputs["dnsName"], "zoneId": alb.outputs["zoneId"], "evaluateTargetHealth": True}
    ]
    assert "healthCheckId" not in primary and "records" not in primary
    secondary = records["SECONDARY"]
    address = dev.named("checkout-secondary-ip", "gcp:compute/globalAddress:GlobalAddress")
    assert (secondary["type"], secondary["ttl"], secondary["setIdentifier"]) == ("A", 60, "checkout-secondary")
    assert secondary["records"] == [address.outputs["address"]]
    assert secondary["healthCheckId"] == dev.named("checkout-dns-secondary", HC).id
    (zone,) = dev.of_type("aws:route53/zone:Zone")
    assert {r["zoneId"] for r in records.values()} == {zone.outputs["zoneId"]}


def test_health_checks_follow_the_spec(dev: Plan) -> None:
    (check,) = dev.of_type(HC)
    i = check.inputs
    assert (i["type"], i["port"], i["resourcePath"]) == ("HTTPS", 443, "/healthz")
    assert (i["requestInterval"], i["failureThreshold"]) == (10, 3)
    assert i["regions"] == ["us-east-1", "eu-west-1", "ap-southeast-1"]
    assert "invertHealthcheck" not in i and "disabled" not in i
    # The standby's own address, asked for the service hostname: Host header and SNI are the hostname.
    address = dev.named("checkout-secondary-ip", "gcp:compute/globalAddress:GlobalAddress")
    assert i["ipAddress"] == address.outputs["address"]
    assert i["fqdn"] == "checkout.shop.example.com"
    assert i["enableSni"] is True


def test_new_zone_has_accelerated_recovery(dev: Plan) -> None:
    (zone,) = dev.of_type("aws:route53/zone:Zone")
    assert zone.inputs["name"] == "shop.example.com"
    assert zone.inputs["enableAcceleratedRecovery"] is True


def test_existing_zone_is_not_created(
    plan_services: PlanFn, dev_service: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    plan_services([dev_service])
    (said,) = [r.getMessage() for r in caplog.records if "new zone" in r.getMessage()]
    assert "new zone shop.example.com: delegate it at its parent" in said
    assert "ns-1.awsdns-01.org, ns-2.awsdns-02.org" in said and "75 minutes" in said
    caplog.clear()
    dev_service["dns"]["zone_id"] = "Z0123456789ABCDEFGHIJ"
    plan = plan_services([dev_service])
    assert plan.of_type("aws:route53/zone:Zone") == []
    assert {r.inputs["zoneId"] for r in plan.of_type(RECORD)} == {"Z0123456789ABCDEFGHIJ"}
    assert not [r for r in caplog.records if "new zone" in r.getMessage()]


AWS_GLOBAL = ("aws:iam/", "aws:route53/")
"""AWS types without a region (IAM, Route 53): pulumi-aws 7 gives them no `region` input."""


def test_aws_resources_use_the_stack_default_provider_in_the_site_region(dev: Plan) -> None:
    """Without a caller's provider every AWS resource goes through the stack's default provider (its settings:
    assumed roles, default tags), each regional one naming the site's region; GCP's too, each naming its project."""
    assert [r.name for r in dev.resources if r.type.startswith("pulumi:providers:")] == []
    aws_resources = [r for r in dev.resources if r.custom and r.type.startswith("aws:")]
    assert len(aws_resources) >= 20
    for r in aws_resources:
        assert not r.provider, f"{r.name} uses an explicit provider"
        if r.type.startswith(AWS_GLOBAL):
            assert "region" not in r.inputs, r.name
        else:
            assert r.inputs["region"] == "eu-west-3", r.name
    gcp_resources = [r for r in dev.resources if r.custom and r.type.startswith("gcp:")]
    assert len(gcp_resources) >= 15
    for r in gcp_resources:
        assert not r.provider and r.inputs["project"] == "shop-dr-eu", r.name


def test_a_disabled_default_provider_is_one_line(plan_services: PlanFn, dev_service: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"the stack disables the default 'aws' provider .*pass one as"):
        plan_services([dev_service], {"pulumi:disable-default-providers": ["aws"]})


def test_every_resource_is_parented_to_a_component(dev: Plan) -> None:
    components = {r.urn: r for r in dev.resources if not r.custom}
    assert {r.type for r in components.values()} == {
        "bascule:service:FailoverService",
        "bascule:aws:AwsSite",
        "bascule:gcp:GcpSite",
        "bascule:dns:Route53Failover",
    }
    service = dev.named("checkout")
    assert service.parent is None or service.parent not in dev.by_urn
    for r in dev.resources:
        if r is service:
            continue
        assert r.parent in components, f"{r.name} has no component parent"


def test_taggable_resources_carry_bascule_tags(dev: Plan) -> None:
    tagged = [r for r in dev.resources if "tags" in r.inputs]
    labelled = [r for r in dev.resources if "labels" in r.inputs]  # GCP: `:` is not allowed in label keys
    assert len(tagged) >= 15 and len(labelled) >= 5
    for r in tagged + labelled:
        tags = r.inputs.get("tags") or {k.replace("bascule-", "bascule:"): v for k, v in r.inputs["labels"].items()}
        assert tags[TAG_SERVICE] == "checkout"
        assert tags[TAG_CRITICALITY] == "critical"
        expected = {"primary": "primary", "secondary": "secondary", "dns": "dns"}[r.name.split("-")[1]]
        assert tags[TAG_ROLE] == expected, r.name


def test_aws_site_tls_chain(dev: Plan) -> None:
    cert = dev.named("checkout-primary-cert", "aws:acm/certificate:Certificate")
    validation = dev.named("checkout-primary-cert", "aws:acm/certificateValidation:CertificateValidation")
    record = dev.named("checkout-primary-cert-validation")
    option = cert.outputs["domainValidationOptions"][0]
    assert cert.inputs["domainName"] == "checkout.shop.example.com"
    assert cert.inputs["validationMethod"] == "DNS"
    assert (record.inputs["name"], record.inputs["type"]) == (option["resourceRecordName"], "CNAME")
    assert record.inputs["records"] == [option["resourceRecordValue"]]
    assert validation.inputs["validationRecordFqdns"] == [record.outputs["fqdn"]]
    https = dev.named("checkout-primary-https")
    assert (https.inputs["port"], https.inputs["protocol"]) == (443, "HTTPS")
    assert https.inputs["certificateArn"] == validation.outputs["certificateArn"]


def test_aws_site_runs_fargate_behind_the_alb(dev: Plan) -> None:
    svc = dev.named("checkout-primary-service")
    assert svc.inputs["launchType"] == "FARGATE"
    assert svc.inputs["desiredCount"] == 2
    assert svc.inputs["networkConfiguration"]["assignPublicIp"] is True
    tg = dev.named("checkout-primary-tg")
    assert svc.inputs["loadBalancers"][0]["targetGroupArn"] == tg.outputs["arn"]
    assert tg.inputs["healthCheck"]["path"] == "/healthz"
    subnets = sorted(dev.of_type("aws:ec2/subnet:Subnet"), key=lambda r: r.name)
    assert [s.inputs["availabilityZone"] for s in subnets] == ["eu-west-3a", "eu-west-3b"]
    task = dev.named("checkout-primary-task")
    assert (task.inputs["cpu"], task.inputs["memory"]) == ("256", "512")


def test_ip_endpoints_give_a_records_and_ip_checks(plan_services: PlanFn, dev_service: dict[str, Any]) -> None:
    dev_service["primary"] = {
        "kind": "endpoint",
        "provider": "aws",
        "region": "eu-west-3",
        "address": "192.0.2.1",
    }
    dev_service["secondary"] = {
        "kind": "endpoint",
        "provider": "azure",
        "region": "francecentral",
        "address": "198.51.100.1",
    }
    plan = plan_services([dev_service])
    records = failover_records(plan, "checkout.shop.example.com")
    assert records["PRIMARY"]["type"] == "A" and records["PRIMARY"]["records"] == ["192.0.2.1"]
    assert records["SECONDARY"]["records"] == ["198.51.100.1"]
    checks = {r.name: r.inputs for r in plan.of_type(HC)}
    assert checks["checkout-dns-primary"]["ipAddress"] == "192.0.2.1"
    assert checks["checkout-dns-primary"]["fqdn"] == "checkout.shop.example.com"
    assert checks["checkout-dns-primary"]["enableSni"] is True
    assert {r.type for r in plan.resources if r.custom} == {
        HC,
        RECORD,
        "aws:route53/zone:Zone",
    }


def test_search_string_selects_string_match_checks(plan_services: PlanFn, dev_service: dict[str, Any]) -> None:
    dev_service["health_check"].update(search_string="ok", interval_seconds=30, failure_threshold=2)
    plan = plan_services([dev_service])
    for check in plan.of_type(HC):
        assert check.inputs["type"] == "HTTPS_STR_MATCH"
        assert check.inputs["searchString"] == "ok"
        assert (check.inputs["requestInterval"], check.inputs["failureThreshold"]) == (30, 2)


def test_outputs_say_what_the_health_checks_ask_for(dev: Plan) -> None:
    """What drills and `verify` read: the component's registered outputs, kept in the stack's state."""
    (out,) = [r.outputs for r in dev.run.resources if r.type == SERVICE_TYPE]
    assert out["service"] == "checkout" and "drill" not in out  # None outputs are not kept
    assert (out["health_check_host"], out["health_path"]) == ("checkout.shop.example.com", "/healthz")
    assert set(out) >= {"hostname", "endpoints", "health_urls", "zone", "rto_budget_seconds", "rto_target_seconds"}
