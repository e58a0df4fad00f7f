"""Whether a process still runs, and whether it is still the one Bascule started: the sandbox's children and the
pids held in drill locks.

A pid alone names a process only while it runs: after it exits (or after a reboot) the kernel hands the number to
another process. A pid written to a file (sandbox `state.json`, a drill lock) is therefore stored with an
`identity` token taken when the process started, and nothing is signalled, nor a lock counted as held, unless
`is_same` proves the pid still names that process.
"""

from __future__ import annotations

import os
from pathlib import Path

_GONE_STATES = {"Z", "X", "x"}
"""/proc/PID/stat states of a process that has exited: zombie (not yet reaped) and dead."""


def _stat_fields(pid: int) -> list[bytes]:
    """/proc/PID/stat from field 3 on (state, ppid, ...), or [] where /proc cannot tell.

    The command name (field 2) is in parentheses and may itself hold spaces or parentheses, so the fields are
    read after the last ')'. See proc_pid_stat(5).
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return []
    _, _, rest = raw.rpartition(b")")
    return rest.split()


def _state(pid: int) -> str | None:
    """The one-letter scheduler state from /proc/PID/stat, or None where /proc cannot tell."""
    fields = _stat_fields(pid)
    return fields[0].decode(errors="replace") if fields else None


_STARTTIME = 22 - 3
"""proc_pid_stat(5) field 22, `starttime` (clock ticks after boot), in the fields that `_stat_fields` returns."""


def identity(pid: int) -> str | None:
    """A token naming process `pid` and no other, ever: this boot's id and the process's start time.

    Two processes of one boot never share a pid and a start time; `boot_id` changes at every reboot, so a pid
    written before a reboot never matches a process of the next one. None where /proc cannot tell (not Linux, the
    process is gone): then nothing can prove a pid is the one recorded, and `is_same` says no.
    """
    fields = _stat_fields(pid)
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None
    if len(fields) <= _STARTTIME or not fields[_STARTTIME].isdigit():
        return None
    return f"{boot}:{fields[_STARTTIME].decode()}"


def is_same(pid: int | None, token: object) -> bool:
    """True while `pid` runs and is the process `token` (its `identity` when it started) was taken from.

    False for a dead pid, a pid now held by another process, and a pid recorded without a token (a file from an
    older Bascule, or a hand-edited one): a process that cannot be proven to be ours is never signalled.
    """
    return isinstance(token, str) and bool(token) and alive(pid) and pid is not None and identity(pid) == token


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


def group_running(pgid: int) -> list[int]:
    """The processes of process group `pgid` that still run (zombies count as gone), from /proc; [] where /proc
    cannot tell. A sandbox process is started as the leader of its own group (its own session), so its children
    (PostgreSQL's backends, a site's workers) are in it too, and a group id is never reused while one of them runs:
    what is listed here was started under the process that Bascule started."""
    found = []
    wanted = str(pgid).encode()
    try:
        entries = [entry.name for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        fields = _stat_fields(int(name))  # state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == wanted and fields[0].decode(errors="replace") not in _GONE_STATES:
            found.append(int(name))
    return found
