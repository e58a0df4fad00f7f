"""Whether a process still runs: the sandbox's children and the pids held in drill locks."""

from __future__ import annotations

import os
from pathlib import Path

_GONE_STATES = {"Z", "X", "x"}
"""/proc/PID/stat states of a process that has exited: zombie (not yet reaped) and dead."""


def _state(pid: int) -> str | None:
    """The one-letter scheduler state from /proc/PID/stat, or None where /proc cannot tell.

    The command name (field 2) is in parentheses and may itself hold spaces or parentheses, so the state
    is read after the last ')'. See proc_pid_stat(5).
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    _, _, rest = raw.rpartition(b")")
    fields = rest.split()
    return fields[0].decode(errors="replace") if fields else None


def alive(pid: int | None) -> bool:
    """True while `pid` runs. A zombie has exited: it is reaped if it is our child, and counts as gone either way.

    kill(pid, 0) succeeds on a zombie, and a zombie whose parent is another process (a sandbox site started by
    `bascule sandbox up`, then killed by a drill) stays one until that parent reaps it; counting it as alive made
    restore skip restarting a site that was down, and made the drill wait for it to "die".
    """
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return _state(pid) not in _GONE_STATES
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: only /proc can tell a zombie from a running process
        return _state(pid) not in _GONE_STATES
    return done == 0
