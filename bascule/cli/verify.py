"""`bascule verify`: is the standby ready right now? No fault, nothing changed; safe to schedule daily."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    CaBundle,
    Cwd,
    Duration,
    LockDir,
    MinCertDays,
    NoAuthoritative,
    Quiet,
    Resolvers,
    SandboxDir,
    emit,
    err,
    fail,
    format_option,
    no_resolvers_for_the_sandbox,
    say,
    styled,
    warn,
    with_dirs,
    working,
)
from bascule.cli.data import targeted
from bascule.data import DataPair, PairStateError, pairs_from_state
from bascule.data import problems as data_problems
from bascule.data import status as data_status
from bascule.drills.control import ControlError, sandbox_target
from bascule.drills.data_ops import DataTarget
from bascule.drills.journal import Redactor
from bascule.drills.lock import default_lock_dir
from bascule.drills.recovery import Outcome, dead_man
from bascule.drills.stack_control import make_backend, open_stack_control, stack_targets
from bascule.readiness.site import DEFAULT_MIN_CERT_DAYS, Trust
from bascule.readiness.target import parse_resolver
from bascule.readiness.verify import assess, render_json, render_junit, render_text
from bascule.sandbox import Sandbox, SandboxError, default_state_dir

if TYPE_CHECKING:  # the `backup` extra (in `data`): loaded only when there are backups to judge
    from bascule.backup.state import BackupPlan
    from bascule.backup.store import Store

STEP = Duration("seconds", 300, "5 minutes: a step slower than that is an outage, not a slow site", minimum=0.1)
"""--timeout: one connection step (DNS query, TCP connect, TLS handshake, HTTP request)."""


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"


def verify(
    local: Annotated[bool, typer.Option("--local", help="Verify the local sandbox.")] = False,
    stack: Annotated[str | None, typer.Option("--stack", help="Verify a deployed Pulumi stack.")] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service of --stack (default: every service).")
    ] = None,
    cwd: Cwd = Path("."),
    resolver: Resolvers = None,
    no_authoritative: NoAuthoritative = False,
    output: Annotated[Format, format_option("text, json or junit")] = Format.TEXT,
    quiet: Quiet = False,
    min_cert_days: MinCertDays = DEFAULT_MIN_CERT_DAYS,
    ca_bundle: CaBundle = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", callback=STEP.check("--timeout"), help="Seconds for each connection step."),
    ] = 5.0,
    sandbox_dir: SandboxDir = None,
    lock_dir: LockDir = None,
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Also check the data standby: both databases reachable, the standby a replica whose subscription "
            "is enabled and applying, its slot not lost or unreserved, its lag within the RPO (measured: waits up "
            "to the RPO for the standby to confirm the primary's position).",
        ),
    ] = False,
) -> None:
    """Check that every site serves the service hostname right now, and that DNS answers the primary.

    Each site is asked at its own address, as a client of the hostname would ask it (SNI and Host = the
    hostname): the certificate chain must verify, name the hostname and stay valid for --min-cert-days; the
    health path must answer 2xx. Each resolver must answer the primary. Exit 0 ready, 1 not ready, 2 bad input,
    70 internal error. With --stack, a drill marker past its deadline is restored first (the dead-man switch;
    exit 1 if that fails). With --data, the data standby too (`bascule data status` shows it in full).

    Examples:
      bascule verify --local
      bascule verify --local --data
      bascule verify --stack prod --format junit > verify.xml
    """
    if local == (stack is not None):
        fail(["choose one target: --local (the sandbox) or --stack NAME [--service NAME]"])
    if local:
        no_resolvers_for_the_sandbox(resolver, no_authoritative)
    bundle = str(ca_bundle) if ca_bundle else None
    dead_man_failed = False
    resources: list[dict[str, Any]] = []
    try:
        if stack is not None:
            dead_man_failed = not _dead_man(stack, cwd, lock_dir or default_lock_dir())
        if local:
            targets = [sandbox_target(sandbox_dir or default_state_dir())]
        else:
            # One export of the stack's state (after the dead-man switch's restore), for the sites, the data pairs
            # and the backups alike: one consistent state.
            backend = make_backend(stack or "", cwd, snapshot=True)
            extra = tuple(parse_resolver(value) for value in resolver or [])
            targets = stack_targets(stack or "", service, cwd, extra, not no_authoritative, bundle, backend)
            resources = backend.resources() if data else []
    except ValueError as exc:
        fail([str(exc)])
    except (ControlError, SandboxError) as exc:  # CliMissing included: no Pulumi CLI is bad input here too
        fail([str(exc)], EXIT_BAD_INPUT)
    pairs = _data_pairs(stack, service, resources, sandbox_dir) if data else []
    # The sandbox's own CA unless --ca-bundle says otherwise; a stack's clients use the system store by default.
    trust = Trust(bundle or targets[0].ca_bundle, min_cert_days)
    with working("checking each site's TLS, certificate and health, and what DNS answers") as status:
        results = []
        for target in targets:
            status(f"checking {target.service}: TLS, certificate, health at each site; DNS answers")
            results.append(assess(target, trust, timeout))
        for pair in pairs:
            status(f"checking {pair.service}'s data standby: subscription, slot, lag")
            found = data_status(pair)
            result = next((r for r in results if r.service == pair.service), results[0])
            hinted = [with_dirs(targeted(line, _data_target(pair, stack, cwd, sandbox_dir))) for line in
                      data_problems(found)]  # fmt: skip
            result.add_data(Redactor(pair.secrets()).data(found.as_json()), hinted)
        for plan, store, identity in _backups(stack, service, resources, sandbox_dir) if data else []:
            from bascule.backup.backups import freshness  # the `backup` extra (in `data`): only with backups

            status(f"checking {plan.service}'s newest backups against every {plan.every_hours:g} h")
            checked = [freshness(store, plan.service, name, plan.every_hours, identity) for name in plan.databases]
            result = next((r for r in results if r.service == plan.service), results[0])
            result.add_backups([{"database": c.database, "newest": c.newest.key if c.newest else None,
                                 "age_s": c.age_seconds, "every_hours": plan.every_hours} for c in checked],
                               [p for c in checked for p in c.problems])  # fmt: skip
    emit({Format.JSON: lambda: render_json(results, trust), Format.JUNIT: lambda: render_junit(results),
          Format.TEXT: lambda: render_text(results)}[output]())  # fmt: skip
    if dead_man_failed or not all(r.ready for r in results):
        raise typer.Exit(EXIT_FAILED)


def _data_target(pair: DataPair, stack: str | None, cwd: Path, sandbox_dir: Path | None) -> DataTarget:
    """Where `pair` came from, so the `bascule data ...` hints in its problems name it."""
    if stack is None:
        return DataTarget(sandbox_dir=str(sandbox_dir or default_state_dir()))
    return DataTarget(stack=stack, cwd=str(cwd), service=pair.service)


def _data_pairs(
    stack: str | None, service: str | None, resources: list[dict[str, Any]], sandbox_dir: Path | None
) -> list[DataPair]:
    """The data pairs `--data` checks: the sandbox's, or each PostgresStandby's in the stack's `resources` (or
    --service's)."""
    try:
        if stack is None:
            return [DataTarget(sandbox_dir=str(sandbox_dir or default_state_dir())).pair()]
        return pairs_from_state(resources, stack, service)
    except (ControlError, SandboxError, PairStateError) as exc:
        fail([f"--data: {exc}"], EXIT_BAD_INPUT)


def _backups(
    stack: str | None, service: str | None, resources: list[dict[str, Any]], sandbox_dir: Path | None
) -> list[tuple[BackupPlan, Store, str | None]]:
    """The backups `--data` judges: the sandbox's store when it has one (deep: it holds the identity), or each
    `bascule_backup` in the stack's `resources` (present and locked: the identity stays with the team; `bascule
    backup verify --identity` goes deeper). A stack without backups declared has none to judge."""
    from bascule.backup.state import BackupStateError, plans_from_state  # boto3: the `backup` extra, in `data`
    from bascule.backup.store import Store

    try:
        if stack is None:
            sandbox = Sandbox.load(sandbox_dir or default_state_dir())
            if sandbox is None or sandbox.state.backup is None:
                return []
            return [(sandbox.backup_plan(), sandbox.backup_store(), sandbox.state.backup.identity)]
        plans = plans_from_state(resources, stack, service)
    except BackupStateError:
        return []
    except (ControlError, SandboxError) as exc:
        fail([f"--data: {exc}"], EXIT_BAD_INPUT)
    return [(plan, Store(plan.address), None) for plan in plans]


def _dead_man(stack: str, cwd: Path, locks: Path) -> bool:
    """The dead-man switch before readiness: a drill marker past its deadline is restored (and said on stderr).
    False when it could not be: the stack may be left switched, which is a readiness failure too."""

    def said(outcome: Outcome) -> None:
        if outcome.outcome == "expired-restored":
            warn(outcome.message)
        else:
            say(outcome.message)

    control = open_stack_control(stack, "", cwd, lambda line: say(f"  {line}"), with_authoritative=False)
    try:
        return dead_man(control, locks, said, working)
    except ControlError as exc:
        err.print(styled("error:", "red", f"stack '{stack}': a drill past its deadline could not be restored: {exc}"))
        return False
