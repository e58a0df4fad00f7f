"""Which sandbox a drill started for itself, and so may stop and delete: only a folder it can prove it created.

A drill without a running sandbox starts its own in a fresh temporary folder, and writes a marker file into it
the moment it exists (`OWN_SANDBOX_MARKER`). Only a folder holding that marker is ever deleted, by the drill or by
`bascule drill recover` reading a lock file (which is input, and may name any folder): a folder a user made, even
one named like a drill's (`bascule-sandbox-*`), has no marker and is kept, with everything in it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

OWN_SANDBOX_PREFIX = "bascule-sandbox-"
"""The folder name a drill gives the sandbox it starts for itself."""
OWN_SANDBOX_MARKER = ".bascule-own-sandbox"
"""The file a drill writes into its own sandbox's folder as it creates it: the proof that lets it delete the folder."""
_MARKER_TEXT = "created by `bascule drill` for a sandbox of its own; the drill deletes this folder when it ends\n"


def new_own_sandbox_dir() -> Path:
    """A fresh temporary folder for a sandbox a drill starts and owns, marked as the drill's."""
    directory = Path(tempfile.mkdtemp(prefix=OWN_SANDBOX_PREFIX))
    (directory / OWN_SANDBOX_MARKER).write_text(_MARKER_TEXT, encoding="utf-8")
    return directory


def is_own_sandbox(directory: Path) -> bool:
    """`directory` is a folder (not a link to one) that a drill created for its own sandbox: it holds the marker,
    a regular file with the marker's text, and is named like one."""
    try:
        folder = os.lstat(directory)
        marker = os.lstat(directory / OWN_SANDBOX_MARKER)
    except OSError:
        return False
    if not (stat.S_ISDIR(folder.st_mode) and stat.S_ISREG(marker.st_mode)) or marker.st_size > 4096:
        return False
    try:
        text = (directory / OWN_SANDBOX_MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return directory.name.startswith(OWN_SANDBOX_PREFIX) and text == _MARKER_TEXT


def discard_own_sandbox(directory: Path) -> None:
    """Remove the temporary folder of a sandbox a drill started and stopped, so none piles up in the temp dir.

    The path may come from a lock file, which is input: a folder without the marker is kept.
    """
    if is_own_sandbox(directory):
        shutil.rmtree(directory, ignore_errors=True)
