"""Scaleway site under mocks, with the real pulumiverse-scaleway and pulumiverse-acme SDK classes: warm Instances
behind a Load Balancer whose certificate comes from Let's Encrypt by DNS-01 through the Route 53 zone, and its spec's
rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from bascule import facts
from bascule.components.registry import site_class
from bascule.components.scaleway.plugin import SERVER_IMAGE, SERVER_NAME, ZONES
from bascule.drills.plan import Fault
from bascule.inventory.records import from_offline_run
from bascule.offline.placeholders import resource_class
from bascule.spec import DRILL_KEY, SERVICE_TYPE, parse_services, site_kind
from bascule.spec.acme import LETS_ENCRYPT_DIRECTORY
from bascule.spec.plugins import site_authorities
from tests.site_kinds import (
    NO_ACME_DNS,
    PlanFn,
    as_primary,
    assert_eu_provider_rule_passes_with_and_fails_without,
    assert_no_switch_record_is_a_dependency,
    assert_route53_answers_and_checks,
    no_acme_backend,
    options_passed,
    secret,
    spec_errors,
    stack_drill_targets,
    stack_service,
)

LB_IP = "203.0.113.40"  # the offline engine's stand-in for a load balancer's flexible IPv4
TAGS = ["bascule:service=ledger", "bascule:role=secondary", "bascule:criticality=critical", "bascule:rto-seconds=300",
        "bascule:rpo-seconds=60"]  # fmt: skip


@pytest.fixture
def ledger() -> dict[str, Any]:
    return stack_service("scaleway")


def test_servers_are_warm_private_and_run_the_image(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    plan = plan_services([ledger])
    servers = plan.of_type("scaleway:instance/server:Server")
    assert sorted(s.name for s in servers) == ["ledger-secondary-server-0", "ledger-secondary-server-1"]
    group = plan.named("ledger-secondary-sg", "scaleway:instance/securityGroup:SecurityGroup")
    assert (group.inputs["inboundDefaultPolicy"], group.inputs["outboundDefaultPolicy"]) == ("drop", "accept")
    assert group.inputs["stateful"] is True and not group.inputs.get("inboundRules")
    spread = plan.named("ledger-secondary-spread", "scaleway:instance/placementGroup:PlacementGroup")
    assert (spread.inputs["policyType"], spread.inputs["policyMode"]) == ("max_availability", "optional")
    vpc = plan.named("ledger-secondary-vpc", "scaleway:network/vpc:Vpc")
    network = plan.named("ledger-secondary-pn", "scaleway:network/privateNetwork:PrivateNetwork")
    # The site's own VPC: Projects created after 13 May 2025 have no default one.
    assert (vpc.inputs["region"], vpc.inputs["tags"]) == ("nl-ams", TAGS)
    assert (network.inputs["region"], network.inputs["vpcId"]) == ("nl-ams", vpc.id)
    for server in servers:
        assert (server.inputs["zone"], server.inputs["type"], server.inputs["image"]) == (
            "nl-ams-1", "PRO2-XXS", SERVER_IMAGE)  # fmt: skip
        assert server.inputs["securityGroupId"] == group.id
        assert server.inputs["placementGroupId"] == spread.id
        assert server.inputs["privateNetworks"] == [{"pnId": network.id}]
        assert server.inputs["enableDynamicIp"] is True
        assert server.inputs["tags"] == TAGS
        assert "userData" not in server.inputs  # left to the provider: a refresh adds ssh-host-fingerprints to it
        config = yaml.safe_load(server.inputs["cloudInit"])
        assert config["packages"] == ["docker.io"]
        assert config["runcmd"][-1] == ["docker", "run", "--detach", "--name", "service", "--restart", "always",
                                        "--publish", "8080:8080", "ghcr.io/example/ledger:4.1.0"]  # fmt: skip


def test_a_new_image_replaces_the_servers(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    """The provider ignores a changed `cloud_init` on update and cloud-init reads it at first boot only: a change
    replaces the server."""
    import pulumiverse_scaleway as scaleway

    seen = options_passed(plan_services, ledger, scaleway.instance, "Server")
    assert len(seen) == 2 and all(opts.replace_on_changes == ["cloudInit"] for opts in seen)


def test_load_balancer_serves_the_certificate_and_checks_with_the_hostname(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    address = plan.named("ledger-secondary-ip", "scaleway:loadbalancers/ip:Ip")
    lb = plan.named("ledger-secondary-lb", "scaleway:loadbalancers/loadBalancer:LoadBalancer")
    network = plan.named("ledger-secondary-pn", "scaleway:network/privateNetwork:PrivateNetwork")
    assert (lb.inputs["zone"], lb.inputs["type"], lb.inputs["ipIds"]) == ("nl-ams-1", "LB-S", [address.id])
    assert lb.inputs["privateNetworks"] == [{"privateNetworkId": network.id}]
    backend = plan.named("ledger-secondary-backend", "scaleway:loadbalancers/backend:Backend")
    servers = plan.of_type("scaleway:instance/server:Server")
    ipv4s = [next(ip["address"] for ip in s.outputs["privateIps"] if "." in ip["address"]) for s in servers]
    assert backend.inputs["serverIps"] == ipv4s and len(set(ipv4s)) == 2
    assert (backend.inputs["lbId"], backend.inputs["forwardProtocol"], backend.inputs["forwardPort"]) == (
        lb.id, "http", 8080)  # fmt: skip
    assert backend.inputs["healthCheckHttp"] == {"uri": "/healthz", "method": "GET", "code": 200,
                                                 "hostHeader": "ledger.bank.example.eu"}  # fmt: skip
    assert "healthCheckHttps" not in backend.inputs
    assert (backend.inputs["healthCheckDelay"], backend.inputs["healthCheckTimeout"]) == ("10s", "5s")
    assert backend.inputs["healthCheckMaxRetries"] == 3
    frontend = plan.named("ledger-secondary-https", "scaleway:loadbalancers/frontend:Frontend")
    uploaded = plan.named("ledger-secondary-cert", "scaleway:loadbalancers/certificate:Certificate")
    assert (frontend.inputs["lbId"], frontend.inputs["backendId"], frontend.inputs["inboundPort"]) == (
        lb.id, backend.id, 443)  # fmt: skip
    assert frontend.inputs["certificateIds"] == [uploaded.id]
    assert len(plan.of_type("scaleway:loadbalancers/frontend:Frontend")) == 1  # nothing listens on another port


def test_certificate_comes_from_lets_encrypt_by_dns01_in_the_route53_zone(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    provider = plan.named("ledger-secondary-acme", "pulumi:providers:acme")
    assert provider.inputs["serverUrl"] == LETS_ENCRYPT_DIRECTORY
    issued = plan.named("ledger-secondary-acme-cert", "acme:index/certificate:Certificate")
    assert issued.inputs["commonName"] == "ledger.bank.example.eu"
    assert issued.inputs["dnsChallenges"] == [
        {"provider": "route53", "config": {"AWS_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ", "AWS_REGION": "us-east-1"}}
    ]
    uploaded = plan.named("ledger-secondary-cert", "scaleway:loadbalancers/certificate:Certificate")
    lb = plan.named("ledger-secondary-lb", "scaleway:loadbalancers/loadBalancer:LoadBalancer")
    assert uploaded.inputs["lbId"] == lb.id
    # One PEM: the key, then the certificate and its issuer; a secret, as the key it holds.
    chain = issued.outputs["privateKeyPem"] + issued.outputs["certificatePem"] + issued.outputs["issuerPem"]
    assert uploaded.inputs["customCertificate"] == {"certificateChain": secret(chain)}
    assert_no_switch_record_is_a_dependency(plan)


def test_route53_answers_and_checks_the_flexible_ip_with_the_hostname(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    assert_route53_answers_and_checks(plan, LB_IP)
    site = plan.named("ledger-secondary", "bascule:scaleway:ScalewaySite")
    assert site.outputs["target"] == LB_IP and (site.outputs["region"], site.outputs["zone"]) == ("nl-ams", "nl-ams-1")


def test_inventory_places_the_site_in_the_netherlands_and_reads_its_tags(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    inventory = from_offline_run(plan_services([ledger]).run)
    sites = [r for r in inventory.resources if r.type in facts.SITE_TYPES and r.cloud is facts.Cloud.SCALEWAY]
    assert sorted(r.type for r in sites) == ["scaleway:instance/server:Server", "scaleway:instance/server:Server",
                                             "scaleway:loadbalancers/loadBalancer:LoadBalancer"]  # fmt: skip
    for r in sites:
        assert (r.region, r.jurisdiction) == ("nl-ams", facts.Jurisdiction.EU)
        assert (r.service, r.role, r.workload_source) == ("ledger", "secondary", "tag")
    assert facts.SCALEWAY_REGIONS["nl-ams"].country == "NL"


def test_eu_provider_rule_passes_with_a_scaleway_standby_and_fails_without(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    assert_eu_provider_rule_passes_with_and_fails_without(plan_services, ledger)


def test_the_kind_declares_its_capabilities(ledger: dict[str, Any]) -> None:
    declared = site_kind("scaleway")
    assert declared.refused is None and declared.cloud is facts.Cloud.SCALEWAY and declared.extra == "scaleway"
    assert declared.validation_prefix == len("_acme-challenge.")
    assert set(declared.levers) == {facts_fault("health"), facts_fault("outage")}
    (svc,) = parse_services([ledger], "s.yaml").services
    assert declared.fixed_ip(svc.secondary) and declared.answered_by_ip(svc.secondary)
    assert site_authorities(svc)["secondary"] == ("letsencrypt.org",)
    assert site_class("scaleway").__name__ == "ScalewaySite"
    home = facts.LEGAL_HOMES[facts.Cloud.SCALEWAY]
    assert home.eu_headquartered and (home.headquarters, home.parent_country) == ("FR", "FR")
    assert set(ZONES) == set(facts.SCALEWAY_REGIONS)  # every region has its zones
    assert all(zone.startswith(f"{region}-") for region, zones in ZONES.items() for zone in zones)


def facts_fault(name: str) -> Any:
    from bascule.spec.base import DrillFault

    return DrillFault(name)


def test_spec_refuses_what_the_site_cannot_do(ledger: dict[str, Any]) -> None:
    with no_acme_backend():  # every built-in backend answers ACME DNS-01: a registered one that does not
        no_acme = {**ledger, "dns": NO_ACME_DNS}
        assert "dns.kind: a 'scaleway' secondary gets its certificate from Let's Encrypt" in spec_errors(no_acme)[0]
    http = {**ledger, "health_check": {"protocol": "HTTP"}}
    assert "health_check.protocol: a 'scaleway' site's load balancer serves" in spec_errors(http)[0]
    other_port = {**ledger, "health_check": {"port": 8443}}
    assert "check HTTPS on port 443" in spec_errors(other_port)[0]
    no_lb_zone = copy.deepcopy(ledger)
    no_lb_zone["secondary"] |= {"region": "fr-par", "zone": "fr-par-3"}  # Instances, but no Load Balancer there
    assert spec_errors(no_lb_zone) == [
        "s.yaml: service 'ledger': secondary.zone: 'fr-par-3' is not a zone of fr-par with both Instances and Load "
        "Balancers (one of fr-par-1, fr-par-2)"
    ]
    default_zone = copy.deepcopy(ledger)
    default_zone["secondary"] |= {"region": "pl-waw", "zone": None}
    (svc,) = parse_services([default_zone], "s.yaml").services
    assert svc.secondary.availability_zone == "pl-waw-1"  # type: ignore[attr-defined]
    typo = copy.deepcopy(ledger)
    typo["secondary"]["region"] = "nl-am"
    assert spec_errors(typo)[0].startswith(
        "s.yaml: service 'ledger': secondary.region: 'nl-am' is not a known scaleway"
    )
    for field, bad in (("server_type", "pro2 xxs"), ("load_balancer_type", "lb-s")):
        wrong = copy.deepcopy(ledger)
        wrong["secondary"][field] = bad
        assert f"secondary.{field}: '{bad}' is not a Scaleway commercial type" in spec_errors(wrong)[0]
    warm = copy.deepcopy(ledger)
    warm["secondary"]["servers"] = 0
    assert "secondary.servers: Input should be greater than or equal to 1" in spec_errors(warm)[0]
    code = copy.deepcopy(ledger)
    code["secondary"]["health_check_code"] = 404
    assert "secondary.health_check_code: Input should be less than or equal to 399" in spec_errors(code)[0]


def test_server_names_fit_one_dns_label(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    ledger["name"] = "l" * 32
    servers = plan_services([ledger]).of_type("scaleway:instance/server:Server")
    assert len({s.name for s in servers}) == 2
    for server in servers:
        assert len(f"{server.name}-{'a' * (facts.AUTONAME_SUFFIX - 1)}") <= SERVER_NAME.max_length


def test_health_drill_checks_plain_http_servers_over_tls(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    svc = as_primary(ledger)
    drilled = plan_services([svc], {DRILL_KEY: {"service": "ledger", "fault": "health"}})
    backend = drilled.named("ledger-primary-backend")
    assert "healthCheckHttp" not in backend.inputs
    assert backend.inputs["healthCheckHttps"] == {"uri": "/healthz", "method": "GET", "code": 200,
                                                  "hostHeader": "ledger.bank.example.eu",
                                                  "sni": "ledger.bank.example.eu"}  # fmt: skip
    assert backend.inputs["forwardProtocol"] == "http"  # the servers still speak plain HTTP: the handshake fails
    assert len(drilled.of_type("scaleway:loadbalancers/frontend:Frontend")) == 1


def test_outage_drill_removes_the_https_frontend(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    svc = as_primary(ledger)
    drilled = plan_services([svc], {DRILL_KEY: {"service": "ledger", "fault": "outage"}})
    assert drilled.of_type("scaleway:loadbalancers/frontend:Frontend") == []
    assert len(drilled.of_type("scaleway:instance/server:Server")) == 2  # still warm: nothing to rebuild on restore
    secondary = plan_services([ledger], {DRILL_KEY: {"service": "ledger", "fault": "switch"}})
    assert len(secondary.of_type("scaleway:loadbalancers/frontend:Frontend")) == 1


def test_every_scaleway_type_the_facts_name_is_one_of_the_sdk() -> None:
    import pulumiverse_scaleway  # noqa: F401  (registers its resource modules)

    # The load balancer's parts, named by type (the backup's IAM and project modules are named by module: data).
    prefixes = [p for p in facts.GLOBAL_TYPE_PREFIXES if p.startswith("scaleway:") and p.endswith(":")]
    assert len(prefixes) == 3
    for prefix in prefixes:
        kind = prefix.removesuffix(":").split("/")[1]
        assert resource_class(f"{prefix}{kind[0].upper()}{kind[1:]}") is not None, prefix
    for typ in ("scaleway:instance/server:Server", "scaleway:loadbalancers/loadBalancer:LoadBalancer"):
        assert typ in facts.SITE_TYPES and resource_class(typ) is not None


@pytest.mark.parametrize(
    ("fault", "changed"),
    [
        (Fault.HEALTH, {("ledger-primary-backend", "scaleway:loadbalancers/backend:Backend")}),
        (Fault.OUTAGE, {("ledger-primary-https", "scaleway:loadbalancers/frontend:Frontend")}),
    ],
)
def test_a_stack_drill_targets_only_the_lever(ledger: dict[str, Any], fault: Fault, changed: set[Any]) -> None:
    """What `bascule drill --stack` would target on a Scaleway primary: the lever's resource and the service's
    component (which records the drill), nothing of the certificate, the servers or the standby."""
    assert stack_drill_targets(as_primary(ledger), fault) == {*changed, ("ledger", SERVICE_TYPE)}
