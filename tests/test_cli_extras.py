"""A command whose optional library is not installed names the extra to install (exit 2), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Runs the CLI with the library made unimportable (None in sys.modules), as on an install without the extra.
RUN = """
import sys
sys.modules[{lib!r}] = None
from bascule.cli.app import main
sys.argv = ["bascule", *{args!r}]
main()
"""


@pytest.mark.parametrize(
    ("lib", "args", "extra"),
    [
        ("apprise", ["watch", "--local", "--once"], "watch"),
        ("apprise", ["drill", "--local", "--dry-run", "--notify", "json://127.0.0.1:9/"], "watch"),
        ("boto3", ["backup", "list", "--local"], "backup"),
    ],
)
def test_a_missing_optional_library_names_its_extra(lib: str, args: list[str], extra: str) -> None:
    done = subprocess.run([sys.executable, "-c", RUN.format(lib=lib, args=args)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"pip install 'bascule[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr


# Every library an extra brings, made unimportable by a finder ahead of all others (as on `pip install bascule[aws]`);
# then `--help` of every command and subcommand, the tree walked from the real app.
HELP_EVERYWHERE = """
import contextlib, io, json, sys
EXTRAS_ONLY = {"apprise", "prometheus_client", "boto3", "botocore", "s3transfer", "pyrage", "moto", "flask"}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in EXTRAS_ONLY:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
from bascule.cli.app import _COMMANDS, _load, app
codes = {}
def run(words):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as errors:
        try:
            app([*words, "--help"], prog_name="bascule")
            code = 0
        except SystemExit as exc:
            code = exc.code
    codes[" ".join(words)] = [code, errors.getvalue().strip()]
def walk(words, command):
    run(words)
    for name, child in getattr(command, "commands", {}).items():
        walk([*words, name], child)
for name in _COMMANDS:
    try:
        command = _load(name)
    except SystemExit:
        command = None
    walk([name], command)
print(json.dumps(codes))
"""


def test_help_works_without_any_extra() -> None:
    """`--help` never needs an extra: `bascule watch --help` said "prometheus_client is not installed" (exit 2).
    The missing extra is named when the command runs (the test above), not when its help is read."""
    done = subprocess.run([sys.executable, "-c", HELP_EVERYWHERE], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    codes = json.loads(done.stdout)
    assert {"watch", "backup", "backup list", "backup restore", "incident show"} <= set(codes)
    failed = {words: found for words, found in codes.items() if found[0] not in (0, None)}
    assert not failed, failed
