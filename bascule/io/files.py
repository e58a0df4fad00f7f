"""Writing files so that a reader never sees half of one: a crash leaves the old content or the new, not a mix; and
whether a path can be written at all, asked before any work is done."""

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


def unwritable(path: Path, *, folder: bool) -> str | None:
    """Why `path` cannot be written as a folder (`folder`: created with its parents when missing) or as a file (its
    folder created when missing); None when it can. Nothing is created: asked before a command does any work, so a
    report, a lock or a register that cannot be written is refused up front, not found out after a drill.

    Writable means `access(2)` says so for this process (root included) and the file system is not mounted
    read-only; a missing path is judged by its nearest existing ancestor, which must be a folder.
    """
    if "\0" in str(path):
        return "is not a path (it holds a NUL character)"
    try:
        if path.is_symlink() and not path.exists():
            return "is a broken symbolic link"
        if path.is_dir():
            return _cannot_create_in(path) if folder else "is a folder, not a file"
        if path.exists():
            if folder:
                return "is a file, not a folder"
            return None if os.access(path, os.W_OK) else _denied(path)
        ancestor = next(p for p in path.absolute().parents if p.exists())
        if not ancestor.is_dir():
            return f"cannot be created: {ancestor} is a file, not a folder"
        longest = os.pathconf(ancestor, "PC_NAME_MAX")
        if any(len(os.fsencode(part)) > longest for part in path.absolute().relative_to(ancestor).parts):
            return f"cannot be created: a name in it is longer than {longest} bytes"
        problem = _cannot_create_in(ancestor)
        return f"cannot be created: {ancestor} {problem}" if problem else None
    except OSError as exc:  # a loop of links, a folder that may not be looked into
        return exc.strerror or str(exc)


def _cannot_create_in(folder: Path) -> str | None:
    return None if os.access(folder, os.W_OK | os.X_OK) else _denied(folder)


def _denied(path: Path) -> str:
    read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    return "is on a read-only file system" if read_only else "is not writable (permission denied)"
