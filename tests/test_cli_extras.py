"""A command whose optional library is not installed names the extra to install (exit 2), never a traceback."""

from __future__ import annotations

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
