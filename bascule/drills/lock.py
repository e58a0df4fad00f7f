"""One drill per target at a time, and a record of what a killed drill left behind.

The lock file holds the drill's pid (with its `identity`, so a pid the kernel has since given to another process is
not taken for the drill), journal and control description: a live drill means "busy", a dead one means "killed
mid-drill", which only `bascule drill recover` clears, after restoring.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from bascule.io.files import create_atomic
from bascule.io.processes import alive, identity, is_same


class LockHeld(Exception):
    pass


class StaleLock(Exception):
    def __init__(self, message: str, info: dict[str, Any]):
        super().__init__(message)
        self.info = info


def default_lock_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bascule" / "locks"


class DrillLock:
    def __init__(self, directory: Path, key: str):
        self.key = key
        self.path = directory / (hashlib.sha256(key.encode()).hexdigest()[:16] + ".lock")

    def acquire(self, info: dict[str, Any]) -> None:
        """Take the lock, or raise LockHeld (a live drill) or StaleLock (a dead one, or an unreadable lock).

        The record is complete before the name exists (`create_atomic`), so no reader ever sees an empty lock
        from this version; one left by a crash elsewhere (disk full, an older Bascule) is stale, not busy.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"key": self.key, "pid": os.getpid(), "pid_identity": identity(os.getpid()), **info}
        try:
            create_atomic(self.path, json.dumps(record, allow_nan=False))
        except FileExistsError:
            held = read_lock(self.path)
            pid = held["pid"]
            if holder_running(held):
                raise LockHeld(
                    f"another drill (pid {pid}, journal {held.get('journal')}) is running on {self.key}"
                ) from None
            raise StaleLock(
                f"a drill on {self.key} (pid {pid}) ended without releasing its lock; "
                "run `bascule drill recover` to restore what it left and clear the lock",
                held,
            ) from None

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def holder_running(info: dict[str, Any]) -> bool:
    """The drill that wrote this lock record still runs: its pid is alive and still names that drill's process.

    A lock whose pid now belongs to another process (the drill was killed, the number reused; or a reboot) is stale,
    not busy, or it would block drills on its target forever. A record without `pid_identity` (an older Bascule)
    can only be judged by its pid.
    """
    pid, token = info.get("pid"), info.get("pid_identity")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return False
    return is_same(pid, token) if token is not None else alive(pid)


UNREADABLE = "unreadable lock"


def read_lock(path: Path) -> dict[str, Any]:
    """The lock's record; an empty, torn or foreign file reads as an unreadable lock held by no process."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int) or isinstance(data.get("pid"), bool):
        return {"key": UNREADABLE, "pid": 0, "path": str(path)}
    return data


def list_locks(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    if not directory.is_dir():
        return []
    return [(p, read_lock(p)) for p in sorted(directory.glob("*.lock"))]
