"""Plug-ins declare themselves: the registry lists the built-in kinds, refuses an unknown one with the known ones, and
a site kind registered from one module (`tests/fake_plugin.py`) is validated, checked and planned like a built-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import yaml

from bascule.components.program import main as program
from bascule.components.registry import DNS_BACKENDS, SITE_KINDS, site_class
from bascule.drills.plan import Fault
from bascule.drills.stack_control import fault_targets, inject_phases
from bascule.facts import Cloud
from bascule.inventory.records import from_offline_run
from bascule.offline.engine import run_offline
from bascule.spec import SpecError, load_stack_file, parse_drill, parse_services, register_site_kind, site_kind
from bascule.spec.base import SiteSpecBase
from bascule.spec.plugins import DNS_BACKENDS as DNS_DECLARATIONS
from bascule.spec.plugins import SITE_KINDS as SITE_DECLARATIONS
from bascule.spec.plugins import UnknownKindError
from tests import fake_plugin


def test_the_registry_lists_exactly_the_built_in_kinds() -> None:
    assert SITE_DECLARATIONS.known() == [
        "aws",
        "aws-alb",
        "azure",
        "endpoint",
        "gcp",
        "hetzner",
        "ovhcloud",
        "scaleway",
    ]
    assert DNS_DECLARATIONS.known() == ["clouddns", "powerdns", "route53", "trafficmanager"]
    # The components' view: every kind with a component (none is refused today).
    assert sorted(SITE_KINDS) == ["aws", "aws-alb", "azure", "endpoint", "gcp", "hetzner", "ovhcloud", "scaleway"]
    assert sorted(DNS_BACKENDS) == ["clouddns", "powerdns", "route53", "trafficmanager"]
    assert SITE_KINDS["aws"].module == "bascule.components.aws.site" and SITE_KINDS["aws"].extra == "aws"
    assert all(declared.refused is None for declared in SITE_DECLARATIONS.all().values())


def test_an_unknown_kind_is_one_error_naming_the_known_ones() -> None:
    with pytest.raises(
        UnknownKindError, match=r"'nope' is not a known site kind \(known: aws, aws-alb, azure, endpoint"
    ):
        site_kind("nope")
    svc = _service(primary={"kind": "nope", "region": "eu-west-3"})
    with pytest.raises(SpecError) as exc:
        parse_services([svc], "s.yaml")
    assert exc.value.lines == [
        "s.yaml: service 'ledger': primary.kind: 'nope' is not a known site kind "
        "(known: aws, aws-alb, azure, endpoint, gcp, hetzner, ovhcloud, scaleway)"
    ]


@pytest.fixture
def fake_kinds() -> Iterator[None]:
    register_site_kind(fake_plugin.FAKE_IP)
    register_site_kind(fake_plugin.FAKE_NAME)
    yield
    SITE_DECLARATIONS.unregister("fakeip")
    SITE_DECLARATIONS.unregister("fakename")


def _service(**sites: object) -> dict[str, object]:
    return {
        "name": "ledger",
        "hostname": "app.bank.test",
        "primary": {"kind": "fakeip", "region": "eu-west-3"},
        "secondary": {"kind": "endpoint", "provider": "gcp", "region": "europe-west4", "address": "203.0.113.7"},
        "dns": {"kind": "powerdns", "zone": "bank.test", "api_url": "https://ns1.bank.test:8081"},
        **sites,
    }


def _stack_file(tmp_path: Path, service: dict[str, object]) -> Path:
    path = tmp_path / "Pulumi.fake.yaml"
    config = {"bascule:services": [service], "bascule:powerdnsApiKey": "k"}
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def test_a_registered_site_kind_plans_through_the_stack_file_path(fake_kinds: None, tmp_path: Path) -> None:
    # What `bascule plan` does: read and validate the stack file, run the root program offline, take the inventory.
    config, spec = load_stack_file(_stack_file(tmp_path, _service()))
    assert type(spec.services[0].primary) is fake_plugin.FakeIpSiteSpec
    inventory = from_offline_run(run_offline(program, config, stack="fake"))

    (site,) = [r for r in inventory.resources if r.type == "tests:fake:FakeIpSite"]
    (eip,) = [r for r in inventory.resources if r.type == "aws:ec2/eip:Eip"]
    assert eip.parent == site.urn
    assert (eip.service, eip.role, eip.region) == ("ledger", "primary", "eu-west-3")
    # PowerDNS answered the fake site by its address: the switch's LUA record was planned beside it.
    assert any(
        r.type == "pulumi-python:dynamic:Resource" and r.props.get("rtype") == "LUA" for r in inventory.resources
    )
    assert site_class("fakeip") is fake_plugin.FakeIpSite


def test_a_cross_field_rule_asks_the_kind_s_declared_capabilities(fake_kinds: None, tmp_path: Path) -> None:
    # Same site, same backend: only the declaration differs. PowerDNS needs a fixed IP; 'fakename' declares none.
    with pytest.raises(SpecError) as exc:
        load_stack_file(_stack_file(tmp_path, _service(primary={"kind": "fakename", "region": "eu-west-3"})))
    (line,) = exc.value.lines
    assert line.endswith(
        "service 'ledger': primary: PowerDNS ifurlup() checks and answers IP addresses, and a 'fakename' site is "
        "reached by a hostname without a fixed IP; use a 'gcp' site or an 'endpoint' with an IP"
    )
    # A fault the kind declares no lever for is refused, naming the kinds that have it.
    stack = parse_services([_service()], "s.yaml")
    with pytest.raises(
        SpecError,
        match=r"'health' needs an aws or aws-alb or hetzner or ovhcloud or scaleway primary .*the primary of 'ledger' is kind 'fakeip': use fault 'switch'",
    ):
        parse_drill({"service": "ledger", "fault": "health"}, stack, "s.yaml")


def test_a_kind_is_registered_once_and_built_ins_stay(fake_kinds: None) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_site_kind(fake_plugin.FAKE_IP)
    with pytest.raises(ValueError, match="built in"):
        SITE_DECLARATIONS.unregister("aws")


def test_a_plug_in_s_region_is_checked_by_the_base_against_its_cloud(fake_kinds: None) -> None:
    # The fake kind declares no region check of its own: `SiteSpecBase` checks it against the kind's cloud, at the
    # region field, beside the service's other errors.
    secondary = {"kind": "endpoint", "provider": "gcp", "region": "eu-west-3", "address": "203.0.113.7"}
    svc = _service(primary={"kind": "fakeip", "region": "europe-west4"}, secondary=secondary)
    with pytest.raises(SpecError) as exc:
        parse_services([svc], "s.yaml")
    assert [line.split(";")[0] for line in exc.value.lines] == [
        "s.yaml: service 'ledger': primary.region: 'europe-west4' is not a known aws region",
        "s.yaml: service 'ledger': secondary.region: 'eu-west-3' is not a known gcp region",
    ]


def test_a_kind_whose_cloud_reads_a_later_field_is_a_plug_in_bug() -> None:
    class Late(SiteSpecBase):
        kind: Literal["late"] = "late"
        region: str
        where: Cloud

        @property
        def cloud(self) -> Cloud:
            return self.where

    with pytest.raises(TypeError, match=r"Late.cloud reads a field declared after region"):
        Late(region="eu-west-3", where=Cloud.AWS)


def test_a_registered_kind_declares_its_own_inject_order(fake_kinds: None, tmp_path: Path) -> None:
    """What a drill applies last is the kind's declaration (`SiteKind.inject_last`), not a list in the control: the
    fake kind's `outage` changes its address, which goes in an update after the rest of the fault."""
    config, _ = load_stack_file(_stack_file(tmp_path, _service()))
    urns = fault_targets(program, config, "bascule", "fake", "ledger", Fault.OUTAGE)
    phases = [[urn.rsplit("::", 1)[1] for urn in phase] for phase in inject_phases(urns, Fault.OUTAGE)]
    assert phases == [["ledger"], ["ledger-primary-ip"]]
    # Another fault's declaration does not reorder this one.
    assert inject_phases(urns, Fault.HEALTH) == [urns]
