"""The built wheel, installed as a team would: a fresh venv outside the repository, only the extras it names.

Slow (2-4 min: PyPI resolves pulumi, pulumi-aws and pulumi-gcp into the venv), marked `wheel`; it runs in the
default suite and in CI. Select it alone with `pytest -m wheel`.
"""

from __future__ import annotations

import os
import re
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

    def bascule(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = CLEAN_ENV | {"XDG_CACHE_HOME": str(cwd / "cache")}
        return subprocess.run([str(self.path / "bin" / "bascule"), *args], capture_output=True, text=True,
                              cwd=cwd, env=env, timeout=300, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """The wheel built from this checkout, installed with the `aws` extra alone into a venv of its own."""
    work = tmp_path_factory.mktemp("wheel")
    assert not work.is_relative_to(ROOT)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
                   check=True, timeout=PIP_TIMEOUT, capture_output=True)  # fmt: skip
    (wheel,) = (work / "dist").glob("bascule-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=120, env=CLEAN_ENV)
    env = Venv(work / "venv", wheel)
    env.pip_install("aws")
    return env


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
