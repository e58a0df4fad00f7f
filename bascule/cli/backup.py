"""`bascule backup`: take, list, verify and restore the encrypted database backups kept at another provider."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import psycopg
import typer

from bascule.cli.common import (
    EXIT_FAILED,
    EXIT_REFUSED,
    Cwd,
    FormatTextJson,
    Quiet,
    SandboxDir,
    TextOrJson,
    emit,
    emit_json,
    fail,
    output_folder,
    say,
    warn,
    working,
)
from bascule.drills.control import ControlError
from bascule.drills.history import append_restore
from bascule.drills.stack_control import make_backend
from bascule.io.escaping import quoted
from bascule.sandbox import Sandbox, SandboxError, default_state_dir

if TYPE_CHECKING:  # boto3 and pyrage (the `backup` extra): each command imports what it uses when it runs, so that
    # `bascule backup --help` and every subcommand's --help work without the extra
    from bascule.backup.state import BackupPlan
    from bascule.backup.store import Store

app = typer.Typer(
    help=(
        "Backups kept apart from the primary: `pg_dump --format=custom` of the standby, encrypted with age to a "
        "public key (the job cannot read what it writes), uploaded to an S3-compatible bucket under a COMPLIANCE "
        "object lock, then a manifest (sha256, row counts). `take` is what the scheduled job runs "
        "(deploy/backup/Dockerfile); `list` says what exists; `verify` whether the newest is younger than the "
        "schedule and readable; `restore` puts one into a fresh database and checks its rows. --local: the "
        "sandbox's store (`bascule sandbox up --data --backups`); --stack S: the stack's `bascule_backup` output, "
        "credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Guide: docs/backup.md."
    ),
    no_args_is_help=True,
)

MAX_RETENTION_DAYS = 36500
"""100 years: a longer lock is a typo, and a COMPLIANCE lock cannot be shortened once set."""


def _retention(value: int | None) -> int | None:
    """`--retention-days`: whole days, 1 to 100 years (a lock's retain-until is a date)."""
    if value is not None and not 1 <= value <= MAX_RETENTION_DAYS:
        fail([f"--retention-days: {value} is not a number of days from 1 to {MAX_RETENTION_DAYS} (100 years)"])
    return value


IDENTITY_MAX = 16384
"""An age identity file is a few lines; more is not one."""


def _identity_file(value: Path | None) -> Path | None:
    if value is not None and (not value.is_file() or value.stat().st_size > IDENTITY_MAX):
        fail([f"--identity {quoted(str(value))}: not an age identity file (a small file holding AGE-SECRET-KEY-1...)"])
    return value


def _non_empty(flag: str) -> Any:
    def check(value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is not None and not str(item).strip():
                fail([f"{flag}: empty value"])
        return value

    return check


Local = Annotated[bool, typer.Option("--local", help="The sandbox's store (`bascule sandbox up --data --backups`).")]
Stack = Annotated[
    str | None, typer.Option("--stack", callback=_non_empty("--stack"), help="A deployed stack: its bascule_backup.")
]
Service = Annotated[
    str | None, typer.Option("--service", callback=_non_empty("--service"), help="With --stack: whose backups.")
]
Identity = Annotated[
    Path | None,
    typer.Option(
        "--identity",
        envvar="BASCULE_BACKUP_IDENTITY",
        callback=_identity_file,
        help="The age identity (private key) file; the sandbox's own with --local.",
    ),
]


@dataclass(frozen=True)
class Target:
    plan: BackupPlan
    store: Store
    identity: str | None
    sandbox: Sandbox | None = None
    stack: str | None = None

    def describe(self) -> str:
        """Where the backups were read, as a history row's target: `bascule audit` matches "Pulumi stack S "."""
        where = f"Pulumi stack {self.stack} " if self.stack is not None else "local sandbox "
        return f"{where}backups of {self.plan.service} in {self.plan.address.describe()}"


def _target(local: bool, stack: str | None, cwd: Path, service: str | None, sandbox_dir: Path | None,
            identity: Path | None) -> Target:  # fmt: skip
    if local == (stack is not None):
        fail(["choose one target: --local (the sandbox) or --stack NAME [--cwd DIR] [--service NAME]"])
    from bascule.backup.state import BackupStateError, plans_from_state
    from bascule.backup.store import Store

    secret = identity.read_text(encoding="utf-8", errors="replace") if identity is not None else None
    if local:
        if service is not None:
            fail(["--service goes with --stack: the sandbox has one service"])
        folder = sandbox_dir or default_state_dir()
        try:
            sandbox = Sandbox.load(folder)
            if sandbox is None:
                raise SandboxError(f"no sandbox in {folder}; start one with `bascule sandbox up --data --backups`")
            plan = sandbox.backup_plan()
            backup = sandbox.state.backup
            assert backup is not None  # backup_plan refuses a sandbox without a store
            return Target(plan, sandbox.backup_store(), secret or backup.identity, sandbox)
        except SandboxError as exc:
            fail([str(exc)])
    try:
        with working(f"reading the backup settings of stack {stack} from its state"):
            plans = plans_from_state(make_backend(str(stack), cwd).resources(), str(stack), service)
    except (ControlError, BackupStateError) as exc:
        fail([str(exc)])
    if len(plans) > 1:
        fail([f"stack {quoted(stack)} backs up several services ({', '.join(p.service for p in plans)}); choose one "
              "with --service"])  # fmt: skip
    return Target(plans[0], Store(plans[0].address), secret, stack=stack)


def _env_list(values: list[str] | None, variable: str) -> list[str]:
    if values:
        return values
    return [v.strip() for v in os.environ.get(variable, "").split(",") if v.strip()]


@app.command("take")
def take_command(
    local: Local = False,
    stack: Stack = None,
    cwd: Cwd = Path("."),
    sandbox_dir: SandboxDir = None,
    source_dsn: Annotated[
        str | None,
        typer.Option(
            "--source-dsn",
            envvar="BASCULE_BACKUP_SOURCE_DSN",
            callback=_non_empty("--source-dsn"),
            help="libpq URI of the database server to dump (the standby). Secret: prefer the variable.",
            show_envvar=False,
        ),
    ] = None,
    database: Annotated[
        list[str] | None,
        typer.Option(
            "--database",
            callback=_non_empty("--database"),
            help="A database to dump (repeatable; env BASCULE_BACKUP_DATABASES, comma-separated).",
        ),
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            envvar="BASCULE_BACKUP_SERVICE",
            callback=_non_empty("--service"),
            help="The service (the object key prefix).",
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--store-endpoint",
            envvar="BASCULE_BACKUP_ENDPOINT",
            callback=_non_empty("--store-endpoint"),
            help="S3 endpoint URL.",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--store-region",
            envvar="BASCULE_BACKUP_REGION",
            callback=_non_empty("--store-region"),
            help="The store's region.",
        ),
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket", envvar="BASCULE_BACKUP_BUCKET", callback=_non_empty("--bucket"), help="The locked bucket."
        ),
    ] = None,
    recipient: Annotated[
        str | None,
        typer.Option(
            "--recipient",
            envvar="BASCULE_BACKUP_RECIPIENT",
            callback=_non_empty("--recipient"),
            help="The age public key (age1...).",
        ),
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            envvar="BASCULE_BACKUP_RETENTION_DAYS",
            callback=_retention,
            help="Object-lock retention (COMPLIANCE) of each object, in days.",
        ),
    ] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Dump each database, encrypt it, upload it locked, then its manifest. Settings come from flags, their
    environment variables (the scheduled job's), the stack's `bascule_backup` (--stack) or the sandbox (--local).

    Exit 0 taken, 1 failed (the database, the store or the tools named), 2 bad input, 70 internal error.

    Examples:
      bascule backup take --local
      BASCULE_BACKUP_SOURCE_DSN=postgresql://... bascule backup take --stack prod --service checkout
    """
    from bascule.backup.backups import BackupError, take
    from bascule.backup.store import Store, StoreAddress, StoreError

    dsn, databases = source_dsn, _env_list(database, "BASCULE_BACKUP_DATABASES")
    if local or stack is not None:
        target = _target(local, stack, cwd, None if local else service, sandbox_dir, None)
        plan = target.plan
        store = target.store
        if target.sandbox is not None:
            dsn = dsn or target.sandbox.backup_source()
        service, databases, recipient = plan.service, databases or list(plan.databases), recipient or plan.recipient
        retention_days = retention_days or plan.retention_days
    else:
        missing = [flag for flag, value in (("--service", service), ("--store-endpoint", endpoint),
                   ("--store-region", region), ("--bucket", bucket), ("--recipient", recipient),
                   ("--retention-days", retention_days), ("--database", databases or None)) if not value]  # fmt: skip
        if missing:
            fail([f"{', '.join(missing)}: needed (or their BASCULE_BACKUP_* variables, docs/backup.md)"])
        store = Store(StoreAddress(str(endpoint), str(region), str(bucket)))
    if not dsn:
        fail(["--source-dsn (or BASCULE_BACKUP_SOURCE_DSN): which server to dump"])
    assert service is not None and recipient is not None and retention_days is not None
    try:
        with working(f"backing up {', '.join(databases)} to {store.address.describe()}"):
            taken = take(store, service, dsn, databases, recipient, int(retention_days))
    except (BackupError, StoreError) as exc:
        fail([str(exc)], EXIT_FAILED)
    if output_format is TextOrJson.JSON:
        emit_json({"backups": [{"key": m.key, **m.as_json()} for m in taken]})
        return
    for m in taken:
        emit(f"{m.key}: {m.size_bytes} bytes, {sum(m.row_counts.values())} rows in {len(m.row_counts)} tables, "
             f"locked {retention_days} days")  # fmt: skip


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"


@app.command("list")
def list_command(
    local: Local = False,
    stack: Stack = None,
    cwd: Cwd = Path("."),
    service: Service = None,
    sandbox_dir: SandboxDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """What exists: each database's complete backups, newest first, with age, size and rows; dumps without a
    manifest (unfinished) and unreadable manifests.

    Exit 0, 1 when the store cannot be listed, 2 bad input, 70 internal error."""
    from bascule.backup.backups import list_backups
    from bascule.backup.store import StoreError

    target = _target(local, stack, cwd, service, sandbox_dir, None)
    now = datetime.now(UTC)
    found: dict[str, Any] = {}
    try:
        for database in target.plan.databases:
            listing = list_backups(target.store, target.plan.service, database)
            complete = [{"key": m.key, "age_s": round(m.age_seconds(now), 1), **m.as_json()} for m in listing.complete]
            found[database] = {
                "complete": complete,
                "unfinished": listing.unfinished,
                "unreadable": listing.unreadable,
            }
    except StoreError as exc:
        fail([str(exc)], EXIT_FAILED)
    if output_format is TextOrJson.JSON:
        emit_json({"store": target.plan.address.describe(), "stack": target.stack, "service": target.plan.service,
                   "read_at": now.isoformat(timespec="seconds"), "every_hours": target.plan.every_hours,
                   "databases": found})  # fmt: skip
        return
    say(f"{target.plan.service}: {target.plan.address.describe()} ({target.plan.provider or 'provider unknown'})")
    for database, entry in found.items():
        emit(f"{database}: {len(entry['complete'])} complete backups")
        for m in entry["complete"]:
            emit(f"  {m['key']}  {_age(m['age_s'])} old  {m['size_bytes']} bytes  "
                 f"{sum(m['row_counts'].values())} rows")  # fmt: skip
        for key in entry["unfinished"]:
            emit(f"  {key}  no manifest: unfinished, never counted")
        for line in entry["unreadable"]:
            emit(f"  unreadable: {line}")


@app.command("verify")
def verify_command(
    local: Local = False,
    stack: Stack = None,
    cwd: Cwd = Path("."),
    service: Service = None,
    sandbox_dir: SandboxDir = None,
    identity: Identity = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Whether each database's newest complete backup is younger than the schedule promises (every_hours plus
    a grace hour) and, with the identity, downloadable, intact (sha256 = manifest) and decryptable into a readable
    archive; without it, present and locked. Exit 0 fresh and readable, 1 not (each cause named), 2 bad input,
    70 internal error."""
    from bascule.backup.backups import GRACE_HOURS, freshness

    target = _target(local, stack, cwd, service, sandbox_dir, identity)
    results = []
    checked = datetime.now(UTC)
    with working("checking the newest backups"):
        for database in target.plan.databases:
            results.append(freshness(target.store, target.plan.service, database, target.plan.every_hours,
                                     target.identity))  # fmt: skip
    problems = [p for r in results for p in r.problems]
    if output_format is TextOrJson.JSON:
        emit_json({"ok": not problems, "store": target.plan.address.describe(), "stack": target.stack,
                   "service": target.plan.service, "read_at": checked.isoformat(timespec="seconds"),
                   "every_hours": target.plan.every_hours, "grace_hours": GRACE_HOURS,
                   "deep": target.identity is not None, "problems": problems,
                   "databases": [{"database": r.database, "newest": r.newest.key if r.newest else None,
                                  "finished_at": r.newest.finished_at if r.newest else None,
                                  "age_s": r.age_seconds} for r in results]})  # fmt: skip
    else:
        for r in results:
            emit(f"{r.database}: newest {r.newest.key if r.newest else 'none'}, {_age(r.age_seconds)} old "
                 f"(every {target.plan.every_hours:g} h)")  # fmt: skip
    if problems:
        fail(problems, EXIT_FAILED)


@app.command("restore")
def restore_command(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            callback=_non_empty("--to"),
            help="The fresh database to create and "
            "restore into: a libpq URI naming it (postgresql://user@host/newdb); with --local, a bare name "
            "creates it on the sandbox's primary server.",
        ),
    ],
    local: Local = False,
    stack: Stack = None,
    cwd: Cwd = Path("."),
    service: Service = None,
    sandbox_dir: SandboxDir = None,
    identity: Identity = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            callback=_non_empty("--database"),
            help="Which database's backup (default: the first the service backs up).",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--backup", callback=_non_empty("--backup"), help="The dump's key (default: the newest complete backup)."
        ),
    ] = None,
    history_dir: Annotated[
        Path | None,
        typer.Option(
            "--history",
            callback=output_folder("--history"),
            help="Append the restore (time, backup age, pass or fail) to <DIR>/history.jsonl, where `bascule audit "
            "--history DIR` finds the last restore drill of the stack.",
        ),
    ] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Download a backup, check its sha256 against the manifest, decrypt it, pg_restore it into a fresh database
    and compare every table's rows with the manifest. Exit 0 restored and verified, 1 failed or rows differ
    (named), 2 bad input, 3 the target database already exists, 70 internal error.

    With --history, a restore that ran (verified or not) is recorded as the stack's restore drill (fault
    `backup-restore`); a refused one (bad input, the target exists) is not."""
    from bascule.backup.backups import BackupError, Manifest, TargetExists, list_backups, restore
    from bascule.backup.store import StoreError

    target = _target(local, stack, cwd, service, sandbox_dir, identity)
    if target.identity is None:
        fail(["--identity (or BASCULE_BACKUP_IDENTITY): the age identity file the backups are encrypted to"])
    name = database or target.plan.databases[0]
    if name not in target.plan.databases:
        fail([f"--database {quoted(name)}: not backed up (backed up: {', '.join(target.plan.databases)})"])
    dsn = to
    if target.sandbox is not None and "=" not in to and "://" not in to:
        data = target.sandbox.state.data
        assert data is not None
        dsn = data.clusters["primary"].conninfo(dbname=to)
    try:
        if not psycopg.conninfo.conninfo_to_dict(dsn).get("dbname"):
            fail(["--to: name the new database (dbname=... or the URI's path)"])
    except psycopg.ProgrammingError as exc:
        fail([f"--to: not a libpq connection string: {exc}"])
    try:
        listing = list_backups(target.store, target.plan.service, name)
    except StoreError as exc:
        fail([str(exc)], EXIT_FAILED)
    chosen: Manifest | None = next((m for m in listing.complete if key in (None, m.key)), None)
    if chosen is None:
        fail([f"no complete backup {quoted(key) if key else 'at all'} of {name} in {target.plan.address.describe()}"],
             EXIT_FAILED)  # fmt: skip
    age = round(chosen.age_seconds(datetime.now(UTC)), 1)

    def record(status: str, seconds: float | None) -> None:
        if history_dir is None:
            return
        try:
            written = append_restore(history_dir, service=target.plan.service, target=target.describe(),
                                     backup=chosen.key, status=status, restore_s=seconds, backup_age_s=age)  # fmt: skip
        except OSError as exc:
            warn(f"--history {history_dir}: row not appended: {exc.strerror or exc}")
            return
        say(f"history: {written}")

    try:
        with working(f"restoring {chosen.key}"):
            result = restore(target.store, chosen, target.identity, dsn)
    except TargetExists as exc:
        fail([str(exc)], EXIT_REFUSED)
    except BackupError as exc:
        record("fail", None)
        fail([str(exc)], EXIT_FAILED)
    record("fail" if result.mismatches else "pass", round(result.seconds, 3))
    document = {"backup": chosen.key, "database": result.database, "restore_s": round(result.seconds, 3),
                "row_counts": result.row_counts, "verified_rows": result.verified_rows,
                "mismatches": result.mismatches}  # fmt: skip
    if output_format is TextOrJson.JSON:
        emit_json(document)
    else:
        emit(f"restored {chosen.key} into {result.database} in {result.seconds:.2f} s: "
             f"{sum(result.row_counts.values())} rows in {len(result.row_counts)} tables")  # fmt: skip
    if result.mismatches:
        fail(result.mismatches, EXIT_FAILED)
