"""Backup and restore time and size on the sandbox: a small database, then about --gb of rows.

    .venv/bin/python benchmarks/backup_restore.py               # small, then 0.25 GB of rows (a few minutes)
    .venv/bin/python benchmarks/backup_restore.py --gb 1        # about 1 GB of rows

Each run fills the primary (the rows replicate to the standby), takes a backup of the standby exactly as the
scheduled job does (`bascule.backup.take`: pg_dump --format=custom, age, upload to the sandbox's S3 store under an
object lock), then restores it into a fresh database (`bascule.backup.restore`: download, sha256, decrypt,
pg_restore, row counts against the manifest). It prints the database size, the encrypted object's size, and the
seconds per GB of database for each way, from which a team sizes the RTO of a restore. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bascule.backup.backups import list_backups, restore, take
from bascule.sandbox import PRIMARY, SECONDARY, Sandbox

ROW_BYTES = 130
"""About what one row of the filler table costs on disk (a bigint, a 100-character text, a timestamp, overhead)."""


FILLER = (
    "INSERT INTO canary (site) SELECT md5(random()::text) || md5(random()::text) || md5(random()::text) "
    "|| left(md5(random()::text), 4) FROM generate_series(1, %s)"
)
"""100 random hexadecimal characters a row: they compress about twofold, as text data does, not the twentyfold
of a repeated character, so the object's size and the transfer times are a table's, not a best case."""
BATCH_ROWS = 100_000
"""Rows per insert, about 13 MB: the standby catches up after each, so its lag stays small."""
CATCH_UP_SECONDS = 300.0
BENCH_WAL_KEEP = "8GB"
"""The benchmark's own `max_slot_wal_keep_size` (the sandbox's is 64 MB)."""


def _caught_up(sandbox: Sandbox, top: int) -> int:
    """Wait until the standby holds row `top`; its database size in bytes. Raises SystemExit when the slot was
    lost or the standby did not catch up in time, naming which."""
    assert sandbox.state.data is not None
    primary, standby = sandbox.state.data.clusters[PRIMARY], sandbox.state.data.clusters[SECONDARY]
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while True:
        with standby.connect() as conn:
            seen = conn.execute(
                "SELECT coalesce(max(id), 0), pg_database_size(current_database()) FROM canary"
            ).fetchone()
        assert seen is not None
        if int(seen[0]) >= top:
            return int(seen[1])
        with primary.connect() as conn:
            lost = conn.execute("SELECT slot_name FROM pg_replication_slots WHERE wal_status = 'lost'").fetchall()
        if lost:
            raise SystemExit(f"the standby's slot {lost[0][0]} was lost (past max_slot_wal_keep_size): no figure")
        if time.monotonic() > deadline:
            raise SystemExit(f"the standby did not catch up with row {top} in {CATCH_UP_SECONDS:.0f} s: no figure")
        time.sleep(0.5)


def _fill(sandbox: Sandbox, rows: int) -> int:
    """`rows` more rows on the primary, in the replicated canary table's database, in batches the standby catches
    up with; the standby's database size in bytes once it has them all."""
    assert sandbox.state.data is not None
    primary = sandbox.state.data.clusters[PRIMARY]
    size = 0
    for start in range(0, rows, BATCH_ROWS):
        with primary.connect() as conn:
            count = min(BATCH_ROWS, rows - start)
            conn.execute(FILLER, (count,))
            top = int(conn.execute("SELECT max(id) FROM canary").fetchone()[0])  # type: ignore[index]
        size = _caught_up(sandbox, top)
        if (start // BATCH_ROWS) % 10 == 9:
            print(f"  ... {start + count} of {rows} rows on the primary and the standby", file=sys.stderr, flush=True)
    return size


def _measure(sandbox: Sandbox, label: str, rows: int, run: int) -> None:
    size = _fill(sandbox, rows)
    plan, store = sandbox.backup_plan(), sandbox.backup_store()
    began = time.monotonic()
    take(store, plan.service, sandbox.backup_source(), list(plan.databases), plan.recipient, plan.retention_days)
    backup_s = time.monotonic() - began
    newest = list_backups(store, plan.service, plan.databases[0]).complete[0]
    assert sandbox.state.data is not None and sandbox.state.backup is not None
    target = sandbox.state.data.clusters[PRIMARY].conninfo(dbname=f"bench_restore_{run}")
    restored = restore(store, newest, sandbox.state.backup.identity, target)
    gb = size / 1e9
    print(
        f"{label:>7}: database {size / 1e6:9.1f} MB, {sum(newest.row_counts.values()):>10} rows, backup object "
        f"{newest.size_bytes / 1e6:8.1f} MB | backup {backup_s:7.1f} s ({backup_s / gb:6.0f} s/GB) | restore "
        f"{restored.seconds:7.1f} s ({restored.seconds / gb:6.0f} s/GB) | verified: {not restored.mismatches}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=0.25, help="rows to add for the large run, in GB (default 0.25)")
    args = parser.parse_args()
    if not 0 < args.gb <= 50:
        parser.error("--gb: from above 0 to 50")
    work = Path(tempfile.mkdtemp(prefix="bascule-bench-backup-"))
    sandbox = Sandbox.start(work / "sandbox", data=True, backups=True)
    try:
        assert sandbox.state.data is not None
        with sandbox.state.data.clusters[PRIMARY].connect() as conn:
            # The sandbox's 64 MB cap suits tests (a lost slot in seconds); a bulk load of gigabytes retains more
            # WAL than that between two advances of the slot's restart point, however fast the standby applies.
            conn.execute(f"ALTER SYSTEM SET max_slot_wal_keep_size = '{BENCH_WAL_KEEP}'")
            conn.execute("SELECT pg_reload_conf()")
        print("sandbox: PostgreSQL 15 standby -> pg_dump custom -> age -> moto S3 on loopback; restore on the primary")
        _measure(sandbox, "small", 10_000, 1)
        _measure(sandbox, f"{args.gb:g} GB", int(args.gb * 1e9 / ROW_BYTES), 2)
    finally:
        for line in sandbox.stop():
            print(line)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
