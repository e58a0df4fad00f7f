"""The repository's GitHub workflows are valid against GitHub's workflow schema (vendored, offline)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKFLOWS = sorted((Path(__file__).parent.parent / ".github" / "workflows").glob("*.yml"))
VALIDATOR = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or "check-jsonschema"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VALIDATOR, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_workflow_is_valid(workflow: Path) -> None:
    result = validate(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: [push]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: nope\n")
    assert validate(broken).returncode != 0


def test_there_are_workflows() -> None:
    assert len(WORKFLOWS) >= 1


@pytest.mark.parametrize("path", [*WORKFLOWS, WORKFLOWS[0].parent.parent.parent / "action.yml"],
                         ids=lambda p: p.name)  # fmt: skip
def test_every_action_is_pinned_by_commit_with_its_tag_named(path: Path) -> None:
    """A job with write access and cloud credentials runs third-party code: a tag can be moved, a commit cannot
    (https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-third-party-actions)."""
    uses = [line for line in path.read_text().splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert uses
    for line in uses:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+$", line), line
