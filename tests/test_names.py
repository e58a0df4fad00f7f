"""Every generated name fits its provider's limit for every spec the validator accepts (property tests).

Plans run under mocks, which record logical names; the physical name is the explicit name input when the
component passes one, else Pulumi's auto-name `<logical>-<7 random characters>`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bascule import facts
from bascule.components.hetzner.plugin import SERVER_NAME
from bascule.components.program import main as program
from bascule.components.scaleway.plugin import SERVER_NAME as SCALEWAY_SERVER_NAME
from bascule.offline.engine import RegisteredResource, run_offline
from bascule.spec import SERVICES_KEY, SpecError, parse_services, site_kind

LONGEST_NAME = st.from_regex(r"[a-z][a-z0-9-]{30}[a-z0-9]", fullmatch=True)
"""Service names of the maximum length the spec accepts (32)."""
WITH_DOUBLE_HYPHEN = st.builds(lambda name, at: f"{name[:at]}--{name[at + 2 :]}", LONGEST_NAME, st.integers(1, 28))
"""The same length with a '--' inside, which some providers' names forbid."""

SITES: dict[str, dict[str, Any]] = {
    "aws": {"kind": "aws", "region": "eu-west-3", "image": "x"},
    "gcp": {"kind": "gcp", "project": "shop-dr-eu", "region": "europe-west9", "image": "x"},
    "azure": {"kind": "azure", "location": "francecentral", "image": "x", "front_door_backend_cidrs": ["192.0.2.0/26"]},
    "ip": {"kind": "endpoint", "provider": "aws", "region": "eu-west-1", "address": "192.0.2.1"},
    "hetzner": {"kind": "hetzner", "location": "nbg1", "image": "x"},
    "scaleway": {"kind": "scaleway", "region": "pl-waw", "image": "x"},
}
DNS: dict[str, dict[str, Any]] = {
    "route53": {"kind": "route53", "zone": "shop.example.com"},
    "trafficmanager": {"kind": "trafficmanager", "zone": "shop.example.com"},
    "clouddns": {"kind": "clouddns", "zone": "shop.example.com", "project": "shop-dns-eu"},
}
COMBINATIONS = [
    ("aws", "gcp", "route53"),
    ("aws", "azure", "trafficmanager"),
    ("ip", "gcp", "clouddns"),
    ("aws", "hetzner", "route53"),
    ("aws", "scaleway", "route53"),
]
LIMITS = {
    **facts.NAME_LIMITS,
    "hcloud:index/server:Server": SERVER_NAME,
    "scaleway:instance/server:Server": SCALEWAY_SERVER_NAME,
}
"""Every name limit: the shared table's, and those a provider's plug-in declares itself."""


def service(name: str, primary: str, secondary: str, dns: str, hostname: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "hostname": hostname or f"{name}.shop.example.com",
        "primary": SITES[primary],
        "secondary": SITES[secondary],
        "dns": DNS[dns],
        "rto_seconds": 3600,
    }
    if dns == "clouddns":
        spec["health_check"] = {"interval_seconds": 30}
    return spec


def physical_name(r: RegisteredResource) -> str:
    limit = LIMITS[r.type]
    explicit = r.inputs.get(limit.name_input)
    return str(explicit) if explicit else f"{r.name}-{'a' * (facts.AUTONAME_SUFFIX - 1)}"


def dns_names(r: RegisteredResource) -> list[str]:
    """The record names a resource writes into the zone, fully qualified."""
    if r.type == "aws:route53/record:Record":
        return [str(r.inputs["name"]).rstrip(".")]
    if r.type == "gcp:dns/recordSet:RecordSet":
        return [str(r.inputs["name"]).rstrip(".")]
    if r.type == "azure-native:dns:RecordSet":
        return [f"{r.inputs['relativeRecordSetName']}.{r.inputs['zoneName']}"]
    return []


def assert_names_fit(services: list[dict[str, Any]]) -> None:
    run = run_offline(program, {SERVICES_KEY: services}, stack="names")
    limited = [r for r in run.resources if r.type in LIMITS]
    assert limited, "no resource with a name limit was planned"
    for r in limited:
        name, limit = physical_name(r), LIMITS[r.type]
        assert len(name) <= limit.max_length, f"{r.type} {name!r} is {len(name)} > {limit.max_length}"
        assert re.match(limit.pattern, name), f"{r.type} {name!r} does not match {limit.pattern}"
    for r in run.resources:
        for fqdn in dns_names(r):
            assert len(fqdn) <= facts.DNS_NAME_MAX, f"{fqdn!r} is longer than {facts.DNS_NAME_MAX}"
            assert max(len(label) for label in fqdn.split(".")) <= facts.DNS_LABEL_MAX, fqdn


@settings(max_examples=16, deadline=None)
@given(name=st.one_of(LONGEST_NAME, WITH_DOUBLE_HYPHEN), combination=st.sampled_from(COMBINATIONS))
def test_longest_service_names_fit_every_limit_or_are_refused(name: str, combination: tuple[str, str, str]) -> None:
    """Accepted names plan inside every limit; the only refusal is a '--' that would land in a Container App name."""
    spec = service(name, *combination)
    try:
        parse_services([spec], "s.yaml")
    except SpecError as exc:
        (line,) = exc.lines
        assert "--" in name and "azure" in combination, line
        assert f"name: '{name}' would name the secondary Container App '{name}-secondary'" in line, line
        return
    assert_names_fit([spec])


@pytest.mark.parametrize(
    ("name", "valid"),
    [("ab", True), ("a-b-c9", True), ("a--b", False), ("checkout--secondary", False), ("a-", False), ("9a", False),
     ("a", False)],
)  # fmt: skip
def test_the_container_app_pattern_forbids_double_hyphens(name: str, valid: bool) -> None:
    """Azure's rule for Microsoft.App/containerApps: letters, digits, single '-', starting with a letter."""
    assert bool(re.match(facts.NAME_LIMITS[facts.CONTAINER_APP].pattern, name)) is valid


def test_a_service_name_with_double_hyphen_is_refused_only_for_an_azure_site() -> None:
    name = "shop--checkout"
    with pytest.raises(SpecError) as exc:
        parse_services([service(name, "aws", "azure", "trafficmanager")], "s.yaml")
    assert exc.value.lines == [
        f"s.yaml: service '{name}': name: '{name}' would name the secondary Container App '{name}-secondary', and "
        "Container App names are lowercase letters, digits and single '-' (no '--'); rename the service"
    ]
    assert_names_fit([service(name, "aws", "gcp", "route53")])


def test_two_long_names_sharing_a_prefix_stay_distinct() -> None:
    services = [service(n, "aws", "gcp", "route53") for n in ("a" * 31 + "1", "a" * 31 + "2")]
    for s in services:
        s["dns"] = {**s["dns"], "zone_id": "Z0123456789ABCDEFGHIJ"}
    run = run_offline(program, {SERVICES_KEY: services}, stack="names")
    albs = [r.name for r in run.resources if r.type == "aws:lb/loadBalancer:LoadBalancer"]
    assert len(albs) == len(set(albs)) == 2


@settings(max_examples=12, deadline=None)
@given(extra=st.integers(min_value=0, max_value=60), combination=st.sampled_from(COMBINATIONS))
def test_long_hostnames_are_planned_within_dns_limits_or_refused(extra: int, combination: tuple[str, str, str]) -> None:
    """Hostnames from well inside the limit to 253: accepted ones plan with every record name valid, the others
    are refused with the reason and the field."""
    zone = "shop.example.com"
    length = facts.DNS_NAME_MAX - 60 + extra
    labels: list[str] = []
    room = length - len(zone) - 1
    while room > 0:
        size = min(facts.DNS_LABEL_MAX, room if room <= facts.DNS_LABEL_MAX else room - 2)
        size = max(size, 1)
        labels.append("h" * size)
        room -= size + 1
    hostname = ".".join([*labels, zone])[-length:].lstrip(".-")
    spec = service("checkout", *combination, hostname=hostname)
    try:
        parse_services([spec], "s.yaml")
    except SpecError as exc:
        (line,) = exc.lines
        assert "hostname: at most" in line and "ownership record" in line, line
        return
    assert_names_fit([spec])


def test_a_hostname_too_long_for_acm_validation_is_refused() -> None:
    hostname = ".".join(["h" * 60, "h" * 60, "h" * 60, "h" * 50, "shop.example.com"])
    assert len(hostname) > facts.DNS_NAME_MAX - site_kind("aws").validation_prefix
    with pytest.raises(SpecError) as exc:
        parse_services([service("checkout", "aws", "gcp", "route53", hostname=hostname)], "s.yaml")
    assert exc.value.lines == [
        f"s.yaml: service 'checkout': hostname: at most {facts.DNS_NAME_MAX - 34} characters when the primary is kind 'aws' "
        "(its ownership record adds 34 before it, and DNS names end at 253)"
    ]
