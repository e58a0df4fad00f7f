"""The restore drill's undo: the canary rows it deletes are journalled first, and put back from the journal.

The restore drill (`bascule.drills.restore`) deletes every canary row on the sandbox's primary. It reads them before
the `DELETE` and journals them (a `canary-saved` event, before `inject`), so whatever stops it afterwards (a backup
that cannot be restored, SIGTERM, Ctrl-C, a bug) it puts them back itself, and when its process died (SIGKILL, a
lost machine) `bascule drill recover` puts them back from the journal (`recovery.recover_lock`). Putting back is
idempotent (`ON CONFLICT DO NOTHING`): rows the restore already brought back, or that were never deleted, stay.

Only psycopg here: recovery must work without the `backup` extra (boto3, pyrage) the drill itself needs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bascule.sandbox import database as db

SAVED = "canary-saved"
"""The journal event holding the rows about to be deleted: `rows`, a list of [id, site, written_at]."""
FRESH_DATABASE = "backup-restore"
"""The journal event naming the fresh database a restore creates (`database`): dropped by the undo if left over."""
FRESH_DROPPED = "fresh-dropped"
"""The journal event saying the drill dropped that fresh database: without it, `drill recover` drops it."""
CANARY_COLUMNS = "id, site, written_at"
FRESH_NAME = re.compile(r"restore_[0-9]{8}T[0-9]{12}")
"""The only database names the undo drops: the restore drill's own (`fresh_name`), never one a damaged or edited
journal names."""

Row = tuple[int, str, str]


def rows_may_be_missing(kinds: set[str]) -> bool:
    """Whether a restore drill whose journal holds these event kinds may have left canary rows deleted: it saved them
    (or got to `inject`) and neither aborted before the `DELETE` nor repaired, undid or recovered it. The drill's own
    undo, the lock it keeps and `drill recover` all decide by this; putting back is idempotent, so a drill killed
    between `canary-saved` and an `inject` its disk refused is undone too."""
    return bool(kinds & {SAVED, "inject"}) and not kinds & {"abort", "repaired", "restored", "recovered"}


def fresh_name() -> str:
    """A new name for the fresh database a restore goes into, unique to the microsecond."""
    return f"restore_{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"


def canary_rows(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, str]]:
    """Every canary row as id -> (site, written_at in ISO 8601): what the drill saves and compares."""
    rows = conn.execute(f"SELECT {CANARY_COLUMNS} FROM canary ORDER BY id").fetchall()
    return {int(r[0]): (str(r[1]), r[2].isoformat()) for r in rows}


def saved_rows(events: list[dict[str, Any]]) -> list[Row] | None:
    """The rows a drill journalled before its `DELETE`; None when it journalled none (it never got that far)."""
    saved = next((e for e in events if e.get("kind") == SAVED), None)
    if saved is None:
        return None
    rows = saved.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 3 for r in rows):
        raise ValueError(f"the journal's {SAVED} event does not hold [id, site, written_at] rows")
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def put_back(primary: db.Cluster, rows: list[Row]) -> int:
    """Insert `rows` on the primary where their id is missing; returns how many were missing. Raises
    `psycopg.Error` or `db.DatabaseError` when the primary cannot be reached or refuses."""
    with primary.connect() as conn:
        ids = [r[0] for r in rows]
        present = conn.execute("SELECT count(*) FROM canary WHERE id = ANY(%s)", (ids,)).fetchone()
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO canary (id, site, written_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                               rows)  # fmt: skip
    return len(rows) - int(present[0] if present else 0)


def drop_database(primary: db.Cluster, name: str) -> None:
    """Drop the fresh database a restore made (`FORCE`: a killed pg_restore may still hold a connection)."""
    with primary.connect("postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def drop_leftover(primary: db.Cluster, events: list[dict[str, Any]]) -> str | None:
    """Drop the fresh database the journal names when it has no `fresh-dropped` (the drill died before its drop);
    a clause saying what was done, None when nothing was left over. Only the drill's own names (`FRESH_NAME`)."""
    if any(e.get("kind") == FRESH_DROPPED for e in events):
        return None
    fresh = next((e.get("database") for e in events if e.get("kind") == FRESH_DATABASE), None)
    if isinstance(fresh, str) and FRESH_NAME.fullmatch(fresh):
        drop_database(primary, fresh)
        return f"the restore's database {fresh} dropped"
    if fresh is not None:
        return "the journal's fresh database name is not one the drill makes: nothing dropped"
    return None


def undo(primary: db.Cluster, events: list[dict[str, Any]]) -> tuple[int, str]:
    """What `drill recover` does for a killed restore drill: the saved rows put back, a leftover fresh database
    dropped. Returns how many rows were put back and a sentence saying what was done."""
    rows = saved_rows(events) or []
    back = put_back(primary, rows) if rows else 0
    done = f"{back} of the {len(rows)} canary rows it had deleted put back from its journal"
    dropped = drop_leftover(primary, events)
    return back, done + (f", {dropped}" if dropped else "")
