"""The built wheel, installed as a team would: a fresh venv outside the repository, only the extras it names; and a
team's own project (tests/projects/existing-service) copied out and checked, planned and drilled from its folder.

Slow (3-5 min: the wheel is built once, then PyPI resolves pulumi, pulumi-aws and pulumi-gcp into two venvs), marked
`wheel`; it runs in the default suite and in CI. Select it alone with `pytest -m wheel`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import empty_pb2

from bascule import __version__
from bascule.policies.pack import PACK_NAME
from tests.conftest import serve_pack
from tests.test_cli_check import _export

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "aws-gcp-failover"
PIP_TIMEOUT = 900
# No PYTHONPATH: the installed wheel, never this checkout (nor its egg-info, which pip would take as installed).
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


class Venv:
    def __init__(self, path: Path, wheel: Path):
        self.path = path
        self.wheel = wheel
        self.python = path / "bin" / "python"

    def pip_install(self, extras: str) -> None:
        subprocess.run([str(self.python), "-m", "pip", "install", "-q", f"{self.wheel}[{extras}]"],
                       check=True, timeout=PIP_TIMEOUT, capture_output=True, env=CLEAN_ENV)  # fmt: skip

    def importable(self, module: str) -> bool:
        probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
        return subprocess.run([str(self.python), "-c", probe], env=CLEAN_ENV, timeout=60, check=False).returncode == 0

    def bascule(self, *args: str, cwd: Path, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = CLEAN_ENV | {"XDG_CACHE_HOME": str(cache or cwd / "cache")}
        return subprocess.run([str(self.path / "bin" / "bascule"), *args], capture_output=True, text=True,
                              cwd=cwd, env=env, timeout=300, check=False)  # fmt: skip


def fresh_venv(where: Path, wheel: Path, extras: str) -> Venv:
    """A new venv at `where` (outside the repository) with the wheel and `extras` installed from it."""
    assert not where.is_relative_to(ROOT)
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120, env=CLEAN_ENV)
    env = Venv(where, wheel)
    env.pip_install(extras)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, once for every test here."""
    work = tmp_path_factory.mktemp("wheel")
    assert not work.is_relative_to(ROOT)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
                   check=True, timeout=PIP_TIMEOUT, capture_output=True)  # fmt: skip
    (built,) = (work / "dist").glob("bascule-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The wheel installed with the `aws` extra alone into a venv of its own."""
    return fresh_venv(tmp_path_factory.mktemp("aws-only") / "venv", wheel, "aws")


def test_wheel_ships_the_linked_packages_and_their_data(venv: Venv) -> None:
    names = set(zipfile.ZipFile(venv.wheel).namelist())
    for name in ("bascule/py.typed", "bascule/components/service.py", "bascule/components/py.typed",
                 "bascule/policies/PulumiPolicy.yaml", "bascule/policies/policy-config.example.json",
                 "bascule/policies/__main__.py", "bascule/audit/templates/audit.html.j2",
                 "bascule/drills/templates/report.html.j2"):  # fmt: skip
        assert name in names
    metadata = zipfile.ZipFile(venv.wheel).read(f"bascule-{__version__}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()


def test_core_install_has_no_sdk_of_a_cloud_it_was_not_asked_for(venv: Venv) -> None:
    assert venv.importable("pulumi_aws")
    assert not venv.importable("pulumi_azure_native")


def test_version(venv: Venv, tmp_path: Path) -> None:
    proc = venv.bascule("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert __version__ in proc.stdout


def test_an_aws_only_stack_plans_with_the_aws_extra_alone(venv: Venv, tmp_path: Path) -> None:
    proc = venv.bascule("plan", "--stack", "single-region", "--stacks-dir", str(ROOT / "stacks"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "resources in stack 'single-region'" in proc.stdout


def test_an_aws_only_export_checks_with_the_aws_extra_alone(venv: Venv, tmp_path: Path) -> None:
    proc = venv.bascule("check", "--export", str(_export(tmp_path, "single-region")), cwd=tmp_path)
    # The stack is single-region on purpose: the check ran and found it.
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"\d+ resources checked against \d+ rules: 1 mandatory", proc.stdout), proc.stdout


def test_a_missing_extra_is_one_line_naming_it_then_the_example_checks_once_installed(
    venv: Venv, tmp_path: Path
) -> None:
    """The example's standby is on GCP: without the gcp extra the SDK import in the user's program fails first;
    a stack file with a GCP site gets Bascule's own line naming the extra."""
    assert not venv.importable("pulumi_gcp")
    missing = venv.bascule("check", "--stack", "dev", "--stacks-dir", str(ROOT / "stacks"), cwd=tmp_path)
    assert missing.returncode != 0
    assert "Traceback" not in missing.stderr
    assert "site kind 'gcp' needs the gcp extra: pip install 'bascule[gcp]'" in missing.stderr
    venv.pip_install("aws,gcp")
    proc = venv.bascule("check", "--program", str(EXAMPLE), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\d+ resources checked .* PASS", proc.stdout), proc.stdout


def fresh_pack_python(pack: Path, where: Path) -> Path:
    """A new venv with only the pack's requirements, installed as Pulumi does: `pip install -r requirements.txt` run
    in the pack folder (dependencies from PyPI, Bascule from the wheel in the folder). Its Python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120, env=CLEAN_ENV)
    python = where / "bin" / "python"
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=pack,
                          capture_output=True, text=True, timeout=PIP_TIMEOUT, env=CLEAN_ENV, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return python


@pytest.fixture
def served_pack(venv: Venv, tmp_path: Path) -> Iterator[Any]:
    """`bascule policy-pack init` from the installed wheel (the vendored wheel rebuilt from its RECORD), installed
    from the pack folder alone into a fresh venv whose Python starts the pack's `__main__.py`."""
    init = venv.bascule("policy-pack", "init", str(tmp_path / "pack"), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    (vendored,) = (tmp_path / "pack" / "wheels").glob("bascule-*.whl")
    shipped = {n for n in zipfile.ZipFile(venv.wheel).namelist() if not n.endswith(("/RECORD", "/direct_url.json"))}
    assert shipped <= set(zipfile.ZipFile(vendored).namelist())  # every file of the original wheel, nothing lost
    python = fresh_pack_python(tmp_path / "pack", tmp_path / "pack-venv")
    with serve_pack(str(python), tmp_path / "pack", CLEAN_ENV) as analyzer:
        yield analyzer


def test_the_pack_initialised_from_the_wheel_installs_from_its_folder_and_is_served(served_pack: Any) -> None:
    info = served_pack.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME
    assert len(info.policies) > 0


# --- A team's own Pulumi project, as the team works with it -------------------------------------------------------
PROJECT = ROOT / "tests" / "projects" / "existing-service"
SERVICE = "urn:pulumi:prod::checkout-platform::bascule:service:FailoverService"
ROUTE53 = f"{SERVICE}$bascule:dns:Route53Failover"


def project_extras(requirements: Path) -> str:
    """The extras the project's requirements.txt asks of Bascule (`bascule[aws,gcp]` -> `aws,gcp`)."""
    (line,) = [ln for ln in requirements.read_text().splitlines() if ln.strip().startswith("bascule")]
    found = re.fullmatch(r"\s*bascule\[([a-z,]+)\]\s*", line)
    assert found, line
    return found[1]


@pytest.fixture(scope="module")
def team(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Venv, Path]:
    """The project copied out of the repository, and a fresh venv with the wheel and the extras the project's
    requirements.txt names: what a team has after `pip install` in its own checkout."""
    work = tmp_path_factory.mktemp("team")
    project = work / "checkout-platform"
    shutil.copytree(PROJECT, project)
    return fresh_venv(work / "venv", wheel, project_extras(project / "requirements.txt")), project


def _files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def _run(team: tuple[Venv, Path], *args: str) -> subprocess.CompletedProcess[str]:
    """`bascule ARGS` from inside the project folder, its cache outside; the folder is left as it was."""
    env, project = team
    before = _files(project)
    proc = env.bascule(*args, cwd=project, cache=project.parent / "cache")
    assert _files(project) == before, "bascule wrote into the team's project folder"
    return proc


def test_the_team_s_project_checks_from_its_own_folder(team: tuple[Venv, Path]) -> None:
    proc = _run(team, "check", "--program", ".", "--stack-config", "Pulumi.prod.yaml", "-f", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["mandatory"] == 0 and report["summary"]["exit_code"] == 0
    assert report["summary"]["resources"] >= 40  # the team's own resources and Bascule's
    # The one finding: the switch runs on the primary's provider (Route 53 beside an AWS primary), advised against.
    assert [(r["rule"], r["status"], r["urn"]) for r in report["results"]] == [
        ("bascule-dns-on-primary-provider", "advisory", f"{ROUTE53}$aws:route53/record:Record::checkout-dns-primary")
    ]


def test_the_team_s_project_plans_from_its_own_folder(team: tuple[Venv, Path]) -> None:
    proc = _run(team, "plan", "--program", ".", "--stack-config", "Pulumi.prod.yaml", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    bascule = [r for r in rows if r["service"] == "checkout"]
    # Nothing is created at the team's load balancer: the primary is its ALB, answered by an alias in its zone.
    assert {(r["role"], r["cloud"]) for r in bascule} == {("secondary", "gcp"), ("dns", "aws")}
    by_name = {r["name"]: r for r in rows}
    alb, zone = by_name["web"]["inputs"], by_name["shop"]["inputs"]
    primary = by_name["checkout-dns-primary"]["inputs"]
    assert primary["failoverRoutingPolicies"] == [{"type": "PRIMARY"}] and primary["zoneId"] == zone["zoneId"]
    assert primary["aliases"] == [{"name": alb["dnsName"], "zoneId": alb["zoneId"], "evaluateTargetHealth": True}]
    # The standby goes through the stack's default gcp provider, in the spec's project and region.
    standby = [r for r in bascule if r["cloud"] == "gcp"]
    assert standby and all(r["inputs"]["project"] == "shop-dr-eu" for r in standby)
    assert {r["region"] for r in standby} == {"europe-west9", "global"}
    assert not [r for r in rows if r["type"].startswith("pulumi:providers:")]
    text = _run(team, "plan", "--program", ".", "--stack-config", "Pulumi.prod.yaml")
    assert text.returncode == 0, text.stderr
    assert f"{len(rows)} resources in program 'checkout-platform' (stack 'prod')." in text.stdout.splitlines()


def test_the_team_s_project_lists_each_drill_s_resources_from_its_own_folder(team: tuple[Venv, Path]) -> None:
    proc = _run(team, "drill", "--stack", "prod", "--dry-run", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    levers = json.loads(proc.stdout)
    assert (levers["stack"], levers["work_dir"]) == ("prod", str(team[1].resolve()))
    (service,) = levers["services"]
    faults = {f["fault"]: f for f in service["faults"]}
    assert service["service"] == "checkout" and set(faults) == {"health", "outage", "switch"}
    record = f"{ROUTE53}$aws:route53/record:Record::checkout-dns-primary"
    check = f"{ROUTE53}$aws:route53/healthCheck:HealthCheck::checkout-dns-primary-drill"
    rule = f"{SERVICE}$bascule:aws:AwsAlbSite$aws:lb/listenerRule:ListenerRule::checkout-primary-drill-health"
    assert [r["urn"] for r in faults["health"]["resources"]] == [rule, check, record, SERVICE + "::checkout"]
    assert [r["urn"] for r in faults["switch"]["resources"]] == [
        check,
        f"{check}-child",
        record,
        SERVICE + "::checkout",
    ]
    # Bascule does not own the capacity of the team's ECS service: the program's own line says why, at its file.
    assert "'outage' cannot be injected into 'checkout'" in faults["outage"]["refused"]
    assert str(team[1] / "__main__.py") in faults["outage"]["refused"]
