"""Hetzner Cloud site under mocks, with the real hcloud and pulumiverse-acme SDK classes: warm servers behind a Load
Balancer whose certificate comes from Let's Encrypt by DNS-01 through the Route 53 zone, and its spec's rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from bascule import facts
from bascule.components.hetzner.plugin import (
    MAX_SERVERS,
    NETWORK_ZONES,
    SERVER_IMAGE,
    SERVER_NAME,
    SPREAD_MAX_SERVERS,
)
from bascule.components.hetzner.site import DRILL_RESPONSE, cloud_config
from bascule.components.registry import site_class
from bascule.drills.plan import Fault
from bascule.inventory.records import from_offline_run
from bascule.offline.placeholders import resource_class
from bascule.spec import DRILL_KEY, SERVICE_TYPE, parse_services, site_kind
from bascule.spec.acme import LETS_ENCRYPT_DIRECTORY
from bascule.spec.plugins import dns_backend, site_authorities
from tests.site_kinds import (
    NO_ACME_DNS,
    PlanFn,
    as_primary,
    assert_eu_provider_rule_passes_with_and_fails_without,
    assert_no_switch_record_is_a_dependency,
    assert_route53_answers_and_checks,
    no_acme_backend,
    secret,
    spec_errors,
    stack_drill_targets,
    stack_service,
)

LB_IP = "203.0.113.30"  # the offline engine's stand-in for a load balancer's IPv4


@pytest.fixture
def ledger() -> dict[str, Any]:
    return stack_service("hetzner")


def test_servers_are_warm_private_and_run_the_image(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    plan = plan_services([ledger])
    servers = plan.of_type("hcloud:index/server:Server")
    assert sorted(s.name for s in servers) == ["ledger-secondary-server-0", "ledger-secondary-server-1"]
    firewall = plan.named("ledger-secondary-fw", "hcloud:index/firewall:Firewall")
    assert not firewall.inputs.get("rules")  # no inbound rule: the public interface admits nothing
    spread = plan.named("ledger-secondary-spread", "hcloud:index/placementGroup:PlacementGroup")
    assert spread.inputs["type"] == "spread"
    network = plan.named("ledger-secondary-net", "hcloud:index/network:Network")
    subnet = plan.named("ledger-secondary-subnet", "hcloud:index/networkSubnet:NetworkSubnet")
    assert (subnet.inputs["networkZone"], subnet.inputs["type"]) == ("eu-central", "cloud")
    assert subnet.inputs["networkId"] == int(network.id)
    for server in servers:
        assert (server.inputs["location"], server.inputs["serverType"]) == ("fsn1", "cx23")
        assert server.inputs["image"] == SERVER_IMAGE
        assert server.inputs["placementGroupId"] == int(spread.id)
        assert server.inputs["firewallIds"] == [int(firewall.id)]
        assert server.inputs["networks"] == [{"networkId": int(network.id), "subnetId": subnet.id}]
        assert server.inputs["labels"] == {"bascule-service": "ledger", "bascule-role": "secondary",
                                           "bascule-criticality": "critical", "bascule-rto-seconds": "300",
                                           "bascule-rpo-seconds": "60"}  # fmt: skip
        config = yaml.safe_load(server.inputs["userData"])
        assert config["packages"] == ["docker.io"]
        # The pull is retried until it succeeds: runcmd runs once, and `--restart always` needs a container.
        assert config["runcmd"][1] == ["sh", "-c", 'until docker pull "$0"; do sleep 15; done',
                                       "ghcr.io/example/ledger:4.1.0"]  # fmt: skip
        assert config["runcmd"][-1] == ["docker", "run", "--detach", "--name", "service", "--restart", "always",
                                        "--publish", "8080:8080", "ghcr.io/example/ledger:4.1.0"]  # fmt: skip


def test_cloud_config_passes_the_image_as_one_argument_whatever_it_holds() -> None:
    """The image reference reaches `docker run` as one list item, never through a shell or as YAML syntax."""
    tricky = "registry.example:5000/a\"b: c #d'e @sha256:0"
    document = cloud_config(tricky, 9000)
    assert document.startswith("#cloud-config\n")
    pull, run = yaml.safe_load(document)["runcmd"][1:]
    assert pull[-1] == tricky and run[-1] == tricky
    with pytest.raises(Exception, match="32768 bytes"):
        cloud_config("x" * 40_000, 9000)


def test_load_balancer_serves_the_certificate_and_checks_with_the_hostname(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    lb = plan.named("ledger-secondary-lb", "hcloud:index/loadBalancer:LoadBalancer")
    assert (lb.inputs["location"], lb.inputs["loadBalancerType"]) == ("fsn1", "lb11")
    attached = plan.named("ledger-secondary-lb-net", "hcloud:index/loadBalancerNetwork:LoadBalancerNetwork")
    subnet = plan.named("ledger-secondary-subnet", "hcloud:index/networkSubnet:NetworkSubnet")
    assert (attached.inputs["loadBalancerId"], attached.inputs["subnetId"]) == (int(lb.id), subnet.id)
    servers = {int(s.id) for s in plan.of_type("hcloud:index/server:Server")}
    targets = plan.of_type("hcloud:index/loadBalancerTarget:LoadBalancerTarget")
    assert {t.inputs["serverId"] for t in targets} == servers
    for target in targets:
        assert (target.inputs["type"], target.inputs["usePrivateIp"]) == ("server", True)
        assert attached.urn in target.dependencies  # private IPs only once the load balancer is in the Network
    service = plan.named("ledger-secondary-https", "hcloud:index/loadBalancerService:LoadBalancerService")
    uploaded = plan.named("ledger-secondary-cert", "hcloud:index/uploadedCertificate:UploadedCertificate")
    assert service.inputs["loadBalancerId"] == lb.id
    assert (service.inputs["protocol"], service.inputs["listenPort"], service.inputs["destinationPort"]) == (
        "https", 443, 8080)  # fmt: skip
    assert service.inputs["http"] == {"certificates": [int(uploaded.id)], "redirectHttp": True}
    check = service.inputs["healthCheck"]
    assert (check["protocol"], check["port"], check["interval"], check["timeout"], check["retries"]) == (
        "http", 8080, 10, 5, 3)  # fmt: skip
    # Healthy as Route 53 counts it (2xx or 3xx), given explicitly so the API's default never shows as drift.
    assert check["http"] == {"domain": "ledger.bank.example.eu", "path": "/healthz", "statusCodes": ["2??", "3??"],
                             "tls": False}  # fmt: skip


def test_certificate_comes_from_lets_encrypt_by_dns01_in_the_route53_zone(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    provider = plan.named("ledger-secondary-acme", "pulumi:providers:acme")
    assert provider.inputs["serverUrl"] == LETS_ENCRYPT_DIRECTORY
    account = plan.named("ledger-secondary-acme-account", "acme:index/registration:Registration")
    assert account.inputs["accountKeyAlgorithm"] == "ECDSA"
    assert account.inputs["emailAddress"] == "platform@bank.example.eu"
    issued = plan.named("ledger-secondary-acme-cert", "acme:index/certificate:Certificate")
    assert issued.provider is not None and issued.provider.startswith(provider.urn)
    assert issued.inputs["commonName"] == "ledger.bank.example.eu"
    assert issued.inputs["minDaysRemaining"] == 30
    assert issued.inputs["accountKeyPem"] == secret(account.outputs["accountKeyPem"])
    assert issued.inputs["dnsChallenges"] == [
        {"provider": "route53", "config": {"AWS_HOSTED_ZONE_ID": "Z0123456789ABCDEFGHIJ", "AWS_REGION": "us-east-1"}}
    ]
    uploaded = plan.named("ledger-secondary-cert", "hcloud:index/uploadedCertificate:UploadedCertificate")
    assert uploaded.inputs["certificate"] == issued.outputs["certificatePem"] + issued.outputs["issuerPem"]
    # Keys stay secrets all the way: the ACME account's, the certificate's, the uploaded copy's.
    assert uploaded.inputs["privateKey"] == secret(issued.outputs["privateKeyPem"])
    assert_no_switch_record_is_a_dependency(plan)


def test_route53_answers_and_checks_the_load_balancer_ip_with_the_hostname(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    assert_route53_answers_and_checks(plan, LB_IP)
    site = plan.named("ledger-secondary", "bascule:hetzner:HetznerSite")
    assert site.outputs["target"] == LB_IP and site.outputs["region"] == "fsn1"


def test_inventory_places_the_site_in_germany_and_reads_its_labels(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    inventory = from_offline_run(plan_services([ledger]).run)
    sites = [r for r in inventory.resources if r.type in facts.SITE_TYPES and r.cloud is facts.Cloud.HETZNER]
    assert {r.type for r in sites} == {"hcloud:index/server:Server", "hcloud:index/loadBalancer:LoadBalancer"}
    for r in sites:
        assert (r.region, r.region_source, r.jurisdiction) == ("fsn1", "resource input", facts.Jurisdiction.EU)
        assert (r.service, r.role, r.workload_source) == ("ledger", "secondary", "tag")


def test_eu_provider_rule_passes_with_a_hetzner_standby_and_fails_without(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    assert_eu_provider_rule_passes_with_and_fails_without(plan_services, ledger)


def test_the_kind_declares_its_capabilities(ledger: dict[str, Any]) -> None:
    declared = site_kind("hetzner")
    assert declared.cloud is facts.Cloud.HETZNER and declared.extra == "hetzner"
    assert declared.validation_prefix == len("_acme-challenge.")
    (svc,) = parse_services([ledger], "s.yaml").services
    assert declared.fixed_ip(svc.secondary) and declared.answered_by_ip(svc.secondary)
    assert site_authorities(svc)["secondary"] == ("letsencrypt.org",)
    assert site_class("hetzner").__name__ == "HetznerSite"
    assert facts.LEGAL_HOMES[facts.Cloud.HETZNER].eu_headquartered
    assert set(NETWORK_ZONES) == set(facts.HETZNER_REGIONS)  # every location has its network zone
    assert 2 * MAX_SERVERS <= SPREAD_MAX_SERVERS  # old and new servers share the placement group during a replacement
    assert {n: r.jurisdiction for n, r in facts.HETZNER_REGIONS.items()} == {
        "fsn1": facts.Jurisdiction.EU, "nbg1": facts.Jurisdiction.EU, "hel1": facts.Jurisdiction.EU,
        "ash": facts.Jurisdiction.NON_EU, "hil": facts.Jurisdiction.NON_EU, "sin": facts.Jurisdiction.NON_EU,
    }  # fmt: skip


def test_spec_refuses_a_dns_backend_that_answers_no_acme_challenge(ledger: dict[str, Any]) -> None:
    with no_acme_backend():
        assert spec_errors({**ledger, "dns": NO_ACME_DNS}) == [
            "s.yaml: service 'ledger': dns.kind: a 'hetzner' secondary gets its certificate from Let's Encrypt by a "
            "DNS-01 challenge in the service's zone, which Bascule answers through a 'clouddns' or 'powerdns' or "
            "'route53' or 'trafficmanager' backend, not 'noacme'"
        ]


# A primary with a fixed IP, which Cloud DNS and PowerDNS check and answer.
IP_PRIMARY = {"kind": "endpoint", "provider": "aws", "region": "eu-west-3", "address": "198.51.100.7"}


@pytest.mark.parametrize(
    ("dns", "provider", "config"),
    [
        ({"kind": "clouddns", "project": "bank-dns-eu", "zone": "bank.example.eu", "managed_zone": "bank-zone"},
         "gcloud", {"GCE_PROJECT": "bank-dns-eu", "GCE_ZONE_ID": "bank-zone"}),
        ({"kind": "powerdns", "zone": "bank.example.eu", "api_url": "https://ns1.bank.example.eu:8081",
          "server_id": "ns1"},
         "pdns", {"PDNS_API_URL": "https://ns1.bank.example.eu:8081", "PDNS_SERVER_NAME": "ns1",
                  "PDNS_API_KEY": secret("pdns-key")}),
    ],
)  # fmt: skip
def test_each_dns_backend_answers_the_acme_challenge_in_its_zone(
    plan_services: PlanFn, ledger: dict[str, Any], dns: dict[str, Any], provider: str, config: dict[str, Any]
) -> None:
    """lego's provider for the backend, pinned to the service's zone; the PowerDNS key only as a secret, and no
    cloud credential in the stack (lego reads its own from the environment)."""
    # Cloud DNS probes every 30 s from three regions; the RTO budget grows with it.
    health = {"interval_seconds": 30} if dns["kind"] == "clouddns" else {}
    service = {**ledger, "primary": IP_PRIMARY, "dns": dns, "health_check": health, "rto_seconds": 600}
    plan = plan_services([service], {"bascule:powerdnsApiKey": "pdns-key"})
    issued = plan.named("ledger-secondary-acme-cert", "acme:index/certificate:Certificate")
    assert issued.inputs["dnsChallenges"] == [{"provider": provider, "config": config}]
    assert dns_backend(dns["kind"]).acme_dns == provider


def test_spec_refuses_what_the_site_cannot_do(ledger: dict[str, Any]) -> None:
    http = {**ledger, "health_check": {"protocol": "HTTP"}}
    assert "health_check.protocol: a 'hetzner' site's load balancer serves" in spec_errors(http)[0]
    other_port = {**ledger, "health_check": {"port": 8443}}
    assert "check HTTPS on port 443" in spec_errors(other_port)[0]
    too_many = copy.deepcopy(ledger)
    too_many["secondary"]["servers"] = 6  # a replacement puts 12 in a placement group that holds 10
    assert spec_errors(too_many) == [
        "s.yaml: service 'ledger': secondary.servers: Input should be less than or equal to 5"
    ]
    warm = copy.deepcopy(ledger)
    warm["secondary"]["servers"] = 0
    assert "secondary.servers: Input should be greater than or equal to 1" in spec_errors(warm)[0]
    typo = copy.deepcopy(ledger)
    typo["secondary"]["location"] = "fsn"
    assert spec_errors(typo) == [
        "s.yaml: service 'ledger': secondary.location: 'fsn' is not a known hetzner region; did you mean fsn1 or sin?"
    ]
    email = copy.deepcopy(ledger)
    email["secondary"]["acme_email"] = "platform"
    assert "secondary.acme_email: 'platform' is not an e-mail address" in spec_errors(email)[0]
    renew = copy.deepcopy(ledger)
    renew["secondary"]["renew_days_before"] = 90
    assert "secondary.renew_days_before: Input should be less than or equal to 89" in spec_errors(renew)[0]


def test_server_names_fit_hetzner_hostnames(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    """A server's name is its hostname: at most 63 characters once Pulumi adds its suffix, whatever the service."""
    long_name = "l" * 32
    ledger["name"] = long_name
    plan = plan_services([ledger])
    servers = plan.of_type("hcloud:index/server:Server")
    assert len(servers) == 2
    for server in servers:
        physical = f"{server.name}-{'a' * (facts.AUTONAME_SUFFIX - 1)}"
        assert len(physical) <= SERVER_NAME.max_length
    assert len({s.name for s in servers}) == 2


def test_health_drill_makes_the_load_balancer_check_fail(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    svc = as_primary(ledger)
    plain = plan_services([svc]).named("ledger-primary-https")
    assert "response" not in plain.inputs["healthCheck"]["http"]
    drilled = plan_services([svc], {DRILL_KEY: {"service": "ledger", "fault": "health"}})
    service = drilled.named("ledger-primary-https")
    assert service.inputs["healthCheck"]["http"]["response"] == DRILL_RESPONSE
    assert len(drilled.of_type("hcloud:index/loadBalancerTarget:LoadBalancerTarget")) == 2


def test_outage_drill_takes_the_servers_out_of_the_load_balancer(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    svc = as_primary(ledger)
    drilled = plan_services([svc], {DRILL_KEY: {"service": "ledger", "fault": "outage"}})
    assert drilled.of_type("hcloud:index/loadBalancerTarget:LoadBalancerTarget") == []
    assert len(drilled.of_type("hcloud:index/server:Server")) == 2  # still warm: nothing to rebuild on restore
    # A drill of the secondary's service never touches the standby.
    secondary = plan_services([ledger], {DRILL_KEY: {"service": "ledger", "fault": "switch"}})
    assert len(secondary.of_type("hcloud:index/loadBalancerTarget:LoadBalancerTarget")) == 2


def test_every_hcloud_type_the_facts_name_is_one_of_the_sdk() -> None:
    """The location-less Hetzner types `facts.GLOBAL_TYPE_PREFIXES` names are real types of the installed SDK."""
    import pulumi_hcloud  # noqa: F401  (registers its resource modules)

    prefixes = [p for p in facts.GLOBAL_TYPE_PREFIXES if p.startswith("hcloud:")]
    assert len(prefixes) == 8
    for prefix in prefixes:
        kind = prefix.removesuffix(":").split("/")[1]
        assert resource_class(f"{prefix}{kind[0].upper()}{kind[1:]}") is not None, prefix


@pytest.mark.parametrize(
    ("fault", "changed"),
    [
        (Fault.HEALTH, {("ledger-primary-https", "hcloud:index/loadBalancerService:LoadBalancerService")}),
        (Fault.OUTAGE, {("ledger-primary-target-0", "hcloud:index/loadBalancerTarget:LoadBalancerTarget"),
                        ("ledger-primary-target-1", "hcloud:index/loadBalancerTarget:LoadBalancerTarget")}),
    ],
)  # fmt: skip
def test_a_stack_drill_targets_only_the_lever(ledger: dict[str, Any], fault: Fault, changed: set[Any]) -> None:
    """What `bascule drill --stack` would target on a Hetzner primary: the lever's resources and the service's
    component (which records the drill), nothing of the certificate, the servers or the standby."""
    assert stack_drill_targets(as_primary(ledger), fault) == {*changed, ("ledger", SERVICE_TYPE)}
