"""An AWS site in a network the caller brings (SiteInputs.network or the spec's `network`), and a spec without an
image when the program computes it: the resources under Pulumi mocks, and the one-line errors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from bascule.components import AwsNetwork, FailoverService, FailoverServiceArgs, SiteInputs
from bascule.offline.engine import FailureKind, ProgramError, Semantics, load_program_dir, run_offline
from bascule.spec import AwsSiteSpec, GcpSiteSpec, ServiceSpec, SpecError
from bascule.spec import parse_services as parse
from tests.conftest import PROGRAM_SPEC, Plan

PlanFn = Callable[..., Plan]
OWN_NETWORK = (
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/internetGateway:InternetGateway",
    "aws:ec2/routeTable:RouteTable",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
)
VPC = "vpc-0a1b2c3d4e5f67890"
PUBLIC = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"]
PRIVATE = ["subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2", "subnet-0bbbbbbbbbbbbbbb3"]


def _under(plan: Plan, component: str) -> list[str]:
    """Types of the custom resources a component declared, at any depth."""
    root = next(r.urn for r in plan.resources if r.name == component and not r.custom)

    def inside(urn: str | None) -> bool:
        while urn is not None:
            if urn == root:
                return True
            urn = plan.by_urn[urn].parent if urn in plan.by_urn else None
        return False

    return [r.type for r in plan.resources if r.custom and inside(r.parent)]


def _wiring(plan: Plan, site: str) -> dict[str, Any]:
    """Where the site put its load balancer, tasks, security groups and target group."""
    alb = plan.named(f"{site}-alb", "aws:lb/loadBalancer:LoadBalancer").inputs
    (service,) = plan.of_type("aws:ecs/service:Service")
    net = service.inputs["networkConfiguration"]
    groups = {
        plan.named(f"{site}-{n}", "aws:ec2/securityGroup:SecurityGroup").inputs["vpcId"] for n in ("alb", "tasks")
    }
    return {
        "alb_subnets": alb["subnets"],
        "task_subnets": net["subnets"],
        "public_ip": net.get("assignPublicIp", False),
        "vpcs": groups | {plan.named(f"{site}-tg", "aws:lb/targetGroup:TargetGroup").inputs["vpcId"]},
        "alb_groups": alb["securityGroups"],
        "task_groups": net["securityGroups"],
    }


def test_a_computed_network_replaces_the_sites_own() -> None:
    """The platform team's VPC, here declared in the same program: its ids are only known at deploy time."""

    def program() -> None:
        vpc = aws.ec2.Vpc("platform", cidr_block="10.0.0.0/16")
        public = [aws.ec2.Subnet(f"platform-public-{i}", vpc_id=vpc.id, cidr_block=f"10.0.{i}.0/24") for i in (1, 2)]
        private = [aws.ec2.Subnet(f"platform-app-{i}", vpc_id=vpc.id, cidr_block=f"10.0.1{i}.0/24") for i in (1, 2)]
        network = AwsNetwork(vpc.id, [s.id for s in public], [s.id for s in private])
        FailoverService("svc", FailoverServiceArgs(service=PROGRAM_SPEC, primary=SiteInputs(network=network)))

    plan = Plan(run_offline(program, {}))
    assert not set(_under(plan, "svc-primary")) & set(OWN_NETWORK)
    wiring = _wiring(plan, "svc-primary")
    assert wiring["alb_subnets"] == [plan.named(f"platform-public-{i}").id for i in (1, 2)]
    assert wiring["task_subnets"] == [plan.named(f"platform-app-{i}").id for i in (1, 2)]
    assert wiring["vpcs"] == {plan.named("platform", "aws:ec2/vpc:Vpc").id}
    assert wiring["public_ip"] is False
    # Still only the load balancer reaches the tasks, whatever network they are in.
    alb_sg = plan.named("svc-primary-alb", "aws:ec2/securityGroup:SecurityGroup")
    task_sg = plan.named("svc-primary-tasks", "aws:ec2/securityGroup:SecurityGroup")
    assert (wiring["alb_groups"], wiring["task_groups"]) == ([alb_sg.id], [task_sg.id])
    assert [rule["securityGroups"] for rule in task_sg.inputs["ingress"]] == [[alb_sg.id]]


def test_a_network_in_the_stack_file(plan_services: PlanFn, dev_service: dict[str, Any]) -> None:
    dev_service["primary"]["network"] = {
        "vpc_id": VPC,
        "alb_subnet_ids": PUBLIC,
        "task_subnet_ids": PUBLIC,
        "assign_public_ip": True,
    }
    plan = plan_services([dev_service])
    assert not set(_under(plan, "checkout-primary")) & set(OWN_NETWORK)
    wiring = _wiring(plan, "checkout-primary")
    assert (wiring["alb_subnets"], wiring["task_subnets"], wiring["public_ip"]) == (PUBLIC, PUBLIC, True)
    assert wiring["vpcs"] == {VPC}


def test_without_a_network_the_site_builds_its_own(plan_services: PlanFn, dev_service: dict[str, Any]) -> None:
    plan = plan_services([dev_service])
    built = _under(plan, "checkout-primary")
    assert {t: built.count(t) for t in OWN_NETWORK} == dict(zip(OWN_NETWORK, (1, 2, 1, 1, 2), strict=True))
    subnets = [s.id for s in sorted(plan.of_type("aws:ec2/subnet:Subnet"), key=lambda s: s.name)]
    wiring = _wiring(plan, "checkout-primary")
    assert (wiring["alb_subnets"], wiring["task_subnets"], wiring["public_ip"]) == (subnets, subnets, True)
    assert wiring["vpcs"] == {plan.named("checkout-primary-vpc").id}


def _declares_nothing(service: ServiceSpec, **inputs: SiteInputs) -> str:
    """The error FailoverService raises, after checking that it declared no resource before raising."""
    failed: list[str] = []

    def program() -> None:
        try:
            FailoverService("svc", FailoverServiceArgs(service=service, **inputs))
        except pulumi.RunError as exc:
            failed.append(str(exc))

    run = run_offline(program, {})
    assert [r.type for r in run.resources if r.type != "pulumi:pulumi:Stack"] == []
    (message,) = failed
    return message


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (AwsNetwork(VPC, PUBLIC[:1], PRIVATE),
         "alb_subnet_ids: subnets in at least two Availability Zones, got 1"),
        (AwsNetwork(VPC, PUBLIC, []), "task_subnet_ids: at least one subnet, got 0"),
        (AwsNetwork(VPC, PUBLIC, PRIVATE * 6), "task_subnet_ids: an ECS service takes at most 16 subnets, got 18"),
        (AwsNetwork(PUBLIC[0], PUBLIC, PRIVATE),
         f"vpc_id: '{PUBLIC[0]}' is not a VPC id (vpc- and 8 or 17 lowercase letters and digits)"),
        (AwsNetwork(VPC, [PUBLIC[0], VPC], PRIVATE),
         f"alb_subnet_ids: '{VPC}' is not a subnet id (subnet- and 8 or 17 lowercase letters and digits)"),
        (AwsNetwork(VPC, [PUBLIC[0], PUBLIC[0]], PRIVATE), f"alb_subnet_ids: '{PUBLIC[0]}' is listed twice"),
    ],
)  # fmt: skip
def test_a_network_that_cannot_work_is_a_one_line_error(network: AwsNetwork, message: str) -> None:
    assert _declares_nothing(PROGRAM_SPEC, primary=SiteInputs(network=network)) == f"svc: primary.network.{message}"


def test_computed_subnet_ids_are_counted_not_read() -> None:
    """A computed id's value is unknown when the program runs: the count is checked, the form is AWS's to judge."""
    one = pulumi.Output.from_input(PUBLIC[0])
    message = _declares_nothing(PROGRAM_SPEC, primary=SiteInputs(network=AwsNetwork(VPC, [one], PRIVATE)))
    assert message == "svc: primary.network.alb_subnet_ids: subnets in at least two Availability Zones, got 1"


def test_only_aws_sites_take_a_network() -> None:
    spec = PROGRAM_SPEC.model_copy(
        update={"secondary": GcpSiteSpec(project="shop-dr-eu", region="europe-west9", image="ghcr.io/example/svc:1")}
    )
    network = AwsNetwork(VPC, PUBLIC, PRIVATE)
    message = _declares_nothing(spec, secondary=SiteInputs(network=network))
    assert message == "svc: secondary.network: only aws sites run in a given network (this site is gcp)"


def test_a_network_is_given_once() -> None:
    spec_network = {"vpc_id": VPC, "alb_subnet_ids": PUBLIC, "task_subnet_ids": PRIVATE}
    primary = AwsSiteSpec.model_validate({"region": "eu-west-3", "image": "x/y:1", "network": spec_network})
    spec = PROGRAM_SPEC.model_copy(update={"primary": primary})
    message = _declares_nothing(spec, primary=SiteInputs(network=AwsNetwork(VPC, PUBLIC, PRIVATE)))
    assert message == "svc: primary.network: given by both the spec and the program; give it in one place"


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"alb_subnet_ids": PUBLIC[:1]},
         "primary.network: alb_subnet_ids: subnets in at least two Availability Zones, got 1"),
        ({"vpc_id": "vpc-123"}, "primary.network: vpc_id: 'vpc-123' is not a VPC id (vpc- and 8 or 17 lowercase letters and digits)"),
        ({"vpc_id": "vpc-0A1B2C3D"},
         "primary.network: vpc_id: 'vpc-0A1B2C3D' is not a VPC id (vpc- and 8 or 17 lowercase letters and digits)"),
        ({"alb_subnet_ids": ",".join(PUBLIC)},
         "primary.network.alb_subnet_ids: expected a list of subnet ids, got a string"),
        ({"subnets": PUBLIC}, "primary.network.subnets: unknown field; did you mean 'alb_subnet_ids' or "
                              "'task_subnet_ids'? (every field: docs/spec.md)"),
    ],
)  # fmt: skip
def test_a_stack_files_network_is_checked_with_the_spec(
    dev_service: dict[str, Any], change: dict[str, Any], line: str
) -> None:
    dev_service["primary"]["network"] = {"vpc_id": VPC, "alb_subnet_ids": PUBLIC, "task_subnet_ids": PRIVATE, **change}
    with pytest.raises(SpecError) as failed:
        parse([dev_service], "stacks/Pulumi.t.yaml")
    assert failed.value.lines == [f"stacks/Pulumi.t.yaml: service 'checkout': {line}"]


def test_vpc_cidr_means_nothing_with_a_network(dev_service: dict[str, Any]) -> None:
    dev_service["primary"].update(
        vpc_cidr="10.90.0.0/16", network={"vpc_id": VPC, "alb_subnet_ids": PUBLIC, "task_subnet_ids": PRIVATE}
    )
    with pytest.raises(SpecError) as failed:
        parse([dev_service], "stacks/Pulumi.t.yaml")
    assert failed.value.lines == [
        "stacks/Pulumi.t.yaml: service 'checkout': primary: vpc_cidr: the site creates no VPC when it is given a "
        "network; drop one of the two"
    ]


def test_the_image_may_come_from_the_program_alone() -> None:
    spec = PROGRAM_SPEC.model_copy(update={"primary": AwsSiteSpec(region="eu-west-3")})

    def program() -> None:
        repository = aws.ecr.Repository("svc")
        image = repository.repository_url.apply(lambda url: f"{url}:7")
        FailoverService("svc", FailoverServiceArgs(service=spec, primary=SiteInputs(image=image)))

    plan = Plan(run_offline(program, {}))
    (task,) = plan.of_type("aws:ecs/taskDefinition:TaskDefinition")
    assert (
        f'"image": "{plan.named("svc", "aws:ecr/repository:Repository").outputs["repositoryUrl"]}:7"'
        in task.inputs["containerDefinitions"]
    )


def test_no_image_at_all_is_a_one_line_error_before_any_resource() -> None:
    spec = PROGRAM_SPEC.model_copy(update={"primary": AwsSiteSpec(region="eu-west-3")})
    assert _declares_nothing(spec) == (
        "svc: primary.image: none given: set the site spec's image, or pass SiteInputs.image from the program"
    )


def test_a_stack_file_still_needs_every_image(dev_service: dict[str, Any]) -> None:
    """Nothing but the stack file gives this repository's program an image, so its parser keeps asking for one."""
    both = copy.deepcopy(dev_service)
    del both["primary"]["image"], both["secondary"]["image"]
    with pytest.raises(SpecError) as failed:
        parse([both], "stacks/Pulumi.t.yaml")
    assert failed.value.lines == [
        f"stacks/Pulumi.t.yaml: service 'checkout': {role}.image: required field is missing"
        for role in ("primary", "secondary")
    ]


def test_a_stack_program_without_image_fails_with_the_same_line(dev_service: dict[str, Any]) -> None:
    """`pulumi up` on a stack file runs bascule.components.program, which parses the stack file the same way."""
    from bascule.components.program import main as stack_program
    from bascule.spec import SERVICES_KEY

    del dev_service["secondary"]["image"]
    with pytest.raises(ProgramError) as failed:
        run_offline(stack_program, {SERVICES_KEY: [dev_service]}, stack="t")
    assert (
        failed.value.message == "stacks/Pulumi.t.yaml: service 'checkout': secondary.image: required field is missing"
    )


def _platform_program() -> None:
    """Subnet lists as another stack exports them: each list is one computed value, its length unknown until then."""
    platform = pulumi.StackReference("platform/network/prod")
    network = AwsNetwork(
        platform.get_output("vpc_id"),
        platform.get_output("public_subnet_ids"),
        platform.get_output("private_subnet_ids"),
    )
    FailoverService("svc", FailoverServiceArgs(service=PROGRAM_SPEC, primary=SiteInputs(network=network)))


def test_a_network_from_another_stacks_outputs() -> None:
    outputs = {"vpc_id": VPC, "public_subnet_ids": PUBLIC, "private_subnet_ids": PRIVATE}
    plan = Plan(run_offline(_platform_program, {}, stack_references={"platform/network/prod": outputs}))
    wiring = _wiring(plan, "svc-primary")
    assert (wiring["alb_subnets"], wiring["task_subnets"], wiring["vpcs"]) == (PUBLIC, PRIVATE, {VPC})
    assert not set(_under(plan, "svc-primary")) & set(OWN_NETWORK)


def test_a_computed_list_is_checked_once_known() -> None:
    outputs = {"vpc_id": VPC, "public_subnet_ids": PUBLIC[:1], "private_subnet_ids": PRIVATE}
    with pytest.raises(ProgramError) as failed:
        run_offline(_platform_program, {}, stack_references={"platform/network/prod": outputs})
    assert (
        failed.value.message == "svc: primary.network.alb_subnet_ids: subnets in at least two Availability Zones, got 1"
    )


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        # A misspelt or missing stack output reads as no value: the security groups would land in the default VPC.
        ({"public_subnet_ids": PUBLIC, "private_subnet_ids": PRIVATE},
         "svc: primary.network.vpc_id: the computed id has no value"),
        ({"vpc_id": ["vpc-0a1b2c3d4e5f67890"], "public_subnet_ids": PUBLIC, "private_subnet_ids": PRIVATE},
         "svc: primary.network.vpc_id: the computed value is not a VPC id, got list"),
        ({"vpc_id": VPC, "public_subnet_ids": ",".join(PUBLIC), "private_subnet_ids": PRIVATE},
         "svc: primary.network.alb_subnet_ids: the computed value is not a list of subnet ids, got str"),
        ({"vpc_id": VPC, "public_subnet_ids": {"a": PUBLIC[0], "b": PUBLIC[1]}, "private_subnet_ids": PRIVATE},
         "svc: primary.network.alb_subnet_ids: the computed value is not a list of subnet ids, got dict"),
        ({"vpc_id": VPC, "public_subnet_ids": 2, "private_subnet_ids": PRIVATE},
         "svc: primary.network.alb_subnet_ids: the computed value is not a list of subnet ids, got float"),
        ({"vpc_id": VPC, "public_subnet_ids": [PUBLIC[0], None], "private_subnet_ids": PRIVATE},
         "svc: primary.network.alb_subnet_ids: None is not a subnet id (subnet- and 8 or 17 lowercase letters and digits)"),
    ],
)  # fmt: skip
def test_computed_values_of_the_wrong_kind_are_one_line_errors(outputs: dict[str, Any], message: str) -> None:
    """Stack outputs are JSON: each computed id and list is checked for its kind and form once known."""
    with pytest.raises(ProgramError) as failed:
        run_offline(_platform_program, {}, stack_references={"platform/network/prod": outputs})
    assert failed.value.message == message


def test_a_plain_id_of_the_wrong_kind_is_a_one_line_error() -> None:
    network = AwsNetwork(42, PUBLIC, [PRIVATE[0], None])  # type: ignore[arg-type, list-item]
    assert _declares_nothing(PROGRAM_SPEC, primary=SiteInputs(network=network)) == (
        "svc: primary.network.vpc_id: 42 is not a VPC id (vpc- and 8 or 17 lowercase letters and digits)"
    )
    network = AwsNetwork(VPC, PUBLIC, [PRIVATE[0], None])  # type: ignore[list-item]
    assert _declares_nothing(PROGRAM_SPEC, primary=SiteInputs(network=network)) == (
        "svc: primary.network.task_subnet_ids: None is not a subnet id (subnet- and 8 or 17 lowercase letters and digits)"
    )


def test_a_spec_vpc_cidr_and_a_program_network_are_one_line_error() -> None:
    """The spec's `vpc_cidr` would be silently ignored: the same conflict the stack file's parser refuses."""
    primary = AwsSiteSpec(region="eu-west-3", image="x/y:1", vpc_cidr="10.90.0.0/16")
    spec = PROGRAM_SPEC.model_copy(update={"primary": primary})
    message = _declares_nothing(spec, primary=SiteInputs(network=AwsNetwork(VPC, PUBLIC, PRIVATE)))
    assert message == (
        "svc: primary.network: the spec's vpc_cidr is for a VPC of the site's own; drop it when the program gives "
        "a network"
    )


def test_a_stack_reference_not_given_is_named_with_its_flag() -> None:
    """Under `up` its outputs read as None, as a missing output does: the failure is classed as the reference's."""
    with pytest.raises(ProgramError) as failed:
        run_offline(_platform_program, {}, semantics=Semantics.UP)
    assert (failed.value.kind, failed.value.hint) == (
        FailureKind.STACK_REFERENCE,
        "give the referenced stack's outputs with --stack-reference platform/network/prod=FILE",
    )


def test_a_stack_reference_not_given_leaves_the_network_unknown_under_auto() -> None:
    """`auto` runs again with preview semantics: the subnet lists are unknown, their check waits for a value."""
    plan = Plan(run_offline(_platform_program, {}, semantics=Semantics.AUTO))
    assert plan.named("svc-primary-alb", "aws:lb/loadBalancer:LoadBalancer").inputs.get("subnets") is None
    assert not set(_under(plan, "svc-primary")) & set(OWN_NETWORK)
    assert any("--stack-reference platform/network/prod=FILE" in w for w in plan.run.warnings)


_USER_PROGRAM = """\
import pulumi
from bascule.components import AwsNetwork, FailoverService, FailoverServiceArgs, SiteInputs
from tests.conftest import PROGRAM_SPEC

platform = pulumi.StackReference("platform/network/prod")
subnets = {subnets}
network = AwsNetwork("{vpc}", subnets, {private})
FailoverService("svc", FailoverServiceArgs(service=PROGRAM_SPEC, primary=SiteInputs(network=network)))
"""


@pytest.mark.parametrize(
    ("subnets", "kind"),
    [
        (repr(PUBLIC[:1]), FailureKind.PROGRAM),
        ('platform.get_output("public_subnet_ids")', FailureKind.STACK_REFERENCE),
    ],
)
def test_a_program_error_points_at_the_programs_line(tmp_path: Path, subnets: str, kind: FailureKind) -> None:
    """A list written in the program or computed: one form of message, the program's line (not Bascule's)."""
    (tmp_path / "Pulumi.yaml").write_text("name: shop\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(_USER_PROGRAM.format(subnets=subnets, vpc=VPC, private=PRIVATE))
    _, program = load_program_dir(tmp_path)
    with pytest.raises(ProgramError) as failed:
        run_offline(program, {}, semantics=Semantics.UP)
    assert failed.value.message.startswith("svc: primary.network.alb_subnet_ids: ")
    assert (failed.value.kind, failed.value.location) == (kind, f"{tmp_path / '__main__.py'}:8")


@pytest.mark.parametrize("kind", ["gcp", "azure"])
def test_a_stack_files_network_on_another_site_says_only_aws(dev_service: dict[str, Any], kind: str) -> None:
    """The same line as a program's SiteInputs.network on such a site, not "unknown field"."""
    if kind == "azure":
        dev_service["secondary"] = {
            "kind": "azure",
            "location": "francecentral",
            "image": "x/y:1",
            "front_door_backend_cidrs": ["192.0.2.0/26"],
        }
    dev_service["secondary"]["network"] = {"vpc_id": VPC, "alb_subnet_ids": PUBLIC, "task_subnet_ids": PRIVATE}
    with pytest.raises(SpecError) as failed:
        parse([dev_service], "stacks/Pulumi.t.yaml")
    assert failed.value.lines == [
        f"stacks/Pulumi.t.yaml: service 'checkout': secondary.network: only aws sites run in a given network "
        f"(this site is {kind})"
    ]
