"""The components used from a team's own program (examples/aws-gcp-failover), run offline by Bascule's engine."""

from __future__ import annotations

import json
import sys

import pulumi_aws as aws
import pulumi_gcp as gcp
import pytest

from bascule.components import FailoverService, FailoverServiceArgs, SiteInputs
from bascule.components.program import main as stack_program
from bascule.offline.engine import ProgramError, load_program_dir, run_offline
from tests.conftest import PROGRAM_SPEC, ROOT, Plan, stack_config

EXAMPLE = ROOT / "examples" / "aws-gcp-failover"


@pytest.fixture(scope="module")
def example() -> Plan:
    project, program = load_program_dir(EXAMPLE)
    return Plan(run_offline(program, {}, project=project, stack="dev"))


def _provider_name(urn: str | None) -> str:
    assert urn is not None
    return urn.split("::")[3]


def test_each_site_deploys_through_the_programs_own_provider(example: Plan) -> None:
    primary = [r for r in example.run.resources if r.custom and (r.parent or "").endswith("::checkout-primary")]
    standby = [r for r in example.run.resources if r.custom and (r.parent or "").endswith("::checkout-secondary")]
    assert primary and standby
    assert {_provider_name(r.provider) for r in primary} == {"workload"}
    assert {_provider_name(r.provider) for r in standby} == {"standby"}
    providers = {r.name for r in example.of_type("pulumi:providers:aws")} | {
        r.name for r in example.of_type("pulumi:providers:gcp")
    }
    # The sites made none of their own, nor did the DNS switch, given none: it uses the stack's default provider.
    assert providers == {"workload", "standby"}


def test_the_primary_runs_the_image_the_program_computed(example: Plan) -> None:
    repository = example.named("checkout", "aws:ecr/repository:Repository")
    (task,) = example.of_type("aws:ecs/taskDefinition:TaskDefinition")
    (container,) = json.loads(task.inputs["containerDefinitions"])
    assert container["image"] == f"{repository.outputs['repositoryUrl']}:1.4.2"


def test_the_example_exports_the_service(example: Plan) -> None:
    assert example.run.stack_outputs["hostname"] == "checkout.shop.example.com"
    assert set(example.run.stack_outputs["endpoints"]) == {"primary", "secondary"}


def test_a_provider_of_another_cloud_is_a_one_line_error() -> None:
    def program() -> None:
        wrong = gcp.Provider("wrong", project="shop-dr-eu", region="europe-west9")
        FailoverService("svc", FailoverServiceArgs(service=PROGRAM_SPEC, primary=SiteInputs(provider=wrong)))

    with pytest.raises(ProgramError) as failed:
        run_offline(program, {})
    assert failed.value.message == "svc-primary: opts.provider must be a 'aws' provider, got 'gcp'"


def test_the_dns_switch_takes_the_programs_provider() -> None:
    def program() -> None:
        dns_account = aws.Provider("dns-account", region="us-east-1")
        FailoverService("svc", FailoverServiceArgs(service=PROGRAM_SPEC, dns_provider=dns_account))

    plan = Plan(run_offline(program, {}))
    (zone,) = plan.of_type("aws:route53/zone:Zone")
    assert _provider_name(zone.provider) == "dns-account"


@pytest.mark.parametrize(
    ("stack", "sdk", "module", "message"),
    [
        ("dev", "pulumi_gcp", "gcp.site", "site kind 'gcp' needs the gcp extra: pip install 'bascule[gcp]'"),
        ("data", "pulumi_postgresql", "data.standby",
         "data standby 'postgres' needs the data extra: pip install 'bascule[data]'"),
        ("hetzner", "pulumi_hcloud", "hetzner.site",
         "site kind 'hetzner' needs the hetzner extra: pip install 'bascule[hetzner]'"),
        ("hetzner", "pulumiverse_acme", "hetzner.site",
         "site kind 'hetzner' needs the hetzner extra: pip install 'bascule[hetzner]'"),
        ("scaleway", "pulumiverse_scaleway", "scaleway.site",
         "site kind 'scaleway' needs the scaleway extra: pip install 'bascule[scaleway]'"),
        ("scaleway", "pulumiverse_acme", "scaleway.site",
         "site kind 'scaleway' needs the scaleway extra: pip install 'bascule[scaleway]'"),
    ],
)  # fmt: skip
def test_a_kind_whose_sdk_is_missing_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, stack: str, sdk: str, module: str, message: str
) -> None:
    """As on an install without the extra: its SDK cannot be imported (None in sys.modules)."""
    monkeypatch.setitem(sys.modules, sdk, None)
    monkeypatch.delitem(sys.modules, f"bascule.components.{module}", raising=False)
    monkeypatch.delitem(sys.modules, "bascule.components.acme", raising=False)  # shared: imported by an earlier test
    with pytest.raises(ProgramError) as failed:
        run_offline(stack_program, stack_config(stack), stack=stack)
    assert failed.value.message == message


def test_an_endpoint_address_the_program_computes_is_health_checked() -> None:
    def program() -> None:
        standby_ip = aws.ec2.Eip("standby-ip", domain="vpc")
        FailoverService(
            "svc", FailoverServiceArgs(service=PROGRAM_SPEC, secondary=SiteInputs(address=standby_ip.public_ip))
        )

    plan = Plan(run_offline(program, {}))
    eip = plan.named("standby-ip", "aws:ec2/eip:Eip")
    checked = {c.inputs.get("ipAddress") for c in plan.of_type("aws:route53/healthCheck:HealthCheck")}
    assert eip.outputs["publicIp"] in checked
    assert "203.0.113.10" not in checked


def test_a_computed_input_a_site_kind_cannot_take_is_a_one_line_error() -> None:
    def program() -> None:
        FailoverService("svc", FailoverServiceArgs(service=PROGRAM_SPEC, primary=SiteInputs(address="198.51.100.7")))

    with pytest.raises(ProgramError) as failed:
        run_offline(program, {})
    assert failed.value.message == "svc: primary.address: a 'aws' site takes no computed address"
