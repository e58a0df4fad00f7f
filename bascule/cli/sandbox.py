"""`bascule sandbox`: the local failover setup drills run against when no cloud is at hand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_REFUSED,
    FormatTextJson,
    JsonAlias,
    Quiet,
    StacksDir,
    TextOrJson,
    chosen_format,
    emit_json,
    fail,
    out,
    say,
    working,
)
from bascule.cli.drill import service_settings, setting_differences
from bascule.sandbox import ADDRESSES, Sandbox, SandboxError, SandboxService, default_state_dir

app = typer.Typer(
    help=(
        "A real PowerDNS authoritative server with a LUA ifurlup() failover record, a caching resolver, and two "
        "HTTPS sites on 127.0.0.2 (primary) and 127.0.0.3 (secondary) that route on SNI and Host like cloud "
        "platforms, with certificates from a sandbox CA. Needs Debian's pdns-server and pdns-backend-bind. With "
        "--data, a PostgreSQL 15 cluster beside each site joined by logical replication (Debian's postgresql-15)."
    ),
    no_args_is_help=True,
)
Dir = Annotated[
    Path | None,
    typer.Option("--dir", help="State folder: pids, ports, zone, logs (default: ~/.cache/bascule/sandbox)."),
]
"""The parameter is `sandbox_dir` as in drill and verify (`--sandbox-dir`), so hints repeat it under either flag."""


def _load(sandbox_dir: Path | None, code: int = EXIT_FAILED) -> Sandbox:
    directory = sandbox_dir or default_state_dir()
    sandbox = Sandbox.load(directory)
    if sandbox is None:
        fail([f"no sandbox in {directory}; start one with `bascule sandbox up`"], code)
    return sandbox


@app.command("up")
def up(
    sandbox_dir: Dir = None,
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
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Start the sandbox and wait until DNS answers the primary (steady state).

    Already running with these settings: exit 0 and its status, nothing restarted. Running with other settings
    (another --stack/--service, or --data): exit 3, refused; `bascule sandbox down` first.

    Examples:
      bascule sandbox up
      bascule sandbox up --dir /tmp/box --data --format json | jq -r .answer
    """
    settings = service_settings(stack, service, stacks_dir)
    directory = sandbox_dir or default_state_dir()
    sandbox = _running(directory, settings, data)
    started = sandbox is None
    if sandbox is None:
        extra = " + two PostgreSQL clusters" if data else ""
        try:
            with working(f"starting the sandbox (PowerDNS + two loopback sites{extra})…"):
                sandbox = Sandbox.start(directory, settings, data=data)
        except SandboxError as exc:
            fail([str(exc)])
    status = sandbox.status()
    if output_format is TextOrJson.JSON:
        emit_json(status)
    else:
        state = "up" if started else "already running"
        out.print(f"sandbox {state}: {status['hostname']} answered by {status['dns']} -> {_answer(status['answer'])}")
        if status["databases"]:
            out.print(f"databases: {_databases(status['databases'])}", highlight=False)
    then = "bascule drill --local --data" if data else "bascule drill --local"
    say(f"try: dig @127.0.0.1 -p {sandbox.state.dns_port} {status['hostname']}   then: `{then}`")


def _running(directory: Path, settings: SandboxService, data: bool) -> Sandbox | None:
    """The sandbox already running in `directory` with these settings, else None (nothing runs: start one).

    `up` twice is not an error, the sandbox is up as asked. One running with other settings is refused (exit 3):
    restarting it under a drill or a colleague would be worse, and using it would not be what was asked.
    """
    existing = Sandbox.load(directory)
    if existing is None or not existing.running():
        return None
    running, asked = setting_differences(existing.state.service, settings)
    if (existing.state.data is not None) != data:
        running, asked = (", ".join(filter(None, (running, f"{'with' if not data else 'no'} databases"))),
                          ", ".join(filter(None, (asked, f"{'with' if data else 'no'} databases"))))  # fmt: skip
    if running:
        fail([f"a sandbox already runs in {directory} with {running}, not {asked}; stop it first with "
              "`bascule sandbox down`"], EXIT_REFUSED)  # fmt: skip
    return existing


@app.command("status")
def status(
    sandbox_dir: Dir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    as_json: JsonAlias = False,
) -> None:
    """Show processes, ports and what DNS answers now; exit 1 when the sandbox is not (fully) running.

    Example: bascule sandbox status --format json | jq .answer
    """
    sandbox = _load(sandbox_dir)
    info = sandbox.status()
    if chosen_format(output_format, as_json) is TextOrJson.JSON:
        emit_json(info)
    else:
        for label, value in status_lines(info):
            out.print(f"{label:>16}: {value}", highlight=False, soft_wrap=True)
    if not sandbox.running():
        raise typer.Exit(EXIT_FAILED)


def _answer(addresses: list[str]) -> str:
    """`127.0.0.2 (primary)`: the addresses DNS answers, named by the site that holds them."""
    roles = {address: role for role, address in ADDRESSES.items()}
    named = [f"{a} ({roles[a]})" if a in roles else a for a in addresses]
    return ", ".join(named) or "nothing (no answer)"


def _databases(databases: dict[str, Any]) -> str:
    clusters = [f"{role} {c['address']} {'up' if c['alive'] else 'DOWN'}" for role, c in databases.items()
                if isinstance(c, dict)]  # fmt: skip
    promoted = "the standby is promoted" if databases.get("promoted") else "the standby is a replica"
    return f"{', '.join(clusters)}; {promoted}"


def status_lines(info: dict[str, Any]) -> list[tuple[str, str]]:
    """`sandbox status` for people: one labelled line per fact, in words (its JSON keeps the structure)."""
    processes = ", ".join(f"{name} {'up' if up else 'DOWN'}" for name, up in info["processes"].items())
    sites = "; ".join(f"{role} {site['url']} ({site['mode']})" for role, site in info["sites"].items())
    return [
        ("directory", info["directory"]),
        ("hostname", info["hostname"]),
        ("DNS answers", _answer(info["answer"])),
        ("authoritative", info["dns"]),
        ("recursor", info["resolver"] or "none"),
        ("processes", processes or "none recorded"),
        ("sites", sites),
        ("databases", _databases(info["databases"]) if info["databases"] else "none (`bascule sandbox up --data`)"),
        ("failover bound", f"{info['failover_bound_seconds']:g} s (detection + TTL)"),
        ("CA", info["ca"]),
        ("PowerDNS", str(info["pdns_version"])),
    ]


@app.command("down")
def down(sandbox_dir: Dir = None, output_format: FormatTextJson = TextOrJson.TEXT, quiet: Quiet = False) -> None:
    """Stop every sandbox process; safe to run twice."""
    directory = sandbox_dir or default_state_dir()
    sandbox = Sandbox.load(directory)
    if sandbox is not None:
        sandbox.stop()
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
    sandbox_dir: Dir = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
) -> None:
    """Set a site's readiness while the sandbox runs, to see what verify and drills make of a broken standby.

    Example: bascule sandbox site secondary unbound && bascule verify --local
    """
    sandbox = _load(sandbox_dir, EXIT_BAD_INPUT)
    try:
        sandbox.set_site_mode(role, mode)
    except SandboxError as exc:
        fail([str(exc)])
    if output_format is TextOrJson.JSON:
        emit_json({"role": role, "mode": mode})
    else:
        out.print(f"{role} is now {mode}", highlight=False)
