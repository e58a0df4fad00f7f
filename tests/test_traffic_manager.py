"""Traffic Manager failover under mocks: profile, monitor, endpoints, the CNAME and the sites' records."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import pytest
from pulumi.runtime import rpc

from bascule.spec import SpecError, parse_services
from tests.conftest import Plan, stack_config

PlanFn = Callable[..., Plan]
PROFILE = "azure-native:trafficmanager:Profile"
ENDPOINT = "azure-native:trafficmanager:Endpoint"
RECORD = "azure-native:dns:RecordSet"
SECRET = {rpc._special_sig_key: rpc._special_secret_sig}
"""How Pulumi marks a secret value in serialized inputs."""


@pytest.fixture
def tm() -> dict[str, Any]:
    return copy.deepcopy(stack_config("tm")["bascule:services"][0])


def test_profile_monitor_and_endpoints(plan_services: PlanFn, tm: dict[str, Any]) -> None:
    plan = plan_services([tm])
    (profile,) = plan.of_type(PROFILE)
    p = profile.inputs
    assert (p["location"], p["trafficRoutingMethod"]) == ("global", "Priority")
    assert p["dnsConfig"]["ttl"] == 30 and p["dnsConfig"]["relativeName"].startswith("checkout-")
    m = p["monitorConfig"]
    assert (m["protocol"], m["port"], m["path"]) == ("HTTPS", 443, "/healthz")
    assert (m["intervalInSeconds"], m["timeoutInSeconds"], m["toleratedNumberOfFailures"]) == (10, 5, 2)
    assert m["expectedStatusCodeRanges"] == [{"min": 200, "max": 399}]
    # Probes reach each endpoint by its own name but ask for the service hostname.
    assert m["customHeaders"] == [{"name": "Host", "value": "checkout.shop.example.eu"}]
    endpoints = {e.inputs["endpointName"]: e.inputs for e in plan.of_type(ENDPOINT)}
    alb = plan.named("checkout-primary-alb", "aws:lb/loadBalancer:LoadBalancer")
    assert endpoints["primary"]["target"] == alb.outputs["dnsName"]
    front = plan.named("checkout-secondary-afd", "azure-native:cdn:AFDEndpoint")
    assert endpoints["secondary"]["target"] == front.outputs["hostName"]
    assert (endpoints["primary"]["priority"], endpoints["secondary"]["priority"]) == (1, 2)
    assert {e["endpointType"] for e in endpoints.values()} == {"ExternalEndpoints"}
    assert {e["endpointStatus"] for e in endpoints.values()} == {"Enabled"}


def test_hostname_is_a_cname_to_the_profile_in_azure_dns(plan_services: PlanFn, tm: dict[str, Any]) -> None:
    plan = plan_services([tm])
    records = {r.name: r.inputs for r in plan.of_type(RECORD)}
    cname = records["checkout-dns-cname"]
    relative = plan.of_type(PROFILE)[0].inputs["dnsConfig"]["relativeName"]
    assert (cname["relativeRecordSetName"], cname["recordType"]) == ("checkout", "CNAME")
    assert cname["cnameRecord"] == {"cname": f"{relative}.trafficmanager.net"}
    assert not [name for name in records if "dnsauth" in name]  # the certificate proves the domain (no TXT token)
    assert records["checkout-primary-cert-validation"]["relativeRecordSetName"] == "_3f1d.checkout"
    (zone,) = plan.of_type("azure-native:dns:Zone")
    assert zone.inputs["zoneName"] == "shop.example.eu"
    assert not plan.of_type("aws:route53/zone:Zone") and not plan.of_type("aws:route53/record:Record")


def test_azure_standby_is_served_by_front_door_with_the_acme_certificate(
    plan_services: PlanFn, tm: dict[str, Any]
) -> None:
    """Front Door holds the hostname with the team's own certificate: ACME DNS-01 through Azure DNS, a PFX secret in
    the site's Key Vault as a certificate object (imported by the deployer's own access policy), a Front Door secret
    on its backing secret at its latest version, read by the profile's own identity; the container
    app has no custom domain and is reached by its own name; nothing waits for the hostname to resolve to Azure."""
    plan = plan_services([tm])
    app = plan.named("checkout-secondary-app", "azure-native:app:ContainerApp")
    env = plan.named("checkout-secondary-env", "azure-native:app:ManagedEnvironment")
    assert "customDomains" not in app.inputs["configuration"]["ingress"]
    assert not plan.of_type("azure-native:app:ManagedCertificate")
    profile = plan.named("checkout-secondary-afd", "azure-native:cdn:Profile")
    assert profile.inputs["sku"] == {"name": "Standard_AzureFrontDoor"}
    assert profile.inputs["identity"] == {"type": "SystemAssigned"}
    origin = plan.named("checkout-secondary-afd", "azure-native:cdn:AFDOrigin")
    app_fqdn = f"{app.outputs['name']}.{env.outputs['defaultDomain']}"
    assert origin.inputs["hostName"] == app_fqdn and origin.inputs["originHostHeader"] == app_fqdn

    cert = plan.named("checkout-secondary-acme-cert", "acme:index/certificate:Certificate")
    assert (cert.inputs["commonName"], cert.inputs["keyType"], cert.inputs["minDaysRemaining"]) == (
        "checkout.shop.example.eu", "2048", 30)  # fmt: skip
    (vault,) = plan.of_type("azure-native:keyvault:Vault")
    assert (
        vault.inputs["location"] == tm["secondary"]["location"]
        and vault.inputs["properties"]["enableRbacAuthorization"] is False
    )
    front_door, deployer = vault.inputs["properties"]["accessPolicies"]
    assert front_door["objectId"] == profile.outputs["identity"]["principalId"]
    assert front_door["permissions"] == {"secrets": ["get", "list"]}  # nothing else: no keys, no certificates
    # The deployer imports the certificate through the data plane; no secret, no purge right.
    assert deployer["objectId"] and deployer["objectId"] != front_door["objectId"]
    assert deployer["permissions"] == {"certificates": ["import", "get", "list", "delete"]}
    assert not plan.of_type("azure-native:keyvault:Secret")  # a certificate object, not a secret
    stored = plan.named("checkout-secondary-cert", "pulumi-python:dynamic/bascule-azure:KeyVaultCertificate")
    assert stored.inputs["vault_url"] == vault.outputs["properties"]["vaultUri"]
    assert stored.inputs["certificate_name"] == "checkout-secondary"
    assert stored.inputs["certificate_pem"] == cert.outputs["certificatePem"] + cert.outputs["issuerPem"]
    assert stored.inputs["private_key_pem"] == {**SECRET, "value": cert.outputs["privateKeyPem"]}  # secret in state
    assert "__provider" in stored.inputs and not stored.provider  # the dynamic provider, not azure-native
    front_secret = plan.named("checkout-secondary-cert", "azure-native:cdn:Secret")
    # The certificate's backing secret (same name), so Front Door waits for the import.
    assert front_secret.inputs["parameters"] == {
        "type": "CustomerCertificate", "secretSource": {"id": f"{vault.id}/secrets/checkout-secondary"},
        "useLatestVersion": True}  # fmt: skip
    assert stored.urn in front_secret.dependencies
    domain = plan.named("checkout-secondary-afd", "azure-native:cdn:AFDCustomDomain")
    assert domain.inputs["hostName"] == "checkout.shop.example.eu"
    assert domain.inputs["tlsSettings"] == {
        "certificateType": "CustomerCertificate", "minimumTlsVersion": "TLS12", "secret": {"id": front_secret.id}}  # fmt: skip
    route = plan.named("checkout-secondary-afd", "azure-native:cdn:Route")
    assert route.inputs["customDomains"] == [{"id": domain.id}]
    assert (route.inputs["forwardingProtocol"], route.inputs["httpsRedirect"]) == ("HttpsOnly", "Enabled")
    assert origin.urn in route.dependencies
    cname = plan.named("checkout-dns-cname", RECORD)
    assert not [r.name for r in plan.resources if cname.urn in r.dependencies]


def test_the_acme_challenge_goes_through_azure_dns(plan_services: PlanFn, tm: dict[str, Any]) -> None:
    """lego's `azuredns` provider pinned to the service's zone: subscription, resource group and zone name, and
    no credential in the stack (lego reads its own from the environment)."""
    plan = plan_services([tm])
    cert = plan.named("checkout-secondary-acme-cert", "acme:index/certificate:Certificate")
    (challenge,) = cert.inputs["dnsChallenges"]
    zone_group = plan.named("checkout-dns-rg", "azure-native:resources:ResourceGroup")
    assert challenge["provider"] == "azuredns"
    config = challenge["config"]
    assert set(config) == {"AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_ZONE_NAME"}
    assert (config["AZURE_RESOURCE_GROUP"], config["AZURE_ZONE_NAME"]) == (
        zone_group.outputs["name"],
        "shop.example.eu",
    )
    assert config["AZURE_SUBSCRIPTION_ID"]


def test_switch_fault_disables_the_primary_endpoint(plan_services: PlanFn, tm: dict[str, Any]) -> None:
    plan = plan_services([tm], {"bascule:drill": {"service": "checkout", "fault": "switch"}})
    status = {e.inputs["endpointName"]: e.inputs["endpointStatus"] for e in plan.of_type(ENDPOINT)}
    assert status == {"primary": "Disabled", "secondary": "Enabled"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"health_check": {"interval_seconds": 30, "failure_threshold": 3}, "dns_timeout": 11},
         "dns.monitor_timeout_seconds: with 30 s probes Traffic Manager accepts 5 to 10 s, not 11"),
        ({"health_check": {"interval_seconds": 10, "failure_threshold": 3}, "dns_timeout": 10},
         "dns.monitor_timeout_seconds: with 10 s probes Traffic Manager accepts 5 to 9 s, not 10"),
        ({"health_check": {"interval_seconds": 15, "failure_threshold": 3}},
         "health_check.interval_seconds: Traffic Manager probes every 10 or 30 seconds, not 15"),
        ({"health_check": {"interval_seconds": 10, "failure_threshold": 11}},
         "health_check.failure_threshold: Traffic Manager tolerates 0 to 9 failures before the next one fails "
         "over, so the threshold is 1 to 10, not 11"),
    ],
)  # fmt: skip
def test_monitor_limits(tm: dict[str, Any], change: dict[str, Any], message: str) -> None:
    tm["health_check"].update(change["health_check"])
    if "dns_timeout" in change:
        tm["dns"]["monitor_timeout_seconds"] = change["dns_timeout"]
    tm["rto_seconds"] = 1000
    with pytest.raises(SpecError) as exc:
        parse_services([tm], "s.yaml")
    assert exc.value.lines == [f"s.yaml: service 'checkout': {message}"]


def test_cannot_mix_hostname_and_ip_endpoints(tm: dict[str, Any]) -> None:
    tm["secondary"] = {"kind": "endpoint", "provider": "gcp", "region": "europe-west1", "address": "192.0.2.7"}
    with pytest.raises(SpecError, match="cannot mix hostnames and IP addresses"):
        parse_services([tm], "s.yaml")


def test_app_admits_only_front_door_and_knows_its_id(plan_services: PlanFn, tm: dict[str, Any]) -> None:
    """Ingress: Allow rules for the spec's Front Door prefixes only (an Allow list denies everything else); the
    profile's Front Door id reaches the container, for the app's own `X-Azure-FDID` check. (Without a pinned list
    the service tag is read at deploy time: tests/test_front_door_ranges.py.)"""
    tm["secondary"]["front_door_backend_cidrs"] = ["192.0.2.64/26", "198.51.100.0/25"]
    plan = plan_services([tm])
    app = plan.named("checkout-secondary-app", "azure-native:app:ContainerApp")
    rules = app.inputs["configuration"]["ingress"]["ipSecurityRestrictions"]
    assert rules == [
        {"name": "front-door-1", "action": "Allow", "ipAddressRange": "192.0.2.64/26"},
        {"name": "front-door-2", "action": "Allow", "ipAddressRange": "198.51.100.0/25"},
    ]
    profile = plan.named("checkout-secondary-afd", "azure-native:cdn:Profile")
    (env,) = app.inputs["template"]["containers"][0]["env"]
    assert env == {"name": "FRONT_DOOR_ID", "value": profile.outputs["frontDoorId"]}


def test_a_new_zone_names_its_servers_when_created(
    plan_services: PlanFn, tm: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A zone Bascule creates is announced on the Pulumi warning channel with its name servers as soon as it exists
    (under mocks the engine's log is Python's logging); a given zone is not."""
    caplog.set_level(logging.INFO)
    plan_services([tm])
    (said,) = [r.getMessage() for r in caplog.records if "new zone" in r.getMessage()]
    assert said.startswith("service 'checkout': new zone shop.example.eu: delegate it at its parent")
    assert all(f"ns{i}-01.azure-dns.com" in said for i in range(1, 5))
    caplog.clear()
    tm["dns"]["zone_resource_group"] = "dns-rg"
    plan_services([tm])
    assert not [r for r in caplog.records if "new zone" in r.getMessage()]
