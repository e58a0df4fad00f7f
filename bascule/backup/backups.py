"""Take, list, verify and restore backups: `pg_dump --format=custom`, encrypted with age, in a locked bucket.

One implementation everywhere: the sandbox calls it directly, a stack's scheduled job runs `bascule backup take` with
the same code (`deploy/backup/Dockerfile`). The layout is the backup contract's (docs/backup.md):
`<service>/<database>/<YYYYMMDDTHHMMSSZ>.dump.age` and beside it `<...>.json`, the manifest, written after the dump.
A dump with no manifest is an unfinished backup and never counts.

The dump and the row counts in its manifest come from one snapshot: a REPEATABLE READ transaction exports it
(`pg_export_snapshot`), counts every table in it, and pg_dump reads the same snapshot (`--snapshot`,
https://www.postgresql.org/docs/15/app-pgdump.html), so a restore's row counts must equal the manifest's exactly.
Subscriptions and publications are left out: a backup holds data, not the replication topology, and a restored
subscription would connect to the live primary.

The dump is encrypted to an age recipient (a public key): the job that writes backups cannot read them; the private
key (the identity) stays with the team and only restore and the deep verify need it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyrage
from psycopg import sql

from bascule.backup.store import LOCK_MODE, MissingObject, Store, StoreError

SCHEMA = "bascule.backup/v1"
STAMP = "%Y%m%dT%H%M%SZ"
DUMP_SUFFIX = ".dump.age"
MANIFEST_SUFFIX = ".json"
MANIFEST_LIMIT = 1 << 20
"""A manifest is a few hundred bytes per table; a larger object under that name is not one of ours."""
GRACE_HOURS = 1.0
"""How late the newest backup may be past `every_hours` before verify fails: a job scheduled on the hour takes
minutes to dump and upload, and a scheduler may start it late."""
PG_BINDIR_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
"""The client matching the servers (PostgreSQL 15, docs/data.md); otherwise the one on PATH."""
Clock = Callable[[], datetime]


class BackupError(Exception):
    """A backup could not be taken, read, verified or restored; the message names the object or database and why."""


class TargetExists(BackupError):
    """The database a restore was to create exists already: a restore never writes over a database (exit 3)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def pg_tool(name: str) -> str:
    """pg_dump or pg_restore, from PostgreSQL 15's bin folder, else PATH."""
    for folder in PG_BINDIR_CANDIDATES:
        candidate = Path(folder) / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed; install the PostgreSQL 15 client (postgresql-client-15)")
    return found


@dataclass(frozen=True)
class Manifest:
    """What a backup holds and how to check it: the contract's manifest, one per dump object."""

    service: str
    database: str
    started_at: str
    finished_at: str
    source: str
    """The host (and port) dumped, never a password."""
    size_bytes: int
    sha256: str
    """Of the encrypted object, as stored."""
    row_counts: dict[str, int]
    """Rows of each table (`schema.table`) in the dump's snapshot."""
    pg_dump_version: str
    recipient: str
    schema: str = SCHEMA
    key: str = field(default="", compare=False)
    """The dump object's key (not stored: derived from where the manifest was found)."""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        return data

    @property
    def finished(self) -> datetime:
        return datetime.fromisoformat(self.finished_at)

    def age_seconds(self, now: datetime) -> float:
        return max(0.0, (now - self.finished).total_seconds())

    @classmethod
    def parse(cls, raw: Any, where: str, key: str) -> Manifest:
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise BackupError(f"{where}: not a {SCHEMA} manifest")
        try:
            counts = raw["row_counts"]
            if not isinstance(counts, dict) or not all(isinstance(v, int) for v in counts.values()):
                raise TypeError("row_counts: expected {table: rows}")
            manifest = cls(
                service=str(raw["service"]), database=str(raw["database"]), started_at=str(raw["started_at"]),
                finished_at=str(raw["finished_at"]), source=str(raw["source"]), size_bytes=int(raw["size_bytes"]),
                sha256=str(raw["sha256"]), row_counts={str(k): int(v) for k, v in counts.items()},
                pg_dump_version=str(raw["pg_dump_version"]), recipient=str(raw["recipient"]), key=key,
            )  # fmt: skip
            manifest.finished  # noqa: B018 - the date must parse
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupError(f"{where}: manifest field {exc}") from None
        return manifest


def dump_key(service: str, database: str, stamp: str) -> str:
    return f"{service}/{database}/{stamp}{DUMP_SUFFIX}"


def manifest_key(dump: str) -> str:
    return dump.removesuffix(DUMP_SUFFIX) + MANIFEST_SUFFIX


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq(dsn: str, dbname: str) -> tuple[list[str], dict[str, str], str]:
    """pg_dump/pg_restore arguments for `dsn` with `dbname`: the password goes through PGPASSWORD, never argv (a
    process list shows argv); also the source as the manifest names it (host:port)."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise BackupError(f"the source DSN is not a libpq connection string: {exc}") from None
    password = params.pop("password", None)
    params["dbname"] = dbname
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    source = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
    return ["--dbname", psycopg.conninfo.make_conninfo("", **params)], env, source


def _connect(dsn: str, dbname: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(psycopg.conninfo.make_conninfo(dsn, dbname=dbname, connect_timeout=10))
    except psycopg.Error as exc:
        raise BackupError(f"database {dbname}: {' '.join(str(exc).split())}") from exc


def row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows of every ordinary and partitioned table outside the system schemas, in the connection's snapshot."""
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', "
        "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
    ).fetchall()
    counts = {}
    for schema, table in tables:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
        counts[f"{schema}.{table}"] = int(row.fetchone()[0])  # type: ignore[index]
    return counts


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=6 * 3600)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed: {' '.join((proc.stderr or proc.stdout).split())[-400:]}")
    return proc.stdout


def take(
    store: Store,
    service: str,
    source_dsn: str,
    databases: list[str],
    recipient: str,
    retention_days: int,
    now: Clock = _utcnow,
    work_dir: Path | None = None,
) -> list[Manifest]:
    """Dump each database, encrypt it to `recipient`, upload it locked for `retention_days`, then its manifest.
    `now`: the clock stamping the backup (tests age a backup with it)."""
    try:
        public = pyrage.x25519.Recipient.from_str(recipient)
    except pyrage.RecipientError as exc:
        raise BackupError(f"recipient {recipient[:20]!r}: not an age public key (age1...): {exc}") from None
    pg_dump = pg_tool("pg_dump")
    version = _run([pg_dump, "--version"], dict(os.environ), "pg_dump --version").strip()
    taken = []
    for database in databases:
        started = now()
        stamp = started.strftime(STAMP)
        args, env, source = _libpq(source_dsn, database)
        with tempfile.TemporaryDirectory(prefix="bascule-backup-", dir=work_dir) as folder:
            plain, sealed = Path(folder) / "dump", Path(folder) / "dump.age"
            with _connect(source_dsn, database) as conn:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                snapshot = str(conn.execute("SELECT pg_export_snapshot()").fetchone()[0])  # type: ignore[index]
                counts = row_counts(conn)
                _run([pg_dump, "--format=custom", "--no-subscriptions", "--no-publications", f"--snapshot={snapshot}",
                      "--file", str(plain), *args], env, f"pg_dump of {database} from {source}")  # fmt: skip
                conn.rollback()
            pyrage.encrypt_file(str(plain), str(sealed), [public])
            plain.unlink()
            key = dump_key(service, database, stamp)
            retain = now() + timedelta(days=retention_days)
            store.put_locked(key, sealed, retain)
            manifest = Manifest(
                service=service, database=database, started_at=started.isoformat(), finished_at=now().isoformat(),
                source=source, size_bytes=sealed.stat().st_size, sha256=_sha256(sealed), row_counts=counts,
                pg_dump_version=version, recipient=recipient, key=key,
            )  # fmt: skip
        document = json.dumps(manifest.as_json(), indent=2, sort_keys=True).encode()
        store.put_locked(manifest_key(key), document, retain)
        taken.append(manifest)
    return taken


@dataclass(frozen=True)
class Listing:
    """What a prefix holds: complete backups (newest first) and dumps with no manifest (unfinished or broken)."""

    complete: list[Manifest]
    unfinished: list[str]
    unreadable: list[str]
    """Manifests that could not be read or parsed, with why."""


_KEY = re.compile(r"^(?P<prefix>.+)/(?P<stamp>\d{8}T\d{6}Z)(?P<suffix>\.dump\.age|\.json)$")


def list_backups(store: Store, service: str, database: str) -> Listing:
    """Every backup of `service`'s `database` in the bucket, from the object listing and the manifests."""
    dumps: set[str] = set()
    manifests: set[str] = set()
    for key, _modified, _size in store.keys(f"{service}/{database}/"):
        match = _KEY.match(key)
        if match is None:
            continue
        (dumps if match["suffix"] == DUMP_SUFFIX else manifests).add(key.removesuffix(match["suffix"]))
    complete, unreadable = [], []
    for base in sorted(manifests, reverse=True):
        key = base + MANIFEST_SUFFIX
        try:
            raw = json.loads(store.get_bytes(key, MANIFEST_LIMIT))
            complete.append(Manifest.parse(raw, store.where(key), base + DUMP_SUFFIX))
        except (StoreError, BackupError, ValueError) as exc:
            unreadable.append(f"{key}: {exc}")
    return Listing(complete, sorted(d + DUMP_SUFFIX for d in dumps - manifests), unreadable)


def fetch(store: Store, manifest: Manifest, identity: str, folder: Path) -> Path:
    """Download the dump, check its sha256 against the manifest, decrypt it with `identity`; the plain dump's path.
    Raises `BackupError` naming the object and whether it is missing, altered or not decryptable."""
    sealed, plain = folder / "dump.age", folder / "dump"
    try:
        store.download(manifest.key, sealed)
    except MissingObject as exc:
        raise BackupError(f"backup {manifest.key}: its dump object is missing from the store ({exc})") from None
    except StoreError as exc:
        raise BackupError(f"backup {manifest.key}: download failed: {exc}") from None
    digest = _sha256(sealed)
    if digest != manifest.sha256:
        raise BackupError(f"backup {manifest.key}: sha256 {digest[:16]}… differs from the manifest's "
                          f"{manifest.sha256[:16]}…: the object was altered or corrupted")  # fmt: skip
    try:
        key = pyrage.x25519.Identity.from_str(identity.strip())
    except pyrage.IdentityError as exc:
        raise BackupError(f"the identity is not an age secret key (AGE-SECRET-KEY-1...): {exc}") from None
    try:
        pyrage.decrypt_file(str(sealed), str(plain), [key])
    except pyrage.DecryptError as exc:
        raise BackupError(f"backup {manifest.key}: cannot be decrypted with this identity: {exc}") from None
    sealed.unlink()
    return plain


def check_archive(plain: Path, what: str) -> int:
    """`pg_restore --list`: the dump is a readable custom-format archive; returns its number of entries."""
    listing = _run([pg_tool("pg_restore"), "--list", str(plain)], dict(os.environ), f"pg_restore --list of {what}")
    return sum(1 for line in listing.splitlines() if line and not line.startswith(";"))


@dataclass(frozen=True)
class Restored:
    """A backup restored into a fresh database, and how it compares with its manifest."""

    manifest: Manifest
    database: str
    seconds: float
    """Download, check, decrypt and pg_restore, end to end."""
    row_counts: dict[str, int]
    mismatches: list[str]
    """Tables whose restored rows differ from the manifest's, one line each (empty: verified)."""

    @property
    def verified_rows(self) -> int:
        return sum(self.row_counts.values()) if not self.mismatches else 0


def restore(store: Store, manifest: Manifest, identity: str, target_dsn: str, work_dir: Path | None = None) -> Restored:
    """Restore `manifest`'s backup into the database `target_dsn` names, which must not exist yet: it is created on
    that server (connecting to its `postgres` database with the same login). Owners and grants are not restored
    (`--no-owner --no-acl`): the roles of the source need not exist where a backup is restored."""
    params = psycopg.conninfo.conninfo_to_dict(target_dsn)
    name = str(params.get("dbname") or "")
    if not name:
        raise BackupError("the restore target names no database (dbname=...): a fresh one is created under that name")
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bascule-restore-", dir=work_dir) as folder:
        plain = fetch(store, manifest, identity, Path(folder))
        with _connect(target_dsn, "postgres") as admin:
            admin.autocommit = True
            if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                raise TargetExists(f"database {name!r} already exists: restore goes into a fresh database")
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        args, env, _ = _libpq(target_dsn, name)
        _run([pg_tool("pg_restore"), "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", *args,
              str(plain)], env, f"pg_restore of {manifest.key} into {name}")  # fmt: skip
    with _connect(target_dsn, name) as conn:
        counts = row_counts(conn)
    seconds = time.monotonic() - began
    mismatches = [
        f"{table}: {counts.get(table, 'no table')} rows restored, manifest says {rows}"
        for table, rows in sorted(manifest.row_counts.items())
        if counts.get(table) != rows
    ]
    return Restored(manifest, name, seconds, counts, mismatches)


@dataclass(frozen=True)
class Freshness:
    """One database's newest complete backup against the schedule."""

    database: str
    newest: Manifest | None
    age_seconds: float | None
    problems: list[str]


def freshness(
    store: Store, service: str, database: str, every_hours: float, identity: str | None = None, now: Clock = _utcnow
) -> Freshness:
    """Whether `database`'s newest complete backup is younger than `every_hours` + `GRACE_HOURS`, and, with the
    `identity`, downloadable, intact (sha256) and decryptable into a readable archive; without it, locked in
    COMPLIANCE mode until after `now()`."""
    try:
        listing = list_backups(store, service, database)
    except StoreError as exc:
        return Freshness(database, None, None, [f"backups of {database} cannot be listed: {exc}"])
    problems = [f"unreadable manifest {line}" for line in listing.unreadable]
    if not listing.complete:
        return Freshness(database, None, None, [*problems, f"no complete backup of {database} in "
                                                f"{store.address.describe()} under {service}/{database}/"])  # fmt: skip
    newest = listing.complete[0]
    age = newest.age_seconds(now())
    allowed = (every_hours + GRACE_HOURS) * 3600
    if age > allowed:
        problems.append(f"newest backup of {database} is {age / 3600:.1f} h old ({newest.finished_at}), older than "
                        f"the schedule allows (every {every_hours:g} h + {GRACE_HOURS:g} h grace)")  # fmt: skip
    if identity is None:
        try:  # without the identity: the object is there and locked, its lock still running
            mode, until = store.lock_of(newest.key)
            if mode != LOCK_MODE:
                problems.append(f"backup {newest.key}: not under an object lock (mode {mode})")
            elif until is None or until <= now():
                problems.append(f"backup {newest.key}: its object lock has ended (retain-until {until}): it can "
                                "be deleted or overwritten")  # fmt: skip
        except StoreError as exc:
            problems.append(f"backup {newest.key}: {exc}")
    else:
        with tempfile.TemporaryDirectory(prefix="bascule-verify-") as folder:
            try:
                check_archive(fetch(store, newest, identity, Path(folder)), newest.key)
            except BackupError as exc:
                problems.append(str(exc))
    return Freshness(database, newest, age, problems)
