"""`bascule sandbox`: the local failover setup drills run against when no cloud is at hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_REFUSED,
    FormatTextJson,
    JsonAlias,
    Quiet,
    SandboxDir,
    StacksDir,
    TextOrJson,
    chosen_format,
    emit_json,
    err,
    fail,
    input_folder,
    out,
    say,
    styled,
    warn,
    working,
    writable_or_fail,
)
from bascule.sandbox import Sandbox, SandboxError, SandboxRefused, default_state_dir
from bascule.sandbox.acme import ACME_MODES, RENEW_DAYS
from bascule.sandbox.settings import running_as, service_settings
from bascule.sandbox.status import acme_text, answer_text, databases_text, status_lines
from bascule.spec import SpecError

app = typer.Typer(
    help=(
        "A real PowerDNS authoritative server with a LUA ifurlup() failover record, a caching resolver, and two "
        "HTTPS sites on 127.0.0.2 (primary) and 127.0.0.3 (secondary) that route on SNI and Host like cloud "
        "platforms, with certificates from a sandbox CA. Needs Debian's pdns-server and pdns-backend-bind. With "
        "--data, a PostgreSQL 15 cluster beside each site joined by logical replication (Debian's postgresql-15). "
        "With --acme, the secondary's certificate from a local ACME server by DNS-01 (Debian's pebble and lego)."
    ),
    no_args_is_help=True,
)


def _deprecated_dir(value: Path | None) -> Path | None:
    if value is not None:
        err.print(styled("deprecated:", "yellow", "--dir will be removed; use --sandbox-dir (the same folder)"))
    return input_folder("--dir")(value)


DirAlias = Annotated[Path | None, typer.Option("--dir", hidden=True, callback=_deprecated_dir)]
"""The old name of `sandbox`'s `--sandbox-dir`: still works (scripts exist), says it is deprecated."""


def _folder(sandbox_dir: Path | None, dir_alias: Path | None) -> Path:
    """The sandbox folder asked for under either name, else this checkout's default."""
    if sandbox_dir is not None and dir_alias is not None and sandbox_dir != dir_alias:
        fail([f"--sandbox-dir {sandbox_dir} and --dir {dir_alias} disagree; give --sandbox-dir alone"])
    return sandbox_dir or dir_alias or default_state_dir()


def _load(directory: Path, code: int = EXIT_FAILED) -> Sandbox:
    sandbox = Sandbox.load(directory)
    if sandbox is None:
        fail([f"no sandbox in {directory}; start one with `bascule sandbox up`"], code)
    return sandbox


@app.command("up")
def up(
    sandbox_dir: SandboxDir = None,
    stack: Annotated[str | None, typer.Option("--stack", help="Use a stack service's failover settings.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Service of --stack.")] = None,
    stacks_dir: StacksDir = Path("stacks"),
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Add the data standby: a publisher beside the primary site, a subscriber beside the secondary; "
            "the sites read and write their database.",
        ),
    ] = False,
    acme: Annotated[
        bool,
        typer.Option(
            "--acme",
            help="The secondary's certificate from a local ACME server (pebble) through a DNS-01 challenge that "
            "lego writes into the sandbox's PowerDNS, issued while DNS answers the primary, as a real standby's.",
        ),
    ] = False,
    backups: Annotated[
        bool,
        typer.Option(
            "--backups",
            help="With --data: an S3 object store on loopback (moto's server) with a locked bucket, and an age key "
            "pair, for `bascule backup --local` and the restore drill (`drill --local --data --fault corruption`).",
        ),
    ] = False,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    dir_alias: DirAlias = None,
) -> None:
    """Start the sandbox and wait until DNS answers the primary (steady state).

    Already running with these settings: exit 0 and its status, nothing restarted. Running with other settings
    (another --stack/--service, --data or --acme): exit 3, refused; `bascule sandbox down` first.

    Examples:
      bascule sandbox up
      bascule sandbox up --sandbox-dir /tmp/box --data --format json | jq -r .answer
      bascule sandbox up --acme --format json | jq .acme.certificate
    """
    if stack is None and service is not None:
        fail(["--service needs --stack: it names a service of that stack's bascule:services"])
    if backups and not data:
        fail(["--backups needs --data: the backups are of the sandbox's databases"])
    directory = _folder(sandbox_dir, dir_alias)
    writable_or_fail("--sandbox-dir", directory, folder=True)  # the sandbox writes its state, zone and logs there
    try:
        settings = service_settings(stack, service, stacks_dir)
        sandbox = running_as(directory, settings, data, acme, backups)
    except SpecError as exc:
        fail(exc.lines)
    except SandboxRefused as exc:
        fail([str(exc)], EXIT_REFUSED)
    except SandboxError as exc:
        fail([str(exc)])
    started = sandbox is None
    if sandbox is None:
        extra = (" + two PostgreSQL clusters" if data else "") + (" + an ACME server" if acme else "")
        extra += " + an S3 object store" if backups else ""
        try:
            with working(f"starting the sandbox (PowerDNS + two loopback sites{extra})…"):
                sandbox = Sandbox.start(directory, settings, data=data, acme=acme, backups=backups)
        except SandboxError as exc:
            fail([str(exc)])
    status = sandbox.status()
    if output_format is TextOrJson.JSON:
        emit_json(status)
    else:
        state = "up" if started else "already running"
        answer = answer_text(status["answer"])
        out.print(f"sandbox {state}: {status['hostname']} answered by {status['dns']} -> {answer}")
        if status["databases"]:
            out.print(f"databases: {databases_text(status['databases'])}", highlight=False)
        if status["acme"]:
            out.print(f"ACME: {acme_text(status['acme'])}", highlight=False, soft_wrap=True)
    then = "bascule drill --local --data" if data else "bascule drill --local"
    say(f"try: dig @127.0.0.1 -p {sandbox.state.dns_port} {status['hostname']}   then: `{then}`")


@app.command("status")
def status(
    sandbox_dir: SandboxDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    as_json: JsonAlias = False,
    dir_alias: DirAlias = None,
) -> None:
    """Show processes, ports and what DNS answers now; exit 1 when the sandbox is not (fully) running.

    Example: bascule sandbox status --format json | jq .answer
    """
    sandbox = _load(_folder(sandbox_dir, dir_alias))
    info = sandbox.status()
    if chosen_format(output_format, as_json) is TextOrJson.JSON:
        emit_json(info)
    else:
        for label, value in status_lines(info):
            out.print(f"{label:>16}: {value}", highlight=False, soft_wrap=True)
    if not sandbox.running():
        raise typer.Exit(EXIT_FAILED)


@app.command("down")
def down(
    sandbox_dir: SandboxDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    dir_alias: DirAlias = None,
) -> None:
    """Stop every sandbox process; safe to run twice."""
    directory = _folder(sandbox_dir, dir_alias)
    sandbox = Sandbox.load(directory)
    if sandbox is not None:
        for line in sandbox.stop():
            warn(line)
    if output_format is TextOrJson.JSON:
        emit_json({"directory": str(directory), "stopped": sandbox is not None})
    else:
        out.print("sandbox stopped" if sandbox is not None else f"no sandbox in {directory}: nothing to stop")


@app.command("site")
def site(
    role: Annotated[str, typer.Argument(help="primary or secondary.", show_default=False)],
    mode: Annotated[
        str,
        typer.Argument(
            help="healthy | unhealthy (health path 503) | down (process stopped) | unbound (404 for the hostname) | "
            "wrong-cert (platform default certificate) | expired-cert | slow (health answers after 3 s).",
            show_default=False,
        ),
    ],
    sandbox_dir: SandboxDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    dir_alias: DirAlias = None,
) -> None:
    """Set a site's readiness while the sandbox runs, to see what verify and drills make of a broken standby.

    Example: bascule sandbox site secondary unbound && bascule verify --local
    """
    sandbox = _load(_folder(sandbox_dir, dir_alias), EXIT_BAD_INPUT)
    try:
        sandbox.set_site_mode(role, mode)
    except SandboxError as exc:
        fail([str(exc)])
    if output_format is TextOrJson.JSON:
        emit_json({"role": role, "mode": mode})
    else:
        out.print(f"{role} is now {mode}", highlight=False)


@app.command("data")
def data(
    mode: Annotated[
        str,
        typer.Argument(
            help="healthy (mend whatever was broken) | subscription-disabled (ALTER SUBSCRIPTION ... DISABLE) | "
            "slot-unreserved (subscription disabled, WAL written past a lowered max_slot_wal_keep_size: lost at the "
            "next checkpoint) | slot-lost (the same, then a CHECKPOINT: the slot is invalidated for good) | lagging "
            "(a conflicting row on the standby: its apply worker fails and retries, falling behind).",
            show_default=False,
        ),
    ],
    sandbox_dir: SandboxDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    dir_alias: DirAlias = None,
) -> None:
    """Break the data standby's replication for real, one way at a time, to see what verify and drills make of it.

    Needs a sandbox started with --data and a standby that is a replica (not promoted). `healthy` undoes every mode
    (re-seeding the standby when its slot was lost) and also fails back a promoted pair.

    Example: bascule sandbox data slot-lost && bascule verify --local --data
    """
    sandbox = _load(_folder(sandbox_dir, dir_alias), EXIT_BAD_INPUT)
    _set_mode(f"data: {mode}", lambda: sandbox.set_data_mode(mode), mode, output_format,
              "then: `bascule verify --local --data` names it; `bascule sandbox data healthy` mends it")  # fmt: skip


def _set_mode(label: str, change: Callable[[], str], mode: str, output_format: TextOrJson, then: str) -> None:
    """Apply one sandbox break mode (data, ACME) and say what was done; a mode other than healthy says how to see and
    mend it."""
    try:
        with working(label):
            said = change()
    except SandboxError as exc:
        fail([str(exc)])
    if output_format is TextOrJson.JSON:
        emit_json({"mode": mode, "done": said})
    else:
        out.print(said, highlight=False, soft_wrap=True)
    if mode != "healthy":
        say(then)


MAX_RENEW_DAYS = 3650


def _renew_days(value: int) -> int:
    """`--days` as lego takes it: whole days, from 0 to ten years (a margin above the certificates' lifetime renews
    on every run: that forces a renewal)."""
    if not 0 <= value <= MAX_RENEW_DAYS:
        fail([f"--days: {value} is not a number of whole days from 0 to {MAX_RENEW_DAYS} (ten years: else a typo)"])
    return value


@app.command("renew")
def renew(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            callback=_renew_days,
            help="Renew when no more than this many whole days remain (lego's `renew --days`).",
        ),
    ] = RENEW_DAYS,
    sandbox_dir: SandboxDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Renew the secondary's ACME certificate when it is due, as the scheduled renewal job does.

    Runs `lego renew --days N` against the sandbox's ACME server, answering a fresh DNS-01 challenge through the
    sandbox's PowerDNS, and uploads a new certificate to the secondary. Exit 0 renewed or not due yet, 1 the renewal
    failed (`bascule sandbox acme renewal-stopped` makes it fail), 2 no sandbox with --acme, 70 internal error.

    Example: bascule sandbox renew --days 60 --format json | jq .certificate.serial
    """
    sandbox = _load(_folder(sandbox_dir, None), EXIT_BAD_INPUT)
    if sandbox.state.acme is None:
        fail([f"the sandbox in {sandbox.dir} has no ACME certificate; start it with `bascule sandbox up --acme`"],
             EXIT_BAD_INPUT)  # fmt: skip
    try:
        with working(f"renewing when at most {days} days remain"):
            issued = sandbox.renew(days)
    except SandboxError as exc:
        fail([f"renewal failed: {exc}"], EXIT_FAILED)
    cert = issued.certificate
    if output_format is TextOrJson.JSON:
        emit_json(issued.as_json())
    elif issued.renewed:
        seen = answer_text(list(issued.answers))
        said = (f"renewed: serial {cert.serial} from {cert.issuer}, {cert.days_left:g} days left; "
                f"{sandbox.state.service.hostname} answered {seen} meanwhile")  # fmt: skip
        out.print(said, highlight=False, soft_wrap=True)
    else:
        out.print(f"not due: {cert.days_left:g} days left, renewed at {days} (serial {cert.serial})", highlight=False)


@app.command("acme")
def acme_mode(
    mode: Annotated[
        str,
        typer.Argument(
            help="healthy (renewal works) | renewal-stopped (the renewal job's DNS API key is refused, and the "
            "secondary's certificate has what weeks of failed renewals leave: 7 days).",
            show_default=False,
        ),
    ],
    sandbox_dir: SandboxDir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Stop the secondary's certificate renewal, or let it work again, to see what verify makes of it.

    Needs a sandbox started with --acme.

    Example: bascule sandbox acme renewal-stopped && bascule verify --local
    """
    sandbox = _load(_folder(sandbox_dir, None), EXIT_BAD_INPUT)
    if mode not in ACME_MODES:
        fail([f"no ACME mode '{mode}': choose one of {', '.join(ACME_MODES)}"])
    _set_mode(f"ACME: {mode}", lambda: sandbox.set_acme_mode(mode), mode, output_format,
              "then: `bascule verify --local` names it; `bascule sandbox acme healthy && bascule sandbox renew` mends "
              "it")  # fmt: skip
