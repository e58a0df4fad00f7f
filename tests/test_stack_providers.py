"""Azure and GCP sites and switches use the stack's default provider, so the stack's `azure-native:*` and `gcp:*`
settings reach them, each resource naming its own location or project; a provider the program passes is used as it
is, as for AWS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi_azure_native as azure
import pulumi_gcp as gcp
import pytest

from bascule.components import FailoverService, FailoverServiceArgs, SiteInputs
from bascule.offline.engine import ProgramError, run_offline
from bascule.spec import parse_services
from tests.conftest import Plan, stack_config

PlanFn = Callable[..., Plan]
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
STACK_SETTINGS = {
    "azure-native:subscriptionId": SUBSCRIPTION,
    "azure-native:tenantId": "66666666-7777-8888-9999-000000000000",
    "gcp:project": "team-default-project",
    "gcp:region": "us-central1",
    "gcp:defaultLabels": {"team": "payments"},
}
"""What a team's stack sets for its own resources: the default providers read it, Bascule's resources included."""
ACME_PROVIDER = "pulumi:providers:acme"


def _services(stack: str) -> list[dict[str, Any]]:
    return list(stack_config(stack)["bascule:services"])


def _cloud_providers(plan: Plan) -> list[str]:
    """Explicit providers of the clouds: not the ACME provider, which an ACME-certified site (the Azure standby)
    creates to name Let's Encrypt's directory (`components/acme.py`) and which holds no cloud login."""
    return [r.name for r in plan.resources if r.type.startswith("pulumi:providers:") and r.type != ACME_PROVIDER]


def _cloud_resources(plan: Plan, package: str) -> list[Any]:
    return [r for r in plan.resources if r.custom and r.type.startswith(f"{package}:")]


def test_azure_site_and_traffic_manager_use_the_stack_s_azure_native_settings(plan_services: PlanFn) -> None:
    plan = plan_services(_services("tm"), STACK_SETTINGS)
    assert _cloud_providers(plan) == []
    azure_resources = _cloud_resources(plan, "azure-native")
    assert len(azure_resources) >= 15
    for r in azure_resources:
        # No explicit provider: the engine's default one, configured from the stack, serves it; its subscription is
        # the stack's azure-native:subscriptionId (the id the provider gives it says so).
        assert not r.provider, r.name
        assert r.id.startswith(f"/subscriptions/{SUBSCRIPTION}/"), (r.name, r.id)
    # Every resource that takes a location names the spec's (or "global"); none relies on the provider's.
    located = {r.name: r.inputs["location"] for r in azure_resources if "location" in r.inputs}
    assert set(located.values()) == {"germanywestcentral", "global"}
    assert located["checkout-secondary-rg"] == located["checkout-dns-rg"] == "germanywestcentral"


def test_gcp_site_and_cloud_dns_use_the_stack_s_gcp_settings_in_the_spec_s_projects(plan_services: PlanFn) -> None:
    plan = plan_services(_services("clouddns"), STACK_SETTINGS)
    assert _cloud_providers(plan) == []
    gcp_resources = _cloud_resources(plan, "gcp")
    assert len(gcp_resources) >= 20
    for r in gcp_resources:
        assert not r.provider, r.name
        # The spec's project, not the stack's default one (gcp:project): the site's or the DNS switch's.
        expected = "bank-dns-eu" if "$bascule:dns:CloudDnsFailover$" in r.urn else "bank-dr-eu"
        assert r.inputs["project"] == expected, r.name
        assert r.id.startswith(f"projects/{expected}/") or not r.id.startswith("projects/"), (r.name, r.id)
    run = plan.named("payments-secondary-run", "gcp:cloudrunv2/service:Service")
    neg = plan.named("payments-secondary-neg")
    assert run.inputs["location"] == neg.inputs["region"] == "europe-west4"  # not the stack's gcp:region


def test_a_provider_the_program_passes_is_used_as_before() -> None:
    """The site's and the switch's resources go through the caller's providers and name no project of their own
    (the provider's is theirs), as before this change: a stack that passes providers sees no difference."""
    (tm,) = parse_services(_services("tm"), "tm.yaml").services
    (clouddns,) = parse_services(_services("clouddns"), "clouddns.yaml").services

    def program() -> None:
        standby = azure.Provider("standby", location="germanywestcentral", subscription_id=SUBSCRIPTION)
        switch = azure.Provider("switch", location="germanywestcentral")
        FailoverService("tm", FailoverServiceArgs(tm, secondary=SiteInputs(provider=standby), dns_provider=switch))
        gcp_standby = gcp.Provider("gcp-standby", project="bank-dr-eu", region="europe-west4")
        gcp_switch = gcp.Provider("gcp-switch", project="bank-dns-eu")
        FailoverService(
            "cd", FailoverServiceArgs(clouddns, secondary=SiteInputs(provider=gcp_standby), dns_provider=gcp_switch)
        )

    plan = Plan(run_offline(program, {}))
    by_provider: dict[str, set[str]] = {}
    for r in _cloud_resources(plan, "azure-native") + _cloud_resources(plan, "gcp"):
        assert r.provider, r.name
        by_provider.setdefault(r.provider.split("::")[3], set()).add(r.urn.split("$")[1].split("::")[0])
    assert by_provider == {
        "standby": {"bascule:azure:AzureSite"},
        "switch": {"bascule:dns:TrafficManagerFailover"},
        "gcp-standby": {"bascule:gcp:GcpSite"},
        "gcp-switch": {"bascule:dns:CloudDnsFailover"},
    }
    gcp_resources = [r for r in _cloud_resources(plan, "gcp") if r.type != "gcp:projects/service:Service"]
    assert gcp_resources and all("project" not in r.inputs for r in gcp_resources)
    assert set(_cloud_providers(plan)) == {"standby", "switch", "gcp-standby", "gcp-switch"}


@pytest.mark.parametrize(("stack", "package"), [("tm", "azure-native"), ("clouddns", "gcp")])
def test_a_disabled_default_provider_is_one_line(plan_services: PlanFn, stack: str, package: str) -> None:
    with pytest.raises(ProgramError, match=rf"the stack disables the default '{package}' provider .*pass one as"):
        plan_services(_services(stack), {"pulumi:disable-default-providers": [package]})
