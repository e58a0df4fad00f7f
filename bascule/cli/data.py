"""`bascule data`: where a data pair stands, and its promotion and failback, on the sandbox or a deployed stack."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import psycopg
import typer

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_REFUSED,
    Cwd,
    Duration,
    FormatTextJson,
    LockDir,
    Quiet,
    SandboxDir,
    TextOrJson,
    emit,
    emit_json,
    fail,
    out,
    output_file,
    say,
    styled,
    warn,
    with_dirs,
    working,
)
from bascule.data import (
    FAILBACK,
    PROMOTE,
    DataError,
    DataPair,
    DataRefused,
    OperationResult,
    PairStateError,
    StepFailed,
    StepResult,
    failback,
    problems,
    promote,
    render_text,
    status,
)
from bascule.data.status import LAG_WAIT_MAX
from bascule.drills.control import ControlError
from bascule.drills.data_ops import DataTarget, OperationLocked, run_operation
from bascule.drills.journal import Redactor
from bascule.drills.lock import default_lock_dir
from bascule.sandbox import SandboxError, default_state_dir

app = typer.Typer(
    help=(
        "The data standby: a primary PostgreSQL replicated by logical replication to a standby beside the secondary "
        "site. `status` reads both databases (lag in bytes and seconds, subscription, slot); `promote` makes the "
        "standby the writer (the old primary fenced when reachable: its app role NOLOGIN, its sessions ended); "
        "`failback` replays on the primary what the standby wrote and makes the primary the writer again. Each runs "
        "on the sandbox (--local, after `bascule sandbox up --data`) or on a deployed stack (--stack S), reading "
        "the PostgresStandby's outputs from the stack's state and connecting to both databases directly: run --stack "
        "from a machine that reaches both (the standby has no public endpoint: inside its virtual network, or joined "
        "to it by VPN or peering). Who is writable is told through the databases themselves: the application on "
        "each site connects to the database beside it. Guide: docs/data.md."
    ),
    no_args_is_help=True,
)

Local = Annotated[bool, typer.Option("--local", help="The sandbox's databases (`bascule sandbox up --data`).")]
Stack = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="A deployed stack: its PostgresStandby's outputs are read from the stack's state, and both databases are "
        "reached directly, so run it from a machine that reaches the standby's private network and RDS.",
    ),
]
Service = Annotated[str | None, typer.Option("--service", help="With --stack: whose data standby (if several).")]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Check each step against the databases and print what it would do; change "
        "nothing, take no lock, write no journal.",
    ),
]
Journal = Annotated[
    Path | None,
    typer.Option(
        "--journal", callback=output_file("--journal"),
        help="Append each step here (default: data-journal/<service>.jsonl, one per service).",
    ),
]  # fmt: skip
LAG_WAIT = Duration("seconds", LAG_WAIT_MAX, "the longest `data status` waits for the standby to confirm")


def _target(local: bool, stack: str | None, cwd: Path, service: str | None, sandbox_dir: Path | None) -> DataTarget:
    if local == (stack is not None):
        fail(["choose one target: --local (the sandbox) or --stack NAME [--cwd DIR] [--service NAME]"])
    if local and service is not None:
        fail(["--service goes with --stack: the sandbox has one service"])
    if local:
        return DataTarget(sandbox_dir=str(sandbox_dir or default_state_dir()))
    return DataTarget(stack=stack, cwd=str(cwd), service=service)


def targeted(text: str, target: DataTarget) -> str:
    """`bascule data ...` hints in `text` with this command's target, so they run as they are copied (the folder
    flags are added by the CLI's hint rule, `common.with_dirs`)."""
    flags = "--local" if target.sandbox_dir is not None else f"--stack {shlex.quote(str(target.stack))}" + (
        f" --cwd {shlex.quote(str(target.cwd))}" if target.cwd not in (None, ".") else "") + (
        f" --service {shlex.quote(target.service)}" if target.service else "")  # fmt: skip
    return re.sub(r"`bascule data (status|promote|failback)`", lambda m: f"`bascule data {m.group(1)} {flags}`", text)


def _pair(target: DataTarget) -> DataPair:
    try:
        where = "the data standby's outputs from the stack's state" if target.stack else "the sandbox's state"
        with working(f"reading {where}"):
            return target.pair()
    except (SandboxError, ControlError, PairStateError) as exc:  # CliMissing is a ControlError: bad input here too
        fail([str(exc)], EXIT_BAD_INPUT)


@app.command("status")
def status_command(
    local: Local = False,
    stack: Stack = None,
    cwd: Cwd = Path("."),
    service: Service = None,
    sandbox_dir: SandboxDir = None,
    lag_wait: Annotated[
        float | None,
        typer.Option(
            "--lag-wait",
            callback=LAG_WAIT.check("--lag-wait"),
            help="Seconds to wait for the standby to confirm the primary's current position "
            "(how lag in seconds is measured; default: the RPO, else 5, at most 30).",
        ),
    ] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Show both databases: who is writable, the subscription and its worker, the slot (wal_status, safe_wal_size),
    the lag in bytes and measured in seconds, the last applied position, promoted or not. Changes nothing.

    Exit 0 when the standby is a healthy replica within the RPO, 1 when not (each cause named), 2 bad input,
    70 internal error.

    Examples:
      bascule data status --local
      bascule data status --stack prod --service checkout -f json | jq '.databases[].lag_seconds'
    """
    target = _target(local, stack, cwd, service, sandbox_dir)
    pair = _pair(target)
    redact = Redactor(pair.secrets())
    with working("reading both databases and measuring the lag"):
        found = status(pair, lag_wait)
    if output_format is TextOrJson.JSON:
        emit_json(redact.data(found.as_json()))
    else:
        emit(with_dirs(targeted(redact(render_text(found)), target)))
    if problems(found):
        raise typer.Exit(EXIT_FAILED)


def _show_step(redact: Callable[[str], str]) -> Callable[[StepResult], None]:
    def show(step: StepResult) -> None:
        label = {"done": "done   ", "already": "already", "would": "would  ", "skipped": "skipped"}[step.status]
        say(f"  {label} {step.step} on {step.where}: {redact(step.detail)}")

    return show


def _operation(
    operation: str,
    target: DataTarget,
    dry_run: bool,
    journal: Path | None,
    lock_dir: Path | None,
    force: str | None,
    output_format: TextOrJson,
) -> None:
    pair = _pair(target)
    secrets = Redactor(pair.secrets())

    def redact(text: str) -> str:
        return targeted(secrets(text), target)

    show = _show_step(redact)
    say(styled(f"data {operation}", "bold", f"{pair.service} ({redact(pair.source)})" + (" — dry run" if dry_run
                                                                                          else "")))  # fmt: skip
    try:
        if dry_run and operation == PROMOTE:
            result = promote(pair, force_reason=force, dry_run=True, on_step=show)
        elif dry_run:
            result = failback(pair, dry_run=True, on_step=show)
        else:
            path = journal or Path("data-journal") / f"{pair.service}.jsonl"
            result = run_operation(operation, target, pair, path, lock_dir or default_lock_dir(), force, show)
    except (DataRefused, OperationLocked) as exc:
        reasons = exc.reasons if isinstance(exc, DataRefused) else [str(exc)]
        _stop(operation, output_format, {"outcome": "refused", "reasons": [redact(r) for r in reasons]},
              [f"refused: {redact(r)}" for r in reasons], EXIT_REFUSED)  # fmt: skip
    except StepFailed as exc:
        _stop(operation, output_format, {"outcome": "failed", "step": exc.step, "where": exc.where,
                                         "error": redact(exc.error)},
              [f"{exc.step} on {exc.where} failed: {redact(exc.error)}", "what is done stays done: run the same "
               "command again to continue, or `bascule drill recover`"], EXIT_FAILED)  # fmt: skip
    except (DataError, psycopg.Error) as exc:  # a database that refused a check before any step: nothing done
        fail([redact(" ".join(str(exc).split()))], EXIT_FAILED)
    except OSError as exc:
        fail([f"--journal: cannot write the journal: {exc.strerror or exc}"], EXIT_BAD_INPUT)
    _finish(result, secrets, redact, output_format)


def _stop(operation: str, output_format: TextOrJson, document: dict[str, object], lines: list[str],
          code: int) -> NoReturn:  # fmt: skip
    if output_format is TextOrJson.JSON:
        emit_json({"operation": operation, **document})
    fail(lines, code)


def _finish(
    result: OperationResult, secrets: Redactor, redact: Callable[[str], str], output_format: TextOrJson
) -> None:
    if output_format is TextOrJson.JSON:
        emit_json(secrets.data(result.as_json()))
    else:
        said = {
            ("promote", "done"): "promoted: the standby is the writer; its app role is writable",
            ("failback", "done"): "failed back: the primary is the writer again, the standby its replica",
            ("promote", "planned"): "dry run: nothing was changed",
            ("failback", "planned"): "dry run: nothing was changed",
        }.get((result.operation, result.outcome))
        out.print(said or "; ".join(result.notes) or result.outcome, highlight=False)
    for line in result.notes if result.outcome != "nothing-to-do" or output_format is TextOrJson.JSON else []:
        warn(redact(line))


@app.command("promote")
def promote_command(
    local: Local = False,
    stack: Stack = None,
    cwd: Cwd = Path("."),
    service: Service = None,
    sandbox_dir: SandboxDir = None,
    dry_run: DryRun = False,
    force: Annotated[
        str | None,
        typer.Option(
            "--force",
            metavar="REASON",
            help="Promote although the primary answers but cannot be fenced "
            "(its app could still write there: split brain), or a failback is half done; the reason is "
            "recorded in the journal and in both databases.",
        ),
    ] = None,
    journal: Journal = None,
    lock_dir: LockDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Make the standby the writer, in steps that each check whether they are done (so an interrupted promotion is
    finished by running it again, or by `bascule drill recover`):

    fence the old primary when it answers (app role NOLOGIN, its sessions ended, a login as the app refused), wait
    for the standby to confirm everything it wrote, stop the subscription (its slot dropped, or detached when the
    primary is gone), keep a failback slot on the standby, advance every sequence past the max of its columns,
    record the promotion in both databases, let the standby's app role log in and write.

    Refused (exit 3, nothing changed) when the standby cannot be reached, or the primary answers but cannot be
    fenced, unless --force REASON. Exit 1 when a step fails part way, 2 bad input, 70 internal error.

    Examples:
      bascule data promote --local --dry-run
      bascule data promote --stack prod --service checkout
    """
    if force is not None and not force.strip():
        fail(["--force: give the reason (it is recorded in the journal and the databases)"])
    target = _target(local, stack, cwd, service, sandbox_dir)
    _operation(PROMOTE, target, dry_run, journal, lock_dir, force.strip() if force else None, output_format)


@app.command("failback")
def failback_command(
    local: Local = False,
    stack: Stack = None,
    cwd: Cwd = Path("."),
    service: Service = None,
    sandbox_dir: SandboxDir = None,
    dry_run: DryRun = False,
    journal: Journal = None,
    lock_dir: LockDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Return a promoted pair to primary-with-replica, every row written on the standby on the primary once:

    the primary subscribes to the failback slot promotion left on the standby and replays what the standby did
    since (inserts, updates, deletes); the standby is fenced (its app role NOLOGIN); once the primary has replayed
    everything, the failback subscription goes, the primary's sequences are advanced, the standby subscribes again
    as the replication login (re-seeded when it had not confirmed every primary write at promotion), the primary's
    app role may log in and write again, and the standby's may log in to read, read-only by default. Resumable,
    like promote.

    Refused (exit 3, nothing changed) when either database cannot be reached, the standby cannot be fenced, or its
    failback slot is missing or lost (docs/data.md says what then). Exit 1 when a step fails part way, 2 bad input,
    70 internal error.

    Examples:
      bascule data failback --local
      bascule data failback --stack prod --service checkout --dry-run -f json
    """
    target = _target(local, stack, cwd, service, sandbox_dir)
    _operation(FAILBACK, target, dry_run, journal, lock_dir, None, output_format)
