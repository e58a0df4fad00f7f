"""The restore drill (`--fault corruption`): a logical disaster that replication cannot help with, answered by a backup.

Replication is not a backup: a `DELETE` without its `WHERE`, a bad migration or ransomware on the primary reaches
the standby within milliseconds. The drill shows it, on the sandbox's data standby and its backup store:

1. the newest complete backup of the sandbox's database (one is taken first when the store has none);
2. canary writes on the primary after that backup (the application goes on writing; a restore cannot bring them
   back: they are the writes lost since the backup);
3. the fault: every canary row deleted on the primary, and the same rows seen gone on the standby;
4. the backup restored into a fresh database (download, sha256 against the manifest, decryption, pg_restore) and
   checked: every table's rows equal the manifest's, and every canary row it holds is the row the primary had;
5. the rows put back on the primary from the restored database, and the fresh database dropped.

Every step and figure goes to the journal; the report (`bascule.drills.report`) is derived from it alone. A backup
that is missing, altered or unreadable fails the drill, naming why.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bascule.backup.backups import BackupError, Manifest, list_backups, restore, take
from bascule.backup.store import StoreError
from bascule.drills.data import preflight_pair
from bascule.drills.journal import Journal
from bascule.drills.plan import DrillPlan
from bascule.drills.runner import Progress
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox, SandboxError
from bascule.sandbox import database as db

WRITES_AFTER_BACKUP = 10
"""Canary rows the drill commits on the primary after the backup: the writes a restore cannot bring back."""
REPLICATION_WAIT = 15.0
"""How long the standby may take to show the destructive change."""
CANARY_COLUMNS = "id, site, written_at"


def _canary(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str]]:
    rows = conn.execute(f"SELECT {CANARY_COLUMNS} FROM canary ORDER BY id").fetchall()
    return {int(r[0]): (str(r[1]), r[2].isoformat()) for r in rows}


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
    primary, standby = sandbox.state.data.clusters[PRIMARY], sandbox.state.data.clusters[SECONDARY]
    backup = sandbox.state.backup
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
        before = _canary(conn)
    journal.append("canary-writes", after_backup=WRITES_AFTER_BACKUP, rows_at_fault=len(before))
    journal.append("inject", fault=plan.fault.value)
    progress("fault: deleting every canary row on the primary")
    with primary.connect() as conn:
        deleted = conn.execute("DELETE FROM canary").rowcount
    age = (datetime.now(UTC) - manifest.finished).total_seconds()
    injected = journal.append("injected", deleted_rows=deleted, backup_age_s=round(age, 3))
    deadline, remaining = time.monotonic() + REPLICATION_WAIT, None
    while time.monotonic() < deadline:
        with standby.connect() as conn:
            remaining = int(conn.execute("SELECT count(*) FROM canary").fetchone()[0])  # type: ignore[index]
        if remaining == 0:
            break
        time.sleep(0.05)
    journal.append("replicated", standby_rows=remaining, reached=remaining == 0,
                   after_s=round(time.monotonic() - injected["t"], 3))  # fmt: skip
    name = f"restore_{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    progress(f"restoring {manifest.key} into a fresh database {name}")
    journal.append("backup-restore", backup=manifest.key, database=name)
    try:
        result = restore(sandbox.backup_store(), manifest, backup.identity, primary.conninfo(dbname=name))
    except (BackupError, StoreError, psycopg.Error) as exc:
        journal.append("backup-restore-failed", error=" ".join(str(exc).split()))
        journal.append("end")
        return
    try:
        with psycopg.connect(primary.conninfo(dbname=name)) as conn:
            restored = _canary(conn)
        changed = sorted(i for i, row in restored.items() if before.get(i) != row)
        lost = sorted(set(before) - set(restored))
        journal.append("backup-restored", restore_s=round(result.seconds, 3), row_counts=result.row_counts,
                       mismatches=result.mismatches, verified_rows=result.verified_rows,
                       canary_rows=len(restored), canary_changed_ids=changed, lost_ids=lost)  # fmt: skip
        progress("putting the restored rows back on the primary")
        with primary.connect() as conn, conn.cursor() as cursor:
            cursor.executemany("INSERT INTO canary (id, site, written_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                               [(i, site, at) for i, (site, at) in restored.items()])  # fmt: skip
        journal.append("repaired", rows=len(restored))
    except (psycopg.Error, db.DatabaseError) as exc:
        journal.append("repair-failed", error=" ".join(str(exc).split()))
    finally:
        try:
            with primary.connect("postgres") as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except (psycopg.Error, db.DatabaseError) as exc:
            journal.append("cleanup-failed", error=" ".join(str(exc).split()), database=name)
    journal.append("end")
