"""`bascule drill`: break the primary on purpose, measure how long traffic takes to move, put it back."""

from __future__ import annotations

import ipaddress
import json
import math
import random
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_REFUSED,
    CaBundle,
    Cwd,
    FormatTextJson,
    JsonAlias,
    LockDir,
    MinCertDays,
    NoAuthoritative,
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
    out,
    say,
    styled,
    warn,
    with_dirs,
    working,
)
from bascule.drills import history
from bascule.drills.control import (
    ControlError,
    DrillControl,
    SandboxControl,
    control_from_description,
    sandbox_description,
    sandbox_lock_key,
)
from bascule.drills.data import SandboxDataDrill
from bascule.drills.journal import Journal, JournalError, Redactor, read_journal
from bascule.drills.lock import UNREADABLE, DrillLock, LockHeld, StaleLock, default_lock_dir, list_locks
from bascule.drills.plan import DrillPlan, Fault
from bascule.drills.report import data_rows, write_reports
from bascule.drills.runner import (
    DrillInterrupted,
    Observation,
    preflight,
    run_drill,
    signals_interrupt,
    status_line,
)
from bascule.drills.schedule import parse_blackout, window_delay
from bascule.drills.stack_control import CliMissing, PulumiStackControl, make_backend
from bascule.io.processes import alive
from bascule.readiness.site import DEFAULT_MIN_CERT_DAYS
from bascule.readiness.site import client as http_client
from bascule.readiness.target import Resolver
from bascule.sandbox import Sandbox, SandboxError, SandboxService, default_state_dir
from bascule.spec import SpecError, load_stack_file

app = typer.Typer(
    help=(
        "Failover drills. `bascule drill --local` runs one end to end against the local sandbox (a real "
        "PowerDNS failing over between two loopback sites), starting it if needed; `bascule drill --stack S "
        "--service X` drills a deployed Pulumi stack through `pulumi up`. Exit codes: 0 pass, "
        "1 RTO missed / restore failed / aborted / interrupted (Ctrl-C or SIGTERM: the fault is restored first), "
        "2 bad input, 3 refused (preflight failed or target locked), 70 internal error (a bug in Bascule)."
    ),
    no_args_is_help=False,
)


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
            help="health: primary's health path answers 503. outage: primary stopped (tasks at zero). "
            "switch: DNS moves off the primary (sandbox record rewritten; Route 53 check inverted).",
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
    rto: Annotated[float | None, typer.Option("--rto", help="RTO target in seconds (default: the spec's).")] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait for each of failover and failback.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Report folder (default ./drill-reports/<UTC timestamp>/).")
    ] = None,
    history_dir: Annotated[
        Path | None, typer.Option("--history", help="Append the result to <DIR>/history.jsonl.")
    ] = None,
    window: Annotated[
        float, typer.Option("--window", help="Start at a random moment within this many minutes (schedules).")
    ] = 0.0,
    blackout: Annotated[
        list[str] | None,
        typer.Option("--blackout", help="Dates (YYYY-MM-DD or A..B, comma-separated) with no drill; exits 0."),
    ] = None,
    sandbox_dir: SandboxDir = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and check the preconditions; change nothing.")
    ] = False,
    lock_dir: LockDir = None,
    stacks_dir: StacksDir = Path("stacks"),
    min_cert_days: MinCertDays = DEFAULT_MIN_CERT_DAYS,
    ca_bundle: CaBundle = None,
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="With --local: also drill the data standby (canary writes, promotion, lost writes, observed RPO); "
            "the sandbox is started with --data if none runs. The outage fault SIGKILLs the primary's database.",
        ),
    ] = False,
    rpo: Annotated[float | None, typer.Option("--rpo", help="RPO target in seconds (default: the spec's).")] = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Run a failover drill and write journal.jsonl, report.json, report.md and report.html.

    With --format json, stdout carries report.json's summary (or, with --dry-run, the plan and the preflight
    result) and nothing else; progress goes to stderr.

    Examples:
      bascule drill --local                                   # the sandbox, health fault
      bascule drill --local --dry-run --format json | jq .preflight
      bascule drill --stack prod --service checkout --fault switch --resolver 1.1.1.1 --history drill-history
    """
    if ctx.invoked_subcommand is not None:
        return
    if not local and stack is None:
        fail(["choose a target: --local (the sandbox) or --stack NAME --service NAME (a deployed Pulumi stack)"])
    # nan compares false with everything: without these checks `--rto nan` makes every failover "within" the RTO.
    for name, value in (("--rto", rto), ("--timeout", timeout)):
        if value is not None and not (math.isfinite(value) and value > 0):
            fail([f"{name}: {value} is not a positive number of seconds"])
    if not (math.isfinite(window) and window >= 0):
        fail([f"--window: {window} is not a non-negative number of minutes"])
    if data and not local:
        fail(["--data: data drills run on the sandbox only (--local); stacks have no data control yet"])
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
    lock_info = {"journal": str((reports / "journal.jsonl").resolve()), "fault": fault.value}
    with ExitStack() as cleanup:
        lock: DrillLock | None = None
        if local:
            settings = service_settings(stack, service, stacks_dir)
            sandbox, lock = _sandbox(sandbox_dir, settings, cleanup, locks, lock_info, data)
            owned = lock is not None
            control: DrillControl = SandboxControl(sandbox)
            default_rto = float(settings.rto_seconds)
        else:
            control, default_rto = _stack_control(
                stack or "", service, cwd, resolver or [], no_authoritative, str(ca_bundle) if ca_bundle else None
            )
            owned = False
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
            rpo_seconds=(rpo if rpo is not None else float(settings.rpo_seconds)) if data else None,
        )
        say(styled("drill", "bold", redact(f"{target.service} ({fault.value}) on {target.description}")))
        if dry_run:
            _dry_run(plan, control, redact, output_format)
            return
        if lock is None:
            lock = DrillLock(locks, control.lock_key())
            try:
                lock.acquire({**lock_info, "control": control.describe(), "owned_sandbox": False})
            except (LockHeld, StaleLock) as exc:
                fail([str(exc)], EXIT_REFUSED)
        journal = Journal(reports / "journal.jsonl", redact)
        interrupted = False
        try:
            with signals_interrupt(), working("preflight: checking both sites and DNS") as status:

                def progress(line: str) -> None:
                    say(f"  {redact(line)}")
                    status(redact(line))

                def watch(observation: Observation) -> None:
                    status(redact(status_line(observation)))

                data_drill = SandboxDataDrill(sandbox, target, plan.trust, journal) if data else None
                run_drill(plan, control, journal, progress, data_drill, watch)
        except (KeyboardInterrupt, DrillInterrupted):
            interrupted = True
        finally:
            journal.close()
            kinds = {e["kind"] for e in read_journal(journal.path)}
            if owned:
                pass  # `cleanup` stops the sandbox this drill started, then releases its lock
            elif "inject" in kinds and "restored" not in kinds:
                # Keep the lock: it is what `drill recover` finds, and the fault may still be in place.
                err.print(styled("the fault may still be in place:", "red", with_dirs("run `bascule drill recover`")))
            else:
                lock.release()
    summary = write_reports(reports, read_journal(reports / "journal.jsonl"))
    _print_summary(summary, reports, output_format)
    if history_dir is not None:
        say(f"history: {history.append(history_dir, summary, reports)}")
    raise typer.Exit(EXIT_FAILED if interrupted else summary["exit_code"])


def _stack_control(
    stack: str,
    service: str | None,
    cwd: Path,
    resolvers: list[str],
    no_authoritative: bool,
    ca_bundle: str | None = None,
) -> tuple[DrillControl, float]:
    if service is None:
        fail(["--stack needs --service: the service whose failover to drill"])
    try:
        extra = tuple(parse_resolver(value) for value in resolvers)
    except ValueError as exc:
        fail([str(exc)])
    try:
        control = PulumiStackControl(
            make_backend(stack, cwd), stack, cwd, service, lambda line: say(f"  {line}"),
            resolvers=extra, with_authoritative=not no_authoritative, ca_bundle=ca_bundle,
        )  # fmt: skip
        return control, control.rto_seconds()
    except CliMissing as exc:
        fail([str(exc)], EXIT_BAD_INPUT)
    except ControlError as exc:
        fail([str(exc)])


def parse_resolver(value: str) -> Resolver:
    host, _, port = value.partition(":")
    try:
        ipaddress.ip_address(host)
        number = int(port) if port else 53
    except ValueError:
        raise ValueError(f"--resolver: '{value}' is not IP[:port]") from None
    return Resolver(name=value, address=host, port=number, kind="recursive")


def _sandbox(
    directory: Path | None,
    settings: SandboxService,
    cleanup: ExitStack,
    locks: Path,
    lock_info: dict[str, Any],
    data: bool = False,
) -> tuple[Sandbox, DrillLock | None]:
    """The running sandbox, or a new one this drill owns, with the lock that records it (else None).

    A sandbox that exists but is partly down is refused: drilling a temporary one instead would report on a
    target nobody asked about. A sandbox of its own is locked *before* it starts, and its processes are in its
    state file as they start, so a drill killed at any moment leaves a record `drill recover` uses to stop them.
    """
    named = directory is not None
    directory = directory or default_state_dir()
    try:
        existing = Sandbox.load(directory)
        if existing is not None:
            if not existing.running():
                down = sorted(name for name, pid in existing.state.pids.items() if not alive(pid))
                fail(
                    [f"the sandbox in {directory} is not fully running ({', '.join(down) or 'processes missing'} "
                     "down); if a drill was killed, `bascule drill recover` restores it, else restart it with "
                     "`bascule sandbox down` and `bascule sandbox up`"],
                    EXIT_REFUSED,
                )  # fmt: skip
            if data and existing.state.data is None:
                fail([f"--data: the running sandbox in {directory} has no databases; `bascule sandbox down`, "
                      "then `bascule sandbox up --data`"], EXIT_BAD_INPUT)  # fmt: skip
            if existing.state.service != settings:
                running, asked = setting_differences(existing.state.service, settings)
                warn(f"the sandbox in {directory} already runs with {running}, not {asked}: this drill uses the "
                     "running sandbox's; `bascule sandbox down` first to drill with the other ones")  # fmt: skip
            return existing, None
        if named:
            fail([f"no sandbox in {directory}; start one with `bascule sandbox up`, "
                  "or leave out --sandbox-dir and the drill starts its own"], EXIT_BAD_INPUT)  # fmt: skip
        temp = Path(tempfile.mkdtemp(prefix=OWN_SANDBOX_PREFIX))
        lock = DrillLock(locks, sandbox_lock_key(temp))
        lock.acquire({**lock_info, "control": sandbox_description(temp), "owned_sandbox": True})
        cleanup.callback(lock.release)  # registered first, so it runs after the sandbox is stopped
        cleanup.callback(_discard_own_sandbox, temp)  # after the sandbox stopped: logs, sockets, its CA's keys
        extra = " + two PostgreSQL clusters" if data else ""
        starting = f"starting a sandbox for this drill (PowerDNS + two loopback sites{extra})…"
        say(starting)
        with working(starting):
            sandbox = Sandbox.start(temp, settings, data=data)
        cleanup.callback(sandbox.stop)
        return sandbox, lock
    except SandboxError as exc:
        fail([str(exc)], EXIT_BAD_INPUT)


OWN_SANDBOX_PREFIX = "bascule-sandbox-"
"""The folder name a drill gives the sandbox it starts for itself: the only kind of folder a drill deletes."""


def _discard_own_sandbox(directory: Path) -> None:
    """Remove the temporary folder of a sandbox a drill started and stopped, so none piles up in the temp dir.

    The path may come from a lock file, which is input: anything not named like a drill's own sandbox is kept.
    """
    if directory.name.startswith(OWN_SANDBOX_PREFIX) and directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)


_SETTING_LABELS = {
    "name": "service {}",
    "zone": "zone {}",
    "health_path": "health path {}",
    "interval_seconds": "interval {} s",
    "failure_threshold": "{} failures",
    "ttl": "TTL {} s",
    "check_timeout_seconds": "check timeout {} s",
    "rto_seconds": "RTO {} s",
    "rpo_seconds": "RPO {} s",
}
"""A sandbox setting as the warning about a running sandbox's other settings names it."""


def setting_differences(running: SandboxService, asked: SandboxService) -> tuple[str, str]:
    """The settings that differ, as the running sandbox has them and as the drill asked: a drill that silently used
    the running sandbox's 1 s TTL would time failover against settings the service does not have."""
    changed = [f.name for f in fields(SandboxService) if getattr(running, f.name) != getattr(asked, f.name)]

    def described(service: SandboxService) -> str:
        return ", ".join(_SETTING_LABELS.get(name, name + " {}").format(getattr(service, name)) for name in changed)

    return described(running), described(asked)


def _dry_run(plan: DrillPlan, control: DrillControl, redact: Redactor, output_format: TextOrJson) -> None:
    """The plan and the preflight, nothing changed. As JSON: one document, `{"plan": ..., "preflight": {"ok",
    "problems"}}`, on stdout even when the preflight refuses (exit 3), so a script reads why."""
    shown = redact.data(plan.as_json())
    if output_format is TextOrJson.TEXT:
        for label, value in plan_lines(shown):
            out.print(f"{label:>14}: {value}", highlight=False, soft_wrap=True)
    with tempfile.TemporaryDirectory() as scratch, working("preflight: checking both sites and DNS") as status:
        journal = Journal(Path(scratch) / "preflight.jsonl", redact)

        def progress(line: str) -> None:
            say(f"  {redact(line)}")
            status(redact(line))

        with http_client(plan.trust) as client:
            problems = [redact(p) for p in preflight(plan, client, journal, progress, control)]
        journal.close()
    if output_format is TextOrJson.JSON:
        emit_json({"plan": shown, "preflight": {"ok": not problems, "problems": problems}})
    if problems:
        fail([f"preflight: {p}" for p in problems], EXIT_REFUSED)
    if output_format is TextOrJson.TEXT:
        out.print("preflight ok: both sites ready for the hostname, DNS answers the primary. Nothing was changed.")


def plan_lines(shown: dict[str, Any]) -> list[tuple[str, str]]:
    """A drill plan for people, one labelled line per fact, from its (redacted) JSON form."""
    target = shown["target"]
    resolvers = "; ".join(
        f"{'recursor' if r['kind'] == 'recursive' else 'authoritative'} {r['address']}:{r['port']}" for r in
        target["resolvers"]
    )  # fmt: skip
    sites = "; ".join(
        f"{role} at {target['addresses'].get(role, '?')} (DNS answer {', '.join(answers)})"
        for role, answers in target["sites"].items()
    )
    rpo = f", RPO {shown['rpo_seconds']:g} s" if shown.get("rpo_seconds") is not None else ""
    return [
        ("service", f"{target['service']}: https://{target['hostname']}:{target['port']}{target['health_path']}"),
        ("target", target["description"]),
        ("fault", shown["fault"]),
        ("sites", sites),
        ("resolvers", resolvers or "none"),
        ("targets", f"RTO {shown['rto_seconds']:g} s{rpo}; settings bound {target['failover_bound_seconds']:g} s"),
        ("timeouts", f"{shown['timeout_seconds']:g} s each for failover and failback, preflight "
                     f"{shown['preflight_timeout']:g} s"),
        ("certificates", f"valid {shown['min_cert_days']:g} more days at least; trust "
                         f"{target['ca_bundle'] or 'the system store'}"),
    ]  # fmt: skip


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
        if summary.get("data"):
            for label, value in data_rows(summary["data"]):
                out.print(f"  {label}: {value}", highlight=False)
    say(f"reports: {reports}/report.html (also report.md, report.json, journal.jsonl)")


class _Recovery:
    """What `drill recover` did, one outcome per lock (and per --stack): printed as lines, or as JSON at the end."""

    def __init__(self, output_format: TextOrJson) -> None:
        self.output_format = output_format
        self.outcomes: list[dict[str, Any]] = []

    def done(self, key: Any, outcome: str, message: str, lock: Path | None = None) -> None:
        self.outcomes.append({"key": key, "lock": str(lock) if lock else None, "outcome": outcome, "message": message})
        if self.output_format is TextOrJson.TEXT:
            out.print(message, highlight=False)


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
    cwd: Annotated[Path, typer.Option("--cwd", help="With --stack: the Pulumi project folder.")] = Path("."),
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
    done = _Recovery(output_format)
    if stack is not None:
        _recover_stack(stack, service, cwd, done)
    failed = any(_recover_lock(path, info, done) is False for path, info in list_locks(lock_dir or default_lock_dir()))
    if not done.outcomes:
        done.done(None, "nothing", "no drill locks: nothing to recover")
    if output_format is TextOrJson.JSON:
        emit_json({"recovered": done.outcomes, "exit_code": EXIT_FAILED if failed else 0})
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _recover_lock(path: Path, info: dict[str, Any], done: _Recovery) -> bool:
    """Restore and clear one lock; False when its target could not be restored (the lock is kept)."""
    key = info.get("key")
    if key == UNREADABLE:
        # Locks are written whole before they appear, so an unreadable one was never a drill's record: no
        # drill could have injected a fault under it. It names no target, so there is nothing to restore.
        path.unlink(missing_ok=True)
        done.done(key, "removed-unreadable", f"{path}: removed an unreadable lock (empty or torn); it named no drill, "
                  "nothing to restore", path)  # fmt: skip
        return True
    pid = int(info.get("pid", 0))
    if alive(pid):
        done.done(key, "running", f"drill pid {pid} on {key} is still running; leaving it alone", path)
        return True
    journal_path = Path(str(info.get("journal", "")))
    try:
        events = read_journal(journal_path) if journal_path.is_file() else []
    except JournalError as exc:
        fail([str(exc)])
    kinds = {e["kind"] for e in events}
    try:
        try:
            control = control_from_description(dict(info.get("control") or {}))
        except ControlError:
            if not info.get("owned_sandbox"):
                raise
            # Killed before the sandbox it was starting wrote its state: no process of it was recorded
            # because none had started (each is recorded as it starts).
            done.done(key, "never-ran", f"{key}: the sandbox that drill was starting never ran; nothing to stop", path)
            _discard_own_sandbox(Path(str((info.get("control") or {}).get("directory", ""))))
            _note_recovered(journal_path, events, path, restored=False)
            path.unlink(missing_ok=True)
            return True
        needs_restore = "inject" in kinds and not kinds & {"restored", "recovered"}
        if needs_restore:
            # Restore converges whatever the fault was, so an unknown one in the lock is no obstacle.
            fault = info.get("fault")
            control.restore(Fault(fault) if fault in [f.value for f in Fault] else Fault.SWITCH)
            done.done(key, "restored", f"restored {key} after a killed drill", path)
        else:
            done.done(key, "nothing-to-restore", f"{key}: the killed drill had nothing left to restore", path)
        if info.get("owned_sandbox") and isinstance(control, SandboxControl):
            control.sandbox.stop()
            _discard_own_sandbox(control.sandbox.dir)
            done.done(
                key, "sandbox-stopped", f"stopped the sandbox that drill had started ({control.sandbox.dir})", path
            )
        _note_recovered(journal_path, events, path, restored=needs_restore)
    except (ControlError, SandboxError) as exc:
        err.print(styled("error:", "red", f"{key}: {exc}"))
        done.outcomes.append({"key": key, "lock": str(path), "outcome": "error", "message": str(exc)})
        return False
    path.unlink(missing_ok=True)
    return True


def _note_recovered(journal_path: Path, events: list[dict[str, Any]], lock: Path, restored: bool) -> None:
    """Finish the killed drill's record: a `recovered` event and reports rebuilt, so its report says what happened."""
    if not events or any(e["kind"] in ("end", "recovered") for e in events):
        return
    journal = Journal(journal_path)
    journal.append("recovered", by="bascule drill recover", lock=str(lock), restored=restored)
    journal.close()
    write_reports(journal_path.parent, read_journal(journal_path))
    say(f"report updated in {journal_path.parent}")


def _recover_stack(stack: str, service: str | None, cwd: Path, done: _Recovery) -> None:
    control, _ = _stack_control(stack, service, cwd, [], no_authoritative=True)
    assert isinstance(control, PulumiStackControl)
    leftover = control.backend.drill_config()
    if leftover is None:
        done.done(f"stack {stack}", "stack-clean", f"stack '{stack}': no bascule:drill set, nothing to clear")
        return
    try:
        fault = Fault(json.loads(leftover).get("fault"))
    except (ValueError, AttributeError):
        fault = Fault.SWITCH  # unreadable: restore clears the config whatever fault it held
    try:
        with working(f"stack '{stack}': removing bascule:drill and updating the stack"):
            control.restore(fault)
    except ControlError as exc:
        fail([str(exc)], EXIT_FAILED)
    done.done(f"stack {stack}", "stack-cleared", f"stack '{stack}': bascule:drill removed and the stack updated")


@app.command("report")
def report(
    journal: Annotated[Path, typer.Argument(help="A drill's journal.jsonl.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for the reports (default: beside it).")] = None,
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


_HISTORY_COLUMNS = ("service (fault)", "runs", "passed", "last HTTP failover", "median", "trend", "recent")


def _history_rows(trends: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per service and fault, the same cells in the terminal table and in Markdown."""

    def seconds(value: float | None) -> str:
        return f"{value:.2f} s" if value is not None else "—"

    return [
        (key, str(t["runs"]), str(t["passed"]), seconds(t["last_s"]), seconds(t["median_s"]), t["trend"],
         " ".join(f"{v:.1f}" for v in t["series"][-8:]))
        for key, t in sorted(trends.items())
    ]  # fmt: skip


def history_markdown(trends: dict[str, dict[str, Any]], runs: int) -> str:
    """GitHub-flavoured Markdown (a job summary, a wiki page): a heading and a table; `|` in a cell escaped."""
    lines = [f"### Drill history ({runs} drills)", "", "| " + " | ".join(_HISTORY_COLUMNS) + " |",
             "|" + "---|" * len(_HISTORY_COLUMNS)]  # fmt: skip
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in _history_rows(trends)]
    return "\n".join(lines)


@app.command("history")
def history_command(
    directory: Annotated[Path, typer.Option("--history", help="Folder holding history.jsonl.")] = Path("drill-history"),
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
        emit(history_markdown(trends, len(rows)))
        return
    table = Table(title=f"drill history ({len(rows)} drills)", title_justify="left")
    for column in _HISTORY_COLUMNS:
        table.add_column(column)
    for row in _history_rows(trends):
        table.add_row(*row)
    out.print(table)
