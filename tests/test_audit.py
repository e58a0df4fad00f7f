"""`bascule audit` on the example stacks, with exact findings; history and readiness from their real writers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.drills import history
from bascule.readiness.site import CertInfo, SiteReadiness, Trust
from bascule.readiness.verify import ServiceReadiness, render_json
from tests.conftest import STACKS
from tests.test_cli_check import PROGRAM, _export, _project

runner = CliRunner()


def audit(*args: str) -> Any:
    return runner.invoke(app, ["audit", *args, "--stacks-dir", str(STACKS)])


def audit_json(*args: str) -> dict[str, Any]:
    result = audit(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{w['stack']}/{w['name']}": w for w in doc["workloads"]}


def places(w: dict[str, Any]) -> set[tuple[str, str, str, str, str]]:
    return {(s["role"], s["provider"], s["region"], s["country"], s["jurisdiction"]) for s in w["sites"]}


def codes(w: dict[str, Any]) -> list[str]:
    return [s["code"] for s in w["spofs"]]


def test_prod_and_sovereign_workloads_sites_spofs_and_rto() -> None:
    doc = audit_json("--stack", "prod", "--stack", "sovereign")
    ws = by_name(doc)
    assert list(ws) == ["prod/checkout", "sovereign/portal"]
    assert doc["other_workloads"] == ["prod/catalog", "prod/newsletter"]
    checkout, portal = ws["prod/checkout"], ws["sovereign/portal"]
    assert places(checkout) == {("primary", "aws", "eu-central-1", "DE", "eu"),
                                ("secondary", "gcp", "europe-west3", "DE", "eu")}  # fmt: skip
    assert places(portal) == {
        ("primary", "aws", "eu-central-1", "DE", "eu"),
        ("secondary", "scaleway", "fr-par", "FR", "eu"),
    }
    assert codes(checkout) == ["dns-on-primary-provider"]
    assert codes(portal) == []
    assert checkout["rto"] == {
        "target_s": 180,
        "budget_s": 90.0,
        "detection_s": 30.0,
        "ttl_s": 60.0,
        "measured_s": None,
    }
    assert portal["rto"] == {"target_s": 180, "budget_s": 60.0, "detection_s": 30.0, "ttl_s": 30.0, "measured_s": None}
    assert checkout["rpo"] == {"target_s": 30, "measured": None}
    assert (checkout["eu_region"], checkout["eu_provider"]) == (True, False)
    assert (portal["eu_region"], portal["eu_provider"]) == (True, True)
    homes = {s["provider"]: (s["legal_home"], s["eu_headquartered"]) for s in checkout["sites"] + portal["sites"]}
    assert homes["scaleway"] == ("Scaleway SAS (FR), parent iliad group (FR)", True)
    assert homes["gcp"] == ("Google LLC (US), parent Alphabet Inc. (US)", False)
    concentration = {d: {e["key"]: e["count"] for e in entries} for d, entries in doc["concentration"].items()}
    assert concentration["provider"] == {"aws": 2, "gcp": 1, "scaleway": 1}
    assert concentration["provider_home"] == {"US": 2, "FR": 1}
    assert concentration["country"] == {"DE": 2, "FR": 1}
    assert concentration["jurisdiction"] == {"eu": 2}
    assert concentration["region"] == {"aws eu-central-1": 2, "gcp europe-west3": 1, "scaleway fr-par": 1}
    assert "CLOUD Act" in doc["definitions"]["eu_provider"]


@pytest.mark.parametrize(
    ("stack", "workload", "expected", "budget"),
    [
        (
            "dev",
            "checkout",
            [],
            90.0,
        ),  # Route 53 with accelerated recovery: the switch survives an AWS control-plane loss
        ("gcp", "search", ["dns-on-primary-provider"], 90.0),
        # The Azure secondary is reached through Front Door, as `bascule-global-edge-ingress` reports.
        ("tm", "checkout", ["global-edge-ingress"], 60.0),
        ("clouddns", "payments", [], 120.0),  # 30 s x 3 failures of the Cloud DNS check + TTL 30 s
        ("selfhosted-dns", "ledger", [], 45.0),
        ("hetzner", "ledger", ["dns-on-primary-provider"], 90.0),
        # Aliases that evaluate the load balancers' health declare no detection or TTL: budget unknown, not 0.
        ("single-region", "payments", ["one-region", "one-provider"], None),
    ],
)
def test_each_example_stack_has_exactly_its_single_points_of_failure(
    stack: str, workload: str, expected: list[str], budget: float | None
) -> None:
    ws = by_name(audit_json("--stack", stack))
    assert list(ws) == [f"{stack}/{workload}"]
    assert codes(ws[f"{stack}/{workload}"]) == expected
    assert ws[f"{stack}/{workload}"]["rto"]["budget_s"] == budget


def test_one_provider_under_every_critical_workload_of_several_stacks() -> None:
    doc = audit_json(
        "--stack", "prod", "--stack", "tm", "--stack", "gcp", "--stack", "selfhosted-dns", "--stack", "sovereign"
    )
    assert len(doc["workloads"]) == 5
    providers = {e["key"]: e for e in doc["concentration"]["provider"]}
    assert providers["aws"]["count"] == 5 and providers["aws"]["all_critical"] is True
    assert providers["aws"]["share"] == 1.0
    assert providers["aws"]["workloads"] == ["gcp/search", "prod/checkout", "selfhosted-dns/ledger",
                                             "sovereign/portal", "tm/checkout"]  # fmt: skip
    assert {k: e["count"] for k, e in providers.items() if not e["all_critical"]} == {
        "azure": 2,
        "gcp": 2,
        "scaleway": 1,
    }
    assert {e["key"]: e["count"] for e in doc["concentration"]["provider_home"]} == {"US": 5, "FR": 1}
    text = audit(
        "--stack", "prod", "--stack", "tm", "--stack", "gcp", "--stack", "selfhosted-dns", "--stack", "sovereign"
    )
    assert "    every critical workload depends on provider aws\n" in text.stdout
    assert "    every critical workload depends on provider home US\n" in text.stdout


def test_a_program_run_from_its_folder_finds_its_stacks_drills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`audit --program .` from the team's folder: the workload is named by its stack (Pulumi.prod.yaml's `prod`),
    so the drills of `Pulumi stack prod` are its own; named by the folder ('' for '.') they never matched."""
    project = _project(tmp_path, PROGRAM)
    (project / "Pulumi.prod.yaml").write_text("config:\n  ledger:region: eu-west-1\n")
    reports, drills = tmp_path / "reports" / "run", tmp_path / "drills"
    reports.mkdir(parents=True)
    history.append(drills, {"started": "2026-11-01T10:00:00Z", "service": "ledger", "fault": "health", "status": "pass",
                            "rto_seconds": 180, "target": "Pulumi stack prod (/repo), service ledger",
                            "failover": {"http_s": 42.0}}, reports)  # fmt: skip
    monkeypatch.chdir(project)
    (w,) = audit_json("--program", ".", "--stack-config", "Pulumi.prod.yaml", "--history", str(drills))["workloads"]
    assert (w["stack"], w["name"]) == ("prod", "ledger")
    assert w["last_drill"] is not None and w["last_drill"]["started"] == "2026-11-01T10:00:00Z"


def test_a_hetzner_standby_is_at_an_eu_headquartered_provider_in_germany(tmp_path: Path) -> None:
    """The audit names Hetzner's legal home, from the stack and from its export (labels, not tags, carry the
    workload there)."""
    ledger = by_name(audit_json("--stack", "hetzner"))["hetzner/ledger"]
    assert places(ledger) == {("primary", "aws", "eu-west-3", "FR", "eu"), ("secondary", "hetzner", "fsn1", "DE", "eu")}
    homes = {s["provider"]: (s["legal_home"], s["eu_headquartered"]) for s in ledger["sites"]}
    assert homes["hetzner"] == ("Hetzner Online GmbH (DE), parent Hetzner Online GmbH (DE)", True)
    assert (ledger["eu_region"], ledger["eu_provider"]) == (True, True)
    (exported,) = by_name(audit_json("--export", str(_export(tmp_path, "hetzner")))).values()
    assert places(exported) == places(ledger) and exported["eu_provider"] is True


def test_export_input_audits_like_the_stack(tmp_path: Path) -> None:
    from_export = by_name(audit_json("--export", str(_export(tmp_path, "sovereign"))))
    from_stack = by_name(audit_json("--stack", "sovereign"))
    (exported,) = from_export.values()
    assert exported == from_stack["sovereign/portal"]  # named by the stack in its URNs, not by the file


def _drill(directory: Path, reports: Path, started: str, status: str, http_s: float | None, rpo: float | None) -> None:
    report = reports / started.replace(":", "")
    report.mkdir(parents=True)
    if rpo is not None:  # the data drill's report (issue 15's `data` object); a plain drill has none
        (report / "report.json").write_text(json.dumps({"data": {"rpo_observed_s": rpo}}))
    summary = {"started": started, "service": "checkout", "fault": "health", "status": status, "rto_seconds": 180,
               "target": "Pulumi stack prod (/repo), service checkout", "failover": {"http_s": http_s}}  # fmt: skip
    history.append(directory, summary, report)


def _readiness(path: Path, standby_ready: bool) -> Path:
    cert = CertInfo("CN=checkout", ["checkout.shop.example.com"], "CN=CA", "2027-01-01T00:00:00+00:00", 38.5)
    primary = SiteReadiness("primary", "192.0.2.1", 443, "checkout.shop.example.com", "/healthz", cert, True, 200)
    secondary = SiteReadiness("secondary", "198.51.100.1", 443, "checkout.shop.example.com", "/healthz", None,
                              problems=[] if standby_ready else ["secondary: no certificate for the hostname"])  # fmt: skip
    service = ServiceReadiness("checkout", "checkout.shop.example.com", "Pulumi stack prod (/repo), service checkout",
                               [primary, secondary], [], [] if standby_ready else ["secondary not ready"])  # fmt: skip
    path.write_text(render_json([service], Trust()))
    return path


def test_history_and_readiness_give_last_drill_measured_rpo_and_standby_spof(tmp_path: Path) -> None:
    hist, reports = tmp_path / "history", tmp_path / "reports"
    _drill(hist, reports, "2026-11-01T10:00:00+00:00", "fail", 240.5, None)
    _drill(hist, reports, "2026-11-10T10:00:00+00:00", "pass", 61.25, 4.5)
    _drill(hist, reports, "2026-11-20T10:00:00+00:00", "pass", 58.0, None)
    readiness = _readiness(tmp_path / "verify.json", standby_ready=False)
    doc = audit_json("--stack", "prod", "--history", str(hist), "--readiness", str(readiness))
    checkout = by_name(doc)["prod/checkout"]
    assert checkout["last_drill"]["started"] == "2026-11-20T10:00:00+00:00"
    assert (checkout["last_drill"]["status"], checkout["rto"]["measured_s"]) == ("pass", 58.0)
    assert checkout["rpo"]["target_s"] == 30
    assert (checkout["rpo"]["measured"]["started"], checkout["rpo"]["measured"]["rpo_observed_s"]) == (
        "2026-11-10T10:00:00+00:00", 4.5)  # fmt: skip
    assert checkout["readiness"]["cert_days_left"] == {"primary": 38.5, "secondary": None}
    assert (checkout["readiness"]["ready"], checkout["readiness"]["standby_ready"]) == (False, False)
    assert codes(checkout) == ["dns-on-primary-provider", "standby-not-ready"]
    assert checkout["spofs"][1]["detail"] == "secondary: no certificate for the hostname"
    text = audit("--stack", "prod", "--history", str(hist), "--readiness", str(readiness)).stdout
    assert ("  RTO target 180 s; settings' budget 90 s (detection 30 s + TTL 60 s); last drill "
            "2026-11-20T10:00:00+00:00 PASS (health): failover 58 s\n") in text  # fmt: skip
    assert "  RPO target 30 s; last data drill 2026-11-10T10:00:00+00:00: observed 4.5 s\n" in text
    assert "certificate days left: primary 38.5 d, secondary no certificate" in text
    # tm/checkout has the same service name, but these drills were of the prod stack: none is its drill.
    tm_checkout = by_name(audit_json("--stack", "tm", "--history", str(hist)))["tm/checkout"]
    assert (tm_checkout["last_drill"], tm_checkout["rto"]["measured_s"], tm_checkout["rpo"]["measured"]) == (
        None, None, None)  # fmt: skip
    ready = _readiness(tmp_path / "ready.json", standby_ready=True)
    assert codes(by_name(audit_json("--stack", "prod", "--readiness", str(ready)))["prod/checkout"]) == [
        "dns-on-primary-provider"
    ]


def test_fail_on_spof_exit_codes() -> None:
    assert audit("--stack", "prod").exit_code == 0
    assert audit("--stack", "prod", "--fail-on", "spof").exit_code == 1
    assert audit("--stack", "sovereign", "--fail-on", "spof").exit_code == 0
    assert audit("--stack", "clouddns", "--stack", "sovereign", "--fail-on", "spof").exit_code == 0
    assert audit("--stack", "tm", "--stack", "sovereign", "--fail-on", "spof").exit_code == 1  # Front Door


def test_text_and_markdown_name_everything() -> None:
    text = audit("--stack", "prod").stdout
    assert ("  secondary: gcp europe-west3 (DE, eu region) - Google LLC (US), parent Alphabet Inc. (US) - Service "
            "checkout-secondary-run\n") in text  # fmt: skip
    assert "  SPOF dns-on-primary-provider: the failover switch runs on aws, the primary's provider\n" in text
    assert "not critical (not audited): prod/catalog, prod/newsletter\n" in text
    # Concentration is input to an assessment, not the assessment DORA asks for; no SPOF found means none checked.
    assert (
        "(input to the concentration assessment of DORA Art. 28(4)(c)/29: critical workloads per provider brand" in text
    )
    sovereign = audit("--stack", "sovereign").stdout
    assert (
        "  none of the checked points of failure (one-region, one-provider, dns-on-primary-provider, "
        "data-one-provider, no-health-check, standby-not-ready, global-edge-ingress) found\n"
    ) in sovereign
    assert text.rstrip().endswith("1 critical workload(s), 1 single point(s) of failure.")
    markdown = audit("--stack", "prod", "--stack", "sovereign", "--format", "markdown").stdout
    assert markdown.startswith("# Continuity audit: 2 critical workload(s), 1 single point(s) of failure\n")
    assert (
        "| sovereign/portal | primary: aws eu-central-1 (DE)<br>secondary: scaleway fr-par (FR) | yes | yes |"
        in markdown
    )
    assert "- **SPOF dns-on-primary-provider**: the failover switch runs on aws, the primary's provider" in markdown


@pytest.mark.parametrize(
    ("content", "expected"),
    [("{", ":1:2: not valid JSON"), ('{"ready": true}', "not `bascule verify --format json` output")],
)
def test_bad_readiness_file_is_one_line_exit_2(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "verify.json"
    path.write_text(content)
    result = audit("--stack", "dev", "--readiness", str(path))
    assert result.exit_code == 2
    assert expected in result.stderr and "Traceback" not in result.output


def test_no_input_is_exit_2() -> None:
    result = audit()
    assert result.exit_code == 2
    assert "give at least one input" in result.stderr


def test_program_dir_audit_finds_the_team_workload_by_its_own_tags(tmp_path: Path) -> None:
    """A team's own program (tags `workload`/`criticality`, no Bascule): one region, one provider, data with
    one provider, no failover switch."""
    project = _project(tmp_path, PROGRAM)
    stack = project / "Pulumi.prod.yaml"
    stack.write_text("config:\n  ledger:region: eu-west-1\n")
    doc = audit_json("--program", str(project), "--stack-config", str(stack))
    (w,) = doc["workloads"]
    assert (w["stack"], w["name"]) == ("prod", "ledger")  # the stack its config file names, not the folder
    assert codes(w) == ["one-region", "one-provider", "data-one-provider", "no-health-check"]
    assert w["data_locations"] == ["aws eu-west-1 (IE)"]
    assert w["rto"]["budget_s"] is None and w["rto"]["target_s"] is None
    assert doc["concentration"]["provider"] == [
        {"key": "aws", "workloads": ["prod/ledger"], "count": 1, "share": 1.0, "all_critical": True}
    ]
