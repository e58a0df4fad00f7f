"""`bascule drill`: break the primary on purpose, measure how long traffic takes to move, put it back."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer._click.core import ParameterSource  # typer vendors click: whether --fault was given

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_REFUSED,
    CaBundle,
    Cwd,
    Duration,
    FormatTextJson,
    JsonAlias,
    LockDir,
    MinCertDays,
    NoAuthoritative,
    NotifyUrls,
    Quiet,
    Resolvers,
    SandboxDir,
    StacksDir,
    TextOrJson,
    chosen_format,
    emit,
    emit_json,
    err,
    fail,
    format_option,
    input_folder,
    no_resolvers_for_the_sandbox,
    out,
    output_folder,
    running_offline,
    say,
    stack_file_or_fail,
    styled,
    warn,
    with_dirs,
    working,
    writable_or_fail,
)
from bascule.data import DataPair, PairStateError, pair_from_state
from bascule.drills import history
from bascule.drills.canary_undo import rows_may_be_missing
from bascule.drills.control import ControlError, DrillControl, SandboxControl
from bascule.drills.data import DataDrill, SandboxDataDrill, StackDataDrill
from bascule.drills.journal import Journal, JournalError, Redactor, read_journal
from bascule.drills.local import drill_sandbox
from bascule.drills.lock import DrillLock, LockHeld, StaleLock, default_lock_dir
from bascule.drills.plan import APPROVAL_ENV, FAILOVER_FAULTS, DrillPlan, Fault, plan_lines
from bascule.drills.recovery import Outcome, dead_man, recover_locks, recover_stack
from bascule.drills.report import SUMMARY_COLUMNS, data_rows, summary_rows, summary_targets, write_reports
from bascule.drills.runner import DrillInterrupted, Observation, dry_run, signals_interrupt, status_line
from bascule.drills.schedule import MAX_WINDOW_MINUTES, parse_blackout, window_delay
from bascule.drills.session import SessionError, drill_session
from bascule.drills.stack_control import (
    CliMissing,
    PulumiStackControl,
    fault_levers,
    open_stack_control,
    stack_config_path,
)
from bascule.readiness.site import DEFAULT_MIN_CERT_DAYS
from bascule.readiness.target import parse_resolver
from bascule.sandbox import Sandbox, SandboxError, SandboxRefused, SandboxService
from bascule.sandbox.settings import service_settings
from bascule.spec import MAX_RTO_SECONDS, SpecError
from bascule.watch.messages import drill_ended, drill_started

SECONDS = Duration("seconds", MAX_RTO_SECONDS, "7 days, the longest rto_seconds a spec takes", above=True)
"""--rto and --timeout: a failover target or wait, bounded like the spec's own targets."""
RPO_SECONDS = Duration("seconds", MAX_RTO_SECONDS, "7 days, the longest rpo_seconds a spec takes")
WINDOW = Duration("minutes", MAX_WINDOW_MINUTES, "a week: the period of a weekly schedule")

app = typer.Typer(
    help=(
        "Failover drills. `bascule drill --local` runs one end to end against the local sandbox (a real "
        "PowerDNS failing over between two loopback sites), starting it if needed; `bascule drill --stack S "
        "--service X` drills a deployed Pulumi stack through `pulumi up`. Exit codes: 0 pass, "
        "1 RTO missed / restore failed / aborted / interrupted (Ctrl-C or SIGTERM: the fault is restored first), "
        "2 bad input, 3 refused (preflight failed or target locked), 70 internal error (a bug in Bascule).\n\n"
        "Each drill writes journal.jsonl, report.json, report.md and report.html. With --format json, stdout "
        "carries report.json's summary (or, with --dry-run, the plan and the preflight result) and nothing else; "
        "progress goes to stderr.\n\n"
        "Examples:\n"
        "  bascule drill --local                                   # the sandbox, health fault\n"
        "  bascule drill --local --fault outage --history drill-history\n"
        "  bascule drill --local --dry-run --format json | jq .preflight\n"
        "  bascule drill --stack prod --cwd infra --dry-run        # offline: what each fault changes, no Pulumi CLI\n"
        "  bascule drill --stack prod --service checkout --fault switch --resolver 1.1.1.1 --history drill-history"
    ),
    no_args_is_help=False,
)


def _service_settings(stack: str | None, service: str | None, stacks_dir: Path, cwd: Path) -> SandboxService:
    if stack is None and service is not None:
        fail(["--service needs --stack: it names a service of that stack's bascule:services"])
    if stack is not None:
        stack_file_or_fail("bascule drill", stack, stacks_dir, cwd)
    try:
        return service_settings(stack, service, stacks_dir)
    except SpecError as exc:
        fail(exc.lines)
    except SandboxError as exc:
        fail([str(exc)])


@app.callback(invoke_without_command=True)
def drill(
    ctx: typer.Context,
    local: Annotated[
        bool, typer.Option("--local", help="Drill the local sandbox (started for the drill if none is running).")
    ] = False,
    fault: Annotated[
        Fault,
        typer.Option(
            "--fault",
            help="health: primary's health path answers 503. outage: primary stopped (tasks at zero). "
            "switch: DNS moves off the primary (sandbox record rewritten; Route 53 check inverted). "
            "corruption (--local --data): rows deleted on the primary reach the standby; the newest backup is "
            "restored into a fresh database and checked (the sandbox gets a backup store).",
        ),
    ] = Fault.HEALTH,
    stack: Annotated[
        str | None,
        typer.Option("--stack", help="Drill this Pulumi stack (with --local: only take its service's settings)."),
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="Service of --stack to drill.")] = None,
    cwd: Cwd = Path("."),
    resolver: Resolvers = None,
    no_authoritative: NoAuthoritative = False,
    rto: Annotated[
        float | None,
        typer.Option("--rto", callback=SECONDS.check("--rto"), help="RTO target in seconds (default: the spec's)."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", callback=SECONDS.check("--timeout"), help="Seconds to wait for each of failover and failback."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", callback=output_folder("--out"), help="Report folder (default ./drill-reports/<UTC timestamp>/)."
        ),
    ] = None,
    history_dir: Annotated[
        Path | None,
        typer.Option(
            "--history", callback=output_folder("--history"), help="Append the result to <DIR>/history.jsonl."
        ),
    ] = None,
    window: Annotated[
        float,
        typer.Option(
            "--window",
            callback=WINDOW.check("--window"),
            help="Start at a random moment within this many minutes (schedules).",
        ),
    ] = 0.0,
    blackout: Annotated[
        list[str] | None,
        typer.Option("--blackout", help="Dates (YYYY-MM-DD or A..B, comma-separated) with no drill; exits 0."),
    ] = None,
    sandbox_dir: SandboxDir = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan and check the preconditions; change nothing. With --stack: each fault's resources "
            "(only --fault's, when given), from the program run offline (no Pulumi CLI; --service optional).",
        ),
    ] = False,
    lock_dir: LockDir = None,
    stacks_dir: StacksDir = Path("stacks"),
    min_cert_days: MinCertDays = DEFAULT_MIN_CERT_DAYS,
    ca_bundle: CaBundle = None,
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Also drill the data standby: promote it once the fault is in effect, fail it back at the restore "
            "(`bascule data promote|failback`). --local: canary writes through the service, lost writes, observed "
            "RPO; the sandbox is started with --data if none runs, and the outage fault SIGKILLs the primary's "
            "database. --stack: no canary (the app has none): promotion time, caught up with the fenced primary, "
            "first write as the app role on a direct connection; run from a machine that reaches both databases.",
        ),
    ] = False,
    acme: Annotated[
        bool,
        typer.Option(
            "--acme",
            help="With --local: the secondary's certificate comes from a local ACME server by DNS-01 (Debian's "
            "pebble and lego); the sandbox is started with --acme if none runs.",
        ),
    ] = False,
    rpo: Annotated[
        float | None,
        typer.Option("--rpo", callback=RPO_SECONDS.check("--rpo"), help="RPO target in seconds (default: the spec's)."),
    ] = None,
    force: Annotated[
        str | None,
        typer.Option(
            "--force",
            metavar="REASON",
            help="Drill although the standby is not ready or another service of the stack is failed over; the "
            "reason and what it overrode go into the journal and the report.",
        ),
    ] = None,
    require_approval: Annotated[
        bool,
        typer.Option(
            "--require-approval",
            help=f"Refuse (exit 3) unless {APPROVAL_ENV} names who approved this drill (set by a CI environment "
            "with required reviewers); recorded with the plan.",
        ),
    ] = False,
    notify: NotifyUrls = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Run a failover drill; what `bascule drill --help` shows is the app's help above (typer shows a group's
    own help, not its callback's docstring, which is why the examples live there)."""
    if ctx.invoked_subcommand is not None:
        return
    if not local and stack is None:
        fail(["choose a target: --local (the sandbox) or --stack NAME --service NAME (a deployed Pulumi stack)"])
    if local:
        no_resolvers_for_the_sandbox(resolver, no_authoritative)
    if acme and not local:
        fail(["--acme: the sandbox's ACME certificate is for --local; a stack's certificates are its sites' own"])
    if (fault is Fault.CORRUPTION and not (local and data)) or (fault is Fault.CORRUPTION and (dry_run or acme)):
        fail(
            [
                "--fault corruption: the restore drill runs on the sandbox with --local --data (no --dry-run, no "
                "--acme); a stack's backups are restored with `bascule backup restore --stack S --to ...`"
            ]
        )
    if force is not None and not force.strip():
        fail(["--force: give the reason (it is recorded in the journal and the report)"])
    approval = os.environ.get(APPROVAL_ENV, "").strip() or None
    if require_approval and approval is None:
        fail([f"--require-approval: {APPROVAL_ENV} is not set: nobody approved this drill"], EXIT_REFUSED)
    try:
        blackout_days = parse_blackout(blackout or [])
        delay = window_delay(window, random.Random())
    except ValueError as exc:
        fail([str(exc)])
    if datetime.now(UTC).date() in blackout_days:
        skipped = f"{datetime.now(UTC).date()} is a blackout date: no drill today"
        if output_format is TextOrJson.JSON:
            emit_json({"status": "skipped", "reason": skipped})
        else:
            out.print(skipped)
        return
    if delay:
        say(f"window: starting in {delay / 60:.1f} min, at {datetime.now(UTC).timestamp() + delay:.0f} (epoch)")
        time.sleep(delay)
    reports = out_dir or Path("drill-reports") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    locks = lock_dir or default_lock_dir()
    if not dry_run:  # a dry run writes no report
        writable_or_fail("--out", reports, folder=True)  # the default too: checked before any lock is taken
    writable_or_fail("--lock-dir", locks, folder=True)
    lock_info = {"journal": str((reports / "journal.jsonl").resolve()), "fault": fault.value}
    if fault is Fault.CORRUPTION:
        settings = _service_settings(stack, service, stacks_dir, cwd)
        _restore_drill(sandbox_dir, settings, reports, locks, lock_info, output_format, history_dir)
        return
    with ExitStack() as cleanup:
        lock: DrillLock | None = None
        sandbox: Sandbox | None = None
        pair: DataPair | None = None
        default_rpo: float | None = None
        if local:
            settings = _service_settings(stack, service, stacks_dir, cwd)
            sandbox, lock = _sandbox(sandbox_dir, settings, cleanup, locks, lock_info, data, acme)
            control: DrillControl = SandboxControl(sandbox)
            default_rto, default_rpo = float(settings.rto_seconds), float(settings.rpo_seconds)
        elif dry_run:
            # Every failover fault unless --fault was given: then that one, as a drill would inject it.
            given = ctx.get_parameter_source("fault") not in (None, ParameterSource.DEFAULT)
            _stack_dry_run(stack or "", service, cwd, output_format, (fault,) if given else FAILOVER_FAULTS)
            return
        else:
            stack_control, default_rto = _stack_control(
                stack or "", service, cwd, resolver or [], no_authoritative, str(ca_bundle) if ca_bundle else None
            )
            _dead_man(stack_control, locks)
            control = stack_control.with_data() if data else stack_control
            pair = _stack_pair(stack_control, data)
            default_rpo = pair.rpo_seconds if pair is not None else None
        redact = Redactor(control.secrets())

        try:
            target = control.target()
        except ControlError as exc:
            fail([redact(str(exc))])
        if ca_bundle is not None:
            target = replace(target, ca_bundle=str(ca_bundle))
        plan = DrillPlan(
            target=target,
            min_cert_days=min_cert_days,
            fault=fault,
            rto_seconds=rto if rto is not None else default_rto,
            timeout_seconds=timeout if timeout is not None else max(30.0, 3 * target.failover_bound_seconds),
            rpo_seconds=(rpo if rpo is not None else default_rpo) if data else None,
            force_reason=force.strip() if force else None,
            approval=approval if require_approval else None,
        )
        say(styled("drill", "bold", redact(f"{target.service} ({fault.value}) on {target.description}")))

        def data_drill(journal: Journal) -> DataDrill:
            if sandbox is not None:
                return SandboxDataDrill(sandbox, target, plan.trust, journal, plan.rpo_seconds)
            assert pair is not None  # read with the stack's control when --data was given
            return StackDataDrill(pair, journal, plan.rpo_seconds)

        if dry_run:
            _dry_run(plan, control, redact, output_format, data_drill if data else None)
            return
        announce = _announcer(notify, redact)
        announce(*drill_started(target.service, target.hostname, fault.value, target.description,
                                plan.timeout_seconds))  # fmt: skip
        with working("preflight: checking both sites and DNS") as status:

            def progress(line: str) -> None:
                say(f"  {redact(line)}")
                status(redact(line))

            def watch(observation: Observation) -> None:
                status(redact(status_line(observation)))

            try:
                result = drill_session(
                    plan, control, reports, locks, lock_info, redact, progress, watch, lock,
                    data_drill if data else None, history_dir,
                )  # fmt: skip
            except SessionError as exc:
                announce(*drill_ended(None, target.service, target.hostname, exc.lines))
                fail(exc.lines, exc.exit_code)
    announce(*drill_ended(result.summary, target.service, target.hostname, result.problems))
    if result.lock_kept:
        err.print(styled("the fault may still be in place:", "red", with_dirs("run `bascule drill recover`")))
    if result.summary is not None:
        _print_summary(result.summary, reports, output_format)
    for problem in result.problems:
        warn(problem)
    if result.history_file is not None:
        say(f"history: {result.history_file}")
    raise typer.Exit(result.exit_code)


def _announcer(urls: list[str] | None, redact: Redactor) -> Callable[[str, str], None]:
    """What `--notify` does with a drill's start and end: send it (secrets redacted), warn about a delivery that
    failed after its retries, and go on: a notification never stops a drill."""
    if not urls:
        return lambda _title, _body: None
    from bascule.watch.notify import FAILURE, INFO, Notifier, target  # apprise: only with --notify

    notifier = Notifier([target(url) for url in urls])

    def announce(title: str, body: str) -> None:
        kind = FAILURE if "FAIL" in title or "without a report" in title else INFO
        for delivery in notifier.send(redact(title), redact(body), kind):
            if not delivery.ok:
                warn(f"--notify: {delivery.target}: not delivered after {delivery.attempts} attempts: {delivery.error}")

    return announce


def _restore_drill(
    sandbox_dir: Path | None,
    settings: SandboxService,
    reports: Path,
    locks: Path,
    lock_info: dict[str, Any],
    output_format: TextOrJson,
    history_dir: Path | None,
) -> None:
    """`--fault corruption`: the restore drill (`bascule.drills.restore`) under the sandbox's lock; reports as any
    drill's, from its journal, and a history row (restore time, backup age, writes lost) with `--history`.

    SIGTERM and SIGINT are requests the drill honours between its steps (`runner.signals_interrupt`): it puts back
    the rows it deleted, then stops (exit 1). The lock stays only when they may still be deleted (the put-back
    failed): `bascule drill recover` puts them back from the journal."""
    interrupted: str | None = None
    kept = False
    with ExitStack() as cleanup:
        sandbox, lock = _sandbox(sandbox_dir, settings, cleanup, locks, lock_info, data=True, backups=True)
        owned = lock is not None
        control = SandboxControl(sandbox)
        if lock is None:
            mine = DrillLock(locks, control.lock_key())
            try:
                mine.acquire({**lock_info, "control": control.describe(), "owned_sandbox": False})
            except (LockHeld, StaleLock) as exc:
                fail([str(exc)], EXIT_REFUSED)
            # Released on every way out (a failure, Ctrl-C, a bug) unless the drill's journal says the deleted rows
            # may still be missing (`kept`, set below): that lock is what `drill recover` finds.
            cleanup.callback(lambda: None if kept else mine.release())
        redact = Redactor(control.secrets())
        try:
            target = control.target()
        except ControlError as exc:
            fail([redact(str(exc))])
        try:
            journal = Journal(reports / "journal.jsonl", redact)
        except (OSError, JournalError) as exc:
            fail([f"--out {reports}: cannot write the drill journal: {exc}"])
        plan = DrillPlan(target=target, fault=Fault.CORRUPTION, rto_seconds=float(settings.rto_seconds),
                         timeout_seconds=30.0, rpo_seconds=float(settings.rpo_seconds))  # fmt: skip
        what = f"{target.service} (corruption, restore from backup) on {target.description}"
        say(styled("drill", "bold", redact(what)))
        with signals_interrupt(), working("restore drill") as status:

            def progress(line: str) -> None:
                say(f"  {redact(line)}")
                status(redact(line))

            try:
                from bascule.drills.restore import run_restore_drill  # the `backup` extra: only this drill

                run_restore_drill(plan, sandbox, journal, progress)
            except (KeyboardInterrupt, DrillInterrupted) as exc:
                interrupted = str(exc) or "SIGINT"
            except Exception as exc:
                journal.append("internal-error", error=f"{type(exc).__name__}: {exc}")
                raise
            finally:
                journal.close()
                kept = not owned and rows_may_be_missing(journal.kinds)
            summary = write_reports(reports, read_journal(journal.path))
            history_file = None
            if history_dir is not None:
                try:
                    history_file = history.append(history_dir, summary, reports)
                except OSError as exc:
                    warn(f"--history {history_dir}: row not appended: {exc.strerror or exc}")
    if kept:
        err.print(styled("the deleted rows may still be missing:", "red", with_dirs("run `bascule drill recover`")))
    _print_summary(summary, reports, output_format)
    if history_file is not None:
        say(f"history: {history_file}")
    raise typer.Exit(EXIT_FAILED if interrupted else int(summary["exit_code"]))


def _stack_control(
    stack: str,
    service: str | None,
    cwd: Path,
    resolvers: list[str],
    no_authoritative: bool,
    ca_bundle: str | None = None,
) -> tuple[PulumiStackControl, float]:
    if service is None:
        fail(["--stack needs --service: the service whose failover to drill"])
    try:
        extra = tuple(parse_resolver(value) for value in resolvers)
    except ValueError as exc:
        fail([str(exc)])
    try:
        control = open_stack_control(
            stack, service, cwd, lambda line: say(f"  {line}"), resolvers=extra,
            with_authoritative=not no_authoritative, ca_bundle=ca_bundle,
        )  # fmt: skip
        return control, control.rto_seconds()
    except CliMissing as exc:
        fail([str(exc)], EXIT_BAD_INPUT)
    except ControlError as exc:
        fail([str(exc)])


def _stack_pair(control: PulumiStackControl, data: bool) -> DataPair | None:
    """With --data, the drilled service's data pair from the stack's state (what `bascule data --stack` reads)."""
    if not data:
        return None
    try:
        return pair_from_state(control.backend.resources(), control.stack, control.service)
    except PairStateError as exc:
        fail([f"--data: {exc}"], EXIT_BAD_INPUT)


def _dead_man(control: DrillControl, locks: Path) -> None:
    """Restore the stack first if a drill left it switched past its deadline (see `recovery.dead_man`)."""
    assert isinstance(control, PulumiStackControl)

    def said(outcome: Outcome) -> None:
        if outcome.outcome == "expired-restored":
            warn(outcome.message)
        else:
            say(outcome.message)

    try:
        dead_man(control, locks, said, working)
    except ControlError as exc:
        fail([f"a drill past its deadline could not be restored: {exc}"], EXIT_FAILED)


def _sandbox(
    directory: Path | None,
    settings: SandboxService,
    cleanup: ExitStack,
    locks: Path,
    lock_info: dict[str, Any],
    data: bool = False,
    acme: bool = False,
    backups: bool = False,
) -> tuple[Sandbox, DrillLock | None]:
    """`drill_sandbox`, its refusals and errors as exit codes, its start shown as progress."""

    @contextmanager
    def starting(message: str) -> Iterator[None]:
        say(message)
        with working(message):
            yield

    try:
        return drill_sandbox(directory, settings, cleanup, locks, lock_info, data, warn, starting, acme, backups)
    except SandboxRefused as exc:
        fail([str(exc)], EXIT_REFUSED)
    except SandboxError as exc:
        fail([str(exc)], EXIT_BAD_INPUT)


def _stack_dry_run(
    stack: str, service: str | None, cwd: Path, output_format: TextOrJson, faults: tuple[Fault, ...]
) -> None:
    """The levers of a stack's services, from its program run offline: no Pulumi CLI, nothing changed. As JSON:
    `{"stack", "work_dir", "services": [{"service", "faults": [{"fault", "resources" | "refused"}]}]}`."""
    try:
        settings = stack_config_path(cwd, stack)
    except ControlError as exc:
        fail([str(exc)])
    if not settings.exists():
        # A warning, not a stop: Pulumi accepts a stack without a settings file (every key of it is optional and
        # `pulumi config set` is what writes it; https://www.pulumi.com/docs/iac/concepts/projects/stack-settings-file/),
        # and a stack's config may live in the backend (Pulumi ESC), which an offline run cannot read.
        warn(f"{settings}: no such file: the program runs without stack config (a typo in --stack or --cwd?)")
    try:
        levers = fault_levers(cwd, stack, service, running_offline, faults)
    except ControlError as exc:
        fail([str(exc)])
    if output_format is TextOrJson.JSON:
        emit_json({"stack": stack, "work_dir": str(cwd.resolve()), "services": levers})
        return
    for entry in levers:
        out.print(styled(f"service {entry['service']}", "bold", ""), highlight=False)
        for lever in entry["faults"]:
            if "refused" in lever:
                out.print(f"  {lever['fault']}: refused: {lever['refused']}", highlight=False, markup=False)
                continue
            out.print(f"  {lever['fault']}: {len(lever['resources'])} resources targeted", highlight=False)
            for resource in lever["resources"]:
                out.print(f"    {resource['urn']}", highlight=False, markup=False, soft_wrap=True)
    out.print(f"Offline, from the program in {cwd.resolve()}: nothing was changed. `bascule verify --stack {stack}` "
              "checks the deployed stack's readiness.", highlight=False)  # fmt: skip


def _dry_run(
    plan: DrillPlan,
    control: DrillControl,
    redact: Redactor,
    output_format: TextOrJson,
    data: Callable[[Journal], DataDrill] | None = None,
) -> None:
    """The plan and the preflight, nothing changed. As JSON: one document, `{"plan": ..., "preflight": {"ok",
    "problems"}}`, on stdout even when the preflight refuses (exit 3), so a script reads why."""
    shown = redact.data(plan.as_json())
    if output_format is TextOrJson.TEXT:
        for label, value in plan_lines(shown):
            out.print(f"{label:>14}: {value}", highlight=False, soft_wrap=True)
    with working("preflight: checking both sites and DNS") as status:

        def progress(line: str) -> None:
            say(f"  {redact(line)}")
            status(redact(line))

        problems = dry_run(plan, control, redact, progress, data)
    if output_format is TextOrJson.JSON:
        emit_json({"plan": shown, "preflight": {"ok": not problems, "problems": problems}})
    if problems:
        fail([f"preflight: {p}" for p in problems], EXIT_REFUSED)
    if output_format is TextOrJson.TEXT:
        extra = "; the standby database replicates within the RPO" if data is not None else ""
        out.print(f"preflight ok: both sites ready for the hostname, DNS answers the primary{extra}. Nothing was "
                  "changed.")  # fmt: skip


def _print_summary(summary: dict[str, Any], reports: Path, output_format: TextOrJson) -> None:
    """The verdict: report.json's summary as JSON, or the status, reasons and measured table as text."""
    if output_format is TextOrJson.JSON:
        emit_json(summary)
        say(f"reports: {reports}/report.html (also report.md, report.json, journal.jsonl)")
        return
    style = "green" if summary["status"] == "pass" else "red"
    out.print(styled(summary["status"].upper(), f"bold {style}", f"{summary['service']} ({summary['fault']})"))
    for reason in summary.get("reasons", []):
        out.print(f"  - {reason}", highlight=False, markup=False, soft_wrap=True)
    if summary["status"] != "refused" and summary["fault"] == Fault.CORRUPTION.value:
        for label, value in data_rows(summary["data"]):
            out.print(f"  {label}: {value}", highlight=False)
    elif summary["status"] != "refused":
        table = Table(show_header=True)
        for column in SUMMARY_COLUMNS:
            table.add_column(column)
        for row in summary_rows(summary):
            table.add_row(*row)
        out.print(table)
        out.print(summary_targets(summary))
        if summary.get("data"):
            for label, value in data_rows(summary["data"]):
                out.print(f"  {label}: {value}", highlight=False)
    say(f"reports: {reports}/report.html (also report.md, report.json, journal.jsonl)")


@app.command("recover")
def recover(
    lock_dir: LockDir = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack", help="Also clear a leftover bascule:drill on this stack (a lock from another machine)."
        ),
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="With --stack: the drilled service.")] = None,
    cwd: Annotated[
        Path, typer.Option("--cwd", callback=input_folder("--cwd"), help="With --stack: the Pulumi project folder.")
    ] = Path("."),
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Finish what a killed drill left: restore its fault, note it in its journal, clear its lock.

    With --stack, also works without a lock (the drill ran on a CI runner that is gone): if the stack still
    has `bascule:drill` set, it is removed and the stack updated. Exit 1 when something could not be restored.

    Examples:
      bascule drill recover --lock-dir /var/lib/bascule/locks
      bascule drill recover --stack prod --service checkout --format json | jq -r '.recovered[].outcome'
    """
    outcomes: list[Outcome] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if outcome.outcome == "error":
            err.print(styled("error:", "red", f"{outcome.key}: {outcome.message}"))
        elif output_format is TextOrJson.TEXT:
            out.print(outcome.message, highlight=False)

    if stack is not None:
        _recover_stack(stack, service, cwd, done)
    failed = not recover_locks(lock_dir or default_lock_dir(), done, say)
    if not outcomes:
        done(Outcome(None, "nothing", "no drill locks: nothing to recover"))
    if output_format is TextOrJson.JSON:
        emit_json({"recovered": [o.as_json() for o in outcomes], "exit_code": EXIT_FAILED if failed else 0})
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _recover_stack(stack: str, service: str | None, cwd: Path, done: Callable[[Outcome], None]) -> None:
    control, _ = _stack_control(stack, service, cwd, [], no_authoritative=True)
    assert isinstance(control, PulumiStackControl)
    try:
        recover_stack(control, done, working)
    except ControlError as exc:
        fail([str(exc)], EXIT_FAILED)


@app.command("report")
def report(
    journal: Annotated[Path, typer.Argument(help="A drill's journal.jsonl.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", callback=output_folder("--out"), help="Folder for the reports (default: beside it)."),
    ] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Rebuild report.json, report.md and report.html from a journal (the journal is the record).

    Exits with the drill's code: 0 pass, 1 fail, 3 refused.

    Examples:
      bascule drill report drill-reports/20250101T091700Z/journal.jsonl
      bascule drill report journal.jsonl --out /tmp/r --format json | jq -r .status
    """
    try:
        events = read_journal(journal)
        summary = write_reports(out_dir or journal.parent, events)
    except JournalError as exc:
        fail([str(exc)])
    except (OSError, ValueError, KeyError) as exc:
        fail([f"{journal}: {exc}"])
    _print_summary(summary, out_dir or journal.parent, output_format)
    raise typer.Exit(summary["exit_code"])  # the drill's own verdict, so scripts can rely on the rebuilt report


class HistoryFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


@app.command("history")
def history_command(
    directory: Annotated[
        Path, typer.Option("--history", callback=input_folder("--history"), help="Folder holding history.jsonl.")
    ] = Path("drill-history"),
    output_format: Annotated[HistoryFormat, format_option("text, json or markdown")] = HistoryFormat.TEXT,
    quiet: Quiet = False,
    as_json: JsonAlias = False,
) -> None:
    """Trend of failover time per service and fault, from the history that `--history` appends to.

    Examples:
      bascule drill history --history drill-history
      bascule drill history --history drill-history --format markdown >> "$GITHUB_STEP_SUMMARY"
    """
    rows = history.read(directory)
    if not rows:
        fail([f"no drill history in {directory} (run drills with --history {directory})"], EXIT_FAILED)
    trends = history.trend(rows)
    chosen = chosen_format(output_format, as_json)
    if chosen is HistoryFormat.JSON:
        emit_json(trends)
        return
    if chosen is HistoryFormat.MARKDOWN:
        emit(history.history_markdown(trends, len(rows)))
        return
    table = Table(title=f"drill history ({len(rows)} drills)", title_justify="left")
    for column in history.HISTORY_COLUMNS:
        table.add_column(column)
    for row in history.history_rows(trends):
        table.add_row(*row)
    out.print(table)
