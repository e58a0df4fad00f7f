"""Across every example stack, what a first `pulumi up` needs (issue 22): no public IAM member, the GCP APIs each
site and backend calls enabled in its project, no validation record that overwrites an existing one, every name
within its provider's limit, the Azure app reachable only from Front Door's addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bascule import facts
from bascule.cli.plan import first_up_needs
from bascule.components.azure.site import OFFLINE_STAND_IN
from bascule.components.program import main as program
from bascule.offline.engine import OfflineRun, run_offline
from bascule.spec import AzureSiteSpec, CloudDnsSpec, GcpSiteSpec, load_stack_file
from tests.conftest import ROOT

STACKS = sorted((Path(__file__).parent.parent / "stacks").glob("Pulumi.*.yaml"))
IDS = [p.stem.removeprefix("Pulumi.") for p in STACKS]


def _plan(path: Path) -> OfflineRun:
    config, _ = load_stack_file(path)
    return run_offline(program, config, stack=path.stem.removeprefix("Pulumi."))


def _values(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _values(v)
    else:
        yield value


@pytest.mark.parametrize("path", STACKS, ids=IDS)
def test_first_up_needs(path: Path) -> None:
    _, spec = load_stack_file(path)
    run = _plan(path)
    for r in run.resources:
        assert not {"allUsers", "allAuthenticatedUsers"} & {str(v) for v in _values(r.inputs)}, r.name
        assert not r.type.startswith("gcp:cloudrunv2/serviceIam"), r.name
        if r.type == facts.ROUTE53_RECORD:
            assert "allowOverwrite" not in r.inputs, r.name
        if r.type in facts.NAME_LIMITS:
            limit = facts.NAME_LIMITS[r.type]
            explicit = r.inputs.get(limit.name_input)
            name = str(explicit) if explicit else f"{r.name}-abc1234"
            assert len(name) <= limit.max_length and re.match(limit.pattern, name), (r.type, name)
    enabled = {
        (r.inputs["project"], r.inputs["service"]) for r in run.resources if r.type == "gcp:projects/service:Service"
    }
    assert all(not r.inputs["disableOnDestroy"] for r in run.resources if r.type == "gcp:projects/service:Service")
    wanted: set[tuple[str, str]] = set()
    for service in spec.services:
        for site in (service.primary, service.secondary):
            if isinstance(site, GcpSiteSpec):
                wanted |= {(site.project, api) for api in ("run.googleapis.com", "compute.googleapis.com",
                                                          "certificatemanager.googleapis.com",
                                                          "iam.googleapis.com")}  # fmt: skip
            if isinstance(site, AzureSiteSpec):
                (app,) = [r for r in run.resources if r.type == "azure-native:app:ContainerApp"
                          and r.name.startswith(f"{service.name}-")]  # fmt: skip
                rules = app.inputs["configuration"]["ingress"]["ipSecurityRestrictions"]
                # Read from Azure at deploy time unless pinned; offline (no login) the documentation stand-in.
                cidrs = site.front_door_backend_cidrs or OFFLINE_STAND_IN
                assert [(x["action"], x["ipAddressRange"]) for x in rules] == [("Allow", cidr) for cidr in cidrs]
        if isinstance(service.dns, CloudDnsSpec):
            wanted |= {(service.dns.project, api) for api in ("dns.googleapis.com", "compute.googleapis.com")}
    assert enabled == wanted


def test_a_stack_with_ecs_says_to_create_the_ecs_service_linked_role_first() -> None:
    """ECS creates its service-linked role on an account's first cluster and assumes it before IAM has it: the first
    `up` of a fresh account fails. `plan` says the one command that avoids it; stacks without ECS get no such line."""
    ecs = "aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com"
    dev = [r.type for r in _plan(ROOT / "stacks" / "Pulumi.dev.yaml").resources]
    clouddns = [r.type for r in _plan(ROOT / "stacks" / "Pulumi.clouddns.yaml").resources]
    assert f"once per AWS account: {ecs}" in first_up_needs(None, ROOT / "stacks", dev)
    assert not [line for line in first_up_needs(None, ROOT / "stacks", clouddns) if "service-linked" in line]
