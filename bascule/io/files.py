"""Writing files so that a reader never sees half of one: a crash leaves the old content or the new, not a mix."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _temp_with(path: Path, text: str) -> Path:
    """A synced temporary file beside `path` (same file system, so rename and link are atomic) holding `text`."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step (write a temporary file, then rename it over the target)."""
    temp = _temp_with(path, text)
    try:
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def create_atomic(path: Path, text: str) -> None:
    """Create `path` holding `text`, failing with FileExistsError if it exists; never visible empty or partial.

    The content is written to a temporary file first and then hard-linked to the name: link(2) fails if the
    name exists, which gives the exclusivity O_EXCL gave, without the window where the file exists but is empty.
    """
    temp = _temp_with(path, text)
    try:
        os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def repair_tail(path: Path) -> int:
    """Cut a torn last line (a writer killed mid-write) so the next record starts on a line of its own.

    Appending after a torn line would glue the new record onto it, and both would be lost. Returns how
    many bytes were dropped, so the caller can record it (the journal does). For append-only line files only.
    """
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        handle.truncate(keep)
        return len(data) - keep
