"""Where a data pair stands, read from the two databases alone: who is writable, is the standby replicating, how far
behind, is the slot safe. Nothing is changed. `problems` turns it into the reasons a standby is not ready, which
`bascule data status`, `bascule verify --data` and a `--data` drill's preflight share.

Lag in seconds is measured, not guessed: the primary's flushed WAL position is read, then the standby's slot is
watched until it confirms that position. The time that takes is how far behind the standby is; a standby that has
not confirmed it within the wait (the RPO, for readiness) is at least that far behind, whatever it reports.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from bascule.data import sql as q
from bascule.data.pair import PRIMARY, SIDES, STANDBY, DataError, DataPair, Sessions, one_line
from bascule.spec.data import FAILING_BACK, PROMOTED, PROMOTING, REPLICA, WRITER_STATES

LAG_WAIT_DEFAULT = 5.0
"""Seconds to wait for the standby to confirm the primary's position when no RPO says how long matters."""
LAG_WAIT_MAX = 30.0
"""The longest a status waits for that confirmation: past it the lag is reported as "more than"."""

DETACHED = "detached"
STATES = (REPLICA, PROMOTING, PROMOTED, FAILING_BACK, DETACHED)
"""A database's state: the marker's (`bascule.spec.data`: replicating from the primary; promotion begun and not
finished; promoted, the standby the writer; failback begun and not finished), or `detached`: no subscription and
not promoted by Bascule."""
LOGICAL = "logical"


@dataclass
class SideStatus:
    side: str
    address: str
    provider: str
    reachable: bool
    error: str | None = None
    app_login: bool | None = None
    """Whether the app role may log in (False: fenced); None: no such role, or the side is unreachable."""
    app_read_only: bool | None = None
    """The app role's default: True when new app sessions do not write unless they ask to (a replica's guard)."""
    wal_level: str | None = None
    """`logical` on both sides: the primary publishes with it, and a promoted standby keeps its failback slot."""

    @property
    def app_writable(self) -> bool:
        return bool(self.app_login) and self.app_read_only is False


@dataclass
class DatabaseStatus:
    database: str
    publication: str
    subscription_name: str
    state: str = DETACHED
    subscription: dict[str, Any] | None = None
    """The standby's subscription and its apply worker (None: it does not exist, or the standby is unreachable)."""
    slot: dict[str, Any] | None = None
    """The subscription's slot on the primary (None: missing, or the primary is unreachable)."""
    slot_name: str | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    """Measured: seconds until the standby confirmed the primary's position (None when it did not in time)."""
    lag_over_seconds: float | None = None
    """Set when the standby did not confirm within this many seconds: the lag is at least that."""
    records: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Each side's row of bascule_promotion (what Bascule last did there)."""
    reverse_slot: dict[str, Any] | None = None
    """After promotion: the standby's failback slot (every change since promotion, kept for failback)."""


@dataclass
class PairStatus:
    service: str
    source: str
    checked_at: str
    rpo_seconds: float | None
    wal_keep_mb: int
    app_role: str
    sides: dict[str, SideStatus]
    databases: list[DatabaseStatus]

    @property
    def state(self) -> str:
        """The pair's state when every database agrees, else `mixed`."""
        states = {d.state for d in self.databases}
        return states.pop() if len(states) == 1 else "mixed"

    def as_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["state"] = self.state
        found["problems"] = problems(self)
        return found


def _slot_name(record: dict[str, Any] | None, subscription: dict[str, Any] | None, name: str) -> str:
    """The forward slot: as the subscription names it, else as the promotion recorded it, else the default (the
    subscription's own name, https://www.postgresql.org/docs/15/sql-createsubscription.html)."""
    if subscription and subscription.get("slot_name"):
        return str(subscription["slot_name"])
    if record and record.get("forward_slot"):
        return str(record["forward_slot"])
    return name


def database_state(standby: dict[str, Any] | None, subscription: dict[str, Any] | None, writable: bool) -> str:
    """One database's state (`STATES`) from the standby's marker row, its subscription, and whether the standby's
    app role is writable."""
    if standby and standby.get("state") in WRITER_STATES:
        return str(standby["state"])
    if subscription is not None:
        return REPLICA
    return PROMOTED if writable else DETACHED


def status(pair: DataPair, lag_wait: float | None = None) -> PairStatus:
    """Read the pair's state; unreachable sides are reported, never raised. `lag_wait`: how long to wait for the
    standby to confirm the primary's position (default: the RPO, else 5 s; at most 30 s)."""
    wait = lag_wait if lag_wait is not None else min(max(pair.rpo_seconds or LAG_WAIT_DEFAULT, 1.0), LAG_WAIT_MAX)
    with Sessions(pair) as sessions:
        sides = {side: _side(pair, sessions, side) for side in SIDES}
        databases = [_database(pair, sessions, sides, database) for database in pair.databases]
        _measure_lag(pair, sessions, databases, wait)
    return PairStatus(
        service=pair.service,
        source=pair.source,
        checked_at=datetime.now(UTC).isoformat(timespec="seconds"),
        rpo_seconds=pair.rpo_seconds,
        wal_keep_mb=pair.wal_keep_mb,
        app_role=pair.app_role,
        sides=sides,
        databases=databases,
    )


def _side(pair: DataPair, sessions: Sessions, side: str) -> SideStatus:
    end = pair.endpoint(side)
    found = SideStatus(side, end.address, end.provider, sessions.reachable(side), sessions.error(side))
    if found.reachable:
        try:
            conn = sessions.get(side, pair.databases[0])
            role = q.app_role(conn, pair.app_role)
            if role is not None:
                found.app_login, found.app_read_only = role.login, role.read_only
            found.wal_level = q.wal_level(conn)
        except (DataError, psycopg.Error) as exc:
            found.error = one_line(exc)
    return found


def _database(pair: DataPair, sessions: Sessions, sides: dict[str, SideStatus], database: str) -> DatabaseStatus:
    found = DatabaseStatus(database, pair.publications[database], pair.subscriptions[database])
    writable = sides[STANDBY].app_writable
    for side in SIDES:
        if not sides[side].reachable:
            continue
        try:
            conn = sessions.get(side, database)
            found.records[side] = q.read_record(conn, side)
            if side == STANDBY:
                found.subscription = q.subscription(conn, found.subscription_name)
                found.reverse_slot = q.slot(conn, q.reverse_slot(database))
        except (DataError, psycopg.Error) as exc:
            sides[side].error = sides[side].error or f"database {database}: {one_line(exc)}"
    found.state = database_state(found.records.get(STANDBY), found.subscription, writable)
    found.slot_name = _slot_name(found.records.get(STANDBY), found.subscription, found.subscription_name)
    if sides[PRIMARY].reachable:
        try:
            found.slot = q.slot(sessions.get(PRIMARY, database), found.slot_name)
        except (DataError, psycopg.Error) as exc:
            sides[PRIMARY].error = sides[PRIMARY].error or f"database {database}: {one_line(exc)}"
    if found.slot is not None:
        found.lag_bytes = int(found.slot["lag_bytes"]) if found.slot["lag_bytes"] is not None else None
    return found


def _measurable(found: DatabaseStatus) -> bool:
    sub, slot = found.subscription, found.slot
    return (found.state == REPLICA and sub is not None and bool(sub["enabled"]) and slot is not None
            and slot["wal_status"] != "lost")  # fmt: skip


def _measure_lag(pair: DataPair, sessions: Sessions, databases: list[DatabaseStatus], wait: float) -> None:
    """Wait until each measurable database's slot confirms the primary's flushed position of now (see above)."""
    pending = [d for d in databases if _measurable(d)]
    if not pending or wait <= 0:  # no wait: the state alone was asked for
        return
    try:
        conn = sessions.get(PRIMARY, pending[0].database)
        target = q.flush_lsn(conn)
        start = time.monotonic()
        while pending:
            elapsed = time.monotonic() - start
            for found in list(pending):
                if q.confirmed(conn, str(found.slot_name), target):
                    found.lag_seconds = round(elapsed, 3)
                    pending.remove(found)
            if pending and elapsed >= wait:
                for found in pending:
                    found.lag_over_seconds = round(wait, 3)
                return
            time.sleep(0.05)
    except (DataError, psycopg.Error):
        return  # the primary went away while measuring: its side's error says so


def problems(found: PairStatus) -> list[str]:
    """Why the standby is not a ready replica, one line each naming the cause; empty when it is."""
    lines = []
    for side in found.sides.values():
        if not side.reachable:
            lines.append(f"{side.side} {side.address}: unreachable: {side.error}")
        elif side.error:
            lines.append(f"{side.side} {side.address}: {side.error}")
    standby, primary = found.sides[STANDBY], found.sides[PRIMARY]
    for db in found.databases:
        lines += _database_problems(found, db, standby.reachable, primary.reachable)
    if standby.reachable and standby.app_writable and found.state == REPLICA:
        lines.append(f"standby: the app role {found.app_role} is writable while the standby is a replica: an app "
                     "writing there would split the data (`bascule data failback` fences it)")  # fmt: skip
    if standby.reachable and standby.app_login is False and found.state == REPLICA:
        lines.append(f"standby: the app role {found.app_role} may not log in (fenced) while the standby is a replica: "
                     "the secondary's app cannot read; `bascule data failback` finishes the switch back")  # fmt: skip
    if primary.reachable and primary.app_login is not None and not primary.app_writable and found.state == REPLICA:
        how = "fenced (NOLOGIN)" if not primary.app_login else "read-only"
        lines.append(f"primary: the app role {found.app_role} is {how} while the standby is a replica: the app cannot "
                     "write anywhere; `bascule data failback` finishes the switch back")  # fmt: skip
    if primary.reachable and primary.wal_level not in (None, LOGICAL):
        lines.append(f"primary {primary.address}: wal_level is {primary.wal_level}, not logical: nothing can be "
                     "published (RDS: rds.logical_replication = 1, then a reboot)")  # fmt: skip
    if standby.reachable and standby.wal_level not in (None, LOGICAL):
        lines.append(f"standby {standby.address}: wal_level is {standby.wal_level}, not logical: a promotion could "
                     "keep no failback slot, so failback would refuse; set wal_level = logical and restart the server "
                     "(the component sets it with max_worker_processes: docs/deploy.md, step 3)")  # fmt: skip
    return lines


def _database_problems(found: PairStatus, db: DatabaseStatus, standby_up: bool, primary_up: bool) -> list[str]:
    name = f"database {db.database}"
    if db.state in (PROMOTED, PROMOTING, FAILING_BACK):
        record = db.records.get(STANDBY) or {}
        since = f" (since {record['updated_at']})" if record.get("updated_at") else ""
        what = {
            PROMOTED: "the standby is promoted: the pair is failed over; `bascule data failback` returns it",
            PROMOTING: "a promotion was interrupted: finish it with `bascule data promote` (or undo it with "
            "`bascule data failback`)",
            FAILING_BACK: "a failback was interrupted: finish it with `bascule data failback`",
        }[db.state]
        return [f"{name}: {what}{since}"]  # fmt: skip
    if not standby_up:
        return []
    sub = db.subscription
    if sub is None:
        return [f"{name}: the standby has no subscription {db.subscription_name}: it receives nothing"]
    lines = []
    if not sub["enabled"]:
        lines.append(f"{name}: subscription {db.subscription_name} is disabled: the standby receives nothing "
                     "(ALTER SUBSCRIPTION ... ENABLE)")  # fmt: skip
    elif sub["worker_pid"] is None:
        lines.append(f"{name}: subscription {db.subscription_name} is enabled but its apply worker is not running "
                     f"({sub['errors']} apply errors so far: the standby's log says why)")  # fmt: skip
    if sub["tables_not_ready"]:
        lines.append(f"{name}: {sub['tables_not_ready']} of {sub['tables']} tables are still being copied to the "
                     "standby (initial sync)")  # fmt: skip
    if not primary_up:
        return lines
    slot = db.slot
    keep = f"max_slot_wal_keep_size = {found.wal_keep_mb} MB"
    if slot is None:
        lines.append(f"{name}: the slot {db.slot_name} does not exist on the primary: the standby can never catch "
                     "up; re-seed it")  # fmt: skip
    elif slot["wal_status"] == "lost":
        lines.append(f"{name}: the slot {db.slot_name} is lost (its WAL was removed past {keep}): the standby can "
                     "never catch up and the RPO is unbounded; re-seed it")  # fmt: skip
    elif slot["wal_status"] == "unreserved":
        lines.append(f"{name}: the slot {db.slot_name} is unreserved (its WAL is past {keep} and goes at the next "
                     "checkpoint): lost soon unless the standby catches up")  # fmt: skip
    rpo = found.rpo_seconds
    if db.lag_over_seconds is not None and (rpo is None or db.lag_over_seconds >= rpo):
        behind = f", {db.lag_bytes} bytes behind" if db.lag_bytes is not None else ""
        limit = f"the RPO ({rpo:g} s)" if rpo is not None else f"{db.lag_over_seconds:g} s"
        lines.append(f"{name}: replication lag exceeds {limit}: the standby had not confirmed the primary's "
                     f"position of {db.lag_over_seconds:g} s ago{behind}")  # fmt: skip
    elif rpo is not None and db.lag_seconds is not None and db.lag_seconds > rpo:
        lines.append(f"{name}: replication lag {db.lag_seconds:g} s exceeds the RPO ({rpo:g} s)")
    return lines


def render_text(found: PairStatus) -> str:
    """`bascule data status` for people: the pair, each side, each database, then the problems."""
    lines = [f"{found.service}: {found.state} ({found.source}), checked {found.checked_at}"]
    for side in found.sides.values():
        where = f"{side.side:<8} {side.address} ({side.provider})"
        if not side.reachable:
            lines.append(f"  {where}: UNREACHABLE: {side.error}")
            continue
        app = ("no such role" if side.app_login is None else "fenced (NOLOGIN)" if not side.app_login
               else "read-only by default" if side.app_read_only else "writable")  # fmt: skip
        lines.append(f"  {where}: app role {found.app_role} {app}, wal_level {side.wal_level or '-'}")
    for db in found.databases:
        lines.append(f"  database {db.database}: {db.state}")
        sub = db.subscription
        if sub is not None:
            worker = f"worker pid {sub['worker_pid']}" if sub["worker_pid"] else "no worker"
            lines.append(f"    subscription {db.subscription_name}: {'enabled' if sub['enabled'] else 'DISABLED'}, "
                         f"{worker}, last applied {sub['latest_end_lsn'] or '-'} at {sub['latest_end_time'] or '-'}, "
                         f"last message {sub['last_msg_receipt_time'] or '-'}, {sub['errors']} errors")  # fmt: skip
        if db.slot is not None:
            slot = db.slot
            safe = "unlimited" if slot["safe_wal_size"] is None else f"{slot['safe_wal_size']} bytes"
            lines.append(f"    slot {db.slot_name} on the primary: {slot['wal_status']}, safe WAL {safe}, "
                         f"retained {slot['retained_bytes']} bytes")  # fmt: skip
        if db.lag_seconds is not None:
            lines.append(f"    lag: {db.lag_bytes} bytes, {db.lag_seconds:g} s")
        elif db.lag_over_seconds is not None:
            lines.append(f"    lag: {db.lag_bytes} bytes, more than {db.lag_over_seconds:g} s")
        if db.reverse_slot is not None:
            lines.append(f"    failback slot on the standby: {db.reverse_slot['wal_status']}, retained "
                         f"{db.reverse_slot['retained_bytes']} bytes since promotion")  # fmt: skip
    lines += [f"  problem: {line}" for line in problems(found)]
    return "\n".join(lines)
