"""Each rule firing and not firing, through both front-ends, with the same verdicts.

Front-end 1 is `bascule check`'s path (engine records -> inventory -> rules). Front-end 2 is the path
the Pulumi engine uses: `pulumi_policy`'s analyzer servicer, configured and called with protobuf
`AnalyzeStack` requests built from the same real resources (props as a read-only proxy, numbers as floats).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer

from bascule.inventory.records import from_offline_run
from bascule.offline.engine import OfflineRun, RegisteredResource, run_offline
from bascule.policies.config import ConfigError, PackConfig, parse_pack_config
from bascule.policies.pack import PACK_NAME, policies
from bascule.policies.rules import RULES, RULES_BY_ID, evaluate
from tests.conftest import Plan, stack_config

Verdicts = set[tuple[str, str | None, str]]
PlanFn = Callable[..., Plan]


def offline_verdicts(run: OfflineRun, config: dict[str, Any]) -> Verdicts:
    pack = parse_pack_config(config, "test config", set(RULES_BY_ID))
    return {(v.finding.rule, v.finding.urn, v.enforcement.value) for v in evaluate(from_offline_run(run), pack)}


def _struct(data: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(data, struct_pb2.Struct())


def analyze_stack_request(resources: list[RegisteredResource]) -> analyzer_pb2.AnalyzeStackRequest:
    """What the engine sends: every resource with its outputs and dependencies; a custom resource without an explicit provider
    gets the engine's default provider, whose props carry no region because no stack config sets one."""
    by_urn = {r.urn: r for r in resources}
    request = analyzer_pb2.AnalyzeStackRequest()
    for r in resources:
        item = request.resources.add(type=r.type, urn=r.urn, name=r.name, properties=_struct(r.outputs))
        item.dependencies.extend(r.dependencies)
        if r.parent:
            item.parent = r.parent
        if r.custom and not r.type.startswith("pulumi:providers:"):
            if r.provider is not None:
                p = by_urn[r.provider]
                item.provider.CopyFrom(analyzer_pb2.AnalyzerProviderResource(
                    type=p.type, urn=p.urn, name=p.name, properties=_struct(p.outputs)))  # fmt: skip
            else:
                package = r.type.split(":")[0]
                urn = f"urn:pulumi:test::bascule::pulumi:providers:{package}::default"
                item.provider.CopyFrom(analyzer_pb2.AnalyzerProviderResource(
                    type=f"pulumi:providers:{package}", urn=urn, name="default", properties=_struct({})))  # fmt: skip
    return request


LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY, "disabled": analyzer_pb2.DISABLED}


def engine_configure(config: dict[str, Any]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    """The `Configure` request Pulumi's engine sends after reconciling a `--policy-pack-config` file
    (pkg/resource/analyzer/config.go, `ReconcilePolicyPackConfig`): every policy, its level from its own entry, else
    from `all`, else its default (from GetAnalyzerInfo); its properties the schema defaults overlaid with its own."""
    configure = analyzer_pb2.ConfigureAnalyzerRequest()
    for policy in policies():
        given = config.get(policy.name, {})
        given = {"enforcementLevel": given} if isinstance(given, str) else given
        everyone = config.get("all")
        default = policy.enforcement_level.value if policy.enforcement_level is not None else "advisory"
        level = given.get("enforcementLevel") or everyone or default
        schema = policy.config_schema.properties if policy.config_schema is not None else {}
        props = {k: v["default"] for k, v in schema.items() if "default" in v}
        props |= {k: v for k, v in given.items() if k != "enforcementLevel"}
        configure.policyConfig[policy.name].CopyFrom(
            analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level], properties=_struct(props))
        )
    return configure


def pack_verdicts(run: OfflineRun, config: dict[str, Any]) -> Verdicts:
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", policies(), EnforcementLevel.ADVISORY)
    servicer.Configure(engine_configure(config), None)
    response = servicer.AnalyzeStack(analyze_stack_request(run.resources), None)
    names = {0: "advisory", 1: "mandatory"}
    return {(d.policyName, d.urn or None, names[d.enforcementLevel]) for d in response.diagnostics}


def both(run: OfflineRun, config: dict[str, Any] | None = None) -> Verdicts:
    config = config or {}
    offline, pack = offline_verdicts(run, config), pack_verdicts(run, config)
    assert offline == pack, f"front-ends disagree:\noffline only {offline - pack}\npack only {pack - offline}"
    return offline


def rules_of(verdicts: Verdicts) -> dict[str, str]:
    return {rule: level for rule, _urn, level in verdicts}


def services(name: str) -> list[dict[str, Any]]:
    return copy.deepcopy(stack_config(name)["bascule:services"])


def test_dev_stack_checks_clean_its_zone_has_accelerated_recovery(plan_services: PlanFn) -> None:
    assert both(plan_services(services("dev")).run) == set()


def existing_zone(svc: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The dev service on a Route 53 zone given by id: the stack cannot show accelerated recovery, so DNS on the
    primary's provider is advised against."""
    svc[0]["dns"]["zone_id"] = "Z0123456789EXAMPLE"
    return svc


def test_dns_on_the_primary_provider_is_advised_without_accelerated_recovery(plan_services: PlanFn) -> None:
    verdicts = both(plan_services(existing_zone(services("dev"))).run)
    assert rules_of(verdicts) == {"bascule-dns-on-primary-provider": "advisory"}


def test_single_region_fires_with_workload_region_and_fix(plan_services: PlanFn) -> None:
    run = plan_services(services("single-region"), stack="single-region").run
    verdicts = both(run)
    assert rules_of(verdicts)["bascule-single-region"] == "mandatory"
    (finding,) = [v for v in evaluate(from_offline_run(run), PackConfig()) if v.finding.rule == "bascule-single-region"]
    assert "'payments'" in finding.finding.message and "aws eu-west-3" in finding.finding.message
    assert "Fix:" in finding.finding.message


def test_single_provider_fires_for_two_regions_of_one_cloud(plan_services: PlanFn) -> None:
    svc = existing_zone(services("dev"))
    svc[0]["secondary"] = dict(svc[0]["primary"], region="eu-central-1", vpc_cidr="10.90.0.0/16")
    verdicts = both(plan_services(svc).run)
    assert rules_of(verdicts) == {"bascule-single-provider": "advisory", "bascule-dns-on-primary-provider": "advisory"}
    escalated = both(plan_services(svc).run, {"bascule-single-provider": {"enforcementLevel": "mandatory"}})
    assert rules_of(escalated)["bascule-single-provider"] == "mandatory"


def test_rto_budget_fires_when_overrun_was_allowed(plan_services: PlanFn) -> None:
    svc = services("dev")
    svc[0].update(rto_seconds=60, allow_rto_overrun=True)
    verdicts = both(plan_services(svc).run)
    assert rules_of(verdicts)["bascule-rto-budget"] == "mandatory"
    assert all(rule != "bascule-rto-budget" for rule, _, _ in both(plan_services(services("dev")).run))


def test_dns_hosted_off_the_primary_provider_passes(plan_services: PlanFn) -> None:
    svc = services("dev")
    svc[0]["primary"], svc[0]["secondary"] = svc[0]["secondary"], svc[0]["primary"]
    assert both(plan_services(svc).run) == set()


def test_hot_region_and_jurisdiction(plan_services: PlanFn) -> None:
    svc = services("dev")
    svc[0]["primary"]["region"] = "us-east-1"
    svc[0]["secondary"] = dict(svc[0]["primary"], region="us-west-2", vpc_cidr="10.90.0.0/16")
    run = plan_services(svc).run
    assert "bascule-hot-region" not in rules_of(both(run))
    config = {"bascule-hot-region": {"hotRegions": ["us-east-1", "us-west-2"]},
              "bascule-eu-jurisdiction": {"enforcementLevel": "mandatory"}}  # fmt: skip
    fired = rules_of(both(run, config))
    assert fired["bascule-hot-region"] == "advisory"
    assert fired["bascule-eu-jurisdiction"] == "mandatory"
    assert "bascule-eu-jurisdiction" not in rules_of(both(plan_services(services("dev")).run, config))


def _hand_written_stack(region: str | None, health_check: bool) -> Callable[[], None]:
    """A stack not built with Bascule: user tags mark the workload; failover records written by hand."""

    def program() -> None:
        tags = {"workload": "ledger", "criticality": "critical"}
        opts = None
        if region is not None:
            opts = pulumi.ResourceOptions(provider=aws.Provider("paris", region=region))
        cluster = aws.ecs.Cluster("ledger", tags=tags, opts=opts)
        aws.ecs.Service("ledger", cluster=cluster.arn, desired_count=2, tags=tags, opts=opts)
        check = aws.route53.HealthCheck("ledger", type="HTTPS", fqdn="ledger.example.com", port=443,
                                        resource_path="/", request_interval=30, failure_threshold=3, tags=tags)  # fmt: skip
        aws.route53.Record(
            "ledger-primary", zone_id="Z1", name="ledger.example.com", type="CNAME", ttl=60,
            records=["a.example.com"], set_identifier="primary",
            health_check_id=check.id if health_check else None,
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type="PRIMARY")],
        )  # fmt: skip

    return program


def test_rules_apply_to_stacks_not_built_with_bascule() -> None:
    run = run_offline(_hand_written_stack("eu-west-3", health_check=False), {}, project="ledger", stack="prod")
    fired = rules_of(both(run))
    assert fired["bascule-unhealthy-failover"] == "mandatory"
    assert fired["bascule-single-region"] == "mandatory"
    healthy = run_offline(_hand_written_stack("eu-west-3", health_check=True), {}, project="ledger", stack="prod")
    assert "bascule-unhealthy-failover" not in rules_of(both(healthy))


def test_unknown_region_fails_closed() -> None:
    run = run_offline(_hand_written_stack(None, health_check=True), {}, project="ledger", stack="prod")
    verdicts = both(run)
    assert rules_of(verdicts)["bascule-unknown-region"] == "mandatory"
    assert "bascule-single-region" not in rules_of(verdicts)
    configured = run_offline(_hand_written_stack(None, health_check=True), {"aws:region": "eu-west-1"},
                             project="ledger", stack="prod")  # fmt: skip
    assert "bascule-unknown-region" not in rules_of(offline_verdicts(configured, {}))


def test_disabled_rule_reports_nothing(plan_services: PlanFn) -> None:
    run = plan_services(existing_zone(services("dev"))).run
    assert both(run, {"bascule-dns-on-primary-provider": {"enforcementLevel": "disabled"}}) == set()


@pytest.mark.parametrize("rule", [r.id for r in RULES])
def test_every_rule_has_remediation_and_dora_reference(rule: str) -> None:
    (found,) = [r for r in RULES if r.id == rule]
    assert found.remediation and found.dora.startswith("Art. ")


def test_powerdns_switch_counts_for_the_rto_budget(plan_services: PlanFn) -> None:
    from tests.test_powerdns import service as powerdns_service

    svc = powerdns_service()
    svc.update(rto_seconds=40, allow_rto_overrun=True)  # 5 s x 3 + TTL 30 s = 45 s
    run = plan_services([svc], {"bascule:powerdnsApiKey": "k"}).run
    assert rules_of(both(run)) == {"bascule-rto-budget": "mandatory"}
    svc["rto_seconds"] = 45
    assert both(plan_services([svc], {"bascule:powerdnsApiKey": "k"}).run) == set()


EDGE = "bascule-global-edge-ingress"


def test_traffic_manager_switch_off_the_primary_provider(plan_services: PlanFn) -> None:
    svc = services("tm")
    assert rules_of(both(plan_services(svc).run)) == {EDGE: "advisory"}  # the Azure standby's Front Door, below
    svc[0].update(rto_seconds=40, allow_rto_overrun=True)  # 10 s x (2 tolerated + 1) + TTL 30 s = 60 s
    assert rules_of(both(plan_services(svc).run)) == {"bascule-rto-budget": "mandatory", EDGE: "advisory"}


def test_eu_provider_is_off_by_default_and_its_enforcement_level_turns_it_on(plan_services: PlanFn) -> None:
    """As CrossGuard users expect: the rule is `disabled` by default, and its enforcementLevel (or `all`) turns it on,
    with the same verdicts from the pack as Pulumi's engine configures it and from `bascule check`."""
    dev = plan_services(services("dev")).run
    assert "bascule-eu-provider" not in rules_of(both(dev))
    mandatory = {"bascule-eu-provider": {"enforcementLevel": "mandatory"}}
    fired = {(rule, urn) for rule, urn, _ in both(dev, mandatory) if rule == "bascule-eu-provider"}
    assert fired == {("bascule-eu-provider",
                      "urn:pulumi:test::bascule::bascule:service:FailoverService$bascule:aws:AwsSite$aws:ecs/service:Service::checkout-primary-service")}  # fmt: skip
    assert rules_of(both(dev, mandatory))["bascule-eu-provider"] == "mandatory"
    assert rules_of(both(dev, {"bascule-eu-provider": "advisory"}))["bascule-eu-provider"] == "advisory"
    assert rules_of(both(dev, {"all": "mandatory"}))["bascule-eu-provider"] == "mandatory"
    assert "bascule-eu-provider" not in rules_of(both(dev, {"all": "mandatory", "bascule-eu-provider": "disabled"}))
    # The Azure secondary is in an EU region: the jurisdiction rule is satisfied where the provider rule is not.
    assert "bascule-eu-jurisdiction" not in rules_of(both(dev, {"bascule-eu-jurisdiction": "mandatory"}))


def test_the_retired_eu_switch_names_the_enforcement_level_that_replaced_it() -> None:
    with pytest.raises(ConfigError, match=r"requireEuProvider: no longer a setting; turn bascule-eu-provider on"):
        parse_pack_config({"bascule-eu-provider": {"requireEuProvider": True}}, "cfg.json", set(RULES_BY_ID))


def test_eu_provider_passes_with_a_scaleway_secondary(plan_services: PlanFn) -> None:
    sovereign = plan_services(services("sovereign"), stack="sovereign").run
    enabled = {"bascule-eu-provider": {"enforcementLevel": "mandatory"}}
    assert "bascule-eu-provider" not in rules_of(both(sovereign, enabled))


def test_a_standby_behind_front_door_is_counted_as_a_global_dependency(plan_services: PlanFn) -> None:
    """Front Door has no region, so no regional rule sees it; the edge rule names it, on both front-ends."""
    run = plan_services(services("tm")).run
    (endpoint,) = [r for r in run.resources if r.type == "azure-native:cdn:AFDEndpoint"]
    assert both(run) == {(EDGE, endpoint.urn, "advisory")}
    (verdict,) = evaluate(from_offline_run(run), PackConfig())
    message = verdict.finding.message
    assert (
        "its secondary site (azure germanywestcentral) is reached through Azure Front Door 'checkout-secondary-afd'"
        in (message)
    )
    assert "a global service" in message and "Fix:" in message
    assert both(run, {EDGE: {"enforcementLevel": "mandatory"}}) == {(EDGE, endpoint.urn, "mandatory")}
    # Without a Front Door (a GCP standby) the rule stays quiet.
    assert EDGE not in rules_of(both(plan_services(services("gcp")).run))


def _ledger_with_data(standby_on_azure: bool, bucket_on_gcp: bool = False) -> Callable[[], None]:
    """A critical workload not built with Bascule: compute on AWS and in GCP, its database on RDS, and (optionally)
    a PostgreSQL standby on Azure Database for PostgreSQL Flexible Server or a bucket on GCP."""

    def program() -> None:
        import pulumi_azure_native as azure_native
        import pulumi_gcp as gcp

        tags = {"workload": "ledger", "criticality": "critical"}
        paris = pulumi.ResourceOptions(provider=aws.Provider("paris", region="eu-west-3"))
        cluster = aws.ecs.Cluster("ledger", tags=tags, opts=paris)
        aws.ecs.Service("ledger", cluster=cluster.arn, desired_count=2, tags=tags, opts=paris)
        aws.rds.Instance("ledger-db", engine="postgres", instance_class="db.t4g.medium", allocated_storage=20,
                         tags=tags, opts=paris)  # fmt: skip
        gcp.cloudrunv2.Service("ledger", location="europe-west1", project="p", labels=tags,
                               template=gcp.cloudrunv2.ServiceTemplateArgs(containers=[
                                   gcp.cloudrunv2.ServiceTemplateContainerArgs(image="nginx")]))  # fmt: skip
        if standby_on_azure:
            azure_native.dbforpostgresql.Server("ledger-standby", resource_group_name="rg", location="westeurope",
                                                version="16", tags=tags)  # fmt: skip
        if bucket_on_gcp:
            gcp.storage.Bucket("ledger-exports", location="EUROPE-WEST1", project="p", labels=tags)

    return program


def test_data_single_provider_fires_until_the_data_has_a_standby_elsewhere() -> None:
    run = run_offline(_ledger_with_data(standby_on_azure=False), {}, project="ledger", stack="prod")
    verdicts = both(run)
    assert rules_of(verdicts)["bascule-data-single-provider"] == "advisory"
    (urn,) = [u for rule, u, _ in verdicts if rule == "bascule-data-single-provider"]
    assert urn is not None and urn.endswith("aws:rds/instance:Instance::ledger-db")
    strict = both(run, {"bascule-data-single-provider": {"enforcementLevel": "mandatory"}})
    assert rules_of(strict)["bascule-data-single-provider"] == "mandatory"
    replicated = run_offline(_ledger_with_data(standby_on_azure=True), {}, project="ledger", stack="prod")
    assert "bascule-data-single-provider" not in rules_of(both(replicated))


def test_data_single_provider_counts_databases_not_buckets() -> None:
    """A bucket at another provider holds files, not the records a standby site needs: the rule still fires."""
    run = run_offline(_ledger_with_data(False, bucket_on_gcp=True), {}, project="ledger", stack="prod")
    assert any(r.type == "gcp:storage/bucket:Bucket" for r in run.resources)
    assert rules_of(both(run))["bascule-data-single-provider"] == "advisory"
