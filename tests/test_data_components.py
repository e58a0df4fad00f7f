"""The data standby as planned offline from the example stack: no default VPC, no local command; RDS in the primary
site's VPC admitting the standby's fixed egress address, the deployer and the site's tasks; the standby in its own
virtual network with the secondary site's environment; the sync job; each site told its database as secrets; the
`bascule_data` output; the spec's one-line errors; the data rule."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bascule.components.data import sync
from bascule.components.data.plugin import standby_subnets
from bascule.data import pair_from_state
from bascule.offline import engine
from bascule.spec import SpecError, parse_services
from bascule.spec.data import OUTPUT, STANDBY_TYPE
from tests.conftest import Plan, stack_config
from tests.test_policies import both, rules_of

PlanFn = Callable[..., Plan]
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""How Pulumi marks a secret value on the wire (its `_secret_sig`)."""
LIBPQ = {"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE"}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG[0]) == SECRET_SIG[1]


def data_services() -> list[dict[str, Any]]:
    return copy.deepcopy(stack_config("data")["bascule:services"])


class Recorded:
    """The invokes the program made, and answers to give some of them instead of the engine's stand-ins."""

    def __init__(self) -> None:
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, dict[str, Any]] = {}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    seen = Recorded()
    call = engine._CloudMocks.call

    def recording_call(self: Any, args: Any) -> Any:
        seen.invokes.append((args.token, dict(args.args)))
        result, failures = call(self, args)
        return {**result, **seen.answers.get(args.token, {})}, failures

    monkeypatch.setattr(engine._CloudMocks, "call", recording_call)
    yield seen


def test_no_default_vpc_lookup_and_no_local_command(plan_services: PlanFn, recorded: Recorded) -> None:
    plan = plan_services(data_services())
    assert not [a for token, a in recorded.invokes if token == "aws:ec2/getVpc:getVpc" and a.get("default")]
    assert not [r for r in plan.resources if r.type.startswith(("command:", "pulumi:providers:command"))]
    # A security group or an instance without a VPC or subnet group goes into the region's default VPC.
    assert all(r.inputs.get("vpcId") for r in plan.of_type("aws:ec2/securityGroup:SecurityGroup"))
    (rds,) = plan.of_type("aws:rds/instance:Instance")
    (subnets,) = plan.of_type("aws:rds/subnetGroup:SubnetGroup")
    assert rds.inputs["dbSubnetGroupName"] == subnets.outputs["name"]


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
    assert rds.inputs["publiclyAccessible"] is True and rds.inputs["region"] == "eu-central-1"
    assert rds.inputs["tags"]["bascule:service"] == "checkout"


def test_rds_sits_in_the_sites_vpc_and_admits_the_standby_the_deployer_and_the_tasks(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    vpc = plan.named("checkout-data-vpc", "aws:ec2/vpc:Vpc")
    # The site has no network of its own: it runs in the VPC the data standby built, beside RDS.
    assert not [r for r in plan.of_type("aws:ec2/vpc:Vpc") if r.name != "checkout-data-vpc"]
    alb_sg = plan.named("checkout-primary-alb", "aws:ec2/securityGroup:SecurityGroup")
    assert alb_sg.inputs["vpcId"] == vpc.id
    (subnet_group,) = plan.of_type("aws:rds/subnetGroup:SubnetGroup")
    public = {r.id for r in plan.of_type("aws:ec2/subnet:Subnet") if r.inputs["mapPublicIpOnLaunch"]}
    assert set(subnet_group.inputs["subnetIds"]) == public and len(public) == 2
    firewall = plan.named("checkout-data-database", "aws:ec2/securityGroup:SecurityGroup")
    egress = plan.named("checkout-data-egress", "azure-native:network:PublicIPAddress")
    clients = plan.named("checkout-data-clients", "aws:ec2/securityGroup:SecurityGroup")
    sources = {rule["description"]: rule.get("cidrBlocks") or rule["securityGroups"]
               for rule in firewall.inputs["ingress"]}  # fmt: skip
    assert sources == {
        "standby replication": [f"{egress.outputs['ipAddress']}/32"],
        "deployer (pulumi up)": ["203.0.113.10/32"],
        "primary tasks": [clients.id],
    }
    assert all((r["protocol"], r["fromPort"], r["toPort"]) == ("tcp", 5432, 5432) for r in firewall.inputs["ingress"])
    (service,) = plan.of_type("aws:ecs/service:Service")
    assert clients.id in service.inputs["networkConfiguration"]["securityGroups"]


def test_the_standby_is_private_and_leaves_through_one_static_address(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (server,) = plan.of_type("azure-native:dbforpostgresql:Server")
    (zone,) = plan.of_type("azure-native:privatedns:PrivateZone")
    postgres = plan.named("checkout-data-postgres", "azure-native:network:Subnet")
    assert server.inputs["network"] == {"delegatedSubnetResourceId": postgres.id,
                                        "privateDnsZoneArmResourceId": zone.id}  # fmt: skip
    assert zone.inputs["privateZoneName"].endswith(".postgres.database.azure.com")
    (link,) = plan.of_type("azure-native:privatedns:VirtualNetworkLink")
    assert link.urn in server.dependencies
    assert plan.of_type("azure-native:dbforpostgresql:FirewallRule") == []  # no public endpoint to filter
    (nat,) = plan.of_type("azure-native:network:NatGateway")
    egress = plan.named("checkout-data-egress", "azure-native:network:PublicIPAddress")
    assert egress.inputs["publicIPAllocationMethod"] == "Static" and nat.inputs["publicIpAddresses"] == [
        {"id": egress.id}]  # fmt: skip
    layout = standby_subnets("10.92.0.0/22")
    subnets = {s.inputs["subnetName"]: s for s in plan.of_type("azure-native:network:Subnet")}
    assert {k: s.inputs["addressPrefix"] for k, s in subnets.items()} == layout
    for subnet in subnets.values():
        assert subnet.inputs["natGateway"] == {"id": nat.id} and subnet.inputs["defaultOutboundAccess"] is False
    assert subnets["apps"].urn in subnets["jobs"].dependencies  # one change at a time on the network
    assert subnets["postgres"].urn in subnets["apps"].dependencies


def test_static_settings_and_what_up_says_while_a_restart_is_pending(
    plan_services: PlanFn, recorded: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    plan = plan_services(data_services())
    settings = {c.inputs["configurationName"]: c for c in plan.of_type("azure-native:dbforpostgresql:Configuration")}
    assert {k: c.inputs["value"] for k, c in settings.items()} == {"max_worker_processes": "16", "wal_level": "logical"}
    assert settings["max_worker_processes"].urn in settings["wal_level"].dependencies
    # Read live on every run (the state keeps the value of the `up` that set it), after the settings are written.
    assert ("azure-native:dbforpostgresql:getConfiguration", {
        "configurationName": "max_worker_processes", "resourceGroupName": "checkout-data-rg",
        "serverName": plan.named("checkout-data-standby").outputs["name"]}) in recorded.invokes  # fmt: skip
    assert not [r for r in caplog.records if "restart" in r.getMessage()]
    recorded.answers["azure-native:dbforpostgresql:getConfiguration"] = {"isConfigPendingRestart": True}
    plan_services(data_services())
    (said,) = [r.getMessage() for r in caplog.records if "restart" in r.getMessage()]
    assert "run once: az postgres flexible-server restart --resource-group checkout-data-rg --name " in said
    assert caplog.records[-1].levelno == logging.WARNING


def test_the_sync_job_runs_the_script_beside_the_standby_with_its_secrets(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    job = plan.named("checkout-data-sync", "azure-native:app:Job")
    env = plan.named("checkout-data-jobs", "azure-native:app:ManagedEnvironment")
    jobs = plan.named("checkout-data-jobs", "azure-native:network:Subnet")
    assert env.inputs["vnetConfiguration"] == {"infrastructureSubnetId": jobs.id}
    assert job.inputs["environmentId"] == env.id
    config = job.inputs["configuration"]
    assert config["triggerType"] == "Schedule"
    assert config["scheduleTriggerConfig"]["cronExpression"] == sync.SCHEDULE
    assert {s["name"] for s in config["secrets"]} == {"admin-password", "publisher", "app-password"}
    assert all(is_secret(s["value"]) for s in config["secrets"])
    (container,) = job.inputs["template"]["containers"]
    assert container["command"] == ["/bin/sh", "-c", sync.SCRIPT]
    assert container["image"] == "public.ecr.aws/docker/library/postgres:16-alpine"  # no hourly pull limit
    variables = {v["name"]: v for v in container["env"]}
    assert set(variables) == set(sync.ENV)
    assert {k for k, v in variables.items() if "secretRef" in v} == {"PGPASSWORD", "BASCULE_PUBLISHER",
                                                                      "BASCULE_APP_PASSWORD"}  # fmt: skip
    assert variables["BASCULE_DATABASES"]["value"] == "checkout"
    # Created once it can work: after the settings, the standby's databases, the publications and RDS's firewall.
    waits_for = {plan.by_urn[urn].type for urn in job.dependencies}
    assert {"azure-native:dbforpostgresql:Configuration", "azure-native:dbforpostgresql:Database",
            "postgresql:index/publication:Publication", "aws:ec2/securityGroup:SecurityGroup"} <= waits_for  # fmt: skip
    assert plan.of_type("postgresql:index/subscription:Subscription") == []  # the job makes it, not `up`


def test_the_primary_sql_step_makes_logins_grants_and_a_publication_for_all_tables(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    roles = {r.inputs["name"]: r.inputs for r in plan.of_type("postgresql:index/role:Role")}
    assert set(roles) == {"bascule_replicator", "checkout_app"}
    assert roles["bascule_replicator"]["roles"] == ["rds_replication"] and roles["bascule_replicator"]["login"]
    assert all(is_secret(r["password"]) for r in roles.values())
    grants = {(g.inputs["role"], g.inputs["objectType"], tuple(g.inputs["privileges"]))
              for g in plan.of_type("postgresql:index/grant:Grant")}  # fmt: skip
    assert grants == {
        ("checkout_app", "database", ("CONNECT", "TEMPORARY")), ("checkout_app", "schema", ("CREATE", "USAGE")),
        ("bascule_replicator", "database", ("CONNECT",)), ("bascule_replicator", "schema", ("USAGE",)),
        ("bascule_replicator", "table", ("SELECT",)),
    }  # fmt: skip
    (default,) = plan.of_type("postgresql:index/defaultPrivileges:DefaultPrivileges")
    assert (default.inputs["role"], default.inputs["owner"]) == ("bascule_replicator", "checkout_app")
    (publication,) = plan.of_type("postgresql:index/publication:Publication")
    assert publication.inputs["allTables"] is True and "tables" not in publication.inputs
    assert publication.inputs["name"] == "bascule_checkout"
    assert all(g.urn in publication.dependencies for g in plan.of_type("postgresql:index/grant:Grant"))
    passwords = plan.of_type("random:index/randomPassword:RandomPassword")
    assert len(passwords) == 5  # RDS master, replicator, Flexible Server administrator, one app login per side
    assert all((p.inputs["minUpper"], p.inputs["minLower"], p.inputs["minNumeric"]) == (1, 1, 1) for p in passwords)


def test_each_site_is_told_its_database_as_secrets(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    # AWS: the task definition names the secret's keys; ECS reads them as the execution role, allowed to.
    (secret,) = plan.of_type("aws:secretsmanager/secret:Secret")
    (version,) = plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert is_secret(version.inputs["secretString"])
    stored = json.loads(version.inputs["secretString"]["value"])
    assert set(stored) == LIBPQ and stored["PGUSER"] == "checkout_app" and stored["PGDATABASE"] == "checkout"
    (task,) = plan.of_type("aws:ecs/taskDefinition:TaskDefinition")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == {
        name: f"{secret.outputs['arn']}:{name}::" for name in LIBPQ}  # fmt: skip
    assert "environment" not in container
    assert version.urn in task.dependencies  # no task starts before the secret has a value
    (policy,) = plan.of_type("aws:iam/rolePolicy:RolePolicy")
    assert json.loads(policy.inputs["policy"])["Statement"] == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret.outputs["arn"]}]  # fmt: skip
    # Azure: app secrets referenced by the environment variables, the environment in the standby's network.
    (app,) = plan.of_type("azure-native:app:ContainerApp")
    secrets = {s["name"]: s["value"] for s in app.inputs["configuration"]["secrets"]}
    assert set(secrets) == {name.lower() for name in LIBPQ} and all(is_secret(v) for v in secrets.values())
    assert secrets["pghost"]["value"] == plan.named("checkout-data-standby").outputs["fullyQualifiedDomainName"]
    (variables,) = [c["env"] for c in app.inputs["template"]["containers"]]
    assert {v["name"]: v.get("secretRef") for v in variables if v["name"] != "FRONT_DOOR_ID"} == {
        name: name.lower() for name in LIBPQ}  # fmt: skip
    env = plan.named("checkout-secondary-env", "azure-native:app:ManagedEnvironment")
    apps = plan.named("checkout-data-apps", "azure-native:network:Subnet")
    assert env.inputs["vnetConfiguration"] == {"infrastructureSubnetId": apps.id}
    assert [(p["name"], p["workloadProfileType"]) for p in env.inputs["workloadProfiles"]] == [
        ("Consumption", "Consumption")]  # fmt: skip
    assert app.inputs["workloadProfileName"] == "Consumption"


def test_a_service_without_data_keeps_its_sites_as_they_were(plan_services: PlanFn) -> None:
    services = data_services()
    del services[0]["data"]
    plan = plan_services(services)
    (env,) = plan.of_type("azure-native:app:ManagedEnvironment")
    assert "vnetConfiguration" not in env.inputs and "workloadProfiles" not in env.inputs
    (app,) = plan.of_type("azure-native:app:ContainerApp")
    assert "secrets" not in app.inputs["configuration"]
    (task,) = plan.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert "secrets" not in json.loads(task.inputs["containerDefinitions"])[0]
    assert [r.name for r in plan.of_type("aws:ec2/vpc:Vpc")] == ["checkout-primary-vpc"]


def test_bascule_data_output_is_the_contracts_with_passwords_secret(plan_services: PlanFn) -> None:
    plan = plan_services(data_services())
    (resource,) = plan.of_type(STANDBY_TYPE)
    out = resource.outputs[OUTPUT]
    assert set(out) == {"service", "databases", "app_role", "primary", "standby", "replication", "publications",
                        "subscriptions", "wal_keep_mb", "rpo_seconds"}  # fmt: skip
    assert (out["service"], out["databases"], out["app_role"]) == ("checkout", ["checkout"], "checkout_app")
    assert (out["wal_keep_mb"], out["rpo_seconds"]) == (10240, 30)
    assert out["publications"] == out["subscriptions"] == {"checkout": "bascule_checkout"}
    rds, server = plan.named("checkout-data-primary"), plan.named("checkout-data-standby")
    for end, host, provider in (("primary", rds.outputs["address"], "aws-rds"),
                                ("standby", server.outputs["fullyQualifiedDomainName"], "azure-flexible")):  # fmt: skip
        assert set(out[end]) == {"host", "port", "user", "password", "sslmode", "provider", "app_password"}
        assert (out[end]["host"], out[end]["user"], out[end]["sslmode"], out[end]["provider"]) == (
            host, "bascule", "require", provider)  # fmt: skip
        assert is_secret(out[end]["password"]) and is_secret(out[end]["app_password"])
        assert not is_secret(out[end]["host"])
    assert out["standby"]["port"] == 5432
    assert out["replication"]["user"] == "bascule_replicator" and is_secret(out["replication"]["password"])
    # The commands' reader takes the planned output as it is: the contract is one on both sides.
    pair = pair_from_state([{"urn": resource.urn, "type": resource.type, "outputs": resource.outputs}], "data")
    assert pair.replication is not None and pair.replication.user == "bascule_replicator"
    assert pair.standby.reach.startswith("the standby is a Flexible Server inside its own virtual network")
    assert len(set(pair.secrets())) == 5


def test_a_network_of_the_sites_own_holds_the_database(plan_services: PlanFn) -> None:
    services = data_services()
    services[0]["primary"]["network"] = NETWORK
    plan = plan_services(services)
    assert plan.of_type("aws:ec2/vpc:Vpc") == []
    assert {r.inputs["vpcId"] for r in plan.of_type("aws:ec2/securityGroup:SecurityGroup")} == {"vpc-0abc1234"}
    (subnet_group,) = plan.of_type("aws:rds/subnetGroup:SubnetGroup")
    assert subnet_group.inputs["subnetIds"] == ["subnet-0a1b2c3d", "subnet-0e1f2a3b"]


NETWORK = {"vpc_id": "vpc-0abc1234", "alb_subnet_ids": ["subnet-0a1b2c3d", "subnet-0e1f2a3b"],
           "task_subnet_ids": ["subnet-0c4d5e6f"]}  # fmt: skip
"""An existing VPC of the team's, given to the primary site."""


def test_the_private_path_admits_the_standbys_subnet_over_the_vpn(plan_services: PlanFn) -> None:
    services = data_services()
    services[0]["data"]["primary"]["db_subnet_group"] = "checkout-db"
    services[0]["primary"]["network"] = NETWORK
    plan = plan_services(services)
    (rds,) = plan.of_type("aws:rds/instance:Instance")
    assert rds.inputs["publiclyAccessible"] is False and rds.inputs["dbSubnetGroupName"] == "checkout-db"
    assert plan.of_type("aws:rds/subnetGroup:SubnetGroup") == []
    firewall = plan.named("checkout-data-database", "aws:ec2/securityGroup:SecurityGroup")
    (replication,) = [r for r in firewall.inputs["ingress"] if r["description"] == "standby replication"]
    assert replication["cidrBlocks"] == [standby_subnets("10.92.0.0/22")["postgres"]]
    assert {r.inputs["vpcId"] for r in plan.of_type("aws:ec2/securityGroup:SecurityGroup")} == {"vpc-0abc1234"}


def test_the_private_path_without_the_sites_vpc_is_refused(plan_services: PlanFn) -> None:
    # RDS would get a subnet group of the team's VPC and security groups of one built here: AWS refuses that.
    services = data_services()
    services[0]["data"]["primary"]["db_subnet_group"] = "checkout-db"
    with pytest.raises(Exception, match=r"checkout-data: data.primary.db_subnet_group 'checkout-db' is in a VPC of "
                                        r"yours, but the primary site has none: give it that VPC as `network`"):  # fmt: skip
        plan_services(services)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("secondary",),
            {"kind": "gcp", "region": "europe-west1", "project": "shop-eu", "image": "x"},
            "data.standby.kind: 'azure-flexible' runs on Azure, but the secondary site is on gcp",
        ),
        (("data", "primary", "engine_version"), "12", "max_slot_wal_keep_size needs PostgreSQL 13 or later"),
        (("data", "primary", "admin_cidrs"), ["0.0.0.0/0"], "opens the database to the whole internet"),
        (("data", "primary", "admin_cidrs"), ["20.52.0.0/16"], "list blocks of /24 or narrower"),
        (("data", "primary", "admin_cidrs"), ["2001:db8::1/128"], "admin_cidrs: '2001:db8::1/128' is IPv6"),
        (("data", "primary", "admin_cidrs"), [], "admin_cidrs"),
        (("data", "databases"), [], "databases"),
        (("data", "databases"), ["postgres"], "databases: 'postgres' is not a database name here"),
        (("data", "databases"), ["Orders"], "databases: 'Orders' is not a database name here"),
        (("data", "databases"), ["a", "a"], "databases: a database is listed twice"),
        (("data", "app_role"), "bascule", "app_role: 'bascule' is already the RDS master user"),
        (("data", "app_role"), "rds_app", "app_role: 'rds_app' is not a role name here"),
        (("data", "primary", "wal_keep_mb"), 30000, "wal_keep_mb: 30000 MB is over half of allocated_storage_gb"),
        (("data", "standby", "vnet_cidr"), "10.92.0.0/24", "'10.92.0.0/24' is too small"),
        (("data", "standby", "vnet_cidr"), "20.0.0.0/22", "is not a private IPv4 block"),
        (("data", "standby", "administrator_login"), "azure_su", "is not a login Flexible Server accepts here"),
        (("data", "tables"), ["public.orders"], "tables"),
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
