"""The data standby as planned offline from the example stack: RDS parameter group, replication-only firewall,
Flexible Server standby, publication and subscription, secrets; the spec's one-line errors; the data rule."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from bascule.spec import SpecError, parse_services
from tests.conftest import Plan, stack_config
from tests.test_policies import both, rules_of

PlanFn = Callable[..., Plan]
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""How Pulumi marks a secret value on the wire (its `_secret_sig`)."""


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG[0]) == SECRET_SIG[1]


def data_services() -> list[dict[str, Any]]:
    return copy.deepcopy(stack_config("data")["bascule:services"])


def test_primary_publishes_with_logical_replication_a_wal_cap_and_tls(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (group,) = plan.of_type("aws:rds/parameterGroup:ParameterGroup")
    params = {p["name"]: (p["value"], p["applyMethod"]) for p in group.inputs["parameters"]}
    assert params == {
        "rds.logical_replication": ("1", "pending-reboot"),
        "max_slot_wal_keep_size": ("10240", "immediate"),
        "rds.force_ssl": ("1", "pending-reboot"),
    }
    assert group.inputs["family"] == "postgres16"
    (rds,) = plan.of_type("aws:rds/instance:Instance")
    assert rds.inputs["engine"] == "postgres" and rds.inputs["storageEncrypted"] is True
    assert rds.inputs["tags"]["bascule:service"] == "checkout"
    firewall = plan.named("checkout-data-replication", "aws:ec2/securityGroup:SecurityGroup")
    assert firewall.inputs["ingress"] == [
        {"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrBlocks": ["198.51.100.7/32"]}
    ]
    assert firewall.urn in rds.dependencies


def test_standby_on_flexible_server_subscribes_with_a_secret_conninfo(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (server,) = plan.of_type("azure-native:dbforpostgresql:Server")
    assert server.inputs["location"] == "germanywestcentral" and server.inputs["version"] == "16"
    assert server.inputs["tags"]["bascule:role"] == "secondary"
    (workers,) = plan.of_type("azure-native:dbforpostgresql:Configuration")
    assert (workers.inputs["configurationName"], workers.inputs["value"]) == ("max_worker_processes", "16")
    (publication,) = plan.of_type("postgresql:index/publication:Publication")
    assert publication.inputs["allTables"] is True and publication.inputs["database"] == "checkout"
    (subscription,) = plan.of_type("postgresql:index/subscription:Subscription")
    assert subscription.inputs["publications"] == ["bascule_checkout"]
    assert workers.urn in subscription.dependencies
    # Secrets reach the engine wrapped as secrets, never as plain text.
    assert is_secret(subscription.inputs["conninfo"])
    (rds,) = plan.of_type("aws:rds/instance:Instance")
    assert is_secret(rds.inputs["password"])  # Flexible Server takes the same Output (its SDK adds no wrapping)
    (password,) = plan.of_type("random:index/randomPassword:RandomPassword")
    assert password.urn in rds.dependencies  # offline, an unknown secret input is not recorded for Flexible Server


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("secondary",),
            {"kind": "gcp", "region": "europe-west1", "project": "shop-eu", "image": "x"},
            "data.standby.kind: 'azure-flexible' runs on Azure, but the secondary site is on gcp",
        ),
        (("data", "primary", "engine_version"), "12", "max_slot_wal_keep_size needs PostgreSQL 13 or later"),
        (("data", "primary", "replication_source_cidrs"), ["0.0.0.0/0"], "opens the database to the whole internet"),
        (("data", "databases"), [], "databases"),
    ],
)
def test_impossible_data_combinations_are_one_line_errors(path: tuple[str, ...], value: Any, message: str) -> None:
    services = data_services()
    node = services[0]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SpecError) as caught:
        parse_services(services, "test")
    assert any(message in line and "\n" not in line for line in caught.value.lines), caught.value.lines


def test_data_rule_is_quiet_with_the_standby_and_fires_without_it(plan_services: PlanFn) -> None:
    run = plan_services(data_services()).run
    assert "bascule-data-single-provider" not in rules_of(both(run))
    run.resources[:] = [r for r in run.resources if r.type != "azure-native:dbforpostgresql:Server"]
    assert rules_of(both(run))["bascule-data-single-provider"] == "mandatory"
