"""`bascule watch`: what a client sees, continuously or once (cron, CI): each change of a service's state is
notified, recorded (incident on a real failover), and shown on a public status page and in Prometheus metrics."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    CaBundle,
    Cwd,
    Duration,
    FormatTextJson,
    LockDir,
    MinCertDays,
    NoAuthoritative,
    NotifyUrls,
    Quiet,
    Resolvers,
    SandboxDir,
    TextOrJson,
    emit,
    emit_json,
    fail,
    input_folder,
    no_resolvers_for_the_sandbox,
    output_file,
    output_folder,
    say,
    warn,
    working,
)
from bascule.data import PairStateError, pairs_from_state
from bascule.drills.control import ControlError, SandboxControl
from bascule.drills.data_ops import DataTarget
from bascule.drills.lock import default_lock_dir
from bascule.drills.stack_control import make_backend, stack_lock_key, stack_targets
from bascule.io.documents import InputError
from bascule.readiness.site import DEFAULT_MIN_CERT_DAYS, Trust
from bascule.readiness.target import parse_resolver
from bascule.sandbox import Sandbox, SandboxError, default_state_dir
from bascule.watch.observe import Watched

if TYPE_CHECKING:  # prometheus_client and apprise (the `watch` extra): imported when the watch runs, so that
    # `bascule watch --help` and `bascule incident` work without the extra
    from bascule.watch.cycle import Round, Settings
    from bascule.watch.notify import Notifier

INTERVAL = Duration("seconds", 86400, "a day: a watch that looks less often is a daily verify", minimum=1)
STEP = Duration("seconds", 300, "5 minutes: a step slower than that is an outage, not a slow site", minimum=0.1)
CONCURRENCY_MAX = 256
"""Services observed at once: each holds a few sockets; past this the machine's limits, not the watch, decide."""


def default_state_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bascule" / "watch" / "state.json"


def _concurrency(value: int) -> int:
    if not 1 <= value <= CONCURRENCY_MAX:
        fail([f"--concurrency: {value} is not from 1 to {CONCURRENCY_MAX} (services observed at once)"])
    return value


def watch(
    local: Annotated[bool, typer.Option("--local", help="Watch the local sandbox.")] = False,
    stack: Annotated[
        str | None, typer.Option("--stack", help="Watch every service of a deployed Pulumi stack.")
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="Only this service of --stack.")] = None,
    cwd: Cwd = Path("."),
    resolver: Resolvers = None,
    no_authoritative: NoAuthoritative = False,
    once: Annotated[
        bool, typer.Option("--once", help="One round, then exit: 0 every service healthy, 1 not (cron, CI).")
    ] = False,
    interval: Annotated[
        float,
        typer.Option("--interval", callback=INTERVAL.check("--interval"), help="Seconds between rounds."),
    ] = 60.0,
    status_dir: Annotated[
        Path | None,
        typer.Option(
            "--status-dir",
            callback=output_folder("--status-dir"),
            help="Write the public status page here: index.html and status.json, self-contained.",
        ),
    ] = None,
    notify: NotifyUrls = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            callback=output_file("--metrics-file"),
            help="Write Prometheus metrics (text format) here each round: node_exporter's textfile collector.",
        ),
    ] = None,
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state-file",
            callback=output_file("--state-file"),
            help="The watch's state between rounds; incidents go into incidents/ beside it "
            "(default: ~/.cache/bascule/watch/state.json).",
        ),
    ] = None,
    history_dir: Annotated[
        Path | None,
        typer.Option(
            "--history",
            callback=input_folder("--history"),
            help="The drill history folder (drill --history), for the last-drill metrics.",
        ),
    ] = None,
    data: Annotated[
        bool, typer.Option("--data", help="Also watch the data standby: replication state and lag (verify --data).")
    ] = False,
    min_cert_days: MinCertDays = DEFAULT_MIN_CERT_DAYS,
    ca_bundle: CaBundle = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", callback=STEP.check("--timeout"), help="Seconds for each connection step."),
    ] = 5.0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", callback=_concurrency, help="Services observed at once.")
    ] = 8,
    sandbox_dir: SandboxDir = None,
    lock_dir: LockDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Watch what clients see: where DNS sends them, each site's readiness, the data standby; act on each change.

    Each service is in one state: healthy, degraded (a site, DNS or the data standby not ready), failed_over (DNS
    sends clients to the secondary), recovering (the primary is back, DNS moving), restored. Each change is sent to
    every --notify target (a drill's say DRILL); a failover outside a drill opens an incident with its DORA and NIS2
    deadlines (`bascule incident show`). Exit codes with --once: 0 healthy, 1 not (degraded, failed over,
    recovering), 2 bad input, 70 internal error. Without --once, a round every --interval seconds until SIGTERM or
    Ctrl-C: the round under way finishes and its state is written, exit 0; a second signal abandons that round,
    exit 1 (the state file keeps the last finished round's).

    Examples:
      bascule watch --local --once --status-dir site --metrics-file bascule.prom --notify json://127.0.0.1:8080/
      bascule watch --stack prod --interval 60 --notify 'slack://T000/B000/XXXX' --status-dir /srv/status
    """
    if local == (stack is not None):
        fail(["choose one target: --local (the sandbox) or --stack NAME [--service NAME]"])
    from bascule.watch.cycle import Settings  # the `watch` extra: not needed for --help (see the imports)
    from bascule.watch.notify import Notifier, target

    if local:
        no_resolvers_for_the_sandbox(resolver, no_authoritative)
    bundle = str(ca_bundle) if ca_bundle else None
    services = _services(local, stack, service, cwd, resolver or [], no_authoritative, bundle, sandbox_dir, data)
    trust = Trust(bundle or services[0].target.ca_bundle, min_cert_days)
    settings = Settings(state_file or default_state_file(), lock_dir or default_lock_dir(), trust, timeout,
                        concurrency, status_dir, metrics_file, history_dir)  # fmt: skip
    notifier = Notifier([target(url) for url in notify or []]) if notify else None
    if once:
        result = _round(services, settings, notifier, output_format)
        raise typer.Exit(0 if result.healthy else EXIT_FAILED)
    stopper, rounds, in_round = _Stopper(), 0, False
    with stopper.installed():
        try:
            while not stopper.signals:
                started, in_round = time.monotonic(), True
                _round(services, settings, notifier, output_format)
                rounds, in_round = rounds + 1, False
                stopper.sleep(max(0.0, interval - (time.monotonic() - started)))
        except _Stop:
            if in_round:
                fail([f"watch stopped by a second {stopper.signals[-1]}: the round under way was abandoned; "
                      f"{settings.state_file} holds the last finished round's state ({rounds} finished)"],
                     EXIT_FAILED)  # fmt: skip
    say(f"watch stopped by {stopper.signals[0]} after {rounds} round(s); state in {settings.state_file}")


class _Stop(BaseException):
    """Leave the loop now: a stop asked for while the watch waits between rounds, or a second one during a round."""


class _Stopper:
    """SIGTERM and SIGINT as a request the loop honours between rounds: the round under way finishes, so its
    state, incident and notifications are written together (a round stopped half-way could open an incident the
    state file does not name, and the next round would open another). A second signal abandons the round at once;
    the state file keeps the last finished round's, since it is replaced in one step."""

    def __init__(self) -> None:
        self.signals: list[str] = []
        self.idle = False

    def handler(self, signum: int, _frame: FrameType | None) -> None:
        self.signals.append(signal.Signals(signum).name)
        if self.idle or len(self.signals) > 1:
            raise _Stop(self.signals[-1])

    def sleep(self, seconds: float) -> None:
        """Wait for the next round; `_Stop` as soon as a signal comes (or came since the round ended)."""
        self.idle = True
        try:
            if self.signals:
                raise _Stop(self.signals[0])
            time.sleep(seconds)
        finally:
            self.idle = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _round(services: list[Watched], settings: Settings, notifier: Notifier | None, output: TextOrJson) -> Round:
    from bascule.watch.cycle import run_round

    with working("watching: DNS, each site, the data standby") as status:
        try:
            result = run_round(services, settings, notifier, status)
        except InputError as exc:
            fail([f"--state-file: {exc}"])
        except OSError as exc:
            fail([f"cannot write the watch's files: {exc.strerror or exc} ({exc.filename})"])
    for problem in result.errors:
        warn(problem)
    for delivery in result.deliveries:
        if not delivery.ok:
            warn(f"notification to {delivery.target} failed after {delivery.attempts} attempts: {delivery.error}")
    if output is TextOrJson.JSON:
        emit_json(_as_json(result, settings))
    else:
        emit(_text(result, settings))
    return result


def _as_json(result: Round, settings: Settings) -> dict[str, Any]:
    return {
        "healthy": result.healthy,
        "seconds": round(result.seconds, 3),
        "services": [{"service": s.service, "hostname": s.hostname, "state": result.states[s.service].value,
                      "serving": s.serving, "drill": s.drill, "problems": s.readiness.problems}
                     for s in result.observations],
        "transitions": [{"service": t.service, "from": t.previous.value if t.previous else None,
                         "to": t.current.value, "drill": bool(t.drill), "title": t.title()}
                        for t in result.transitions],
        "deliveries": [d.as_json() for d in result.deliveries],
        "errors": result.errors,
        "state_file": str(settings.state_file),
    }  # fmt: skip


def _text(result: Round, settings: Settings) -> str:
    lines = []
    for seen in result.observations:
        state = result.states[seen.service]
        drill = " (a drill is running)" if seen.drill else ""
        lines.append(f"{state.words.upper()} {seen.service} ({seen.hostname}): DNS -> {seen.serving}{drill}")
        lines += [f"  problem: {p}" for p in seen.readiness.problems]
    lines += [f"changed: {t.title()}" for t in result.transitions]
    return "\n".join(lines)


def _services(
    local: bool,
    stack: str | None,
    service: str | None,
    cwd: Path,
    resolvers: list[str],
    no_authoritative: bool,
    bundle: str | None,
    sandbox_dir: Path | None,
    data: bool,
) -> list[Watched]:
    """What to watch: the sandbox's service, or each (or --service's) FailoverService of the stack."""
    try:
        if local:
            directory = sandbox_dir or default_state_dir()
            sandbox = Sandbox.load(directory)
            if sandbox is None:
                raise SandboxError(f"no sandbox in {directory}; start one with `bascule sandbox up`")
            control = SandboxControl(sandbox)
            pair = DataTarget(sandbox_dir=str(directory)).pair() if data else None
            return [Watched(control.target(), control.lock_key(), pair)]
        assert stack is not None
        extra = tuple(parse_resolver(value) for value in resolvers)
        backend = make_backend(stack, cwd, snapshot=True)  # one export: the sites and data pairs of one state
        targets = stack_targets(stack, service, cwd, extra, not no_authoritative, bundle, backend)
        pairs = {p.service: p for p in pairs_from_state(backend.resources(), stack, service)} if data else {}
        return [Watched(t, stack_lock_key(cwd, stack), pairs.get(t.service)) for t in targets]
    except ValueError as exc:
        fail([str(exc)])
    except PairStateError as exc:
        fail([f"--data: {exc}"], EXIT_BAD_INPUT)
    except (ControlError, SandboxError) as exc:
        fail([str(exc)], EXIT_BAD_INPUT)
