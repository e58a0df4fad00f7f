"""Recovery of drills that were killed: restore the fault a lock's drill left, note it in its journal, clear the lock.

A lock records the drill's control as a description (`DrillControl.describe()`); `control_from_description`
turns it back into a control of the right kind, so recovery needs no knowledge of what the target was. This module
is the one place that knows every kind of control, which keeps `control` (the interface and the sandbox's control)
free of `stack_control` and the Pulumi machinery.

Nothing here prints: each lock's outcome goes to an `on_outcome` callback, other progress to `progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bascule.data import DataError, DataRefused
from bascule.drills.canary_undo import drop_leftover, rows_may_be_missing, undo
from bascule.drills.control import ControlError, DrillControl, SandboxControl
from bascule.drills.data_ops import DATA_KIND, finish
from bascule.drills.journal import Journal, JournalError, read_journal
from bascule.drills.lock import UNREADABLE, DrillLock, holder_running, list_locks, read_lock
from bascule.drills.plan import Fault
from bascule.drills.report import write_reports
from bascule.drills.stack_control import Progress, PulumiStackControl, make_backend
from bascule.io.documents import InputError
from bascule.sandbox import PRIMARY, Sandbox, SandboxError
from bascule.sandbox.database import DatabaseError
from bascule.sandbox.ownership import discard_own_sandbox


@dataclass(frozen=True)
class Outcome:
    """What recovery did for one lock (or one stack): `outcome` is a stable word scripts read, `message` a sentence.

    Words: removed-unreadable, running, never-ran, restored, nothing-to-restore, sandbox-stopped, data-finished (an
    interrupted `bascule data promote` or `failback` run again to its end), error (the target could not be restored;
    the lock is kept), stack-clean, stack-cleared, nothing; from the dead-man switch (`dead_man`): drill-in-progress,
    expired-restored.
    """

    key: Any
    outcome: str
    message: str
    lock: Path | None = None

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "lock": str(self.lock) if self.lock else None, "outcome": self.outcome,
                "message": self.message}  # fmt: skip


OnOutcome = Callable[[Outcome], None]


def _quiet(_line: str) -> None:
    """The default progress: none."""


def _field(description: dict[str, Any], name: str) -> str:
    value = description.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(f"the drill lock's control has no '{name}'; it cannot say what to restore")
    return value


def _sandbox_from(description: dict[str, Any], _progress: Progress) -> DrillControl:
    directory = _field(description, "directory")
    sandbox = Sandbox.load(Path(directory))
    if sandbox is None:
        raise ControlError(f"sandbox in {directory} is gone; nothing left to restore there")
    return SandboxControl(sandbox)


def _stack_from(description: dict[str, Any], progress: Progress) -> DrillControl:
    stack, work_dir = _field(description, "stack"), Path(_field(description, "work_dir"))
    backend = make_backend(stack, work_dir)
    return PulumiStackControl(backend, stack, work_dir, _field(description, "service"), progress,
                              data=description.get("data") is True)  # fmt: skip


CONTROL_KINDS: dict[str, Callable[[dict[str, Any], Progress], DrillControl]] = {
    "sandbox": _sandbox_from,
    "pulumi-stack": _stack_from,
}
"""A lock's control `kind` -> how to rebuild that control from its description."""


def control_from_description(description: dict[str, Any], progress: Progress = _quiet) -> DrillControl:
    """The control a lock describes; `ControlError` for an unknown kind or a target that is gone."""
    kind = description.get("kind")
    if kind not in CONTROL_KINDS:
        raise ControlError(f"unknown control kind {kind!r} in the drill lock")
    return CONTROL_KINDS[kind](description, progress)


def recover_locks(lock_dir: Path, on_outcome: OnOutcome, progress: Progress = _quiet) -> bool:
    """Recover every killed drill whose lock is in `lock_dir`; False when a target could not be restored.

    Stops at the first target that cannot be restored: its lock, and those after it, are kept for the next run.
    """
    return all(recover_lock(path, info, on_outcome, progress) for path, info in list_locks(lock_dir))


def recover_lock(path: Path, info: dict[str, Any], on_outcome: OnOutcome, progress: Progress = _quiet) -> bool:
    """Restore and clear one lock; False when its target could not be restored (the lock is kept).

    A lock of a live drill is left alone. Raises `JournalError` when the drill's journal is unreadable.
    """
    key = info.get("key")

    def done(outcome: str, message: str) -> None:
        on_outcome(Outcome(key, outcome, message, path))

    if key == UNREADABLE:
        # Locks are written whole before they appear, so an unreadable one was never a drill's record: no
        # drill could have injected a fault under it. It names no target, so there is nothing to restore.
        path.unlink(missing_ok=True)
        done("removed-unreadable", f"{path}: removed an unreadable lock (empty or torn); it named no drill, "
             "nothing to restore")  # fmt: skip
        return True
    pid = info.get("pid", 0)
    if holder_running(info):
        done("running", f"drill pid {pid} on {key} is still running; leaving it alone")
        return True
    if (info.get("control") or {}).get("kind") == DATA_KIND:
        return _finish_data(path, info, done, progress)
    journal_path = Path(str(info.get("journal", "")))
    events = read_journal(journal_path) if journal_path.is_file() else []
    kinds = {e["kind"] for e in events}
    try:
        try:
            control = control_from_description(dict(info.get("control") or {}), progress)
        except ControlError:
            if not info.get("owned_sandbox"):
                raise
            # Killed before the sandbox it was starting wrote its state: no process of it was recorded
            # because none had started (each is recorded as it starts).
            done("never-ran", f"{key}: the sandbox that drill was starting never ran; nothing to stop")
            discard_own_sandbox(Path(str((info.get("control") or {}).get("directory", ""))))
            _note_recovered(journal_path, events, path, False, progress)
            path.unlink(missing_ok=True)
            return True
        fault = info.get("fault")
        restore_drill = control if fault == Fault.CORRUPTION.value and isinstance(control, SandboxControl) else None
        # A restore drill is decided by its saved rows, not by `inject` (whose line its disk may have refused).
        needs_restore = (rows_may_be_missing(kinds) if fault == Fault.CORRUPTION.value
                         else "inject" in kinds and not kinds & {"restored", "recovered"})  # fmt: skip
        undone: dict[str, Any] = {}
        if needs_restore:
            message = f"restored {key} after a killed drill"
            if restore_drill is not None:
                undone["rows"], what = _undo_corruption(restore_drill, events)
                message += f": {what}"
            # Restore converges whatever the fault was, so an unknown one in the lock is no obstacle.
            control.restore(Fault(fault) if fault in [f.value for f in Fault] else Fault.SWITCH)
            done("restored", message)
        elif restore_drill is not None and (dropped := _undo_corruption(restore_drill, events, rows=False)[1]):
            # Killed after its repair and before its drop: the full copy of the database stays otherwise.
            done("restored", f"restored {key} after a killed drill: {dropped}")
        else:
            done("nothing-to-restore", f"{key}: the killed drill had nothing left to restore")
        if info.get("owned_sandbox") and isinstance(control, SandboxControl):
            left = control.sandbox.stop()
            discard_own_sandbox(control.sandbox.dir)
            done("sandbox-stopped", f"stopped the sandbox that drill had started ({control.sandbox.dir})"
                 + "".join(f"; {line}" for line in left))  # fmt: skip
        _note_recovered(journal_path, events, path, needs_restore, progress, **undone)
    except (ControlError, SandboxError) as exc:
        done("error", str(exc))
        return False
    path.unlink(missing_ok=True)
    return True


def _undo_corruption(control: SandboxControl, events: list[dict[str, Any]], rows: bool = True) -> tuple[int, str]:
    """A killed restore drill's rows put back from its journal and its leftover fresh database dropped
    (`canary_undo`), on the sandbox's primary; with `rows` False only the drop (the drill had repaired the primary),
    its sentence empty when there was nothing to drop."""
    data = control.sandbox.state.data
    if data is None:
        raise ControlError(f"sandbox in {control.sandbox.dir} has no databases: the restore drill's rows cannot be "
                           "put back")  # fmt: skip
    try:
        if not rows:
            return 0, drop_leftover(data.clusters[PRIMARY], events) or ""
        return undo(data.clusters[PRIMARY], events)
    except (ValueError, psycopg.Error, DatabaseError) as exc:
        raise ControlError(f"the restore drill could not be undone from its journal: {exc}") from exc


def _finish_data(path: Path, info: dict[str, Any], done: Callable[[str, str], None], progress: Progress) -> bool:
    """Run a killed data operation again to its end (each of its steps skips what is done); the lock goes once it
    has finished, and stays when it cannot be (the message says why)."""
    operation = str((info.get("control") or {}).get("operation"))
    try:
        result = finish(info, lambda step: progress(f"{step.step} on {step.where}: {step.status} {step.detail}"))
    except (DataRefused, DataError, ControlError, SandboxError, InputError, psycopg.Error) as exc:
        done("error", f"the interrupted data {operation} could not be finished: {exc}")
        return False
    path.unlink(missing_ok=True)
    done("data-finished", f"{info.get('key')}: finished the interrupted data {operation} ({result.outcome})")
    return True


def _note_recovered(
    journal_path: Path, events: list[dict[str, Any]], lock: Path, restored: bool, progress: Progress, **extra: Any
) -> None:
    """Finish the killed drill's record: a `recovered` event and reports rebuilt, so its report says what happened.

    Best effort, after the restore: a full disk or a read-only folder costs the record, never the recovery (the
    lock is cleared all the same, and `progress` says what could not be written)."""
    if not events or any(e["kind"] in ("end", "recovered") for e in events):
        return
    try:
        journal = Journal(journal_path)
        journal.append("recovered", by="bascule drill recover", lock=str(lock), restored=restored, **extra)
        journal.close()
        if journal.write_error is not None:
            raise OSError(journal.write_error)
        write_reports(journal_path.parent, read_journal(journal_path))
    except (OSError, ValueError, JournalError) as exc:  # a damaged journal: `JournalError`, `DamagedJournal`
        progress(f"the drill's journal and report in {journal_path.parent} were not updated: {exc}")
        return
    progress(f"report updated in {journal_path.parent}")


def recover_stack(
    control: PulumiStackControl,
    on_outcome: OnOutcome,
    busy: Callable[[str], AbstractContextManager[object]] = lambda _message: nullcontext(),
) -> None:
    """Clear a leftover `bascule:drill` on the control's stack (a drill on a machine that is gone) and update it.

    Works without a lock: the marker is read from the stack itself. `busy(message)` wraps the update (a spinner);
    raises `ControlError` when the update fails.
    """
    stack = control.stack
    marker = control.marker()
    if marker is None:
        on_outcome(Outcome(f"stack {stack}", "stack-clean", f"stack '{stack}': no bascule:drill set, nothing to clear"))
        return
    now = datetime.now(UTC)
    with busy(f"stack '{stack}': removing bascule:drill and updating the stack"):
        # An unreadable fault: restore clears the config whatever fault it held. An update still holding the stack
        # is cancelled only past the marker's deadline (the drill that started it is dead or overdue).
        control.restore(marker.fault or Fault.SWITCH, cancel_running=marker.expired(now))
    cleared = f"stack '{stack}': bascule:drill ({marker.describe(now)}) removed and the stack updated"
    on_outcome(Outcome(f"stack {stack}", "stack-cleared", cleared))


def dead_man(
    control: PulumiStackControl,
    lock_dir: Path,
    on_outcome: OnOutcome,
    busy: Callable[[str], AbstractContextManager[object]] = lambda _message: nullcontext(),
    now: datetime | None = None,
) -> bool:
    """The dead-man switch, run by every scheduled job on a stack: restore it when its drill marker is past its
    deadline and no drill of this machine holds the stack's lock. True when the stack is (or was made) clean of
    expired drills; False when a marker without a deadline (an older Bascule's) or a live drill was left alone.

    Raises `ControlError` when the restore fails (the marker stays for the next job).
    """
    now = now or datetime.now(UTC)
    marker = control.marker()
    key = f"stack {control.stack}"
    if marker is None:
        return True
    if not marker.expired(now):
        on_outcome(Outcome(key, "drill-in-progress", f"stack '{control.stack}': drill {marker.describe(now)}; "
                           "left alone until its deadline"))  # fmt: skip
        return marker.deadline is not None
    lock = DrillLock(lock_dir, control.lock_key())
    holder = read_lock(lock.path) if lock.path.exists() else None
    if holder is not None and holder_running(holder):
        on_outcome(Outcome(key, "running", f"stack '{control.stack}': drill {marker.describe(now)}, but its drill "
                           f"(pid {holder['pid']}) is still running here; leaving it alone"))  # fmt: skip
        return False
    with busy(f"stack '{control.stack}': drill past its deadline; restoring"):
        control.restore(marker.fault or Fault.SWITCH, cancel_running=True)
    on_outcome(Outcome(key, "expired-restored", f"stack '{control.stack}': drill {marker.describe(now)}: "
                       "restored by the dead-man switch (bascule:drill removed and the stack updated)"))  # fmt: skip
    return True
