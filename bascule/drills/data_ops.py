"""A data operation (`bascule data promote` or `failback`) from lock to record, and its recovery.

The operation takes the same lock as a drill of its target (the sandbox folder, or the stack), so a drill and a
promotion never act on one pair at once, and writes that lock's record before it changes anything: killed part way,
it leaves the lock, and `bascule drill recover` runs the same operation again to finish it (every step checks
whether it is done: `bascule.data.operations`). Running the operation again by hand does the same: a lock left by a
dead data operation on the same target is taken over. A dry run takes no lock and writes no journal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bascule.data import (
    FAILBACK,
    PROMOTE,
    DataPair,
    DataRefused,
    OperationResult,
    failback,
    pair_from_state,
    promote,
)
from bascule.data.operations import OnStep
from bascule.drills.control import ControlError, sandbox_lock_key
from bascule.drills.journal import Journal, Redactor
from bascule.drills.lock import DrillLock, LockHeld, StaleLock
from bascule.drills.stack_control import make_backend, stack_lock_key
from bascule.sandbox import Sandbox, SandboxError

DATA_KIND = "data-operation"
"""A lock's control `kind` for a data operation (a drill's are `sandbox` and `pulumi-stack`)."""


class OperationLocked(Exception):
    """Another drill or data operation holds the target (or a killed drill left it): exit 3."""


@dataclass(frozen=True)
class DataTarget:
    """Where a pair comes from, so recovery can find it again: the sandbox in `sandbox_dir`, or `service` of the
    deployed `stack` of the Pulumi project in `cwd`."""

    sandbox_dir: str | None = None
    stack: str | None = None
    cwd: str | None = None
    service: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"sandbox_dir": self.sandbox_dir, "stack": self.stack, "cwd": self.cwd, "service": self.service}

    def lock_key(self) -> str:
        """The key a drill of the same target takes (`SandboxControl`, `PulumiStackControl`)."""
        if self.sandbox_dir is not None:
            return sandbox_lock_key(Path(self.sandbox_dir))
        return stack_lock_key(Path(self.cwd or "."), str(self.stack))

    def pair(self) -> DataPair:
        """The pair, from the sandbox's state or the stack's (`pulumi stack export --show-secrets` through the
        Automation API, as the drills read a stack). Raises `SandboxError`, `ControlError` (`CliMissing`: no Pulumi
        CLI) or `PairStateError` (the state has no usable `bascule_data`)."""
        if self.sandbox_dir is not None:
            sandbox = Sandbox.load(Path(self.sandbox_dir))
            if sandbox is None:
                raise SandboxError(f"no sandbox in {self.sandbox_dir}; start one with `bascule sandbox up --data`")
            return sandbox.data_pair()
        backend = make_backend(str(self.stack), Path(self.cwd or "."))
        return pair_from_state(backend.resources(), str(self.stack), self.service)

    @classmethod
    def from_description(cls, raw: dict[str, Any]) -> DataTarget:
        values = {k: raw.get(k) for k in ("sandbox_dir", "stack", "cwd", "service")}
        if not all(v is None or isinstance(v, str) for v in values.values()):
            raise ControlError("the data operation's lock names no usable target")
        return cls(**values)


def run_operation(
    operation: str,
    target: DataTarget,
    pair: DataPair,
    journal_path: Path,
    locks: Path,
    force_reason: str | None = None,
    on_step: OnStep | None = None,
) -> OperationResult:
    """Run `operation` (promote, failback) on `pair` under the target's lock, journalled to `journal_path`.

    The lock is released when the operation ends or is refused; it stays when a step fails or the process is stopped
    part way, for `bascule drill recover` (or the same operation run again). Raises `OperationLocked`, and what the
    operation raises (`DataRefused`, `StepFailed`); `OSError` when the journal cannot be written.
    """
    lock = DrillLock(locks, target.lock_key())
    record = {"journal": str(journal_path.resolve()), "fault": operation, "owned_sandbox": False,
              "control": {"kind": DATA_KIND, "operation": operation, "target": target.describe(),
                          "force_reason": force_reason}}  # fmt: skip
    try:
        lock.acquire(record)
    except LockHeld as exc:
        raise OperationLocked(str(exc)) from None
    except StaleLock as exc:
        if (exc.info.get("control") or {}).get("kind") != DATA_KIND:
            raise OperationLocked(str(exc)) from None
        lock.release()  # a dead data operation on this target: this one takes over, and finishes its work too
        lock.acquire(record)
    journal = Journal(journal_path, Redactor(pair.secrets()))
    act: Callable[..., OperationResult] = promote if operation == PROMOTE else failback
    kwargs: dict[str, Any] = {"force_reason": force_reason} if operation == PROMOTE else {}
    try:
        result = act(pair, journal, on_step=on_step, **kwargs)
    except DataRefused:
        lock.release()  # refused before any change: nothing to finish
        raise
    finally:
        journal.close()
    lock.release()
    return result


def finish(info: dict[str, Any], on_step: OnStep | None = None) -> OperationResult:
    """Run again the data operation a lock records (`bascule drill recover`); the caller removes the lock."""
    control = dict(info.get("control") or {})
    operation = control.get("operation")
    if operation not in (PROMOTE, FAILBACK):
        raise ControlError(f"the data operation's lock names no operation it knows ({operation!r})")
    target = DataTarget.from_description(dict(control.get("target") or {}))
    pair = target.pair()
    journal = Journal(Path(str(info.get("journal") or "data-journal.jsonl")), Redactor(pair.secrets()))
    try:
        journal.append("recovering", by="bascule drill recover", operation=operation)
        if operation == PROMOTE:
            reason = control.get("force_reason")
            return promote(pair, journal, force_reason=reason if isinstance(reason, str) else None, on_step=on_step)
        return failback(pair, journal, on_step=on_step)
    finally:
        journal.close()
