"""Two silent passes of a team's own project (tests/projects/existing-service, varied) that `bascule check` and the
CrossGuard pack now refuse: a primary whose spec names another region than the team's load balancer is really in
(`bascule-site-region`), and the team's simple record for the hostname beside Bascule's failover records
(`bascule-dns-record-conflict`, and its Cloud DNS counterpart on the repository's clouddns stack). Each through
`bascule check` (program or export) and through `pulumi_policy`'s analyzer, firing and not firing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bascule import facts
from bascule.cli.app import app
from bascule.inventory.sources import load_inventory
from bascule.offline.engine import load_program_dir, run_offline
from bascule.spec import read_stack_config
from tests.conftest import ROOT
from tests.test_policies import both

PROJECT = ROOT / "tests" / "projects" / "existing-service"
SPEC_REGION = 'AwsAlbSiteSpec(region="eu-west-3"'
GIVEN_LB = "ExistingLoadBalancer(dns_name=alb.dns_name, zone_id=alb.zone_id, listener_arn=https.arn)"
SERVICE_BLOCK = "# --- What the team adds"


def project(
    tmp_path: Path,
    *,
    stack_region: str = "eu-west-3",
    spec_region: str = "eu-west-3",
    by_arn: bool = False,
    alb_region: str | None = None,
    before: str = "",
) -> Path:
    """The team's project with its stack's `aws:region`, the site spec's region, how it names its load balancer, the
    load balancer's own `region` input, and program lines added before the standby block."""
    folder = tmp_path / "project"
    shutil.copytree(PROJECT, folder)
    stack = folder / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text().replace("aws:region: eu-west-3", f"aws:region: {stack_region}"))
    main = folder / "__main__.py"
    text = main.read_text()
    for old, new in (
        (SPEC_REGION, f'AwsAlbSiteSpec(region="{spec_region}"'),
        (GIVEN_LB, "ExistingLoadBalancer(arn=alb.arn, listener_arn=https.arn)" if by_arn else GIVEN_LB),
        ('aws.lb.LoadBalancer("web", ', f'aws.lb.LoadBalancer("web", region="{alb_region}", ' if alb_region else None),
        (SERVICE_BLOCK, before + SERVICE_BLOCK),
    ):
        if new is not None:
            assert old in text, old
            text = text.replace(old, new)
    main.write_text(text)
    return folder


def check(folder: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(
        app, ["check", "--program", str(folder), "--stack-config", str(folder / "Pulumi.prod.yaml"), "-f", "json",
              "-q", *extra],
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)["results"]


def findings(results: list[dict[str, Any]], rule: str) -> list[dict[str, Any]]:
    return [r for r in results if r["rule"] == rule]


def pack_agrees(folder: Path, drill: str | None = None) -> set[tuple[str, str | None, str]]:
    """The CrossGuard pack's verdicts (through `pulumi_policy`'s servicer, with the engine's dependencies) for the
    same run, asserted equal to `bascule check`'s by `both`."""
    name, program = load_program_dir(folder)
    config: dict[str, Any] = read_stack_config(folder / "Pulumi.prod.yaml")
    if drill is not None:
        config["bascule:drill"] = {"service": "checkout", "fault": drill}
    return both(run_offline(program, config, project=name, stack="prod"))


# --- bascule-site-region --------------------------------------------------------------------------------------


def test_the_team_s_project_as_it_is_passes_both_new_rules(tmp_path: Path) -> None:
    folder = project(tmp_path)
    code, results = check(folder)
    assert code == 0
    assert not findings(results, "bascule-site-region") and not findings(results, "bascule-dns-record-conflict")
    rules = {rule for rule, _urn, _level in pack_agrees(folder)}
    assert not {"bascule-site-region", "bascule-dns-record-conflict"} & rules


@pytest.mark.parametrize("by_arn", [False, True], ids=["dns-name", "arn"])
def test_a_spec_region_other_than_the_load_balancer_s_fails(tmp_path: Path, by_arn: bool) -> None:
    folder = project(tmp_path, stack_region="us-east-1", spec_region="eu-central-1", by_arn=by_arn)
    code, results = check(folder)
    assert code == 1
    (finding,) = findings(results, "bascule-site-region")
    assert finding["enforcement"] == "mandatory" and finding["urn"].endswith("aws:lb/loadBalancer:LoadBalancer::web")
    message = finding["message"]
    for part in ("'checkout'", "primary site", "declares region eu-central-1", "is in us-east-1",
                 "the stack's default provider (aws:region: us-east-1)"):  # fmt: skip
        assert part in message, message
    assert ("bascule-site-region", finding["urn"], "mandatory") in pack_agrees(folder)
    # The inventory and the audit place the site where its load balancer is, and keep the spec's word beside it.
    inventory, _ = load_inventory(program=folder, stack_config=folder / "Pulumi.prod.yaml")
    (site,) = [r for r in inventory.resources if r.type == facts.AWS_ALB_SITE]
    assert (site.region, site.props["region"]) == ("us-east-1", "eu-central-1")
    assert "'web' it is built on" in site.region_source and "declares eu-central-1" in site.region_source
    audited = CliRunner().invoke(
        app, ["audit", "--program", str(folder), "--stack-config", str(folder / "Pulumi.prod.yaml"), "-f", "json"]
    )
    assert '"us-east-1"' in audited.stdout and '"eu-central-1"' not in audited.stdout, audited.output


def test_the_health_drill_s_rule_on_a_listener_elsewhere_fails_too(tmp_path: Path) -> None:
    folder = project(tmp_path, stack_region="us-east-1", spec_region="eu-central-1")
    config = folder / "Pulumi.prod.yaml"
    config.write_text(config.read_text() + "  bascule:drill:\n    service: checkout\n    fault: health\n")
    code, results = check(folder)
    assert code == 1
    urns = {f["urn"].rsplit("::", 1)[-1] for f in findings(results, "bascule-site-region")}
    assert urns == {"web", "https"}  # the load balancer, and the listener the drill's rule goes on
    verdicts = pack_agrees(folder, drill="health")
    assert {u.rsplit("::", 1)[-1] for r, u, _ in verdicts if r == "bascule-site-region" and u} == {"web", "https"}


def test_a_load_balancer_in_the_spec_s_region_passes_whatever_the_stack_s_default(tmp_path: Path) -> None:
    """The stack's default region is not the site's: a load balancer given its own region (or provider) in the
    spec's region is where the site says, and nothing fires (no false alarm from `aws:region`)."""
    folder = project(tmp_path, stack_region="us-east-1", spec_region="eu-central-1", alb_region="eu-central-1")
    _, results = check(folder)
    assert not findings(results, "bascule-site-region")


@pytest.mark.parametrize(("eip_region", "fires"), [("us-east-2", True), ("eu-central-1", False)])
def test_a_bring_your_own_endpoint_is_held_to_its_address_s_region(
    tmp_path: Path, eip_region: str, fires: bool
) -> None:
    """Any site that declares its region is held to it: an 'endpoint' standby on a team's Elastic IP."""
    folder = project(tmp_path, before=f'eip = aws.ec2.Eip("standby", domain="vpc", region="{eip_region}")\n')
    main = folder / "__main__.py"
    text = re.sub(
        r"secondary=GcpSiteSpec\(.*?\),\n    health_check",
        'secondary=EndpointSiteSpec(provider="aws", region="eu-central-1", address="203.0.113.7"),\n    health_check',
        main.read_text(),
        flags=re.S,
    )
    text = text.replace("AwsAlbSiteSpec, GcpSiteSpec,", "AwsAlbSiteSpec, EndpointSiteSpec,")
    text = text.replace(
        "        zone_id=zone.zone_id,",
        "        secondary=SiteInputs(address=eip.public_ip),\n        zone_id=zone.zone_id,",
    )
    main.write_text(text)
    _, results = check(folder)
    found = findings(results, "bascule-site-region")
    assert [f["urn"].rsplit("::", 1)[-1] for f in found] == (["standby"] if fires else [])
    if fires:
        assert "secondary site" in found[0]["message"] and "is in us-east-2" in found[0]["message"]


# --- bascule-dns-record-conflict ------------------------------------------------------------------------------

DNS_RULES = ("bascule-dns-record-conflict", "bascule-dns-aaaa-bypass")
ALIAS = "aliases=[aws.route53.RecordAliasArgs(name=alb.dns_name, zone_id=alb.zone_id, evaluate_target_health=True)]"


def record(name: str, rtype: str, zone: str = "zone.zone_id", value: str = ALIAS) -> str:
    return f'aws.route53.Record("{name}", zone_id={zone}, name={{n}}, type="{rtype}", {value})\n'


def test_the_team_s_simple_a_and_aaaa_records_for_the_hostname_fail(tmp_path: Path) -> None:
    lines = record("checkout-a", "A").format(n="HOSTNAME") + record("checkout-aaaa", "AAAA").format(n="HOSTNAME")
    folder = project(tmp_path, before=lines)
    code, results = check(folder)
    assert code == 1
    found = {f["urn"].rsplit("::", 1)[-1]: f["message"] for f in findings(results, "bascule-dns-record-conflict")}
    assert set(found) == {"checkout-a"}
    assert "Route 53 refuses a non-failover A record" in found["checkout-a"]
    assert "API_ResourceRecordSet.html" in found["checkout-a"]
    # The AAAA record is taken (nothing fails): advised against, in what is known, not where it points.
    (ipv6,) = findings(results, "bascule-dns-aaaa-bypass")
    assert ipv6["urn"].endswith("::checkout-aaaa") and ipv6["enforcement"] == "advisory"
    assert "IPv6 clients get this record whatever the failover says" in ipv6["message"]
    assert "primary" not in ipv6["message"]
    verdicts = pack_agrees(folder)
    assert {(r, u.rsplit("::", 1)[-1], level) for r, u, level in verdicts if r in DNS_RULES and u} == {
        ("bascule-dns-record-conflict", "checkout-a", "mandatory"),
        ("bascule-dns-aaaa-bypass", "checkout-aaaa", "advisory"),
    }


def test_under_preview_semantics_an_unknown_zone_is_not_compared(tmp_path: Path) -> None:
    """`--semantics preview` leaves the zone's id unknown, as `pulumi preview` does: what cannot be matched is not
    reported (no guessed conflict), while the same project under `up` fails."""
    folder = project(tmp_path, before=record("checkout-a", "A").format(n="HOSTNAME"))
    _, results = check(folder, "--semantics", "preview")
    assert not findings(results, "bascule-dns-record-conflict")
    assert check(folder, "--semantics", "up")[0] == 1


def test_a_cname_and_a_relative_name_are_matched(tmp_path: Path) -> None:
    cname = record("checkout-cname", "CNAME", value='ttl=300, records=["old.example.net"]').format(n='"checkout"')
    folder = project(tmp_path, before=cname)
    code, results = check(folder)
    assert code == 1
    (finding,) = findings(results, "bascule-dns-record-conflict")
    assert finding["urn"].endswith("::checkout-cname") and "CNAME checkout.shop.example.com" in finding["message"]


def test_records_elsewhere_or_of_other_types_pass(tmp_path: Path) -> None:
    """Another zone of the same name (a private zone for the VPC), another name, a TXT record: Route 53 takes all."""
    lines = (
        'private = aws.route53.Zone("private", name="shop.example.com", vpcs=[aws.route53.ZoneVpcArgs(vpc_id=vpc.id)])\n'
        + record("inside", "A", zone="private.zone_id").format(n="HOSTNAME")
        + record("www", "A").format(n='"www.shop.example.com"')
        + record("verify", "TXT", value='ttl=300, records=["v=team"]').format(n="HOSTNAME")
    )
    folder = project(tmp_path, before=lines)
    code, results = check(folder)
    assert code == 0 and not findings(results, "bascule-dns-record-conflict")
    assert not [v for v in pack_agrees(folder) if v[0] == "bascule-dns-record-conflict"]


def _export(folder: Path, tmp_path: Path, dependencies: Any = None) -> Path:
    """A deployment-v3 export of the project's run, with each resource's `dependencies` as `pulumi stack export`
    writes them (or `dependencies` itself, for a damaged file)."""
    name, program = load_program_dir(folder)
    run = run_offline(program, read_stack_config(folder / "Pulumi.prod.yaml"), project=name, stack="prod")
    resources = [
        {"urn": r.urn, "custom": r.custom, "type": r.type, "inputs": r.inputs, "outputs": r.outputs,
         "dependencies": list(r.dependencies) if dependencies is None else dependencies,
         **({"parent": r.parent} if r.parent else {})}
        for r in run.resources
    ]  # fmt: skip
    path = tmp_path / "prod.export.json"
    path.write_text(json.dumps({"version": 3, "deployment": {"manifest": {}, "resources": resources}}))
    return path


def test_a_stack_export_carries_what_the_site_is_built_on(tmp_path: Path) -> None:
    folder = project(tmp_path, stack_region="us-east-1", spec_region="eu-central-1")
    result = CliRunner().invoke(app, ["check", "--export", str(_export(folder, tmp_path)), "-f", "json", "-q"])
    assert result.exit_code == 1, result.output
    (finding,) = findings(json.loads(result.stdout)["results"], "bascule-site-region")
    assert finding["urn"].endswith("::web") and "is in us-east-1" in finding["message"]
    damaged = CliRunner().invoke(app, ["check", "--export", str(_export(folder, tmp_path, dependencies="web"))])
    assert damaged.exit_code == 2 and "dependencies: expected a list of URNs" in damaged.stderr


# --- bascule-dns-record-conflict on a Cloud DNS switch (the repository's clouddns stack) ---------------------


@pytest.mark.parametrize(
    ("rtype", "project", "fires"),
    [
        ("A", "bank-dns-eu", "bascule-dns-record-conflict"),
        ("AAAA", None, "bascule-dns-aaaa-bypass"),
        ("A", "another-project", None),
        ("TXT", None, None),
    ],
)
def test_a_team_s_cloud_dns_record_set_at_the_hostname(rtype: str, project: str | None, fires: str | None) -> None:
    """The team's record set in the zone the switch writes to (its `managed_zone`), in the stack's project unless
    another is named: the same name and type is refused by Cloud DNS, an AAAA is advised against (IPv6 clients
    bypass the A-only failover)."""
    import pulumi_gcp as gcp

    from bascule.components.program import main as bascule_program
    from tests.conftest import stack_config

    config = stack_config("clouddns")
    config["bascule:services"][0]["dns"]["managed_zone"] = "bank-zone"
    config["gcp:project"] = "bank-dns-eu"

    def team_program() -> None:
        bascule_program()
        gcp.dns.RecordSet("legacy", managed_zone="bank-zone", name="pay.bank.example.eu.", type=rtype, ttl=300,
                          rrdatas=["2001:db8::1" if rtype == "AAAA" else "192.0.2.1"], project=project)  # fmt: skip

    verdicts = both(run_offline(team_program, config, stack="clouddns"))
    found = {(rule, urn.rsplit("::", 1)[-1]) for rule, urn, _ in verdicts if rule in DNS_RULES and urn}
    assert found == ({(fires, "legacy")} if fires else set())


# --- Audit findings: what only counts where a site runs, and what cannot be known -------------------------------


def _endpoint_standby(folder: Path) -> None:
    """The project's secondary replaced by an 'endpoint' on AWS in eu-central-1 whose address is `eip`."""
    main = folder / "__main__.py"
    text = re.sub(
        r"secondary=GcpSiteSpec\(.*?\),\n    health_check",
        'secondary=EndpointSiteSpec(provider="aws", region="eu-central-1", address="203.0.113.7"),\n    health_check',
        main.read_text(),
        flags=re.S,
    )
    text = text.replace("AwsAlbSiteSpec, GcpSiteSpec,", "AwsAlbSiteSpec, EndpointSiteSpec,")
    text = text.replace(
        "        zone_id=zone.zone_id,",
        "        secondary=SiteInputs(address=eip),\n        zone_id=zone.zone_id,",
    )
    main.write_text(text)


def test_a_global_accelerator_address_does_not_move_the_endpoint(tmp_path: Path) -> None:
    """Global Accelerator's API is served from us-west-2 only, so its provider says us-west-2 wherever the traffic
    goes: an endpoint whose address is the accelerator's static IP is not in us-west-2, and nothing says it is."""
    accelerator = (
        'oregon = aws.Provider("oregon", region="us-west-2")\n'
        'accelerator = aws.globalaccelerator.Accelerator("edge", ip_address_type="IPV4", '
        "opts=pulumi.ResourceOptions(provider=oregon))\n"
        "eip = accelerator.ip_sets.apply(lambda sets: sets[0].ip_addresses[0])\n"
    )
    folder = project(tmp_path, before=accelerator)
    _endpoint_standby(folder)
    _, results = check(folder)
    assert not findings(results, "bascule-site-region")
    inventory, _ = load_inventory(program=folder, stack_config=folder / "Pulumi.prod.yaml")
    (site,) = [r for r in inventory.resources if r.type == facts.ENDPOINT_SITE]
    assert site.region == "eu-central-1", site.region_source
    (edge,) = [r for r in inventory.resources if r.type == "aws:globalaccelerator/accelerator:Accelerator"]
    assert edge.region == "global"
    assert not [v for v in pack_agrees(folder) if v[0] == "bascule-site-region"]


def test_the_load_balancer_s_own_region_input_is_named_before_its_provider(tmp_path: Path) -> None:
    folder = project(tmp_path, spec_region="eu-west-3", alb_region="us-east-1")
    main = folder / "__main__.py"
    text = main.read_text().replace(
        'aws.lb.LoadBalancer("web", region="us-east-1", ',
        'aws.lb.LoadBalancer("web", region="us-east-1", opts=pulumi.ResourceOptions(provider=eu), ',
    )
    main.write_text(text.replace("alb = aws.lb", 'eu = aws.Provider("eu", region="eu-west-3")\nalb = aws.lb', 1))
    _, results = check(folder)
    (finding,) = findings(results, "bascule-site-region")
    assert "is in us-east-1 (set by its own `region` input)" in finding["message"], finding["message"]
    assert "provider 'eu'" not in finding["message"]


def test_a_private_zone_of_the_same_resource_name_is_another_zone(tmp_path: Path) -> None:
    """Two zones named alike in the program (a component's private zone for the VPC beside the team's public one)
    are two zones: the split-horizon record for the hostname inside the VPC is no conflict."""
    lines = (
        "class Inside(pulumi.ComponentResource):\n"
        "    def __init__(self, name: str) -> None:\n"
        '        super().__init__("team:dns:Inside", name)\n'
        '        self.zone = aws.route53.Zone("shop", name="shop.example.com", '
        "vpcs=[aws.route53.ZoneVpcArgs(vpc_id=vpc.id)], opts=pulumi.ResourceOptions(parent=self))\n"
        "\n\n"
        'inside = Inside("inside")\n' + record("inside", "A", zone="inside.zone.zone_id").format(n="HOSTNAME")
    )
    folder = project(tmp_path, before=lines)
    _, results = check(folder)
    assert not findings(results, "bascule-dns-record-conflict")
    assert not [v for v in pack_agrees(folder) if v[0] == "bascule-dns-record-conflict"]


def _clouddns_program(rtype: str, **record: Any) -> tuple[Any, dict[str, Any]]:
    import pulumi
    import pulumi_gcp as gcp

    from bascule.components.program import main as bascule_program
    from tests.conftest import stack_config

    config = stack_config("clouddns")
    config["bascule:services"][0]["dns"]["managed_zone"] = "bank-zone"
    config["gcp:project"] = "bank-dns-eu"
    provider_project = record.pop("provider_project", None)

    def team_program() -> None:
        bascule_program()
        opts = None
        if provider_project is not None:
            opts = pulumi.ResourceOptions(provider=gcp.Provider("other", project=provider_project or None))
        gcp.dns.RecordSet("legacy", managed_zone="bank-zone", name="pay.bank.example.eu.", type=rtype, ttl=300,
                          rrdatas=["legacy.example.net."] if rtype == "CNAME" else ["192.0.2.1"], opts=opts,
                          **record)  # fmt: skip

    return team_program, config


@pytest.mark.parametrize("semantics", ["preview", "up"])
@pytest.mark.parametrize(("provider_project", "fires"), [("team-legacy", False), ("bank-dns-eu", True), ("", False)])
def test_a_cloud_dns_record_set_on_its_own_provider_is_in_that_provider_s_project(
    semantics: str, provider_project: str, fires: bool
) -> None:
    """A record set created with an explicit provider is in the provider's project; a provider naming none leaves the
    project to its environment, which a check cannot see, so it is not compared. Both front-ends agree."""
    from bascule.offline.engine import Semantics

    program, config = _clouddns_program("A", provider_project=provider_project)
    verdicts = both(run_offline(program, config, stack="clouddns", semantics=Semantics(semantics)))
    conflicts = {urn.rsplit("::", 1)[-1] for rule, urn, _ in verdicts if rule == "bascule-dns-record-conflict" and urn}
    assert conflicts == ({"legacy"} if fires else set())


def test_a_cloud_dns_cname_beside_the_failover_a_records_fails() -> None:
    program, config = _clouddns_program("CNAME")
    verdicts = both(run_offline(program, config, stack="clouddns"))
    found = {
        (u.rsplit("::", 1)[-1], level) for rule, u, level in verdicts if rule == "bascule-dns-record-conflict" and u
    }
    assert found == {("legacy", "mandatory")}
