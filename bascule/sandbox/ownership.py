"""Which sandbox a drill started for itself, and so may stop and delete: only a folder named like one.

A drill without a running sandbox starts its own in a fresh temporary folder; the folder's name is the mark
(`OWN_SANDBOX_PREFIX`) that lets the drill, or `bascule drill recover` reading a lock file, remove it afterwards
without ever deleting a folder somebody else chose.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

OWN_SANDBOX_PREFIX = "bascule-sandbox-"
"""The folder name a drill gives the sandbox it starts for itself: the only kind of folder a drill deletes."""


def new_own_sandbox_dir() -> Path:
    """A fresh temporary folder for a sandbox a drill starts and owns."""
    return Path(tempfile.mkdtemp(prefix=OWN_SANDBOX_PREFIX))


def discard_own_sandbox(directory: Path) -> None:
    """Remove the temporary folder of a sandbox a drill started and stopped, so none piles up in the temp dir.

    The path may come from a lock file, which is input: anything not named like a drill's own sandbox is kept.
    """
    if directory.name.startswith(OWN_SANDBOX_PREFIX) and directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)
