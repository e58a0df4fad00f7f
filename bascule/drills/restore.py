"""The restore drill (`--fault corruption`): a logical disaster that replication cannot help with, answered by a backup.

Replication is not a backup: a `DELETE` without its `WHERE`, a bad migration or ransomware on the primary reaches
the standby within milliseconds. The drill shows it, on the sandbox's data standby and its backup store:

1. the newest complete backup of the sandbox's database (one is taken first when the store has none);
2. canary writes on the primary after that backup (the application goes on writing; a restore cannot bring them
   back: they are the writes lost since the backup);
3. the fault: every canary row (read and journalled just before) deleted on the primary (by id: a row committed
   meanwhile is not the drill's to delete), and the same rows seen gone on the standby;
4. the backup restored into a fresh database (download, sha256 against the manifest, decryption, pg_restore) and
   checked: every table's rows equal the manifest's, and every canary row it holds is the row the primary had;
5. the rows put back on the primary from the restored database, and the fresh database dropped.

The rows deleted at step 3 are journalled before the `DELETE` (`bascule.drills.canary_undo`): a drill that does not
reach step 5 (a backup that cannot be restored, SIGTERM or Ctrl-C, honoured between steps, a bug) puts them back
from what it saved, and `bascule drill recover` does the same from the journal when the process died.

Every step and figure goes to the journal; the report (`bascule.drills.report`) is derived from it alone. A backup
that is missing, altered or unreadable fails the drill, naming why.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg

from bascule.backup.backups import BackupError, Manifest, list_backups, restore, take
from bascule.backup.store import StoreError
from bascule.drills.canary_undo import (
    FRESH_DATABASE,
    FRESH_DROPPED,
    SAVED,
    canary_rows,
    drop_database,
    fresh_name,
    put_back,
    rows_may_be_missing,
)
from bascule.drills.data import preflight_pair
from bascule.drills.journal import Journal
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.runner import DrillInterrupted, Progress, checkpoint
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox, SandboxError
from bascule.sandbox import database as db

WRITES_AFTER_BACKUP = 10
"""Canary rows the drill commits on the primary after the backup: the writes a restore cannot bring back."""
REPLICATION_WAIT = 15.0
"""How long the standby may take to show the destructive change."""


def _newest(sandbox: Sandbox, journal: Journal, progress: Progress) -> Manifest:
    """The newest complete backup of the sandbox's database; one taken now if the store has none."""
    plan, store = sandbox.backup_plan(), sandbox.backup_store()
    database = plan.databases[0]
    listing = list_backups(store, plan.service, database)
    if listing.complete:
        return listing.complete[0]
    progress("no backup in the store yet: taking one")
    began = time.monotonic()
    manifest = take(store, plan.service, sandbox.backup_source(), [database], plan.recipient, plan.retention_days)[0]
    journal.append("backup-taken", key=manifest.key, take_s=round(time.monotonic() - began, 3))
    return manifest


def run_restore_drill(plan: DrillPlan, sandbox: Sandbox, journal: Journal, progress: Progress) -> None:
    """Run the restore drill on `sandbox` (with databases and a backup store); every outcome is journalled, nothing
    raised for a failed step (the report names it)."""
    journal.append("plan", plan=plan.as_json())
    if sandbox.state.data is None or sandbox.state.backup is None:
        journal.append("refused", reasons=[f"the sandbox in {sandbox.dir} has no databases or no backup store "
                                           "(start it with `bascule sandbox up --data --backups`)"])  # fmt: skip
        return
    problems = preflight_pair(sandbox.data_pair(), plan.rpo_seconds, journal)
    if problems:
        journal.append("refused", reasons=[f"data standby not ready: {p}" for p in problems])
        return
    primary = sandbox.state.data.clusters[PRIMARY]
    try:
        progress("finding the newest backup")
        manifest = _newest(sandbox, journal, progress)
    except (BackupError, StoreError, SandboxError) as exc:
        journal.append("backup-restore-failed", error=f"no backup to restore: {exc}")
        journal.append("end")
        return
    journal.append("backup", key=manifest.key, finished_at=manifest.finished_at, size_bytes=manifest.size_bytes,
                   row_counts=manifest.row_counts)  # fmt: skip
    with primary.connect() as conn:
        for _ in range(WRITES_AFTER_BACKUP):
            conn.execute("INSERT INTO canary (site) VALUES (%s)", (PRIMARY,))
            time.sleep(0.02)
        before = canary_rows(conn)
    journal.append("canary-writes", after_backup=WRITES_AFTER_BACKUP, rows_at_fault=len(before))
    try:
        checkpoint()
        # The undo's record, before anything is deleted: `drill recover` reads it if this process dies.
        journal.append(SAVED, rows=[[i, site, at] for i, (site, at) in before.items()])
        if journal.write_error is None:
            journal.append("inject", fault=plan.fault.value)
        if journal.write_error is not None:  # either line unwritten: `drill recover` could not see the fault
            journal.append("abort", phase="inject", reason=f"the journal cannot be written ({journal.write_error}): "
                           "nothing deleted")  # fmt: skip
            journal.append("end")
            return
        _fault_and_restore(sandbox, manifest, before, journal, progress)
    except (KeyboardInterrupt, DrillInterrupted) as exc:
        journal.append("interrupted", signal=str(exc) or "SIGINT", phase="restore")
        raise
    finally:
        if rows_may_be_missing(journal.kinds):
            _undo(primary, before, journal, progress)
    journal.append("end")


def _fault_and_restore(
    sandbox: Sandbox, manifest: Manifest, before: dict[int, tuple[str, str]], journal: Journal, progress: Progress
) -> None:
    """Steps 3 to 5: the fault, its arrival on the standby, the restore and its checks, the repair. A stop asked for
    (`runner.checkpoint`) is honoured between steps; the caller undoes the fault on every way out."""
    assert sandbox.state.data is not None and sandbox.state.backup is not None  # checked by the caller
    primary, standby = sandbox.state.data.clusters[PRIMARY], sandbox.state.data.clusters[SECONDARY]
    progress("fault: deleting every canary row on the primary")
    ids = list(before)
    # Exactly the rows journalled, not `DELETE FROM canary`: `before` was read in another transaction, and a row
    # committed since would be deleted unsaved, which neither the undo nor `drill recover` could put back. (A table
    # lock held from the read to the `DELETE` would also close that gap, but would stall the application's writes
    # for as long as the journal's fsync takes.)
    with primary.connect() as conn:
        deleted = conn.execute("DELETE FROM canary WHERE id = ANY(%s)", (ids,)).rowcount
    age = (datetime.now(UTC) - manifest.finished).total_seconds()
    injected = journal.append("injected", deleted_rows=deleted, backup_age_s=round(age, 3))
    deadline, remaining = time.monotonic() + REPLICATION_WAIT, None
    while time.monotonic() < deadline:
        checkpoint()
        with standby.connect() as conn:
            found = conn.execute("SELECT count(*) FROM canary WHERE id = ANY(%s)", (ids,)).fetchone()
            remaining = int(found[0]) if found else 0
        if remaining == 0:
            break
        time.sleep(0.05)
    journal.append("replicated", standby_rows=remaining, reached=remaining == 0,
                   after_s=round(time.monotonic() - injected["t"], 3))  # fmt: skip
    checkpoint()
    name = fresh_name()
    progress(f"restoring {manifest.key} into a fresh database {name}")
    journal.append(FRESH_DATABASE, backup=manifest.key, database=name)
    try:
        try:
            result = restore(sandbox.backup_store(), manifest, sandbox.state.backup.identity,
                             primary.conninfo(dbname=name))  # fmt: skip
        except (BackupError, StoreError, psycopg.Error) as exc:
            journal.append("backup-restore-failed", error=" ".join(str(exc).split()))
            return
        checkpoint()
        with psycopg.connect(primary.conninfo(dbname=name)) as conn:
            restored = canary_rows(conn)
        changed = sorted(i for i, row in restored.items() if before.get(i) != row)
        lost = sorted(set(before) - set(restored))
        journal.append("backup-restored", restore_s=round(result.seconds, 3), row_counts=result.row_counts,
                       mismatches=result.mismatches, verified_rows=result.verified_rows,
                       canary_rows=len(restored), canary_changed_ids=changed, lost_ids=lost)  # fmt: skip
        checkpoint()
        progress("putting the restored rows back on the primary")
        with primary.connect() as conn, conn.cursor() as cursor:
            cursor.executemany("INSERT INTO canary (id, site, written_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                               [(i, site, at) for i, (site, at) in restored.items()])  # fmt: skip
        journal.append("repaired", rows=len(restored))
    except (psycopg.Error, db.DatabaseError) as exc:
        journal.append("repair-failed", error=" ".join(str(exc).split()))
    finally:
        try:
            drop_database(primary, name)
            journal.append(FRESH_DROPPED, database=name)  # without it, `drill recover` drops the database
        except (psycopg.Error, db.DatabaseError) as exc:
            journal.append("cleanup-failed", error=" ".join(str(exc).split()), database=name)


def _undo(primary: db.Cluster, before: dict[int, tuple[str, str]], journal: Journal, progress: Progress) -> None:
    """The fault undone without a backup: the rows deleted, put back from what was read (and journalled) before.
    Runs when the drill did not repair the primary from the backup (the restore failed, a stop, a bug)."""
    progress("putting back the canary rows the drill deleted, from its journal")
    journal.append("restore", fault=Fault.CORRUPTION.value)
    try:
        back = put_back(primary, [(i, site, at) for i, (site, at) in before.items()])
    except (psycopg.Error, db.DatabaseError) as exc:
        error = " ".join(str(exc).split())
        journal.append("restore-failed", error=error)
        progress(f"restore FAILED: {error}")
        return
    journal.append("restored", fault=Fault.CORRUPTION.value, rows=back)
