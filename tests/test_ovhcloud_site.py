"""OVHcloud site under mocks, with the real pulumi-ovh and pulumiverse-acme SDK classes: warm private instances behind
a Public Cloud Load Balancer whose certificate comes from Let's Encrypt by DNS-01 through the Route 53 zone, and its
spec's rules."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pulumi import RunError

from bascule import facts
from bascule.components.ovhcloud.plugin import IMAGE_NAME, INSTANCE_NAME
from bascule.components.ovhcloud.site import (
    HEALTHY_CODES,
    IMAGE_REPLACES,
    SUBNET_GATEWAY,
    SUBNET_RANGE,
    SUBNET_RESOLVERS,
    _catalogue_id,
    cloud_config,
)
from bascule.components.registry import site_class
from bascule.inventory.records import from_offline_run
from bascule.spec import DRILL_KEY, parse_services, site_kind
from bascule.spec.plugins import site_authorities
from tests.site_kinds import (
    EU_PROVIDER,
    NO_ACME_DNS,
    PlanFn,
    as_primary,
    assert_route53_answers_and_checks,
    no_acme_backend,
    options_passed,
    secret,
    spec_errors,
    stack_service,
)
from tests.test_policies import both, rules_of

FLOATING_IP = "203.0.113.30"  # the offline engine's stand-in for a floating IP
PROJECT = "0123456789abcdef0123456789abcdef"
T = "ovh:index/"


@pytest.fixture
def ledger() -> dict[str, Any]:
    return stack_service("ovhcloud")


def test_instances_are_warm_private_spread_and_run_the_image(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    plan = plan_services([ledger])
    instances = plan.of_type(f"{T}cloudInstance:CloudInstance")
    assert sorted(i.name for i in instances) == ["ledger-secondary-vm-0", "ledger-secondary-vm-1"]
    network = plan.named("ledger-secondary-net", f"{T}cloudNetworkPrivateVrack:CloudNetworkPrivateVrack")
    subnet = plan.named("ledger-secondary-subnet", f"{T}cloudNetworkPrivateVrackSubnet:CloudNetworkPrivateVrackSubnet")
    assert (subnet.inputs["cidr"], subnet.inputs["networkId"]) == (SUBNET_RANGE, network.id)
    # A resolver for cloud-init's package install and image pull, and the router address, both explicit.
    assert (subnet.inputs["dnsNameservers"], subnet.inputs["gatewayIp"]) == (SUBNET_RESOLVERS, SUBNET_GATEWAY)
    assert SUBNET_RESOLVERS == ["213.186.33.99"] and SUBNET_GATEWAY == "10.0.1.1"
    gateway = plan.named("ledger-secondary-gw", f"{T}cloudGateway:CloudGateway")
    assert gateway.inputs["externalGateway"] == {"enabled": True, "model": "S"}
    assert gateway.inputs["subnetIds"] == [subnet.id]
    group = plan.named("ledger-secondary-spread", f"{T}cloudInstanceGroup:CloudInstanceGroup")
    assert group.inputs["policy"] == "ANTI_AFFINITY"
    sg = plan.named("ledger-secondary-sg", f"{T}cloudSecurityGroup:CloudSecurityGroup")
    assert sg.inputs["rules"] == [{"direction": "INGRESS", "ethernetType": "IPV4", "protocol": "TCP",
                                   "portRangeMin": 8080, "portRangeMax": 8080, "remoteIpPrefix": SUBNET_RANGE,
                                   "description": "the load balancer to the service"}]  # fmt: skip
    for instance in instances:
        assert (instance.inputs["serviceName"], instance.inputs["region"]) == (PROJECT, "GRA11")
        assert instance.inputs["flavorId"] == "flavors-b3-8"  # resolved by name in the region's catalogue
        assert instance.inputs["imageId"] == f"images-{IMAGE_NAME.lower().replace(' ', '-')}"
        assert instance.inputs["groupId"] == group.id
        assert instance.inputs["securityGroupIds"] == [sg.id]
        # Private interface only: no public IP on the instances.
        assert instance.inputs["networks"] == [{"networkId": network.id, "subnetId": subnet.id}]
        assert gateway.urn in instance.dependencies  # egress exists before cloud-init pulls the image
        user_data = instance.inputs["userData"]  # the provider marks it sensitive: a secret
        config = yaml.safe_load(user_data["value"] if isinstance(user_data, dict) else user_data)
        assert config["packages"] == ["docker.io"]
        assert config["runcmd"][-1] == ["docker", "run", "--detach", "--name", "service", "--restart", "always",
                                        "--publish", "8080:8080", "ghcr.io/example/ledger:4.1.0"]  # fmt: skip


def test_a_new_image_replaces_instances_rather_than_rebuilding_them_in_place(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    seen = _options_of(plan_services, ledger, "CloudInstance")
    assert len(seen) == 2 and all(set(opts.replace_on_changes) == {"userData", "imageId", "flavorId"} for opts in seen)
    assert seen[0].replace_on_changes == IMAGE_REPLACES
    with pytest.raises(Exception, match="65535 bytes"):
        cloud_config("x" * 60_000, 9000)


def test_load_balancer_serves_the_certificate_on_its_floating_ip_and_checks_with_the_hostname(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    lb = plan.named("ledger-secondary-lb", f"{T}cloudLoadbalancer:CloudLoadbalancer")
    network = plan.named("ledger-secondary-net", f"{T}cloudNetworkPrivateVrack:CloudNetworkPrivateVrack")
    subnet = plan.named("ledger-secondary-subnet", f"{T}cloudNetworkPrivateVrackSubnet:CloudNetworkPrivateVrackSubnet")
    assert lb.inputs["flavorName"] == "SMALL"
    assert lb.inputs["network"] == {"id": network.id, "subnetId": subnet.id, "ip": FLOATING_IP}
    uploaded = plan.named("ledger-secondary-cert", f"{T}cloudKeyManagerSecret:CloudKeyManagerSecret")
    assert (uploaded.inputs["secretType"], uploaded.inputs["payloadContentType"]) == (
        "OPAQUE", "APPLICATION_OCTET_STREAM")  # fmt: skip
    issued = plan.named("ledger-secondary-acme-cert", "acme:index/certificate:Certificate")
    assert uploaded.inputs["payload"] == secret(issued.outputs["certificateP12"])  # the PKCS#12 bundle, kept secret
    listener = plan.named("ledger-secondary-https", f"{T}cloudLoadbalancerListener:CloudLoadbalancerListener")
    pool = plan.named("ledger-secondary-pool", f"{T}cloudLoadbalancerPool:CloudLoadbalancerPool")
    assert (listener.inputs["protocol"], listener.inputs["protocolPort"]) == ("TERMINATED_HTTPS", 443)
    assert listener.inputs["defaultPoolId"] == pool.id
    assert listener.inputs["defaultTlsContainerRef"] == uploaded.outputs["currentState"]["secretRef"]
    assert pool.inputs["protocol"] == "HTTP"
    assert pool.inputs["healthMonitor"] == {"type": "HTTP", "delay": 10, "timeout": 5, "maxRetries": 3,
                                            "urlPath": "/healthz", "httpMethod": "GET", "httpVersion": "1.1",
                                            "domainName": "ledger.bank.example.eu",
                                            "expectedCodes": HEALTHY_CODES}  # fmt: skip
    members = plan.of_type(f"{T}cloudLoadbalancerPoolMember:CloudLoadbalancerPoolMember")
    instances = plan.of_type(f"{T}cloudInstance:CloudInstance")
    private = {i.outputs["currentState"]["networks"][0]["addresses"][0]["ip"] for i in instances}
    assert {m.inputs["address"] for m in members} == private and len(private) == 2
    for member in members:
        assert (member.inputs["protocolPort"], member.inputs["subnetId"]) == (8080, subnet.id)
        # Sent explicitly, so ending a health drill is a value change the provider sends (not an omitted field).
        assert member.inputs["monitor"] == {"port": 8080}


def _options_of(plan_services: PlanFn, ledger: dict[str, Any], cls: str) -> list[Any]:
    """The resource options the site passes to each `pulumi_ovh.<cls>` it creates (the real class, spied on)."""
    import pulumi_ovh as ovh

    return options_passed(plan_services, ledger, ovh, cls)


def test_the_os_image_is_pinned_so_a_catalogue_refresh_replaces_nothing(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    """Found by name, the image id is kept (ignored after the first `up`); named by id in the spec, it is the image and
    its change is what replaces the instances."""
    assert all(opts.ignore_changes == ["imageId"] for opts in _options_of(plan_services, ledger, "CloudInstance"))
    ledger["secondary"]["os_image_id"] = "images-ubuntu-24.04"  # an id of the offline engine's catalogue
    assert all(opts.ignore_changes is None for opts in _options_of(plan_services, ledger, "CloudInstance"))
    instances = plan_services([ledger]).of_type(f"{T}cloudInstance:CloudInstance")
    assert [i.inputs["imageId"] for i in instances] == ["images-ubuntu-24.04"] * 2
    # The id is checked against the region's catalogue (called directly: an error raised inside the offline run is
    # also logged by asyncio as never retrieved).
    catalogue: Any = [SimpleNamespace(id="images-debian-12", name="Debian 12")]
    with pytest.raises(RunError, match=r"secondary.os_image_id: 'no-such-image' is not in the GRA11 catalogue"):
        _catalogue_id(catalogue, "no-such-image", "secondary.os_image_id", "GRA11", "id")
    ledger["secondary"]["os_image_id"] = "Debian 12"  # a name, not an id
    assert "secondary.os_image_id: 'Debian 12' is not an image id" in spec_errors(ledger)[0]


def test_a_replaced_load_balancer_frees_the_floating_ip_first(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    """The floating IP must not be associated with a port when a load balancer takes it: a flavor change deletes the
    old load balancer before creating the new one."""
    (opts,) = _options_of(plan_services, ledger, "CloudLoadbalancer")
    assert opts.delete_before_replace is True


def test_route53_answers_and_checks_the_floating_ip_with_the_hostname(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    assert_route53_answers_and_checks(plan_services([ledger]), FLOATING_IP)


def test_inventory_places_the_site_in_france_and_the_eu_rule_passes(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    plan = plan_services([ledger])
    inventory = from_offline_run(plan.run)
    sites = [r for r in inventory.resources if r.type in facts.SITE_TYPES and r.cloud is facts.Cloud.OVHCLOUD]
    assert {r.type for r in sites} == {f"{T}cloudInstance:CloudInstance", f"{T}cloudLoadbalancer:CloudLoadbalancer"}
    for r in sites:
        assert (r.region, r.jurisdiction) == ("GRA11", facts.Jurisdiction.EU)
        # OVH Public Cloud resources take no tags: the service is inherited from the component, the role is not.
        assert (r.service, r.workload_source) == ("ledger", "parent")
    assert "bascule-eu-provider" not in rules_of(both(plan.run, EU_PROVIDER))


def test_the_kind_declares_its_capabilities_and_legal_home(ledger: dict[str, Any]) -> None:
    declared = site_kind("ovhcloud")
    assert declared.cloud is facts.Cloud.OVHCLOUD and declared.extra == "ovhcloud"
    (svc,) = parse_services([ledger], "s.yaml").services
    assert declared.fixed_ip(svc.secondary) and declared.answered_by_ip(svc.secondary)
    assert site_authorities(svc)["secondary"] == ("letsencrypt.org",)
    assert site_class("ovhcloud").__name__ == "OvhcloudSite"
    home = facts.LEGAL_HOMES[facts.Cloud.OVHCLOUD]
    assert (home.company, home.headquarters, home.ultimate_parent, home.eu_headquartered) == (
        "OVH SAS", "FR", "OVH Groupe SA", True)  # fmt: skip
    assert facts.OVHCLOUD_REGIONS["UK1"].jurisdiction is facts.Jurisdiction.NON_EU


def test_spec_refuses_what_the_site_cannot_do(ledger: dict[str, Any]) -> None:
    with no_acme_backend():  # every built-in backend answers ACME DNS-01: a registered one that does not
        no_acme = {**ledger, "dns": NO_ACME_DNS}
        assert "dns.kind: a 'ovhcloud' secondary gets its certificate from Let's Encrypt" in spec_errors(no_acme)[0]
    assert "check HTTPS on port 443" in spec_errors({**ledger, "health_check": {"protocol": "HTTP"}})[0]
    too_many = copy.deepcopy(ledger)
    too_many["secondary"]["instances"] = 6
    assert "secondary.instances: Input should be less than or equal to 5" in spec_errors(too_many)[0]
    region = copy.deepcopy(ledger)
    region["secondary"]["region"] = "GRA"
    assert "secondary.region: 'GRA' is not a known ovhcloud region" in spec_errors(region)[0]
    project = copy.deepcopy(ledger)
    project["secondary"]["project_id"] = "x/../y"
    assert "secondary.project_id: 'x/../y' is not a Public Cloud project id" in spec_errors(project)[0]
    port = copy.deepcopy(ledger)
    port["secondary"]["container_port"] = 65535  # the health drill probes the next port
    assert "secondary.container_port: Input should be less than or equal to 65534" in spec_errors(port)[0]


def test_instance_names_fit_one_dns_label(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    ledger["name"] = "l" * 32
    instances = plan_services([ledger]).of_type(f"{T}cloudInstance:CloudInstance")
    assert len({i.name for i in instances}) == 2
    for instance in instances:
        assert len(f"{instance.name}-{'a' * (facts.AUTONAME_SUFFIX - 1)}") <= INSTANCE_NAME.max_length


def test_health_drill_points_every_member_monitor_at_a_closed_port(
    plan_services: PlanFn, ledger: dict[str, Any]
) -> None:
    drilled = plan_services([as_primary(ledger)], {DRILL_KEY: {"service": "ledger", "fault": "health"}})
    members = drilled.of_type(f"{T}cloudLoadbalancerPoolMember:CloudLoadbalancerPoolMember")
    assert len(members) == 2
    assert all(m.inputs["monitor"] == {"port": 8081} for m in members)  # the security group opens only 8080
    restored = plan_services([as_primary(ledger)])  # the drill over: the same members, the monitor port set back
    members = restored.of_type(f"{T}cloudLoadbalancerPoolMember:CloudLoadbalancerPoolMember")
    assert len(members) == 2 and all(m.inputs["monitor"] == {"port": 8080} for m in members)


def test_outage_drill_takes_the_instances_out_of_the_pool(plan_services: PlanFn, ledger: dict[str, Any]) -> None:
    drilled = plan_services([as_primary(ledger)], {DRILL_KEY: {"service": "ledger", "fault": "outage"}})
    assert drilled.of_type(f"{T}cloudLoadbalancerPoolMember:CloudLoadbalancerPoolMember") == []
    assert len(drilled.of_type(f"{T}cloudInstance:CloudInstance")) == 2  # still warm


def test_documented_access_rules_grant_the_providers_credential_check() -> None:
    """The provider calls `GET /auth/details` before anything else; a consumer key without it fails every run."""
    import json
    import re
    from pathlib import Path

    deploy = Path(__file__).parent.parent / "docs" / "deploy.md"
    section = deploy.read_text().split("### An OVHcloud standby", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.S)
    rules = {(r["method"], r["path"]) for r in json.loads(block)["accessRules"]}
    assert ("GET", "/auth/details") in rules
    v2 = "/v2/publicCloud/project/<project id>/*"
    assert {(m, v2) for m in ("GET", "POST", "PUT", "DELETE")} <= rules
    assert not any(p.startswith(("/me", "/order", "/ipLoadbalancing")) for _, p in rules)
