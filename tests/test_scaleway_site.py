"""Scaleway site under mocks: an EU-headquartered secondary, seen by the inventory in an EU jurisdiction."""

from __future__ import annotations

import copy
from collections.abc import Callable

from bascule.facts import Jurisdiction
from bascule.inventory import from_offline_run
from bascule.policies.config import PackConfig, Settings
from bascule.policies.rules import evaluate
from tests.conftest import Plan, stack_config

PlanFn = Callable[..., Plan]


def test_serverless_container_is_warm_public_and_tagged(plan_services: PlanFn) -> None:
    plan = plan_services(copy.deepcopy(stack_config("sovereign")["bascule:services"]))
    container = plan.named("portal-secondary-container", "scaleway:containers/container:Container").inputs
    assert container["registryImage"] == "rg.fr-par.scw.cloud/health/portal:2.2.0"
    assert (container["minScale"], container["maxScale"], container["privacy"]) == (1, 5, "public")
    assert container["region"] == "fr-par" and container["port"] == 8080
    assert "bascule:role=secondary" in container["tags"] and "bascule:service=portal" in container["tags"]
    domain = plan.named("portal-secondary-domain", "scaleway:containers/domain:Domain").inputs
    assert domain["hostname"] == "portal.health.example.eu"
    provider = plan.named("portal-secondary-provider", "pulumi:providers:scaleway")
    assert provider.inputs["region"] == "fr-par"
    endpoint = plan.named("portal-dns-secondary", "azure-native:trafficmanager:Endpoint").inputs
    assert endpoint["target"] == "portal-secondary-container-x7k2.functions.fnc.fr-par.scw.cloud"


def test_inventory_places_it_in_the_eu_and_the_eu_site_rule_passes(plan_services: PlanFn) -> None:
    plan = plan_services(copy.deepcopy(stack_config("sovereign")["bascule:services"]))
    inventory = from_offline_run(plan.run)
    (container,) = [r for r in inventory.resources if r.type == "scaleway:containers/container:Container"]
    assert (container.cloud.value if container.cloud else None, container.region) == ("scaleway", "fr-par")
    assert container.jurisdiction is Jurisdiction.EU
    assert (container.service, container.role, container.workload_source) == ("portal", "secondary", "tag")
    strict = PackConfig(settings={"bascule-eu-jurisdiction": Settings(requireEuSite=True)})
    assert evaluate(inventory, strict) == []
