"""The sandbox a local drill runs on: the one running in the chosen folder, or a new one the drill owns.

A drill's own sandbox is locked *before* it starts, and its processes are in its state file as they start, so a
drill killed at any moment leaves a record recovery (`recovery.recover_lock`) uses to stop them and delete its
folder (`bascule.sandbox.ownership`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from pathlib import Path
from typing import Any

from bascule.drills.control import sandbox_description, sandbox_lock_key
from bascule.drills.lock import DrillLock
from bascule.sandbox import Sandbox, SandboxError, SandboxRefused, SandboxService, default_state_dir
from bascule.sandbox.ownership import discard_own_sandbox, new_own_sandbox_dir
from bascule.sandbox.settings import setting_differences


def drill_sandbox(
    directory: Path | None,
    settings: SandboxService,
    cleanup: ExitStack,
    locks: Path,
    lock_info: dict[str, Any],
    data: bool = False,
    warn: Callable[[str], None] = lambda _text: None,
    starting: Callable[[str], AbstractContextManager[object]] | None = None,
    acme: bool = False,
    backups: bool = False,
) -> tuple[Sandbox, DrillLock | None]:
    """The running sandbox, or a new one this drill owns, with the lock that records it (else None).

    A sandbox that exists but is partly down is refused (`SandboxRefused`): drilling a temporary one instead would
    report on a target nobody asked about. A named folder without a sandbox, or a running sandbox without the
    databases a data drill needs or the ACME certificate `acme` asks for, is a `SandboxError`. A sandbox of its own
    is stopped, its folder deleted and its lock released by `cleanup`, in that order, each process waited for until
    it is gone (what outlives SIGKILL is said through `warn`). `warn` also hears that a running sandbox has other
    settings than asked; `starting(message)` wraps the start of an own sandbox (progress, a spinner).
    """
    named = directory is not None
    directory = directory or default_state_dir()
    existing = Sandbox.load(directory)
    if existing is not None:
        if not existing.running():
            down = sorted(name for name in existing.state.pids if not existing.process_alive(name))
            raise SandboxRefused(
                f"the sandbox in {directory} is not fully running ({', '.join(down) or 'processes missing'} down); "
                "if a drill was killed, `bascule drill recover` restores it, else restart it with "
                "`bascule sandbox down` and `bascule sandbox up`"
            )
        if data and existing.state.data is None:
            raise SandboxError(f"--data: the running sandbox in {directory} has no databases; `bascule sandbox down`, "
                               "then `bascule sandbox up --data`")  # fmt: skip
        if backups and existing.state.backup is None:
            raise SandboxError(f"--fault corruption: the running sandbox in {directory} has no backup store; `bascule "
                               "sandbox down`, then `bascule sandbox up --data --backups`")  # fmt: skip
        if acme and existing.state.acme is None:
            raise SandboxError(f"--acme: the running sandbox in {directory} has no ACME certificate; `bascule sandbox "
                               "down`, then `bascule sandbox up --acme`")  # fmt: skip
        if existing.state.service != settings:
            running, asked = setting_differences(existing.state.service, settings)
            warn(f"the sandbox in {directory} already runs with {running}, not {asked}: this drill uses the "
                 "running sandbox's; `bascule sandbox down` first to drill with the other ones")  # fmt: skip
        return existing, None
    if named:
        raise SandboxError(f"no sandbox in {directory}; start one with `bascule sandbox up`, "
                           "or leave out --sandbox-dir and the drill starts its own")  # fmt: skip
    temp = new_own_sandbox_dir()
    lock = DrillLock(locks, sandbox_lock_key(temp))
    lock.acquire({**lock_info, "control": sandbox_description(temp), "owned_sandbox": True})
    cleanup.callback(lock.release)  # registered first, so it runs after the sandbox is stopped
    cleanup.callback(discard_own_sandbox, temp)  # after the sandbox stopped: logs, sockets, its CA's keys
    extra = (" + two PostgreSQL clusters" if data else "") + (" + an ACME server" if acme else "")
    extra += " + an S3 object store" if backups else ""
    message = f"starting a sandbox for this drill (PowerDNS + two loopback sites{extra})…"
    with starting(message) if starting else nullcontext():
        sandbox = Sandbox.start(temp, settings, data=data, acme=acme, backups=backups)
    cleanup.callback(_stop, sandbox, warn)
    return sandbox, lock


def _stop(sandbox: Sandbox, warn: Callable[[str], None]) -> None:
    """Stop the drill's own sandbox; it returns once its processes are gone, and says what outlived SIGKILL."""
    for line in sandbox.stop():
        warn(line)
