"""The policy pack and the GitHub Action in a team's own project, exercised for real.

`bascule policy-pack init` must produce a folder whose `__main__.py` the Pulumi engine can start: the analyzer it
serves is asked over gRPC, as the engine would. The composite action's check step is run with bash, as a runner
would run it, against this repository's program.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2

from bascule import __version__
from bascule.policies.pack import PACK_NAME
from bascule.policies.rules import RULES
from tests.conftest import serve_pack
from tests.test_wheel import CLEAN_ENV

ROOT = Path(__file__).resolve().parent.parent
BASCULE = [sys.executable, "-m", "bascule.cli"]
VALIDATOR = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASCULE, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    proc = cli("policy-pack", "init", str(tmp_path / "pack"))
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "pack"


def test_init_writes_a_pack_that_names_its_vendored_wheel_and_never_overwrites_silently(pack: Path) -> None:
    assert sorted(p.name for p in pack.iterdir()) == [
        ".gitignore", "PulumiPolicy.yaml", "__main__.py", "policy-config.example.json", "requirements.txt", "wheels"
    ]  # fmt: skip
    assert "venv/" in (pack / ".gitignore").read_text().splitlines()  # the virtualenv Pulumi makes there
    wheel = f"bascule-{__version__}-py3-none-any.whl"
    assert (pack / "wheels" / wheel).is_file()
    assert f"./wheels/{wheel}" in (pack / "requirements.txt").read_text().splitlines()
    manifest = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    again = cli("policy-pack", "init", str(pack))
    assert again.returncode == 2 and "already there; nothing written" in again.stderr
    (pack / ".gitignore").write_text("team's own\n")
    assert cli("policy-pack", "init", str(pack), "--force").returncode == 0
    assert (pack / ".gitignore").read_text() == "team's own\n"  # theirs, never overwritten


@pytest.fixture
def served(pack: Path) -> Iterator[Any]:
    with serve_pack(sys.executable, pack) as analyzer:
        yield analyzer


def test_the_initialised_pack_is_served_to_the_engine(served: Any) -> None:
    info = served.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME
    assert sorted(p.name for p in info.policies) == sorted(r.id for r in RULES)


def test_action_manifest_is_valid() -> None:
    result = subprocess.run([VALIDATOR, "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _check_step() -> str:
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    (step,) = [s for s in steps if s.get("id") == "check"]
    return str(step["run"])


def run_action(tmp_path: Path, stack_config: str, fail_on: str) -> tuple[int, dict[str, str]]:
    """The action's check step under bash, with the runner's files and the venv the install step would make."""
    runner = tmp_path / f"runner-{fail_on}"
    (runner / "bascule-venv" / "bin").mkdir(parents=True)
    (runner / "bascule-venv" / "bin" / "bascule").symlink_to(Path(sys.executable).parent / "bascule")
    env = {
        **os.environ, "RUNNER_TEMP": str(runner), "GITHUB_OUTPUT": str(runner / "output"),
        "GITHUB_STEP_SUMMARY": str(runner / "summary"), "PROGRAM_DIR": str(ROOT), "STACK_CONFIG": stack_config,
        "POLICY_CONFIG": "", "WAIVERS": "", "FORMAT": "text", "FAIL_ON": fail_on,
    }  # fmt: skip
    proc = subprocess.run(["bash", "-e", "-c", _check_step()], env=env, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    outputs = (
        dict(line.split("=", 1) for line in (runner / "output").read_text().splitlines())
        if (runner / "output").exists()
        else {}
    )
    return proc.returncode, outputs


def test_action_fails_on_a_mandatory_violation(tmp_path: Path) -> None:
    code, outputs = run_action(tmp_path, str(ROOT / "stacks" / "Pulumi.single-region.yaml"), "mandatory")
    assert code == 1 and outputs["mandatory"] == "1"
    assert Path(outputs["sarif"]).is_file()
    reports = Path(outputs["reports"])
    assert sorted(p.name for p in reports.iterdir()) == [
        "bascule.json", "bascule.junit.xml", "bascule.sarif", "bascule.txt"]  # fmt: skip
    assert json.loads((reports / "bascule.json").read_text())["summary"]["mandatory"] == 1


def test_action_runs_the_program_once() -> None:
    assert _check_step().count('"$bascule"') == 1


def test_action_fail_on_decides_for_advisories(tmp_path: Path) -> None:
    """The gcp example has one advisory (its Route 53 zone is given by id): it fails only with fail-on advisory."""
    config = str(ROOT / "stacks" / "Pulumi.gcp.yaml")
    code, outputs = run_action(tmp_path, config, "mandatory")
    assert code == 0 and (outputs["mandatory"], outputs["advisory"]) == ("0", "1")
    code, _ = run_action(tmp_path, config, "advisory")
    assert code == 1


# --- waivers and enforcement from the pack's policy config, over gRPC as the engine asks -------------------------

TEAM_PROGRAM = """
import pulumi
import pulumi_aws as aws

paris = pulumi.ResourceOptions(provider=aws.Provider("paris", region="eu-west-3"))
for name in ("ledger", "billing"):  # two critical workloads, each in one region
    tags = {"workload": name, "criticality": "critical"}
    cluster = aws.ecs.Cluster(name, tags=tags, opts=paris)
    aws.ecs.Service(name, cluster=cluster.arn, desired_count=2, tags=tags, opts=paris)
"""


def _team_project(tmp_path: Path) -> Path:
    project = tmp_path / "team"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: team\nruntime:\n  name: python\n")
    (project / "__main__.py").write_text(TEAM_PROGRAM)
    return project


def test_the_pack_honours_the_waivers_and_levels_of_its_config_as_check_does(pack: Path, tmp_path: Path) -> None:
    """One policy config in the pack folder, naming a waivers file there: the pack (served, configured and asked
    over gRPC as Pulumi's engine does) and `bascule check --config` block the same finding and waive the same one;
    the EU-provider rule, off by default, is on because its enforcementLevel is set."""
    from bascule.offline.engine import load_program_dir, run_offline
    from tests.test_policies import analyze_stack_request, engine_configure

    (pack / "waivers.yaml").write_text(
        "waivers:\n  - rule: bascule-single-region\n    workload: ledger\n    reason: exit plan signed off\n"
        "    owner: platform-team\n    expires: 2999-01-01\n"
    )
    config = {"bascule-single-region": {"waivers": "waivers.yaml"}, "bascule-eu-provider": "mandatory",
              "bascule-rto-budget": {"defaultRtoSeconds": 300}}  # fmt: skip
    (pack / "policy-config.json").write_text(json.dumps(config))
    project = _team_project(tmp_path)
    name, main = load_program_dir(project)
    run = run_offline(main, {}, project=name, stack="offline")

    with serve_pack(sys.executable, pack) as analyzer:
        analyzer.Configure(engine_configure(config), timeout=30)
        response = analyzer.AnalyzeStack(analyze_stack_request(run.resources), timeout=60)
    mandatory = analyzer_pb2.MANDATORY
    from_pack = {(d.policyName, d.urn) for d in response.diagnostics if d.enforcementLevel == mandatory}
    assert {rule for rule, _ in from_pack} == {"bascule-single-region", "bascule-eu-provider"}
    assert [urn for rule, urn in from_pack if rule == "bascule-single-region"] == [
        next(r.urn for r in run.resources if r.type == "aws:ecs/service:Service" and r.name == "billing")
    ]

    proc = cli("check", "--program", str(project), "--config", str(pack / "policy-config.json"), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    results = json.loads(proc.stdout)["results"]
    from_check = {(r["rule"], r["urn"]) for r in results if r["status"] == "mandatory"}
    assert from_check == from_pack
    (waived,) = [r for r in results if r["status"] == "waived"]
    assert waived["workload"] == "ledger" and waived["waiver"]["owner"] == "platform-team"


@pytest.mark.wheel
def test_the_pack_from_a_source_checkout_installs_from_its_folder_alone(pack: Path, tmp_path: Path) -> None:
    """Bascule run from this checkout (editable or PYTHONPATH): the vendored wheel is built from the source tree; a
    fresh venv installs the pack's requirements from inside the pack folder and serves the pack."""
    from tests.test_wheel import fresh_pack_python

    with serve_pack(str(fresh_pack_python(pack, tmp_path / "venv")), pack, CLEAN_ENV) as analyzer:
        info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME and len(info.policies) == len(RULES)
