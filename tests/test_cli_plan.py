"""`bascule plan` through the real CLI, as users and CI call it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.cli.plan import UNASSIGNED_SHOWN
from tests.conftest import ROOT, STACKS

runner = CliRunner()


def test_plan_dev_json_lists_clouds_regions_and_failover() -> None:
    result = runner.invoke(app, ["plan", "--stack", "dev", "--format", "json", "--stacks-dir", str(STACKS)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert all({"urn", "type", "cloud", "region", "role", "service"} <= set(r) for r in rows)
    by_role: dict[str, set[tuple[str, str]]] = {}
    for r in rows:
        by_role.setdefault(r["role"], set()).add((r["cloud"], r["region"]))
    assert by_role["primary"] == {("aws", "eu-west-3"), ("aws", "global")}
    assert by_role["secondary"] == {("gcp", "europe-west9"), ("gcp", "global")}
    types = [r["type"] for r in rows if r["role"] == "dns"]
    assert types.count("aws:route53/healthCheck:HealthCheck") == 1  # the ALB is an alias with target health
    assert all(r["service"] == "checkout" and r["criticality"] == "critical" for r in rows)
    eu = {r["jurisdiction"] for r in rows if r["region"] not in ("global", "us-east-1")}
    assert eu == {"eu"}


def test_plan_text_groups_by_service() -> None:
    result = runner.invoke(app, ["plan", "--stack", "prod", "--stacks-dir", str(STACKS)])
    assert result.exit_code == 0, result.output
    for service in ("checkout", "catalog", "newsletter"):
        assert f"service {service}" in result.stdout
    assert "europe-west3" in result.stdout
    assert "resources in stack 'prod'." in result.stdout


def _write_stack(tmp_path: Path, mutate: dict[str, object]) -> Path:
    doc = yaml.safe_load((STACKS / "Pulumi.dev.yaml").read_text())
    doc["config"]["bascule:services"][0]["health_check"].update(mutate)
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def test_malformed_service_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Run as a real process: exit code, stderr and no traceback are what CI sees."""
    stacks = _write_stack(tmp_path, {"interval_seconds": 15})
    exe = shutil.which("bascule", path=str(Path(sys.executable).parent)) or "bascule"
    proc = subprocess.run(
        [exe, "plan", "--stack", "bad", "--stacks-dir", str(stacks)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "300"},
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"error: {stacks}/Pulumi.bad.yaml: service 'checkout': health_check.interval_seconds: "
        "Route 53 checks every 10 or 30 seconds, not 15"
    ]


def test_missing_stack_file() -> None:
    result = runner.invoke(app, ["plan", "--stack", "nope", "--stacks-dir", str(STACKS)])
    assert result.exit_code == 2
    assert "Pulumi.nope.yaml: no such stack file" in result.stderr


def test_plan_json_carries_inputs_with_secrets_redacted() -> None:
    result = runner.invoke(app, ["plan", "--stack", "selfhosted-dns", "--format", "json", "--stacks-dir", str(STACKS)])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    inputs = record["inputs"]
    assert (inputs["name"], inputs["rtype"], inputs["zone"]) == ("ledger.bank.example.eu", "LUA", "bank.example.eu")
    assert inputs["api_key"] == "[secret]"
    assert "placeholder-encrypted-by-pulumi" not in result.stdout


def test_plan_json_shows_what_each_health_check_sends() -> None:
    result = runner.invoke(app, ["plan", "--stack", "tm", "--format", "json", "--stacks-dir", str(STACKS)])
    assert result.exit_code == 0, result.output
    (profile,) = [r for r in json.loads(result.stdout) if r["type"] == "azure-native:trafficmanager:Profile"]
    assert profile["inputs"]["monitorConfig"]["customHeaders"] == [
        {"name": "Host", "value": "checkout.shop.example.eu"}
    ]


def test_a_stack_warning_is_printed_once_with_its_prefix_also_when_quiet() -> None:
    """The command warns from the spec and the program logs the same through Pulumi's mock engine: one line.

    A real process: pytest's own log capture would hide the program's bare copy from an in-process run."""
    for command in ("plan", "check"):
        result = subprocess.run(
            [sys.executable, "-m", "bascule.cli", command, "--stack", "single-region", "-q", "--stacks-dir", str(STACKS)],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert result.returncode == (0 if command == "plan" else 1), result.stderr
        assert result.stderr.splitlines() == [
            "warning: service 'payments': secondary: in the primary's provider and region, aws eu-west-3 "
            "(allowed by allow_same_region): one regional outage takes both"
        ]


README_PROGRAM = ROOT / "tests" / "programs" / "readme_team"


def test_a_programs_spec_warns_as_a_stack_files_does(tmp_path: Path) -> None:
    """A spec built in a program with `allow_same_region` warns once through `plan` and `check` (the component
    logs it), as the same spec in a stack file does; `check` still fails it for a critical service."""
    shutil.copytree(README_PROGRAM, tmp_path / "team")
    main = tmp_path / "team" / "__main__.py"
    text = main.read_text().replace('provider="azure", region="francecentral"', 'provider="aws", region="eu-west-3"')
    main.write_text(text.replace("    rto_seconds=60,", "    rto_seconds=60,\n    allow_same_region=True,"))
    for command in ("plan", "check"):
        result = subprocess.run([sys.executable, "-m", "bascule.cli", command, "--program", str(tmp_path / "team"), "-q"],
                                capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
        assert result.returncode == (0 if command == "plan" else 1), result.stderr
        assert result.stderr.splitlines() == [
            "warning: service 'checkout': secondary: in the primary's provider and region, aws eu-west-3 "
            "(allowed by allow_same_region): one regional outage takes both"
        ]


def test_plan_program_like_check_program(tmp_path: Path) -> None:
    """`plan --program DIR --stack-config FILE` runs any Python program offline, named after its stack file."""
    config = tmp_path / "Pulumi.prod.yaml"
    config.write_text("config:\n  readme-team:health_port: '8443'\n")
    result = runner.invoke(app, ["plan", "--program", str(README_PROGRAM), "--stack-config", str(config), "-f", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    checks = [r for r in rows if r["type"] == "aws:route53/healthCheck:HealthCheck"]
    assert [c["name"] for c in checks] == ["checkout-dns-primary", "checkout-dns-secondary"]
    assert all(c["urn"].startswith("urn:pulumi:prod::readme-team::") and c["inputs"]["port"] == 8443 for c in checks)
    assert {r["service"] for r in rows} == {"checkout"}
    text = runner.invoke(app, ["plan", "--program", str(README_PROGRAM)])
    assert text.exit_code == 0, text.output
    assert "service checkout" in text.stdout and "resources in program 'readme-team'." in text.stdout
    named = runner.invoke(app, ["plan", "--program", str(README_PROGRAM), "--stack-config", str(config)])
    assert named.stdout.rstrip().endswith("resources in program 'readme-team' (stack 'prod').")
    both = runner.invoke(app, ["plan", "--program", str(README_PROGRAM), "--stack", "dev"])
    assert both.exit_code == 2 and "give exactly one input" in both.stderr


def test_resources_of_no_service_are_named_with_their_type_and_bounded(tmp_path: Path) -> None:
    """A team's project holds its own resources: each is named with its type (two named `prod` are told apart),
    and the text stops after `UNASSIGNED_SHOWN` of them; `-f json` keeps every one."""
    (tmp_path / "Pulumi.yaml").write_text("name: team\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi_aws as aws\n"
        "aws.ec2.Vpc('prod', cidr_block='10.0.0.0/16')\n"
        "aws.s3.BucketV2('prod')\n"
        "for i in range(30):\n"
        "    aws.s3.BucketV2(f'logs-{i}')\n"
    )
    result = runner.invoke(app, ["plan", "--program", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stdout.splitlines() if "belong to no service" in x]
    assert line.startswith(
        "32 resources belong to no service: prod (aws:ec2/vpc:Vpc), prod (aws:s3/bucketV2:BucketV2), "
    )
    assert line.endswith(f"and {32 - UNASSIGNED_SHOWN} more") and line.count("(aws:") == UNASSIGNED_SHOWN
    rows = json.loads(runner.invoke(app, ["plan", "--program", str(tmp_path), "-f", "json"]).stdout)
    assert len(rows) == 32


def test_plan_program_dot_names_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from inside the project, as a team does: the last line names the project (Pulumi.yaml's `name`, not the
    folder's `readme_team`), not '.'."""
    monkeypatch.chdir(README_PROGRAM)
    result = runner.invoke(app, ["plan", "--program", "."])
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("resources in program 'readme-team'.")


def test_a_spec_error_in_a_program_is_one_line_at_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `ServiceSpec` built in a program with a bad value: one line naming the service, the field and the reason,
    at the program's file and line (not pydantic's "1 validation error for ServiceSpec"); the folder by its path
    even when given as `.`."""
    project = tmp_path / "team"
    project.mkdir()
    shutil.copy(README_PROGRAM / "Pulumi.yaml", project)
    source = (README_PROGRAM / "__main__.py").read_text()
    (project / "__main__.py").write_text(source.replace("interval_seconds=10", "interval_seconds=15"))
    line = source.splitlines().index("spec = ServiceSpec(") + 1
    monkeypatch.chdir(project)
    for command, program in (("plan", str(project)), ("check", str(project)), ("plan", "."), ("check", ".")):
        result = runner.invoke(app, [command, "--program", program])
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines() == [
            f"error: {project}: the program failed offline: service 'checkout': health_check.interval_seconds: "
            f"Route 53 checks every 10 or 30 seconds, not 15 (at {project / '__main__.py'}:{line})"
        ]
