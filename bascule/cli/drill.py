"""`bascule drill`: break the primary on purpose, measure how long traffic takes to move, put it back."""

from __future__ import annotations

import json
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from bascule.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_REFUSED, err, fail, out
from bascule.drills.control import ControlError, SandboxControl, control_from_description
from bascule.drills.journal import Journal, JournalError, read_journal
from bascule.drills.lock import DrillLock, LockHeld, StaleLock, default_lock_dir, list_locks, pid_alive
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.report import write_reports
from bascule.drills.runner import DrillInterrupted, preflight, run_drill, signals_interrupt
from bascule.sandbox import Sandbox, SandboxError, SandboxService, default_state_dir
from bascule.spec import SpecError, load_stack_file

app = typer.Typer(
    help=(
        "Failover drills. `bascule drill --local` runs one end to end against the local sandbox (a real "
        "PowerDNS failing over between two loopback sites), starting it if needed. Exit codes: 0 pass, "
        "1 RTO missed / restore failed / aborted, 2 bad input, 3 refused (preflight failed or target locked)."
    ),
    no_args_is_help=False,
)

LockDir = Annotated[
    Path | None, typer.Option("--lock-dir", help="Where drill locks live [default: ~/.cache/bascule/locks].")
]


def service_settings(stack: str | None, service: str | None, stacks_dir: Path) -> SandboxService:
    """The sandbox's failover settings: the embedded fast default, or a stack service's real ones."""
    if stack is None:
        if service is not None:
            fail(["--service needs --stack: it names a service of that stack's bascule:services"])
        return SandboxService()
    try:
        _, spec = load_stack_file(stacks_dir / f"Pulumi.{stack}.yaml")
    except SpecError as exc:
        fail(exc.lines)
    names = [s.name for s in spec.services]
    if service is None and len(names) > 1:
        fail([f"stack '{stack}' has several services ({', '.join(names)}); choose one with --service"])
    chosen = next((s for s in spec.services if s.name in (service, None) or service is None), None)
    if chosen is None or (service is not None and chosen.name != service):
        fail([f"stack '{stack}' has no service '{service}' (it has: {', '.join(names)})"])
    return SandboxService.from_spec(chosen)


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
            help="health: primary's health path answers 503. outage: primary stopped. "
            "switch: DNS record changed to skip the primary.",
        ),
    ] = Fault.HEALTH,
    stack: Annotated[
        str | None, typer.Option("--stack", help="Take the service's failover settings from this stack.")
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="Service of --stack to drill.")] = None,
    rto: Annotated[float | None, typer.Option("--rto", help="RTO target in seconds (default: the spec's).")] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait for each of failover and failback.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Report folder (default ./drill-reports/<UTC timestamp>/).")
    ] = None,
    sandbox_dir: Annotated[
        Path | None,
        typer.Option("--sandbox-dir", help="A running sandbox's state folder [default: ~/.cache/bascule/sandbox]."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and check the preconditions; change nothing.")
    ] = False,
    lock_dir: LockDir = None,
    stacks_dir: Annotated[Path, typer.Option("--stacks-dir")] = Path("stacks"),
) -> None:
    """Run a failover drill and write journal.jsonl, report.json, report.md and report.html."""
    if ctx.invoked_subcommand is not None:
        return
    if not local:
        fail(
            [
                "choose a target: --local drills the local sandbox (use --stack/--service to rehearse a stack "
                "service's settings there); drills that change a live Pulumi stack are not in this version yet"
            ]
        )
    settings = service_settings(stack, service, stacks_dir)
    with ExitStack() as cleanup:
        sandbox, owned = _sandbox(sandbox_dir or default_state_dir(), settings, cleanup)
        control = SandboxControl(sandbox)
        target = control.target()
        plan = DrillPlan(
            target=target,
            fault=fault,
            rto_seconds=rto if rto is not None else float(settings.rto_seconds),
            timeout_seconds=timeout if timeout is not None else max(30.0, 3 * target.failover_bound_seconds),
        )
        out.print(f"[bold]drill[/bold] {target.service} ({fault.value}) on {target.description}", highlight=False)
        if dry_run:
            _dry_run(plan)
            return
        reports = out_dir or Path("drill-reports") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        journal = Journal(reports / "journal.jsonl")
        lock = DrillLock(lock_dir or default_lock_dir(), control.lock_key())
        try:
            lock.acquire(
                {
                    "journal": str(journal.path.resolve()),
                    "control": control.describe(),
                    "fault": fault.value,
                    "owned_sandbox": owned,
                }
            )
        except (LockHeld, StaleLock) as exc:
            fail([str(exc)], EXIT_REFUSED)
        interrupted = False
        try:
            with signals_interrupt():
                run_drill(plan, control, journal, lambda line: out.print(f"  {line}", highlight=False))
        except (KeyboardInterrupt, DrillInterrupted):
            interrupted = True
        finally:
            journal.close()
            lock.release()
    summary = write_reports(reports, read_journal(reports / "journal.jsonl"))
    _print_summary(summary, reports)
    raise typer.Exit(EXIT_FAILED if interrupted else summary["exit_code"])


def _sandbox(directory: Path, settings: SandboxService, cleanup: ExitStack) -> tuple[Sandbox, bool]:
    """The running sandbox, or a new one this drill owns (stopped when it ends, or by `drill recover`)."""
    try:
        existing = Sandbox.load(directory)
        if existing is not None and existing.running():
            if existing.state.service != settings:
                err.print(
                    "[yellow]note:[/yellow] using the running sandbox's settings; "
                    "`bascule sandbox down` first to drill other ones",
                    highlight=False,
                )
            return existing, False
        out.print("starting a sandbox for this drill (PowerDNS + two loopback sites)…")
        temp = Path(tempfile.mkdtemp(prefix="bascule-sandbox-"))
        sandbox = Sandbox.start(temp, settings)
        cleanup.callback(sandbox.stop)
        return sandbox, True
    except SandboxError as exc:
        fail([str(exc)], EXIT_BAD_INPUT)


def _dry_run(plan: DrillPlan) -> None:
    out.print_json(json.dumps(plan.as_json()))
    with tempfile.TemporaryDirectory() as scratch:
        journal = Journal(Path(scratch) / "preflight.jsonl")
        with httpx.Client(trust_env=False) as client:
            problems = preflight(plan, client, journal, lambda line: out.print(f"  {line}", highlight=False))
        journal.close()
    if problems:
        fail([f"preflight: {p}" for p in problems], EXIT_REFUSED)
    out.print("preflight ok: both sites healthy, DNS answers the primary. Nothing was changed.")


def _print_summary(summary: dict[str, Any], reports: Path) -> None:
    style = "green" if summary["status"] == "pass" else "red"
    out.print(f"[bold {style}]{summary['status'].upper()}[/bold {style}] {summary['service']} ({summary['fault']})")
    for reason in summary.get("reasons", []):
        out.print(f"  - {reason}", highlight=False)
    if summary["status"] != "refused":
        table = Table(show_header=True)
        for column in ("", "detection", "all resolvers", "HTTP moved", "client errors"):
            table.add_column(column)
        for name in ("failover", "failback"):
            phase = summary[name]
            table.add_row(
                name,
                *(
                    f"{phase[k]:.2f} s" if phase.get(k) is not None else "—"
                    for k in ("detection_s", "dns_all_s", "http_s")
                ),
                str(phase.get("http_errors", "—")),
            )
        out.print(table)
        out.print(
            f"RTO target {summary['rto_seconds']:g} s, bound of the settings {summary['bound_seconds']:g} s, "
            f"restore: {summary['restore']}"
        )
    out.print(f"reports: {reports}/report.html (also report.md, report.json, journal.jsonl)")


@app.command("recover")
def recover(lock_dir: LockDir = None) -> None:
    """Finish what a killed drill left: restore its fault, note it in its journal, clear its lock."""
    locks = list_locks(lock_dir or default_lock_dir())
    if not locks:
        out.print("no drill locks: nothing to recover")
        return
    failed = False
    for path, info in locks:
        pid = int(info.get("pid", 0))
        if pid_alive(pid):
            out.print(f"drill pid {pid} on {info.get('key')} is still running; leaving it alone")
            continue
        journal_path = Path(str(info.get("journal", "")))
        try:
            events = read_journal(journal_path) if journal_path.is_file() else []
        except JournalError as exc:
            fail([str(exc)])
        kinds = {e["kind"] for e in events}
        try:
            control = control_from_description(dict(info.get("control") or {}))
            if "inject" in kinds and not kinds & {"restored", "recovered"}:
                control.restore(Fault(info.get("fault", "health")))
                journal = Journal(journal_path)
                journal.append("recovered", by="bascule drill recover", lock=str(path))
                journal.close()
                write_reports(journal_path.parent, read_journal(journal_path))
                out.print(f"restored {info.get('key')} after a killed drill; report updated in {journal_path.parent}")
            else:
                out.print(f"{info.get('key')}: the killed drill had nothing left to restore")
            if info.get("owned_sandbox") and isinstance(control, SandboxControl):
                control.sandbox.stop()
                out.print(f"stopped the sandbox that drill had started ({control.sandbox.dir})")
        except (ControlError, SandboxError) as exc:
            err.print(f"[red]error:[/red] {info.get('key')}: {exc}", highlight=False)
            failed = True
            continue
        path.unlink(missing_ok=True)
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command("report")
def report(
    journal: Annotated[Path, typer.Argument(help="A drill's journal.jsonl.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for the reports (default: beside it).")] = None,
) -> None:
    """Rebuild report.json, report.md and report.html from a journal (the journal is the record)."""
    try:
        events = read_journal(journal)
        summary = write_reports(out_dir or journal.parent, events)
    except (OSError, JournalError, ValueError, KeyError) as exc:
        fail([f"{journal}: {exc}"])
    _print_summary(summary, out_dir or journal.parent)
