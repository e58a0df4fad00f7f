"""GCP site under mocks: Cloud Run behind a global HTTPS load balancer, named by an A record in the zone."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from bascule.spec import SpecError, parse_services
from tests.conftest import Plan, stack_config
from tests.test_powerdns import service as powerdns_service

PlanFn = Callable[..., Plan]


@pytest.fixture
def gcp() -> dict[str, Any]:
    return copy.deepcopy(stack_config("gcp")["bascule:services"][0])


def test_cloud_run_is_warm_public_and_labelled(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    plan = plan_services([gcp])
    run = plan.named("search-secondary-run", "gcp:cloudrunv2/service:Service")
    assert run.inputs["location"] == "europe-west1"
    assert run.inputs["template"]["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 10}
    assert run.inputs["template"]["containers"][0]["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert run.inputs["labels"] == {"bascule-service": "search", "bascule-role": "secondary",
                                    "bascule-criticality": "critical", "bascule-rto-seconds": "300"}  # fmt: skip
    member = plan.named("search-secondary-public", "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert (member.inputs["role"], member.inputs["member"]) == ("roles/run.invoker", "allUsers")
    provider = plan.named("search-secondary-provider", "pulumi:providers:gcp")
    assert (provider.inputs["project"], provider.inputs["region"]) == ("shop-dr-eu", "europe-west1")


def test_load_balancer_chain_and_certificate(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    plan = plan_services([gcp])
    neg = plan.named("search-secondary-neg", "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")
    assert neg.inputs["networkEndpointType"] == "SERVERLESS"
    run = plan.named("search-secondary-run", "gcp:cloudrunv2/service:Service")
    assert neg.inputs["cloudRun"] == {"service": run.outputs["name"]}
    member = plan.named("search-secondary-public", "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert member.inputs["name"] == run.outputs["name"]
    backend = plan.named("search-secondary-backend", "gcp:compute/backendService:BackendService")
    assert backend.inputs["backends"] == [{"group": neg.id}]
    assert neg.id.startswith("projects/shop-dr-eu/regions/europe-west1/networkEndpointGroups/")
    cert = plan.named("search-secondary-cert", "gcp:compute/managedSslCertificate:ManagedSslCertificate")
    assert cert.inputs["managed"]["domains"] == ["search.shop.example.com"]
    rule = plan.named("search-secondary-https", "gcp:compute/globalForwardingRule:GlobalForwardingRule")
    assert (rule.inputs["portRange"], rule.inputs["loadBalancingScheme"]) == ("443", "EXTERNAL_MANAGED")
    assert rule.inputs["ipAddress"] == "203.0.113.10"


def test_route53_fails_over_to_the_named_load_balancer(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    plan = plan_services([gcp])
    alias = plan.named("search-secondary-alias", "aws:route53/record:Record")
    assert (alias.inputs["name"], alias.inputs["type"], alias.inputs["records"]) == (
        "search-secondary.shop.example.com", "A", ["203.0.113.10"])  # fmt: skip
    secondary = plan.named("search-dns-secondary", "aws:route53/record:Record")
    assert secondary.inputs["type"] == "CNAME" and secondary.inputs["records"] == ["search-secondary.shop.example.com"]
    check = plan.named("search-dns-secondary", "aws:route53/healthCheck:HealthCheck")
    assert check.inputs["fqdn"] == "search-secondary.shop.example.com"


def test_powerdns_uses_the_gcp_address(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    svc = powerdns_service()
    svc["secondary"] = gcp["secondary"]
    plan = plan_services([svc], {"bascule:powerdnsApiKey": "k"})
    (record,) = [r for r in plan.resources if r.type == "pulumi-python:dynamic:Resource" and r.inputs["rtype"] == "LUA"]
    assert "{{'192.0.2.10'},{'203.0.113.10'}}" in record.inputs["contents"][0]


def test_gcp_spec_rules(gcp: dict[str, Any]) -> None:
    gcp["secondary"]["region"] = "europe-west99"
    gcp["secondary"]["project"] = "X"
    with pytest.raises(SpecError) as exc:
        parse_services([gcp], "s.yaml")
    assert any("secondary.project: 'X' is not a GCP project id" in line for line in exc.value.lines)
    assert any("secondary.region: 'europe-west99' is not a known gcp region" in line for line in exc.value.lines)
