"""The sandbox's data standby: two PostgreSQL 15 clusters on loopback joined by logical replication.

The publisher sits beside the primary site (127.0.0.2), the subscriber beside the secondary (127.0.0.3), as an RDS
publication and an EU subscriber would. Logical replication is the only cross-provider path out of RDS, and it
carries neither DDL nor sequence values. Each site's app writes to the database beside it as `bascule_app`, read-only
on the standby until it is promoted, and fenced (NOLOGIN) on the old primary after; promotion and failback are
`bascule.data`'s, through `Sandbox.data_pair()`. The standby subscribes as a replication login of its own, as on a
stack.
The slot's retained WAL is capped with `max_slot_wal_keep_size`.

Clusters are made with initdb in the sandbox's own folder, listen only on their loopback address and a port chosen
by the OS, and never touch the system cluster. initdb and postgres refuse to run as root, so under root (CI) both run
as the `postgres` user that Debian's postgresql-15 package creates, in a folder handed to that user.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bascule.io.processes import alive

PG_BINDIR_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
INSTALL_HINT = "install it with: sudo apt-get install postgresql-15"
DATABASE = "bascule"
USER = "bascule"
PUBLICATION = "bascule_pub"
SUBSCRIPTION = "bascule_sub"
SERVICE_USER = "postgres"
"""Who runs the servers when we are root: the account Debian's postgresql-15 package creates."""
WAL_KEEP_MB = 64
"""`max_slot_wal_keep_size`: a subscriber gone for good costs the publisher at most this much disk."""
WAL_KEEP = f"{WAL_KEEP_MB}MB"
"""The same, as the server shows it."""
APP_ROLE = "bascule_app"
"""The login each site's app uses on the database beside it, the same name on both sides, as on a stack: read-only
by default on the standby until promotion (a guard), fenced (NOLOGIN) on whichever side is not the writer."""
REPLICATOR = "bascule_replicator"
"""The login the standby subscribes to the primary as, as on a stack: REPLICATION and SELECT on the published table,
no superuser (https://www.postgresql.org/docs/15/logical-replication-security.html)."""
CONNECT_TIMEOUT = 2
SCHEMA = (
    "CREATE TABLE canary (id bigserial PRIMARY KEY, site text NOT NULL, "
    "written_at timestamptz NOT NULL DEFAULT clock_timestamp(), applied_at timestamptz)",
    "CREATE FUNCTION canary_applied() RETURNS trigger LANGUAGE plpgsql AS "
    "$$BEGIN NEW.applied_at := clock_timestamp(); RETURN NEW; END$$",
    "CREATE TRIGGER canary_applied BEFORE INSERT ON canary FOR EACH ROW EXECUTE FUNCTION canary_applied()",
    "ALTER TABLE canary ENABLE REPLICA TRIGGER canary_applied",
)
"""The replicated table, the same on both sides (as an application's migrations would make it): ids from a
sequence, as an application's would be (the sequence is what promotion fixes). A REPLICA trigger fires only for rows
a subscription applies (https://www.postgresql.org/docs/15/sql-altertable.html, ENABLE REPLICA TRIGGER), so
applied_at - written_at is each replicated row's lag (both clusters share this machine's clock)."""


class DatabaseError(Exception):
    """A sandbox database could not be made, reached or changed; the message names which and why."""


ERRORS = (DatabaseError, psycopg.Error, OSError)
"""What a database step can raise: our one-line error, the driver's, or a refused socket."""


def find_bindir() -> Path:
    candidates = [*PG_BINDIR_CANDIDATES]
    pg_config = shutil.which("pg_config")
    if pg_config:
        proc = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False)
        candidates.append(proc.stdout.strip())
    for folder in candidates:
        if folder and os.access(Path(folder) / "initdb", os.X_OK) and os.access(Path(folder) / "postgres", os.X_OK):
            return Path(folder)
    raise DatabaseError(f"PostgreSQL 15 server (initdb, postgres) is not installed; {INSTALL_HINT}")


def run_as() -> str | None:
    """The user to run initdb and postgres as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise DatabaseError(f"running as root needs the '{SERVICE_USER}' user; {INSTALL_HINT}") from None
    return SERVICE_USER


@dataclass(frozen=True)
class Cluster:
    """One PostgreSQL cluster of the sandbox: where it lives and how to reach it."""

    role: str
    address: str
    port: int
    directory: str
    password: str

    def conninfo(self, dbname: str = DATABASE, user: str = USER, password: str | None = None) -> str:
        return psycopg.conninfo.make_conninfo(
            host=self.address,
            port=self.port,
            user=user,
            password=self.password if password is None else password,
            dbname=dbname,
            connect_timeout=CONNECT_TIMEOUT,
        )

    def connect(self, dbname: str = DATABASE, autocommit: bool = True) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.conninfo(dbname), autocommit=autocommit)
        except psycopg.Error as exc:
            raise DatabaseError(f"database {self.role} {self.address}:{self.port}: {_one_line(exc)}") from exc

    @property
    def data_dir(self) -> Path:
        return Path(self.directory) / "data"

    def server_argv(self, bindir: Path) -> list[str]:
        return [
            str(bindir / "postgres"),
            "-D", str(self.data_dir),
            "-c", f"listen_addresses={self.address}",
            "-c", f"port={self.port}",
            "-c", "unix_socket_directories=",
            "-c", "wal_level=logical",
            "-c", "max_replication_slots=8",
            "-c", "max_wal_senders=8",
            "-c", f"max_slot_wal_keep_size={WAL_KEEP}",
            "-c", "fsync=on",
            "-c", "synchronous_commit=on",
            "-c", "shared_buffers=16MB",
            # A subscription's worker is (re)started at most this often: the default 5 s made every re-subscription
            # wait 5 s, to no purpose on loopback.
            "-c", "wal_retrieve_retry_interval=1s",
        ]  # fmt: skip


def make_folder(role: str) -> Path:
    """A folder the server's user owns. Under root it lives in the system temp folder, because a test's or a user's
    temp folder is often private to root and the `postgres` user could not even reach it."""
    folder = Path(tempfile.mkdtemp(prefix=f"bascule-pg-{role}-"))
    user = run_as()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return folder


def init_cluster(cluster: Cluster, bindir: Path) -> None:
    """initdb with a scram password for the `bascule` superuser; only loopback may connect, with that password."""
    folder = Path(cluster.directory)
    pwfile = folder / "pwfile"
    pwfile.write_text(cluster.password + "\n", encoding="utf-8")
    user = run_as()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    pwfile.chmod(0o600)
    argv = [str(bindir / "initdb"), "-D", str(cluster.data_dir), "-U", USER, "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"]  # fmt: skip
    proc = subprocess.run(argv, user=user, cwd=folder, capture_output=True, text=True, timeout=120, check=False)
    pwfile.unlink()
    if proc.returncode != 0:
        raise DatabaseError(f"initdb for {cluster.role} failed: {(proc.stderr or proc.stdout).strip()[-300:]}")
    hba = cluster.data_dir / "pg_hba.conf"
    hba.write_text(
        "# bascule sandbox: loopback only, password (scram) only\n"
        "host all all 127.0.0.0/8 scram-sha-256\n"
        "host replication all 127.0.0.0/8 scram-sha-256\n",
        encoding="utf-8",
    )


def clear_stale_lock(cluster: Cluster) -> None:
    """Remove postmaster.pid left by a killed server whose pid is gone or a zombie: a zombie still answers
    kill(0), so a new server would refuse to start while the process that spawned the old one has not reaped it."""
    lock = cluster.data_dir / "postmaster.pid"
    try:
        pid = int(lock.read_text(encoding="utf-8").splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    if not alive(pid):
        lock.unlink(missing_ok=True)


def new_password() -> str:
    return secrets.token_urlsafe(18)


def create_schema(publisher: Cluster, subscriber: Cluster, app_password: str, replication_password: str) -> None:
    """The database, its table and the app role on both clusters: the role writable on the publisher, read-only by
    default on the subscriber (the guard promotion lifts); the replication login on the publisher."""
    for cluster in (publisher, subscriber):
        with cluster.connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(app_password)))  # fmt: skip
            conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = {}").format(
                sql.Identifier(APP_ROLE), sql.SQL("on" if cluster is subscriber else "off")))  # fmt: skip
        with cluster.connect() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            app = sql.Identifier(APP_ROLE)
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON canary TO {}").format(app))
            conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE canary_id_seq TO {}").format(app))
    replicator = sql.Identifier(REPLICATOR)
    with publisher.connect("postgres") as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN REPLICATION PASSWORD {}").format(
            replicator, sql.Literal(replication_password)))  # fmt: skip
    with publisher.connect() as conn:
        conn.execute(sql.SQL("GRANT SELECT ON canary TO {}").format(replicator))
        conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE canary").format(sql.Identifier(PUBLICATION)))


def subscribe(publisher: Cluster, subscriber: Cluster, replication_password: str) -> None:
    """The first subscription, as the replication login, copying the publisher's rows (a later re-seed is
    `bascule.data`'s)."""
    source = publisher.conninfo(user=REPLICATOR, password=replication_password)
    with subscriber.connect() as conn:
        conn.execute(
            sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (copy_data = true)").format(
                sql.Identifier(SUBSCRIPTION), sql.Literal(source), sql.Identifier(PUBLICATION)
            )
        )


def replicating(subscriber: Cluster) -> bool:
    """The subscription is enabled, every table has finished its initial copy, and its apply worker runs."""
    with subscriber.connect() as conn:
        row = conn.execute(
            "SELECT s.subenabled, (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid "
            "AND r.srsubstate <> 'r'), (SELECT count(*) FROM pg_stat_subscription w WHERE w.subid = s.oid "
            "AND w.pid IS NOT NULL AND w.relid IS NULL) FROM pg_subscription s WHERE s.subname = %s",
            (SUBSCRIPTION,),
        ).fetchone()
    return row is not None and bool(row[0]) and row[1] == 0 and row[2] > 0


def slot_retained_bytes(publisher: Cluster) -> int | None:
    """WAL the publisher keeps for its slots (current LSN - oldest restart LSN); None when there is no slot."""
    with publisher.connect() as conn:
        row = conn.execute(
            "SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))::bigint FROM pg_replication_slots"
        ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def lag_seconds(subscriber: Cluster, since_id: int = 0) -> list[float]:
    """Per-row replication lag of the rows replicated so far (applied_at - written_at)."""
    with subscriber.connect() as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM applied_at - written_at)::float8 FROM canary "
            "WHERE id > %s AND applied_at IS NOT NULL ORDER BY id",
            (since_id,),
        ).fetchall()
    return [max(0.0, float(r[0])) for r in rows]


def present_ids(cluster: Cluster, ids: list[int]) -> set[int]:
    with cluster.connect() as conn:
        rows = conn.execute("SELECT id FROM canary WHERE id = ANY(%s)", (ids,)).fetchall()
    return {int(r[0]) for r in rows}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
