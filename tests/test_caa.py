"""CAA: which record sets stop a site's CA, from the rules alone and from a real DNS server (PowerDNS).

The table tests hold the rules (RFC 8659: the first non-empty set at or above the hostname; `issue` values up to `;`;
no `issue` property: no restriction; an unknown critical property: nobody). The sandbox tests serve the records
from the sandbox's PowerDNS and look them up over UDP the way `verify` and `plan` do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bascule.cli import plan as plan_command
from bascule.readiness.caa import CaaProperty, RelevantSet, caa_problem, caa_problems, new_resolver, relevant_set
from bascule.readiness.target import DrillTarget, Resolver
from bascule.readiness.verify import assess
from bascule.sandbox import Sandbox
from bascule.sandbox.sandbox import DNS_ADDRESS
from bascule.spec import parse_services
from bascule.spec.plugins import site_authorities
from tests.conftest import have_pdns, stack_config

HOST = "checkout.sandbox.test"
ACM = ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com")
GOOGLE = ("pki.goog",)
DIGICERT = ("digicert.com", "geotrust.com", "thawte.com", "rapidssl.com")


def found(*records: tuple[int, str, str]) -> RelevantSet:
    return RelevantSet("shop.example.com", tuple(CaaProperty(*r) for r in records))


@pytest.mark.parametrize(
    ("records", "authorities", "refused"),
    [
        ((), ACM, False),  # no set anywhere: nothing restricts
        (((0, "issue", "amazon.com"),), ACM, False),
        (((0, "issue", "amazontrust.com; account=1"),), ACM, False),  # parameters after `;` do not change the CA
        (((0, "issue", "letsencrypt.org"),), ACM, True),
        # A per-project DNS authorization takes only Google Trust Services: no fallback to Let's Encrypt.
        (((0, "issue", "letsencrypt.org"),), GOOGLE, True),
        (((0, "issue", "geotrust.com"),), DIGICERT, False),  # DigiCert honours its brands' CAA domains
        # Bound to an account (RFC 8657): the user's account, not the cloud's; unless another value is unbound.
        (((0, "issue", "digicert.com; accounturi=https://acme.digicert.com/a/1"),), DIGICERT, True),
        (((0, "issue", "pki.goog; accounturi=https://pki.goog/a/1"), (0, "issue", "pki.goog")), GOOGLE, False),
        (((0, "issue", "amazon.com; validationmethods=dns-01"),), ACM, False),
        (((0, "issue", "digicert.com"), (0, "issue", "pki.goog")), DIGICERT, False),
        (((0, "issue", ";"),), DIGICERT, True),  # nobody may issue
        (((0, "iodef", "mailto:sec@example.com"),), ACM, False),  # no issue property: no restriction
        (((0, "issuewild", "letsencrypt.org"),), ACM, False),  # wildcards only; Bascule requests none
        (((128, "tbs", "x"), (0, "issue", "amazon.com")), ACM, True),  # unknown critical property: nobody
        (((0, "issue", "Amazon.COM"),), ACM, False),  # domain names compare without case
    ],
)
def test_caa_rules(records: tuple[tuple[int, str, str], ...], authorities: tuple[str, ...], refused: bool) -> None:
    result = found(*records) if records else RelevantSet(None)
    problem = caa_problem("checkout.shop.example.com", authorities, result)
    assert (problem is not None) is refused, problem
    if refused:
        assert problem is not None and problem.startswith("caa: checkout.shop.example.com: the CAA records at ")


def test_each_site_kind_declares_its_ca() -> None:
    svc = parse_services([stack_config("tm")["bascule:services"][0]], "s.yaml").services[0]
    assert site_authorities(svc) == {"primary": ACM, "secondary": ("letsencrypt.org",)}  # Front Door, our certificate
    gcp = parse_services([stack_config("gcp")["bascule:services"][0]], "s.yaml").services[0]
    assert site_authorities(gcp)["secondary"] == GOOGLE


# --- against a real DNS server -----------------------------------------------------------------------------
needs_pdns = pytest.mark.sandbox


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    if not have_pdns():
        if os.environ.get("CI"):
            raise RuntimeError("pdns_server is missing in CI")
        pytest.skip("pdns_server not installed")
    sandbox = Sandbox.start(tmp_path_factory.mktemp("caa") / "sandbox")
    yield sandbox
    sandbox.stop()


def serve(box: Sandbox, *lines: str) -> None:
    """The sandbox's zone file plus these CAA lines, reloaded into the running PowerDNS."""
    box.set_switched(False)  # rewrites the zone from scratch
    zone = box.dir / "zone.db"
    zone.write_text(zone.read_text() + "\n".join(lines) + "\n", encoding="utf-8")
    box.pdns_control("bind-reload-now", box.state.service.zone)


def pdns(box: Sandbox) -> Any:
    return new_resolver(5.0, DNS_ADDRESS, box.state.dns_port)


@needs_pdns
def test_the_set_at_the_zone_apex_governs_the_hostname(box: Sandbox) -> None:
    serve(box, '@ 300 IN CAA 0 issue "letsencrypt.org"', '@ 300 IN CAA 0 iodef "mailto:sec@sandbox.test"')
    result = relevant_set(HOST, pdns(box))
    assert result.owner == "sandbox.test"
    assert {(p.tag, p.value) for p in result.properties} == {
        ("issue", "letsencrypt.org"),
        ("iodef", "mailto:sec@sandbox.test"),
    }
    problems = caa_problems(HOST, {"primary": ACM, "secondary": GOOGLE}, pdns(box))
    assert problems == [
        f"caa: {HOST}: the CAA records at sandbox.test allow letsencrypt.org, not the CA the primary's certificate "
        "comes from (amazon.com or amazontrust.com or awstrust.com or amazonaws.com): add a record "
        '`0 issue "amazon.com"` there',
        f"caa: {HOST}: the CAA records at sandbox.test allow letsencrypt.org, not the CA the secondary's certificate "
        'comes from (pki.goog): add a record `0 issue "pki.goog"` there',
    ]


@needs_pdns
def test_a_set_at_the_hostname_hides_the_apex(box: Sandbox) -> None:
    serve(box, '@ 300 IN CAA 0 issue ";"', 'checkout 300 IN CAA 0 issue "amazon.com"')
    assert relevant_set(HOST, pdns(box)).owner == HOST
    assert caa_problems(HOST, {"primary": ACM}, pdns(box)) == []


@needs_pdns
def test_verify_reports_a_refused_ca(box: Sandbox) -> None:
    """`assess` looks CAA up through the first recursive resolver it is given (here the sandbox's server)."""
    serve(box, '@ 300 IN CAA 0 issue "pki.goog"')
    target = DrillTarget(
        service="checkout", hostname=HOST,
        resolvers=(Resolver("pdns", DNS_ADDRESS, box.state.dns_port, "recursive"),),
        sites={}, addresses={}, port=443, health_path="/healthz", failover_bound_seconds=60, description="test",
        certificate_authorities={"secondary": DIGICERT},
    )  # fmt: skip
    result = assess(target, trust=None, timeout=5.0)  # type: ignore[arg-type]  # no site to connect to
    (problem,) = [p for p in result.problems if p.startswith("caa:")]
    assert "allow pki.goog, not the CA the secondary's certificate comes from (digicert.com or geotrust.com" in problem


@needs_pdns
def test_plan_checks_caa_only_where_the_zone_exists(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(box, '@ 300 IN CAA 0 issue "letsencrypt.org"')
    monkeypatch.setattr(plan_command, "new_resolver", lambda timeout: pdns(box))
    service = dict(stack_config("dev")["bascule:services"][0])
    service.update(name="checkout", hostname=HOST, dns={"kind": "route53", "zone": "sandbox.test", "zone_id": "Z1"})
    (tmp_path / "Pulumi.caa.yaml").write_text(yaml.safe_dump({"config": {"bascule:services": [service]}}))
    needs = plan_command.first_up_needs("caa", tmp_path, [])
    assert [n for n in needs if n.startswith("caa:")] and "primary's certificate" in needs[0]
    service["dns"] = {"kind": "route53", "zone": "sandbox.test"}  # a zone Bascule creates: nothing to look up
    (tmp_path / "Pulumi.caa.yaml").write_text(yaml.safe_dump({"config": {"bascule:services": [service]}}))
    assert plan_command.first_up_needs("caa", tmp_path, []) == []
