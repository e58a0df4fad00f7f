"""What the tests of the site kinds behind a load balancer with an ACME certificate (hetzner, scaleway, ovhcloud)
share: the stack's service, the spec's error lines, a DNS backend that answers no ACME challenge, the service turned
round so the site is the primary, and the plan checks every such kind passes alike."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Literal

import pytest
from pulumi.runtime import rpc

from bascule.components.powerdns.plugin import DNS as POWERDNS
from bascule.components.powerdns.plugin import PowerDnsSpec
from bascule.components.program import main as program
from bascule.drills.plan import Fault
from bascule.drills.stack_control import fault_changes
from bascule.spec import SpecError, parse_services
from bascule.spec.plugins import DNS_BACKENDS, register_dns_backend
from tests.conftest import Plan, stack_config
from tests.test_policies import both, rules_of

PlanFn = Callable[..., Plan]
EU_PROVIDER = {"bascule-eu-provider": "mandatory"}


def stack_service(stack: str) -> dict[str, Any]:
    """A deep copy of the stack's first service (`stacks/Pulumi.<stack>.yaml`), to mutate per test."""
    return copy.deepcopy(stack_config(stack)["bascule:services"][0])


def secret(value: str) -> dict[str, str]:
    """How Pulumi serializes a secret value (pulumi.runtime.rpc's secret signature)."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def spec_errors(service: dict[str, Any]) -> list[str]:
    """The error lines of a spec the parser must refuse (from the file `s.yaml`)."""
    with pytest.raises(SpecError) as exc:
        parse_services([service], "s.yaml")
    return exc.value.lines


class NoAcmeDnsSpec(PowerDnsSpec):
    kind: Literal["noacme"] = "noacme"  # type: ignore[assignment]


NO_ACME = replace(POWERDNS, kind="noacme", spec=NoAcmeDnsSpec, acme_dns=None)
"""A DNS backend that answers no ACME challenge (every built-in one does)."""
NO_ACME_DNS = {"kind": "noacme", "zone": "bank.example.eu", "api_url": "https://ns1.bank.test"}
"""A service's `dns` on that backend."""


@contextmanager
def no_acme_backend() -> Iterator[None]:
    """`NO_ACME` registered for the block, unregistered after it whatever happens."""
    register_dns_backend(NO_ACME)
    try:
        yield
    finally:
        DNS_BACKENDS.unregister("noacme")


def as_primary(service: dict[str, Any]) -> dict[str, Any]:
    """The service turned round: its secondary site is the primary, an AWS site the standby (drills act on primaries)."""
    svc = copy.deepcopy(service)
    svc["primary"], svc["secondary"] = svc["secondary"], {"kind": "aws", "region": "eu-west-3", "image": "x"}
    return svc


def stack_drill_targets(service: dict[str, Any], fault: Fault) -> set[tuple[str, str]]:
    """(name, type) of what `bascule drill --stack` would target to inject the fault into the service's primary."""
    config = {"bascule:services": [service]}
    return {(r.name, r.type) for r in fault_changes(program, config, "bascule", "test", service["name"], fault)}


def options_passed(plan_services: PlanFn, service: dict[str, Any], owner: Any, cls: str) -> list[Any]:
    """The resource options a site passes to each `owner.<cls>` it creates while the service is planned (the real SDK
    class, spied on)."""
    seen: list[Any] = []
    real = getattr(owner, cls)

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, name: str, *args: Any, opts: Any = None, **kwargs: Any) -> None:
            seen.append(opts)
            super().__init__(name, *args, opts=opts, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, cls, Spy)
        plan_services([service])
    return seen


def assert_route53_answers_and_checks(plan: Plan, address: str) -> None:
    """Route 53 answers the secondary's address for the hostname and checks it over HTTPS on 443 with the hostname
    (SNI), as the site's certificate is for the hostname only."""
    record = plan.named("ledger-dns-secondary", "aws:route53/record:Record")
    assert (record.inputs["type"], record.inputs["records"]) == ("A", [address])
    check = plan.named("ledger-dns-secondary", "aws:route53/healthCheck:HealthCheck")
    assert (check.inputs["ipAddress"], check.inputs["fqdn"], check.inputs["port"]) == (
        address, "ledger.bank.example.eu", 443)  # fmt: skip
    assert (check.inputs["type"], check.inputs["enableSni"]) == ("HTTPS", True)


def assert_no_switch_record_is_a_dependency(plan: Plan) -> None:
    """Nothing of the site waits for the hostname to point at it: no failover record is a dependency of the site."""
    switch = {r.urn for r in plan.of_type("aws:route53/record:Record") if r.name.startswith("ledger-dns-")}
    assert switch and not [r.name for r in plan.resources if switch & set(r.dependencies)]


def assert_eu_provider_rule_passes_with_and_fails_without(plan_services: PlanFn, service: dict[str, Any]) -> None:
    """The EU-provider rule passes with the service's EU standby and fails for the gcp stack's services (none)."""
    assert "bascule-eu-provider" not in rules_of(both(plan_services([service]).run, EU_PROVIDER))
    gcp_only = copy.deepcopy(stack_config("gcp")["bascule:services"])
    assert rules_of(both(plan_services(gcp_only).run, EU_PROVIDER))["bascule-eu-provider"] == "mandatory"
