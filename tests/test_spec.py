"""Every spec rule, with the exact line a user sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bascule.spec import SpecError, load_stack_file, parse_services

SRC = "stacks/Pulumi.test.yaml"


def errors(services: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(SpecError) as exc:
        parse_services(services, SRC)
    return exc.value.lines


def test_dev_stack_defaults_give_fast_damped_failover() -> None:
    _, spec = load_stack_file(Path(__file__).parent.parent / "stacks" / "Pulumi.dev.yaml")
    svc = spec.services[0]
    assert (svc.health_check.interval_seconds, svc.health_check.failure_threshold, svc.dns.ttl) == (10, 3, 60)
    assert svc.rto_budget_seconds == 90
    assert svc.primary.region == "eu-west-3" and svc.secondary.region == "europe-west9"
    assert spec.warnings() == []


def test_all_example_stacks_are_valid() -> None:
    for path in sorted((Path(__file__).parent.parent / "stacks").glob("Pulumi.*.yaml")):
        load_stack_file(path)


def test_route53_interval_must_be_10_or_30(dev_service: dict[str, Any]) -> None:
    dev_service["health_check"]["interval_seconds"] = 15
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': health_check.interval_seconds: Route 53 checks every 10 or 30 seconds, not 15"
    ]


@pytest.mark.parametrize("threshold", [0, 11])
def test_route53_failure_threshold_range(dev_service: dict[str, Any], threshold: int) -> None:
    dev_service["health_check"]["failure_threshold"] = threshold
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': health_check.failure_threshold: Route 53 accepts 1 to 10, not {threshold}"
    ]


def test_negative_ttl(dev_service: dict[str, Any]) -> None:
    dev_service["dns"]["ttl"] = -1
    assert errors([dev_service]) == [f"{SRC}: service 'checkout': dns.ttl: Input should be greater than or equal to 0"]


def test_unknown_region_suggests_close_names(dev_service: dict[str, Any]) -> None:
    dev_service["primary"]["region"] = "eu-west-9"
    (line,) = errors([dev_service])
    assert line.startswith(f"{SRC}: service 'checkout': primary.region: 'eu-west-9' is not a known aws region; ")
    assert "eu-west-3" in line


def test_azure_location_is_checked_against_azure_regions(dev_service: dict[str, Any]) -> None:
    dev_service["secondary"] = {
        "kind": "azure",
        "location": "eu-west-3",
        "image": "x",
        "front_door_backend_cidrs": ["192.0.2.0/26"],
    }
    (line,) = errors([dev_service])
    assert line.startswith(f"{SRC}: service 'checkout': secondary.location: 'eu-west-3' is not a known azure region")


def test_primary_equal_to_secondary(dev_service: dict[str, Any]) -> None:
    dev_service["secondary"] = dict(dev_service["primary"])
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': secondary: must differ from the primary in provider or region "
        "(both are aws eu-west-3; allow_same_region: true accepts it)"
    ]


def test_same_cloud_other_region_is_allowed(dev_service: dict[str, Any]) -> None:
    dev_service["secondary"] = dict(dev_service["primary"], region="eu-central-1")
    spec = parse_services([dev_service], SRC)
    assert spec.services[0].secondary.region == "eu-central-1"


def test_rto_budget_overrun_is_an_error(dev_service: dict[str, Any]) -> None:
    dev_service["rto_seconds"] = 60
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': rto_seconds: detection 10 s x 3 + TTL 60 s = 90 s exceeds the RTO target "
        "of 60 s (or set allow_rto_overrun: true)"
    ]


def test_rto_budget_overrun_opt_out_is_a_warning(dev_service: dict[str, Any]) -> None:
    dev_service.update(rto_seconds=60, allow_rto_overrun=True)
    spec = parse_services([dev_service], SRC)
    assert spec.warnings() == [
        "service 'checkout': rto_seconds: detection 10 s x 3 + TTL 60 s = 90 s exceeds the RTO target of 60 s "
        "(allowed by allow_rto_overrun)"
    ]


def test_hostname_must_sit_in_the_zone(dev_service: dict[str, Any]) -> None:
    dev_service["hostname"] = "checkout.example.org"
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': hostname: 'checkout.example.org' must be a name below the zone 'shop.example.com'"
    ]
    dev_service["hostname"] = "shop.example.com"  # A/alias records: the apex is fine for Route 53
    assert parse_services([dev_service], SRC).services[0].hostname == "shop.example.com"


def test_unknown_field_names_the_field_and_the_closest_one_of_its_own_model(dev_service: dict[str, Any]) -> None:
    dev_service["health_check"]["intervall"] = 10
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': health_check.intervall: unknown field; did you mean 'interval_seconds'? "
        "(every field: docs/spec.md)"
    ]
    del dev_service["health_check"]["intervall"]
    dev_service["hostnmae"] = dev_service.pop("hostname")  # one line, not also "hostname: required field"
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': hostnmae: unknown field; did you mean 'hostname'? (every field: docs/spec.md)"
    ]
    dev_service["hostname"] = dev_service.pop("hostnmae")
    dev_service["secondary"] = {"kind": "hetzner", "regoin": "fsn1", "image": "ghcr.io/example/checkout:1.4.2"}
    (line,) = [e for e in errors([dev_service]) if "regoin" in e]  # a Hetzner site has no `region` to suggest
    assert line.endswith("secondary.regoin: unknown field (every field: docs/spec.md)"), line
    dev_service["secondary"] = {"kind": "hetzner", "locaton": "fsn1", "image": "ghcr.io/example/checkout:1.4.2"}
    (line,) = [e for e in errors([dev_service]) if "locaton" in e]
    assert line.endswith("secondary.locaton: unknown field; did you mean 'location'? (every field: docs/spec.md)")
    dev_service["secondary"] = {"kind": "gcp", "zzz": 1}
    assert f"{SRC}: service 'checkout': secondary.zzz: unknown field (every field: docs/spec.md)" in errors(
        [dev_service]
    )


def test_missing_field(dev_service: dict[str, Any]) -> None:
    del dev_service["primary"]["image"]
    assert errors([dev_service]) == [f"{SRC}: service 'checkout': primary.image: required field is missing"]


def test_fargate_task_size_must_be_a_valid_pair(dev_service: dict[str, Any]) -> None:
    dev_service["primary"].update(cpu=256, memory=4096)
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': primary: memory: Fargate with cpu 256 takes 512 to 2048 MiB in steps of 512, "
        "not 4096"
    ]


def test_container_apps_cpu_steps(dev_service: dict[str, Any]) -> None:
    dev_service["secondary"] = {
        "kind": "azure",
        "location": "francecentral",
        "image": "x",
        "cpu": 0.3,
        "front_door_backend_cidrs": ["192.0.2.0/26"],
    }
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': secondary.cpu: Container Apps takes 0.25 to 4 vCPU in steps of 0.25, not 0.3"
    ]


def test_checker_regions_need_three_real_ones(dev_service: dict[str, Any]) -> None:
    dev_service["dns"]["checker_regions"] = ["eu-west-1", "us-east-1"]
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': dns.checker_regions: Route 53 needs at least 3 distinct checker regions"
    ]
    dev_service["dns"]["checker_regions"] = ["eu-west-3", "eu-west-1", "us-east-1"]
    (line,) = errors([dev_service])
    assert "'eu-west-3' not Route 53 checker regions" in line


@pytest.mark.parametrize(
    "secondary",
    [
        {"kind": "endpoint", "provider": "gcp", "region": "europe-west1", "address": "standby.example.net"},
        {"kind": "azure", "location": "francecentral", "image": "x", "front_door_backend_cidrs": ["192.0.2.0/26"]},
    ],
)
def test_route53_refuses_sites_without_an_ip_it_can_ask_for_the_hostname(
    dev_service: dict[str, Any], secondary: dict[str, Any]
) -> None:
    dev_service["secondary"] = secondary
    assert errors([dev_service]) == [
        f"{SRC}: service 'checkout': secondary: Route 53 sends the service hostname (Host header, SNI) only when a "
        f"health check targets an IP address, and a '{secondary['kind']}' site has none; use dns.kind "
        "'trafficmanager' (its probes send a Host header), or an 'aws', 'aws-alb' or 'gcp' site, or an 'endpoint' with an IP"
    ]


def test_shared_zone_must_be_created_once(dev_service: dict[str, Any]) -> None:
    other = dict(dev_service, name="search", hostname="search.shop.example.com")
    (line,) = errors([dev_service, other])
    assert line.startswith(f"{SRC}: bascule:services: service 'search': dns.zone_id: zone 'shop.example.com' is shared")


def test_duplicate_service_names(dev_service: dict[str, Any]) -> None:
    other = dict(dev_service, hostname="b.shop.example.com", dns=dict(dev_service["dns"], zone_id="Z1"))
    first = dict(dev_service, dns=dict(dev_service["dns"], zone_id="Z1"))
    assert errors([first, other]) == [f"{SRC}: bascule:services: service name 'checkout' is used twice"]


def test_service_label_falls_back_to_position(dev_service: dict[str, Any]) -> None:
    del dev_service["name"]
    assert errors([dev_service]) == [f"{SRC}: service #1: name: required field is missing"]


def test_missing_and_empty_services() -> None:
    with pytest.raises(SpecError) as exc:
        parse_services(None, SRC)
    assert exc.value.lines == [f"{SRC}: bascule:services: missing; declare at least one service"]
    assert errors([]) == [f"{SRC}: bascule:services: empty; declare at least one service"]


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text("config:\n  bascule:services: [\n")
    with pytest.raises(SpecError) as exc:
        load_stack_file(path)
    (line,) = exc.value.lines
    assert line.startswith(f"{path}:3:1: not valid YAML")


@pytest.mark.parametrize(
    ("cidrs", "message"),
    [
        ([], "secondary.front_door_backend_cidrs: Tuple should have at least 1 item after validation, not 0"),
        (["2a01:111::/32"], "secondary.front_door_backend_cidrs: '2a01:111::/32' is not an IPv4 prefix"),
        (["192.0.2.0/26", "192.0.2.0/26"], "secondary.front_door_backend_cidrs: a prefix is listed twice"),
    ],
)
def test_front_door_prefixes_are_ipv4_and_given(dev_service: dict[str, Any], cidrs: list[str], message: str) -> None:
    """The Azure app admits only Front Door's back-end prefixes: the spec needs them, IPv4 (Container Apps takes no
    IPv6 ranges), each once."""
    dev_service["secondary"] = {"kind": "azure", "location": "francecentral", "image": "x",
                                "front_door_backend_cidrs": cidrs}  # fmt: skip
    dev_service["dns"] = {"kind": "trafficmanager", "zone": "shop.example.com"}
    with pytest.raises(SpecError) as exc:
        parse_services([dev_service], "s.yaml")
    assert any(message in line for line in exc.value.lines), exc.value.lines
