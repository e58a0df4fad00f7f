"""Cloud DNS failover under mocks: the routing policy, the health check's provider limits, impossible pairings."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

import pytest

from bascule.spec import SpecError, parse_services
from tests.conftest import Plan, stack_config

PlanFn = Callable[..., Plan]
RECORD = "gcp:dns/recordSet:RecordSet"


@pytest.fixture
def svc() -> dict[str, Any]:
    return copy.deepcopy(stack_config("clouddns")["bascule:services"][0])


def test_primary_backup_policy_with_a_three_region_check(plan_services: PlanFn, svc: dict[str, Any]) -> None:
    plan = plan_services([svc])
    check = plan.named("payments-dns-check", "gcp:compute/healthCheck:HealthCheck")
    c = check.inputs
    assert c["sourceRegions"] == ["europe-west1", "europe-west4", "europe-north1"]
    assert (c["checkIntervalSec"], c["timeoutSec"], c["unhealthyThreshold"]) == (30, 5, 3)
    assert c["httpsHealthCheck"] == {"port": 443, "requestPath": "/healthz", "host": "pay.bank.example.eu"}
    record = plan.named("payments-dns-record", RECORD).inputs
    assert (record["name"], record["type"], record["ttl"]) == ("pay.bank.example.eu.", "A", 30)
    policy = record["routingPolicy"]
    assert policy["healthCheck"] == check.id == "projects/bank-dns-eu/global/healthChecks/payments-dns-check"
    backup = policy["primaryBackup"]
    assert backup["primary"] == {"externalEndpoints": ["192.0.2.44"]}
    assert backup["backupGeos"] == [
        {"location": "europe-west4", "healthCheckedTargets": {"externalEndpoints": ["203.0.113.10"]}}
    ]
    assert backup["trickleRatio"] == 0
    zone = plan.named("payments-dns-zone", "gcp:dns/managedZone:ManagedZone")
    assert zone.inputs["dnsName"] == "bank.example.eu."
    alias = plan.named("payments-secondary-alias", RECORD).inputs
    assert (alias["name"], alias["rrdatas"]) == ("payments-secondary.bank.example.eu.", ["203.0.113.10"])


def test_switch_fault_trickles_everything_to_the_backup(plan_services: PlanFn, svc: dict[str, Any]) -> None:
    plan = plan_services([svc], {"bascule:drill": {"service": "payments", "fault": "switch"}})
    assert plan.named("payments-dns-record", RECORD).inputs["routingPolicy"]["primaryBackup"]["trickleRatio"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(primary={"kind": "aws", "region": "eu-central-1", "image": "x"}),
         "primary: Cloud DNS health-checks external endpoints by IP address, and a 'aws' site has no fixed IP"),
        (lambda s: s["health_check"].update(interval_seconds=10),
         "health_check.interval_seconds: with 3 source regions Cloud DNS health checks run every 30 s or more, not 10"),
        (lambda s: s["dns"].update(source_regions=["europe-west1", "europe-west4"]),
         "dns.source_regions: Cloud DNS health checks need exactly 3 distinct source regions, not 2"),
    ],
)  # fmt: skip
def test_provider_rules(svc: dict[str, Any], change: Callable[[dict[str, Any]], None], message: str) -> None:
    change(svc)
    with pytest.raises(SpecError) as exc:
        parse_services([svc], "s.yaml")
    (line,) = exc.value.lines
    assert line.startswith(f"s.yaml: service 'payments': {message}")


def test_same_region_secondary_needs_the_opt_in_and_warns() -> None:
    services = copy.deepcopy(stack_config("single-region")["bascule:services"])
    spec = parse_services(services, "s.yaml")
    assert spec.warnings() == [
        "service 'payments': secondary: in the primary's provider and region, aws eu-west-3 "
        "(allowed by allow_same_region): one regional outage takes both"
    ]
    del services[0]["allow_same_region"]
    with pytest.raises(SpecError, match="allow_same_region: true accepts it"):
        parse_services(services, "s.yaml")


def test_apis_in_the_dns_project_and_the_new_zone_is_announced(
    plan_services: PlanFn, svc: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Cloud DNS's zone and health check wait for the dns and compute APIs of the DNS project (not the site's)."""
    caplog.set_level(logging.INFO)
    plan = plan_services([svc])
    apis = {r.name: r for r in plan.of_type("gcp:projects/service:Service") if r.inputs["project"] == "bank-dns-eu"}
    assert {a.inputs["service"] for a in apis.values()} == {"dns.googleapis.com", "compute.googleapis.com"}
    assert all(a.inputs["disableOnDestroy"] is False for a in apis.values())
    for name in ("payments-dns-check", "payments-dns-record", "payments-dns-zone"):
        assert {a.urn for a in apis.values()} <= set(plan.named(name).dependencies), name
    (said,) = [r.getMessage() for r in caplog.records if "new zone" in r.getMessage()]
    assert "ns-cloud-a1.googledomains.com." in said
