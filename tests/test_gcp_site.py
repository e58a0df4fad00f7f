"""GCP site under mocks: Cloud Run behind a global HTTPS load balancer, named by an A record in the zone."""

from __future__ import annotations

import copy
import re
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
    assert run.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
    assert run.inputs["template"]["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 10}
    assert run.inputs["template"]["containers"][0]["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert run.inputs["labels"] == {"bascule-service": "search", "bascule-role": "secondary",
                                    "bascule-criticality": "critical", "bascule-rto-seconds": "300",
                                    "bascule-rpo-seconds": "60"}  # fmt: skip
    # Public through the load balancer by turning the invoker check off, not by an `allUsers` binding.
    assert run.inputs["invokerIamDisabled"] is True
    assert not [r.type for r in plan.resources if r.type.startswith("gcp:cloudrunv2/serviceIam")]
    # The stack's default provider, with the spec's project and region on the resources themselves.
    assert not plan.of_type("pulumi:providers:gcp") and not run.provider
    assert (run.inputs["project"], run.inputs["location"]) == ("shop-dr-eu", "europe-west1")


def test_load_balancer_chain_and_certificate(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    plan = plan_services([gcp])
    neg = plan.named("search-secondary-neg", "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")
    assert neg.inputs["networkEndpointType"] == "SERVERLESS"
    run = plan.named("search-secondary-run", "gcp:cloudrunv2/service:Service")
    assert neg.inputs["cloudRun"] == {"service": run.outputs["name"]}
    backend = plan.named("search-secondary-backend", "gcp:compute/backendService:BackendService")
    assert backend.inputs["backends"] == [{"group": neg.id}]
    assert neg.id.startswith("projects/shop-dr-eu/regions/europe-west1/networkEndpointGroups/")
    rule = plan.named("search-secondary-https", "gcp:compute/globalForwardingRule:GlobalForwardingRule")
    assert (rule.inputs["portRange"], rule.inputs["loadBalancingScheme"]) == ("443", "EXTERNAL_MANAGED")
    assert rule.inputs["ipAddress"] == "203.0.113.10"


def test_certificate_is_dns_authorized_and_mapped(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    """Certificate Manager with a DNS authorization: the proof is a CNAME in the zone, created before the
    certificate; nothing needs the hostname to resolve to this load balancer."""
    plan = plan_services([gcp])
    assert not [r for r in plan.resources if r.type.startswith("gcp:compute/managedSslCertificate")]
    auth = plan.named("search-secondary-dnsauth", "gcp:certificatemanager/dnsAuthorization:DnsAuthorization")
    assert (auth.inputs["domain"], auth.inputs["location"]) == ("search.shop.example.com", "global")
    assert auth.inputs["type"] == "PER_PROJECT_RECORD"
    challenge = auth.outputs["dnsResourceRecords"][0]
    assert challenge["name"].startswith("_acme-challenge_")
    proof = plan.named("search-secondary-dnsauth", "aws:route53/record:Record")
    assert (proof.inputs["name"], proof.inputs["type"]) == (challenge["name"], "CNAME")
    assert "allowOverwrite" not in proof.inputs
    assert proof.inputs["records"] == [challenge["data"]]
    assert proof.inputs["zoneId"] == "Z0123456789ABCDEFGHIJ"
    cert = plan.named("search-secondary-cert", "gcp:certificatemanager/certificate:Certificate")
    assert cert.inputs["managed"] == {
        "domains": ["search.shop.example.com"],
        "dnsAuthorizations": [auth.id],
    }
    assert proof.urn in cert.dependencies and auth.urn in cert.dependencies
    cert_map = plan.named("search-secondary-certmap", "gcp:certificatemanager/certificateMap:CertificateMap")
    entry = plan.named("search-secondary-certmap", "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry")
    assert entry.inputs["hostname"] == "search.shop.example.com"
    assert entry.inputs["certificates"] == [cert.id]
    assert entry.inputs["map"] == cert_map.outputs["name"]
    assert "matcher" not in entry.inputs
    # Clients without SNI (or with a name no entry matches) get the same certificate instead of a failed handshake.
    primary = plan.named(
        "search-secondary-certmap-primary", "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry"
    )
    assert (primary.inputs["matcher"], primary.inputs["certificates"]) == ("PRIMARY", [cert.id])
    assert primary.inputs["map"] == cert_map.outputs["name"] and "hostname" not in primary.inputs
    proxy = plan.named("search-secondary-https", "gcp:compute/targetHttpsProxy:TargetHttpsProxy")
    assert proxy.inputs["certificateMap"] == f"//certificatemanager.googleapis.com/{cert_map.id}"
    assert "sslCertificates" not in proxy.inputs
    # Nothing in the site waits for the service's failover records (the hostname pointing here).
    records = plan.of_type("aws:route53/record:Record")
    switch = {r.urn for r in records if r.name in ("search-dns-primary", "search-dns-secondary")}
    assert switch and not [r.name for r in plan.resources if switch & set(r.dependencies)]


def test_port_80_redirects_to_https(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    plan = plan_services([gcp])
    redirect = plan.named("search-secondary-redirect", "gcp:compute/uRLMap:URLMap")
    assert redirect.inputs["defaultUrlRedirect"]["httpsRedirect"] is True
    proxy = plan.named("search-secondary-http", "gcp:compute/targetHttpProxy:TargetHttpProxy")
    assert proxy.inputs["urlMap"] == redirect.id
    rule = plan.named("search-secondary-http", "gcp:compute/globalForwardingRule:GlobalForwardingRule")
    assert (rule.inputs["portRange"], rule.inputs["ipAddress"], rule.inputs["target"]) == (
        "80", "203.0.113.10", proxy.id)  # fmt: skip


def test_route53_checks_the_load_balancer_ip_for_the_hostname(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    plan = plan_services([gcp])
    secondary = plan.named("search-dns-secondary", "aws:route53/record:Record")
    assert (secondary.inputs["type"], secondary.inputs["records"]) == ("A", ["203.0.113.10"])
    check = plan.named("search-dns-secondary", "aws:route53/healthCheck:HealthCheck")
    assert (check.inputs["ipAddress"], check.inputs["fqdn"]) == ("203.0.113.10", "search.shop.example.com")
    assert check.inputs["enableSni"] is True


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


@pytest.mark.parametrize(
    ("cpu", "memory", "message"),
    [
        ("1", "6Gi", "secondary: cpu: Cloud Run needs at least 2 CPUs for 6Gi, not 1"),
        ("2", "10Gi", "secondary: cpu: Cloud Run needs at least 4 CPUs for 10Gi, not 2"),
        ("4", "1Gi", "secondary: memory: Cloud Run with 4 CPUs needs at least 2Gi, not 1Gi"),
        ("8", "40Gi", "secondary: memory: Cloud Run takes 128Mi to 32Gi, not 40Gi"),
        ("1", "512MB", "secondary.memory: '512MB' is not a Cloud Run memory limit such as 512Mi or 2Gi"),
    ],
)
def test_cloud_run_cpu_and_memory_pairs(gcp: dict[str, Any], cpu: str, memory: str, message: str) -> None:
    gcp["secondary"].update(cpu=cpu, memory=memory)
    with pytest.raises(SpecError) as exc:
        parse_services([gcp], "s.yaml")
    assert exc.value.lines == [f"s.yaml: service 'search': {message}"]


def test_cloud_run_accepts_documented_pairs(gcp: dict[str, Any]) -> None:
    for cpu, memory in (("1", "4Gi"), ("2", "8Gi"), ("4", "2Gi"), ("8", "32Gi"), ("1", "128Mi")):
        gcp["secondary"].update(cpu=cpu, memory=memory)
        assert parse_services([gcp], "s.yaml").services[0].secondary.cpu == cpu


def test_the_site_enables_its_apis_first_and_leaves_them_on(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    """One `gcp.projects.Service` per API the site calls, in its project, never disabled on destroy; every other
    resource of the site depends on them."""
    plan = plan_services([gcp])
    apis = {r.inputs["service"]: r for r in plan.of_type("gcp:projects/service:Service")}
    assert set(apis) == {
        "run.googleapis.com",
        "compute.googleapis.com",
        "certificatemanager.googleapis.com",
        "iam.googleapis.com",
    }
    for api in apis.values():
        assert (api.inputs["project"], api.inputs["disableOnDestroy"]) == ("shop-dr-eu", False)
        assert "disableDependentServices" not in api.inputs
    urns = {api.urn for api in apis.values()}
    site = [r for r in plan.resources if r.type.startswith("gcp:") and r.type != "gcp:projects/service:Service"
            and not r.type.startswith("pulumi:")]  # fmt: skip
    assert len(site) >= 14
    for resource in site:
        assert urns <= set(resource.dependencies), resource.name


def test_long_service_names_keep_every_gcp_name_within_its_limit(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    """`<service>-secondary-certmap-primary` plus Pulumi's suffix passes 63 for a long service name: every GCP name
    is cut to fit; a short one keeps its exact old logical name (existing stacks keep their URNs)."""
    from bascule import facts

    gcp["name"] = "a" * 32
    gcp["hostname"] = "long.shop.example.com"
    plan = plan_services([gcp])
    limited = [r for r in plan.resources if r.type.startswith("gcp:") and r.type in facts.NAME_LIMITS]
    assert len(limited) >= 14
    for r in limited:
        limit = facts.NAME_LIMITS[r.type]
        # Auto-named (Pulumi adds its suffix), or named explicitly (the runtime account's `account_id`).
        name = str(r.inputs.get(limit.name_input) or f"{r.name}-abc1234")
        assert len(name) <= limit.max_length, name
        assert re.match(limit.pattern, name), name
    assert not [r for r in limited if r.name.endswith("-certmap-primary")]
    short = plan_services([copy.deepcopy(stack_config("gcp")["bascule:services"][0])])
    short.named("search-secondary-certmap-primary", "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry")


def test_the_standby_runs_as_its_own_account_behind_tls_1_2(plan_services: PlanFn, gcp: dict[str, Any]) -> None:
    """Not the Compute Engine default service account (Project Editor in many projects): an account of its own, with
    no role, named per Pulumi stack so two stacks' standbys share a project; and no TLS below 1.2 at the load
    balancer (the default SSL policy allows TLS 1.0)."""
    plan = plan_services([gcp])
    (account,) = plan.of_type("gcp:serviceaccount/account:Account")
    (run,) = plan.of_type("gcp:cloudrunv2/service:Service")
    assert run.inputs["template"]["serviceAccount"] == account.outputs["email"]
    assert re.fullmatch(rf"{gcp['name']}-secondary-[0-9a-f]{{6}}", account.inputs["accountId"])
    # No role for it: no IAM binding or member of any kind in the project.
    assert not [r for r in plan.resources if r.type.startswith("gcp:") and "iam" in r.type.lower()]
    (policy,) = plan.of_type("gcp:compute/sSLPolicy:SSLPolicy")
    assert (policy.inputs["profile"], policy.inputs["minTlsVersion"]) == ("MODERN", "TLS_1_2")
    (proxy,) = plan.of_type("gcp:compute/targetHttpsProxy:TargetHttpsProxy")
    assert proxy.inputs["sslPolicy"] == policy.id
