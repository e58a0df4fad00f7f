"""Properties for the classes of hostile input and fault issue 24 (and issue 21's first-use items) found by hand.

Each class is a property over every member the suite can enumerate or generate, so the next variant is found by
the suite, not by a user: every command into a closed pipe; every option's help; any float for a seconds target;
stale and reused pids; dates, binaries and duplicate keys in stack config; trailing newlines, control, bidi and
surrogate characters in every user-facing spec string; damaged files Bascule wrote itself; untrusted text in
Markdown, terminal and XML output.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bascule.cli.app import _COMMANDS, _load, app
from bascule.cli.common import seconds_target

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
PROFILE = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _command_paths() -> list[list[str]]:
    """Every command and subcommand, as the words that name it on the command line."""
    found: list[list[str]] = [[]]

    def walk(words: list[str], command: Any) -> None:
        found.append(words)
        for name, child in getattr(command, "commands", {}).items():
            walk([*words, name], child)

    for name in _COMMANDS:
        walk([name], _load(name))
    return found


COMMANDS = _command_paths()


# --- 21.7: a closed stdout ends quietly with exit 0 ----------------------------------------------------------------


def _into_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    """`bascule ARGS` with stdout a pipe whose reader has already gone, as after `| head -c 1`."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "bascule.cli", *args], stdout=write, stderr=subprocess.PIPE,
                              cwd=ROOT, timeout=300, check=False)  # fmt: skip
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        [*words, "--help"] for words in COMMANDS
    ] + [["--version"], ["plan", "--stack", "dev", "-f", "json"], ["plan", "--stack", "dev"],
         ["check", "--stack", "dev", "-f", "sarif"]],
    ids=lambda args: " ".join(args),
)  # fmt: skip
def test_every_command_into_a_closed_pipe_ends_quietly_with_exit_0(args: list[str]) -> None:
    proc = _into_closed_pipe(*args)
    assert (proc.returncode, proc.stderr.decode()) == (0, "")


def test_a_verdict_still_exits_1_when_stdout_is_open(tmp_path: Path) -> None:
    """Only a broken pipe becomes 0: an error's exit code is kept when the reader is still there."""
    proc = subprocess.run([sys.executable, "-m", "bascule.cli", "sandbox", "status", "--sandbox-dir", str(tmp_path)],
                          capture_output=True, cwd=ROOT, timeout=60, check=False)  # fmt: skip
    assert proc.returncode == 1 and b"no sandbox in" in proc.stderr


# --- 21.7: help shows no Python types ------------------------------------------------------------------------------

PYTHON_TYPES = re.compile(r"<[^>]*\b(?:str|bool|int|float|list|dict|Path|None)\b[^>]*>")


@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words) or "bascule")
def test_help_shows_no_python_types(words: list[str]) -> None:
    result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    options = result.output.split("Arguments")[0] if "Arguments" in result.output else result.output
    found = [line for line in options.splitlines() if PYTHON_TYPES.search(line) and "--" in line]
    assert not found, found


def test_sandbox_folder_has_one_flag_name_and_a_deprecated_alias(tmp_path: Path) -> None:
    new = runner.invoke(app, ["sandbox", "status", "--sandbox-dir", str(tmp_path)])
    old = runner.invoke(app, ["sandbox", "status", "--dir", str(tmp_path)])
    assert new.exit_code == old.exit_code == 1
    assert "deprecated: --dir will be removed; use --sandbox-dir" in old.stderr
    assert f"`bascule sandbox up --sandbox-dir {tmp_path}`" in old.stderr  # the hint carries the new name
    assert "--dir " not in runner.invoke(app, ["sandbox", "status", "--help"]).output


def test_default_sandbox_folder_is_per_checkout(tmp_path: Path) -> None:
    from bascule.sandbox import default_state_dir

    one, two = tmp_path / "one", tmp_path / "two"
    for clone in (one, two):
        (clone / ".git").mkdir(parents=True)
        (clone / "sub").mkdir()
    assert default_state_dir(one) == default_state_dir(one / "sub")
    assert default_state_dir(one) != default_state_dir(two)


# --- 24.6: a seconds target is finite and not negative -------------------------------------------------------------


@PROFILE
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_seconds_targets_are_finite_and_not_negative(value: float) -> None:
    if math.isfinite(value) and value >= 0:
        assert seconds_target(value) == value
    else:
        with pytest.raises(typer.BadParameter):
            seconds_target(value)


@pytest.mark.parametrize("flag", ["--rpo", "--rto"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "NaN"])
def test_bad_seconds_target_exits_2_naming_the_flag(flag: str, value: str) -> None:
    result = runner.invoke(app, ["drill", "--local", "--data", f"{flag}={value}"])
    assert result.exit_code == 2 and f"'{flag}'" in result.stderr, result.output
