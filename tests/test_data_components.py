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


def test_primary_publishes_with_logical_replication_a_wal_cap_tls_and_backups(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (group,) = plan.of_type("aws:rds/parameterGroup:ParameterGroup")
    params = {p["name"]: (p["value"], p["applyMethod"]) for p in group.inputs["parameters"]}
    assert params == {
        "rds.logical_replication": ("1", "pending-reboot"),
        "max_slot_wal_keep_size": ("10240", "immediate"),
        "rds.force_ssl": ("1", "immediate"),
    }
    assert group.inputs["family"] == "postgres16"
    (rds,) = plan.of_type("aws:rds/instance:Instance")
    assert rds.inputs["engine"] == "postgres" and rds.inputs["storageEncrypted"] is True
    assert rds.inputs["backupRetentionPeriod"] >= 7 and rds.inputs["deletionProtection"] is True
    assert rds.inputs["publiclyAccessible"] is True and "dbSubnetGroupName" not in rds.inputs
    assert rds.inputs["tags"]["bascule:service"] == "checkout"
    firewall = plan.named("checkout-data-replication", "aws:ec2/securityGroup:SecurityGroup")
    sources = {rule["description"]: rule["cidrBlocks"] for rule in firewall.inputs["ingress"]}
    assert sources == {
        "standby replication": ["198.51.100.7/32"],
        "deployer (pulumi up)": ["203.0.113.10/32"],
        "application": ["192.0.2.0/28"],
    }
    assert all((r["protocol"], r["fromPort"], r["toPort"]) == ("tcp", 5432, 5432) for r in firewall.inputs["ingress"])
    assert firewall.urn in rds.dependencies


def test_public_standby_admits_the_deployer_and_the_app_by_firewall_rules(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (server,) = plan.of_type("azure-native:dbforpostgresql:Server")
    assert "network" not in server.inputs
    rules = {r.inputs["firewallRuleName"]: (r.inputs["startIpAddress"], r.inputs["endIpAddress"])
             for r in plan.of_type("azure-native:dbforpostgresql:FirewallRule")}  # fmt: skip
    assert rules == {
        "bascule-deployer-0": ("203.0.113.10", "203.0.113.10"),
        "bascule-app-0": ("192.0.2.0", "192.0.2.15"),
    }
    subscriber = plan.named("checkout-data-subscriber", "pulumi:providers:postgresql")
    rule_urns = {r.urn for r in plan.of_type("azure-native:dbforpostgresql:FirewallRule")}
    assert rule_urns <= set(subscriber.dependencies)


def private_services() -> list[dict[str, Any]]:
    services = data_services()
    data = services[0]["data"]
    data["primary"] |= {
        "vpc_id": "vpc-0abc",
        "db_subnet_group": "checkout-db",
        "replication_source_cidrs": ["10.90.4.0/24"],
    }
    data["standby"] |= {
        "delegated_subnet_id": "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/pg",
        "private_dns_zone_id": "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/privateDnsZones/"
        "checkout.private.postgres.database.azure.com",
    }
    return services


def test_private_access_puts_both_databases_on_the_vpn_path(plan_services: PlanFn) -> None:
    plan = plan_services(private_services())
    (rds,) = plan.of_type("aws:rds/instance:Instance")
    assert rds.inputs["publiclyAccessible"] is False and rds.inputs["dbSubnetGroupName"] == "checkout-db"
    firewall = plan.named("checkout-data-replication", "aws:ec2/securityGroup:SecurityGroup")
    assert firewall.inputs["vpcId"] == "vpc-0abc"
    assert firewall.inputs["ingress"][0]["cidrBlocks"] == ["10.90.4.0/24"]
    (server,) = plan.of_type("azure-native:dbforpostgresql:Server")
    assert server.inputs["network"]["delegatedSubnetResourceId"].endswith("/subnets/pg")
    assert server.inputs["network"]["privateDnsZoneArmResourceId"].endswith(".private.postgres.database.azure.com")
    assert plan.of_type("azure-native:dbforpostgresql:FirewallRule") == []  # no public endpoint to filter


def test_standby_restarts_for_its_workers_then_subscribes_as_the_replicator(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (server,) = plan.of_type("azure-native:dbforpostgresql:Server")
    assert server.inputs["location"] == "germanywestcentral" and server.inputs["version"] == "16"
    assert server.inputs["tags"]["bascule:role"] == "secondary"
    (workers,) = plan.of_type("azure-native:dbforpostgresql:Configuration")
    assert (workers.inputs["configurationName"], workers.inputs["value"]) == ("max_worker_processes", "16")
    (restart,) = plan.of_type("command:local:Command")
    assert restart.inputs["create"].startswith("az postgres flexible-server restart")
    assert restart.inputs["triggers"] == ["16"] and workers.urn in restart.dependencies
    (publication,) = plan.of_type("postgresql:index/publication:Publication")
    assert publication.inputs["allTables"] is True and publication.inputs["database"] == "checkout"
    (subscription,) = plan.of_type("postgresql:index/subscription:Subscription")
    assert subscription.inputs["publications"] == ["bascule_checkout"]
    assert restart.urn in subscription.dependencies
    assert subscription.delete_before_replace is True and subscription.ignore_changes == ("conninfo",)
    (replicator,) = plan.of_type("postgresql:index/role:Role")
    assert replicator.inputs["name"] == "bascule_replicator" and replicator.inputs["roles"] == ["rds_replication"]
    assert replicator.inputs["login"] is True and is_secret(replicator.inputs["password"])
    grants = {
        (g.inputs["objectType"], tuple(g.inputs["privileges"])) for g in plan.of_type("postgresql:index/grant:Grant")
    }
    assert grants == {("database", ("CONNECT",)), ("table", ("SELECT",))}
    (default,) = plan.of_type("postgresql:index/defaultPrivileges:DefaultPrivileges")
    assert (default.inputs["role"], default.inputs["owner"]) == ("bascule_replicator", "bascule")
    assert all(g.urn in subscription.dependencies for g in plan.of_type("postgresql:index/grant:Grant"))
    # Secrets reach the engine wrapped as secrets, never as plain text.
    assert is_secret(subscription.inputs["conninfo"])
    (rds,) = plan.of_type("aws:rds/instance:Instance")
    assert is_secret(rds.inputs["password"])
    passwords = plan.of_type("random:index/randomPassword:RandomPassword")
    assert len(passwords) == 3  # RDS master, replicator, Flexible Server administrator: one secret per login
    assert all((p.inputs["minUpper"], p.inputs["minLower"], p.inputs["minNumeric"]) == (1, 1, 1) for p in passwords)
    master = plan.named("checkout-data-password", "random:index/randomPassword:RandomPassword")
    assert master.urn in rds.dependencies and master.urn not in server.dependencies


def test_published_tables_are_sorted(plan_services: PlanFn) -> None:
    services = data_services()
    services[0]["data"]["tables"] = ["public.orders", "billing.invoices", "public.carts"]
    plan = plan_services(services)
    (publication,) = plan.of_type("postgresql:index/publication:Publication")
    assert publication.inputs["tables"] == ["billing.invoices", "public.carts", "public.orders"]
    schemas = {g.inputs.get("schema") for g in plan.of_type("postgresql:index/grant:Grant")}
    assert schemas == {None, "billing", "public"}


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
        (("data", "primary", "replication_source_cidrs"), ["20.52.0.0/16"], "list blocks of /24 or narrower"),
        (("data", "primary", "admin_cidrs"), ["2001:db8::1/128"], "admin_cidrs: '2001:db8::1/128' is IPv6"),
        (("data", "primary", "admin_cidrs"), [], "admin_cidrs"),
        (("data", "primary", "wal_keep_mb"), 30000, "wal_keep_mb: 30000 MB is over half of allocated_storage_gb"),
        (("data", "tables"), ["orders"], "tables: 'orders' is not schema.table"),
        (("data", "standby", "delegated_subnet_id"), "/subscriptions/s/x", "needs both delegated_subnet_id and"),
        (("data", "primary", "db_subnet_group"), "db", "private access needs both vpc_id and db_subnet_group"),
        (
            ("data", "standby"),
            {"kind": "azure-flexible", "delegated_subnet_id": "/s/subnets/pg", "private_dns_zone_id": "/s/zones/pg"},
            "private access is both ends or neither",
        ),
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
    assert rules_of(both(run))["bascule-data-single-provider"] == "advisory"
