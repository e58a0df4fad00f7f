"""Every statement the data commands send, in one place, each valid for PostgreSQL 15 and allowed for the admin
logins of both clouds, neither of which is a superuser:

- RDS: the master user is NOSUPERUSER with CREATEROLE, CREATEDB and the `rds_superuser` role, which "can stop any
  connection" with pg_terminate_backend, grants `rds_replication` (managing logical slots), and reads
  pg_stat_activity for every session.
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.rds_superuser.html
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.FeatureSupport.LogicalReplication.html
  Subscriptions are created on RDS by the master user
  (https://aws.amazon.com/premiumsupport/knowledge-center/rds-postgresql-use-logical-replication/).
- Azure Flexible Server: the server admin is NOSUPERUSER with LOGIN, CREATEDB, CREATEROLE, REPLICATION and a member
  of `azure_pg_admin` (https://learn.microsoft.com/en-us/training/modules/secure-azure-database-for-postgresql/3-describe-built-server-roles);
  it creates publications, subscriptions and slots for native logical replication
  (https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-logical). It sees and ends the app
  role's sessions as a member of that role, which the standby's sync job makes it (`GRANT app TO CURRENT_USER`,
  components/data/sync.py): PostgreSQL lets a role signal and see in full the sessions of roles whose privileges
  it has, no pg_signal_backend or pg_read_all_stats needed (`fence_rights`).

What PostgreSQL itself requires of each statement is cited at the statement. Nothing here needs a superuser: the
sandbox's admin is one, but `tests/test_data_commands_sandbox.py` fences and reads status as a login with only
CREATEROLE and membership in the app role, as the Flexible Server admin has them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from bascule.data.pair import DataPair, one_line
from bascule.spec.data import MARKER, PRIMARY_SITE, PRIMARY_STATES, REPLICA, STANDBY_SITE, WRITER_STATES

READ_ONLY = "default_transaction_read_only"
TABLE = MARKER
"""One row per side (`site`) in every replicated database: what Bascule last did there (`bascule.spec.data`, the
marker the standby's sync job reads too)."""
REVERSE_PUBLICATION = "bascule_failback"
"""On the promoted standby: the tables its subscription replicated, published back for failback."""
REVERSE_SUBSCRIPTION = "bascule_failback"
"""On the primary during failback: replays what the standby wrote since promotion."""
SEQUENCE_GAP = 1000
"""How far past its max a promoted sequence starts: ids the old primary acknowledged but never shipped stay unique,
so they can stay beside the standby's new rows after failback without a key clash."""
TERMINATE_WAIT_MS = 5000
"""How long `pg_terminate_backend(pid, timeout)` (PostgreSQL 14+) waits for each session to be gone."""
LOGIN_REFUSED = "28000"
"""SQLSTATE invalid_authorization_specification: what the server answers a login as a NOLOGIN role
(https://www.postgresql.org/docs/15/errcodes-appendix.html)."""


def reverse_slot(database: str) -> str:
    """The failback slot on the standby for `database` (slots are per server: one name per database)."""
    return "bascule_failback_" + hashlib.sha256(database.encode()).hexdigest()[:12]


# --- the app role: fencing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppRole:
    """The app role on one side, as each new session of it finds it.

    `login`: whether it may connect at all; NOLOGIN is the fence, which no client can undo (a role's attributes are
    changed by ALTER ROLE, which only a role with CREATEROLE may run on it). `read_only`: the role's own
    `default_transaction_read_only`, the guard of a replica: it stops an application that does not ask to write,
    but any session may turn it off (`SET default_transaction_read_only = off`, or `BEGIN READ WRITE`:
    https://www.postgresql.org/docs/15/runtime-config-client.html#GUC-DEFAULT-TRANSACTION-READ-ONLY), so it is no
    fence."""

    login: bool
    read_only: bool

    @property
    def writable(self) -> bool:
        return self.login and not self.read_only

    @property
    def fenced(self) -> bool:
        return not self.login

    def describe(self) -> str:
        return "fenced (NOLOGIN)" if self.fenced else "read-only (a guard)" if self.read_only else "writable"


def _setting(config: list[str] | None, name: str) -> str | None:
    for item in config or []:
        key, _, value = item.partition("=")
        if key == name:
            return value
    return None


def app_role(conn: psycopg.Connection[Any], role: str) -> AppRole | None:
    """The role's LOGIN attribute and its own `default_transaction_read_only`; None: no such role. pg_roles is
    readable by every login."""
    row = conn.execute("SELECT rolcanlogin, rolconfig FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if row is None:
        return None
    read_only = (_setting(row[1], READ_ONLY) or "").lower() in ("on", "true", "yes", "1")
    return AppRole(login=bool(row[0]), read_only=read_only)


def set_app_role(conn: psycopg.Connection[Any], role: str, login: bool, read_only: bool) -> float:
    """`ALTER ROLE role [NO]LOGIN` and `ALTER ROLE role SET default_transaction_read_only`, for the sessions that
    start from now on. Returns the server's clock once both are committed: a session started before then still runs
    as it was, and must be ended.

    Who may: "Roles having CREATEROLE privilege can change any of these settings except SUPERUSER, REPLICATION, and
    BYPASSRLS; but only for non-superuser and non-replication roles" (https://www.postgresql.org/docs/15/sql-alterrole.html);
    from PostgreSQL 16 only for roles on which they hold ADMIN OPTION (https://www.postgresql.org/docs/16/sql-alterrole.html),
    which the role's creator holds ("grant ADMIN OPTION on the newly-created role to the creator":
    https://github.com/postgres/postgres/commit/cf5eb37c5ee0cc54c80d95c1695d7fca1f7c68cb). The app role is created by
    the admin the commands connect as on each side: on RDS by the master user (CREATEROLE, member of rds_superuser,
    which lets it "create roles for users":
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.rds_superuser.html)
    in `pulumi up`'s SQL step; on Flexible Server by the server admin (CREATEROLE:
    https://learn.microsoft.com/en-us/training/modules/secure-azure-database-for-postgresql/3-describe-built-server-roles)
    in the standby's sync job. NOLOGIN refuses new connections only ("Only roles that have the LOGIN attribute can
    be used as the initial role name for a database connection": https://www.postgresql.org/docs/15/sql-createrole.html).
    """
    name = sql.Identifier(role)
    conn.execute(sql.SQL("ALTER ROLE {} {}").format(name, sql.SQL("LOGIN" if login else "NOLOGIN")))
    conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(name, sql.Identifier(READ_ONLY),
                                                             sql.SQL("on" if read_only else "off")))  # fmt: skip
    row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
    assert row is not None
    return float(row[0])


def end_sessions(conn: psycopg.Connection[Any], role: str, started_before: float) -> int:
    """End every session of `role` that started before `started_before` (server epoch seconds), waiting for each to
    be gone; returns how many were ended. A session whose start this login cannot see counts as old: better one
    session too many ended than one left writing. pg_terminate_backend is "allowed if the calling role is a member
    of the role whose backend is being terminated or the calling role has privileges of pg_signal_backend"
    (https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL)."""
    rows = conn.execute(
        "SELECT pid, pg_terminate_backend(pid, %s) FROM pg_stat_activity WHERE usename = %s "
        "AND pid <> pg_backend_pid() AND (backend_start IS NULL OR backend_start <= to_timestamp(%s))",
        (TERMINATE_WAIT_MS, role, started_before),
    ).fetchall()
    return len(rows)


def fence_rights(conn: psycopg.Connection[Any], role: str) -> list[str]:
    """What this login lacks to see and end `role`'s sessions (empty: nothing). Any one of: superuser; RDS's
    rds_superuser, which "can stop any connection" and reads every connection's status in pg_stat_activity (the
    rds_superuser page above); the privileges of `role` itself, with which PostgreSQL lets a login end its sessions
    (`end_sessions`) and see them whole ("Ordinary users can only see all the information about their own sessions
    (sessions belonging to a role that they are a member of)":
    https://www.postgresql.org/docs/15/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW); or both
    pg_signal_backend and pg_read_all_stats. Missing, it names the membership to grant, the one the sync job gives
    the Flexible Server admin."""
    row = conn.execute(
        "SELECT rolsuper OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rds_superuser' "
        "AND pg_has_role(current_user, oid, 'USAGE')) OR pg_has_role(current_user, %s, 'USAGE') "
        "OR (pg_has_role(current_user, 'pg_signal_backend', 'USAGE') "
        "AND pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')) FROM pg_roles WHERE rolname = current_user",
        (role,),
    ).fetchone()
    return [] if row is None or row[0] else [role]


def old_sessions(conn: psycopg.Connection[Any], role: str, started_before: float) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid() "
        "AND (backend_start IS NULL OR backend_start <= to_timestamp(%s))",
        (role, started_before),
    ).fetchone()
    return int(row[0]) if row else 0


APP_REFUSED, APP_READ_ONLY, APP_WRITABLE = "login refused", "read-only", "writable"


def app_probe(pair: DataPair, side: str, database: str) -> str | None:
    """What the app gets on `side` right now, by logging in as the app role (where its password is known) and
    trying to create a temporary table, rolled back (no table of the application is touched, and CREATE is refused
    in a read-only transaction: https://www.postgresql.org/docs/15/sql-set-transaction.html): `APP_REFUSED` (the
    login, as a NOLOGIN role), `APP_READ_ONLY`, `APP_WRITABLE`, else what went wrong; None without the password."""
    end = pair.endpoint(side)
    if end.app_password is None:
        return None
    try:
        with psycopg.connect(end.conninfo(database, pair.app_role, end.app_password)) as conn:
            try:
                conn.execute("CREATE TEMPORARY TABLE bascule_probe ()")
            except psycopg.errors.ReadOnlySqlTransaction:
                return APP_READ_ONLY
            finally:
                conn.rollback()
    except psycopg.OperationalError as exc:
        if exc.sqlstate == LOGIN_REFUSED or "not permitted to log in" in str(exc):
            return APP_REFUSED
        return f"the app's login failed: {one_line(exc)}"
    except psycopg.Error as exc:
        return f"the app's probe failed: {one_line(exc)}"
    return APP_WRITABLE


def wal_level(conn: psycopg.Connection[Any]) -> str:
    """The server's `wal_level` (readable by every login): a failback slot needs `logical` on the standby
    (https://www.postgresql.org/docs/15/logical-replication-config.html)."""
    row = conn.execute("SELECT current_setting('wal_level')").fetchone()
    assert row is not None
    return str(row[0])


# --- subscriptions, publications and slots ---------------------------------------------------------------------


def subscription(conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    """The subscription `name` of the current database with its apply worker, or None. Only the columns PostgreSQL
    grants to every login are read (subconninfo is not); pg_stat_subscription_stats is PostgreSQL 15+."""
    row = conn.execute(
        "SELECT s.subenabled, s.subslotname, w.pid, w.received_lsn::text, w.latest_end_lsn::text, "
        "w.last_msg_send_time, w.last_msg_receipt_time, w.latest_end_time, "
        "(SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid), "
        "(SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid AND r.srsubstate <> 'r'), "
        "(SELECT st.apply_error_count + st.sync_error_count FROM pg_stat_subscription_stats st "
        " WHERE st.subid = s.oid) "
        "FROM pg_subscription s LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL "
        "WHERE s.subname = %s AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (name,),
    ).fetchone()
    if row is None:
        return None
    keys = ("enabled", "slot_name", "worker_pid", "received_lsn", "latest_end_lsn", "last_msg_send_time",
            "last_msg_receipt_time", "latest_end_time", "tables", "tables_not_ready", "errors")  # fmt: skip
    found = dict(zip(keys, row, strict=True))
    for key in ("last_msg_send_time", "last_msg_receipt_time", "latest_end_time"):
        found[key] = found[key].isoformat() if found[key] is not None else None
    found["errors"] = int(found["errors"] or 0)
    return found


def subscribed_tables(conn: psycopg.Connection[Any], name: str) -> list[str]:
    """The tables subscription `name` replicates, as quoted `schema.table` (the standby's own list: it still
    holds when the primary is gone)."""
    rows = conn.execute(
        "SELECT r.srrelid::regclass::text FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
        "WHERE s.subname = %s ORDER BY 1",
        (name,),
    ).fetchall()
    return [str(r[0]) for r in rows if str(r[0]) != TABLE.removeprefix("public.")]


def published_tables(conn: psycopg.Connection[Any], name: str) -> list[str]:
    """The tables publication `name` carries (quoted `schema.table`), FOR ALL TABLES ones included."""
    rows = conn.execute(
        "SELECT format('%%I.%%I', schemaname, tablename) FROM pg_publication_tables WHERE pubname = %s ORDER BY 1",
        (name,),
    ).fetchall()
    return [str(r[0]) for r in rows]


def publication_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone() is not None


def create_publication(conn: psycopg.Connection[Any], name: str, tables: list[str]) -> None:
    """FOR TABLE (never FOR ALL TABLES, which needs a superuser): each table's owner, or a member of its owning role,
    may add it (https://www.postgresql.org/docs/15/sql-createpublication.html). `tables` are `regclass` renderings,
    already quoted by the server."""
    listed = sql.SQL(", ").join(sql.SQL(t) for t in tables)
    conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), listed))


def drop_publication(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)))


def create_subscription(
    conn: psycopg.Connection[Any], name: str, conninfo: str, publication: str, copy_data: bool,
    slot: str | None = None,
) -> None:  # fmt: skip
    """A subscription in the current database; with `slot`, it uses that existing slot instead of making one (so it
    replays from where the slot began). https://www.postgresql.org/docs/15/sql-createsubscription.html"""
    options: list[sql.Composable] = [sql.SQL("copy_data = {}").format(sql.SQL("true" if copy_data else "false"))]
    if slot is not None:
        options += [sql.SQL("create_slot = false"), sql.SQL("slot_name = {}").format(sql.Literal(slot))]
    conn.execute(
        sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH ({})").format(
            sql.Identifier(name), sql.Literal(conninfo), sql.Identifier(publication), sql.SQL(", ").join(options)
        )
    )


def enable_subscription(conn: psycopg.Connection[Any], name: str, enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    conn.execute(sql.SQL("ALTER SUBSCRIPTION {} {}").format(sql.Identifier(name), sql.SQL(verb)))


def drop_subscription(conn: psycopg.Connection[Any], name: str, publisher_reachable: bool) -> None:
    """Stop and remove a subscription. With its publisher reachable, DROP also drops its slot there; without, the
    slot is detached first so DROP does not try to reach it (the documented way:
    https://www.postgresql.org/docs/15/sql-dropsubscription.html), and the slot left on the publisher is dropped at
    failback."""
    name_id = sql.Identifier(name)
    conn.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(name_id))
    if not publisher_reachable:
        conn.execute(sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(name_id))
    conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(name_id))


def slot(conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    """A replication slot as pg_replication_slots shows it (readable by every login): `wal_status` is reserved,
    extended, unreserved (past max_slot_wal_keep_size: lost at the next checkpoint) or lost; `safe_wal_size` the
    bytes of WAL that may still be written before it is lost."""
    row = conn.execute(
        "SELECT active, active_pid, wal_status, safe_wal_size, restart_lsn::text, confirmed_flush_lsn::text, "
        "pg_wal_lsn_diff(pg_current_wal_flush_lsn(), confirmed_flush_lsn)::bigint, "
        "pg_wal_lsn_diff(pg_current_wal_flush_lsn(), restart_lsn)::bigint, database "
        "FROM pg_replication_slots WHERE slot_name = %s",
        (name,),
    ).fetchone()
    if row is None:
        return None
    keys = ("active", "active_pid", "wal_status", "safe_wal_size", "restart_lsn", "confirmed_flush_lsn",
            "lag_bytes", "retained_bytes", "database")  # fmt: skip
    return dict(zip(keys, row, strict=True))


def create_slot(conn: psycopg.Connection[Any], name: str) -> None:
    """A logical slot for pgoutput: from now on the server keeps every change for it. Needs the REPLICATION
    attribute (the Flexible Server admin has it; rds_replication on RDS)."""
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))


def drop_slot(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))


def flush_lsn(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def confirmed(conn: psycopg.Connection[Any], slot_name: str, lsn: str) -> bool:
    """The slot's consumer has confirmed everything up to `lsn`."""
    row = conn.execute(
        "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s", (lsn, slot_name)
    ).fetchone()
    return bool(row and row[0])


def wait_confirmed(conn: psycopg.Connection[Any], slot_name: str, lsn: str, timeout: float) -> float | None:
    """Seconds until the slot's consumer confirmed `lsn`, or None past `timeout`."""
    start = time.monotonic()
    while True:
        if confirmed(conn, slot_name, lsn):
            return time.monotonic() - start
        if time.monotonic() - start >= timeout:
            return None
        time.sleep(0.1)


# --- sequences -------------------------------------------------------------------------------------------------

SEQUENCE_COLUMNS = (
    # Owned by a column (serial, identity: an auto or internal dependency of the sequence on the column) ...
    "SELECT s.oid::regclass::text, t.oid::regclass::text, a.attname FROM pg_class s "
    "JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
    "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
    "WHERE s.relkind = 'S' "
    "UNION "
    # ... or named by a column's default (nextval('seq') with no OWNED BY, possibly shared by several tables): the
    # default expression depends on the sequence.
    "SELECT s.oid::regclass::text, ad.adrelid::regclass::text, a.attname FROM pg_class s "
    "JOIN pg_depend d ON d.refobjid = s.oid AND d.refclassid = 'pg_class'::regclass "
    "AND d.classid = 'pg_attrdef'::regclass "
    "JOIN pg_attrdef ad ON ad.oid = d.objid "
    "JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum "
    "WHERE s.relkind = 'S'"
)
"""Every (sequence, table, column) a sequence fills. A sequence only application code calls nextval() on has no
column here: the standby cannot know how far the primary took it (docs/data.md says to set it by hand)."""


def advance_sequences(conn: psycopg.Connection[Any], gap: int) -> dict[str, int]:
    """Move every sequence a column uses (owned by it, or named in its default) to at least (max over those
    columns) + gap, never back; returns sequence -> its next value. Logical replication carries no sequence values,
    so without this the first insert on a promoted standby reuses a key. Needs SELECT on the tables and UPDATE on
    the sequences (https://www.postgresql.org/docs/15/functions-sequence.html)."""
    tops: dict[str, int] = {}
    for sequence, table, column in conn.execute(SEQUENCE_COLUMNS).fetchall():
        query = sql.SQL("SELECT coalesce(max({})::bigint, 0) FROM {}").format(
            sql.Identifier(column), sql.SQL(table)
        )  # `table` is a regclass rendering: already quoted by the server
        row = conn.execute(query).fetchone()
        tops[sequence] = max(tops.get(sequence, 0), int(row[0]) if row else 0)
    advanced = {}
    for sequence, top in sorted(tops.items()):
        row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(sequence))).fetchone()
        current = (int(row[0]) + 1 if row[1] else int(row[0])) if row else 1
        target = max(current, top + gap)
        conn.execute("SELECT setval(%s::regclass, %s, false)", (sequence, target))
        advanced[sequence] = target
    return advanced


# --- the promotion record --------------------------------------------------------------------------------------

RECORD_COLUMNS = ("state", "operation", "writable_since", "forced", "caught_up", "forward_slot", "reverse_slot",
                  "detail")  # fmt: skip


def ensure_record_table(conn: psycopg.Connection[Any]) -> None:
    """The record table, created where missing (by the admin, who may create in the database's public schema as its
    owner; PostgreSQL 15 grants no CREATE there to others), readable by every login: a FOR ALL TABLES publication
    carries the primary's to the standby, so the replication login copies it (the table publisher needs SELECT:
    https://www.postgresql.org/docs/15/logical-replication-security.html), the sync job's `pg_dump` reads its
    definition, and each site's app may read who is writable. It holds no secret."""
    sites = sql.SQL(", ").join(sql.Literal(s) for s in (PRIMARY_SITE, STANDBY_SITE))
    states = sql.SQL(", ").join(sql.Literal(s) for s in (*PRIMARY_STATES, REPLICA, *WRITER_STATES))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (site text PRIMARY KEY CHECK (site IN ({})), "
            "state text NOT NULL CHECK (state IN ({})), operation text, updated_at timestamptz NOT NULL DEFAULT now(), "
            "writable_since timestamptz, forced text, caught_up boolean, forward_slot text, reverse_slot text, "
            "detail jsonb NOT NULL DEFAULT '{{}}')"
        ).format(sql.SQL(TABLE), sites, states)
    )
    conn.execute(sql.SQL("GRANT SELECT ON {} TO PUBLIC").format(sql.SQL(TABLE)))


def read_record(conn: psycopg.Connection[Any], site: str) -> dict[str, Any] | None:
    if conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone() in (None, (None,)):
        return None
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in ("updated_at", *RECORD_COLUMNS))
    row = conn.execute(sql.SQL("SELECT {} FROM {} WHERE site = %s").format(columns, sql.SQL(TABLE)), (site,)).fetchone()
    if row is None:
        return None
    found = dict(zip(("updated_at", *RECORD_COLUMNS), row, strict=True))
    for key in ("updated_at", "writable_since"):
        found[key] = found[key].isoformat() if found[key] is not None else None
    return found


def write_record(conn: psycopg.Connection[Any], site: str, **values: Any) -> None:
    """Upsert this side's row with `values` (columns of RECORD_COLUMNS; `writable_since="now"` stamps the time)."""
    unknown = set(values) - set(RECORD_COLUMNS)
    assert not unknown, unknown
    ensure_record_table(conn)
    columns = ["site", *values, "updated_at"]
    params: list[Any] = [site]
    placeholders: list[sql.Composable] = [sql.Placeholder()]
    for key, value in values.items():
        if key == "writable_since" and value == "now":
            placeholders.append(sql.SQL("now()"))
            continue
        placeholders.append(sql.Placeholder())
        params.append(json.dumps(value) if key == "detail" else value)
    placeholders.append(sql.SQL("now()"))
    if "state" not in values:
        raise ValueError("a record write names the state")
    updates = sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in columns[1:]
    )
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (site) DO UPDATE SET {}").format(
            sql.SQL(TABLE), sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.SQL(", ").join(placeholders),
            updates,
        ),
        params,
    )  # fmt: skip
