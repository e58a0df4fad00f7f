"""One drill from lock to record: take the lock, open the journal, run, keep or release the lock, write the reports
and the history row. `bascule drill` parses its options, calls `drill_session` and prints the result.

Restore never waits on the disk: the journal does not raise once it fails (`Journal.write_error`), and whether the
lock is kept for `drill recover` is decided from what the drill did (the kinds it appended, in memory), not from
what reached the file. Stop requests (SIGTERM, SIGINT) stay recorded, not fatal, until the reports and the history
row are written, so a stop during the last failback round or during the writing still leaves both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bascule.drills import history
from bascule.drills.control import DrillControl
from bascule.drills.data import DataDrill
from bascule.drills.journal import Journal, JournalError, Redactor, read_journal
from bascule.drills.lock import DrillLock, LockHeld, StaleLock
from bascule.drills.plan import DrillPlan
from bascule.drills.report import EXIT_FAIL, EXIT_REFUSED, write_reports
from bascule.drills.runner import (
    DrillInterrupted,
    Progress,
    Watch,
    run_drill,
    signals_interrupt,
    stop_requested,
)

EXIT_BAD_INPUT = 2


class SessionError(Exception):
    """The drill could not start (lock held, journal not writable): one line per problem and the exit code."""

    def __init__(self, lines: list[str], exit_code: int):
        super().__init__("; ".join(lines))
        self.lines = lines
        self.exit_code = exit_code


@dataclass
class SessionResult:
    reports: Path
    summary: dict[str, Any] | None
    """report.json's summary; None when the reports could not be written (see `problems`)."""
    exit_code: int
    lock_kept: bool = False
    """The fault may still be in place: the lock stays for `bascule drill recover`."""
    history_file: Path | None = None
    interrupted: str | None = None
    """The stop asked for (SIGTERM, SIGINT), if any."""
    problems: list[str] = field(default_factory=list)
    """What could not be recorded (journal, reports, history) and why."""


def drill_session(
    plan: DrillPlan,
    control: DrillControl,
    reports: Path,
    locks: Path,
    lock_info: dict[str, Any],
    redact: Redactor,
    progress: Progress,
    watch: Watch | None = None,
    lock: DrillLock | None = None,
    data_drill: Callable[[Journal], DataDrill] | None = None,
    history_dir: Path | None = None,
) -> SessionResult:
    """Run `plan` on `control`, writing into `reports`. `lock`: the lock of a sandbox this drill started (its
    caller stops the sandbox and releases it); otherwise the control's lock is taken in `locks` here.

    Raises `SessionError` before anything is injected (lock held or stale: exit 3; journal not writable: exit 2).
    """
    owned = lock is not None
    if lock is None:
        lock = DrillLock(locks, control.lock_key())
        try:
            lock.acquire({**lock_info, "control": control.describe(), "owned_sandbox": False})
        except (LockHeld, StaleLock) as exc:
            raise SessionError([str(exc)], EXIT_REFUSED) from None
        except OSError as exc:
            raise SessionError([f"--lock-dir {locks}: cannot write the drill lock: {exc.strerror or exc}"],
                               EXIT_BAD_INPUT) from None  # fmt: skip
    result = SessionResult(reports, None, EXIT_FAIL)
    try:
        try:
            journal = Journal(reports / "journal.jsonl", redact)
        except (OSError, JournalError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SessionError([f"--out {reports}: cannot write the drill journal: {reason}"],
                               EXIT_BAD_INPUT) from None  # fmt: skip
        with signals_interrupt():
            try:
                run_drill(plan, control, journal, progress, data_drill(journal) if data_drill else None, watch)
            except (KeyboardInterrupt, DrillInterrupted) as exc:
                result.interrupted = str(exc) or "SIGINT"
            finally:
                journal.close()
                # Kept when the fault may still be in place: the lock is what `drill recover` finds. An own
                # sandbox's lock is its caller's: it stops the sandbox, then releases the lock.
                result.lock_kept = not owned and "inject" in journal.kinds and "restored" not in journal.kinds
                if not owned and not result.lock_kept:
                    lock.release()  # before the records are written: a kill while writing leaves no lock
            _write_records(result, journal, history_dir)
            late = stop_requested()
            if late and result.interrupted is None:
                result.interrupted = late
                result.problems.append(f"{late} arrived after the drill ended: the reports and the history row "
                                       "were written first")  # fmt: skip
    finally:
        # Whatever failed before, during or after the run (a bug included), the lock goes unless the fault may be
        # in place: a lock left by a drill that injected nothing would block its target until `drill recover`.
        if not owned and not result.lock_kept:
            lock.release()
    if result.summary is not None and result.interrupted is None and journal.write_error is None:
        result.exit_code = int(result.summary["exit_code"])
    return result


def _write_records(result: SessionResult, journal: Journal, history_dir: Path | None) -> None:
    """report.json/md/html and the history row, from the journal on disk; a problem is noted, never raised."""
    if journal.write_error is not None:
        restored = "restored" in journal.kinds or "inject" not in journal.kinds
        result.problems.append(
            f"the journal could not be written ({journal.write_error}; {journal.unwritten} more events lost): no "
            f"report; {'nothing is left in place' if restored else 'the fault may still be in place'}"
        )
        return
    try:
        result.summary = write_reports(result.reports, read_journal(journal.path))
    except OSError as exc:
        result.problems.append(f"reports not written to {result.reports}: {exc.strerror or exc}")
        return
    if history_dir is not None:
        try:
            result.history_file = history.append(history_dir, result.summary, result.reports)
        except OSError as exc:
            result.problems.append(f"--history {history_dir}: row not appended: {exc.strerror or exc}")
