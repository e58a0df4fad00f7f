"""`bascule sandbox`: the local failover setup drills run against when no cloud is at hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bascule.cli.common import EXIT_FAILED, fail, out
from bascule.cli.drill import service_settings
from bascule.sandbox import Sandbox, SandboxError, default_state_dir

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


@app.command("up")
def up(
    directory: Dir = None,
    stack: Annotated[str | None, typer.Option("--stack", help="Use a stack service's failover settings.")] = None,
    service: Annotated[str | None, typer.Option("--service", help="Service of --stack.")] = None,
    stacks_dir: Annotated[Path, typer.Option("--stacks-dir", help="Folder holding Pulumi.<stack>.yaml files.")] = Path(
        "stacks"
    ),
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Add the data standby: a publisher beside the primary site, a subscriber beside the secondary; "
            "the sites read and write their database.",
        ),
    ] = False,
) -> None:
    """Start the sandbox and wait until DNS answers the primary (steady state)."""
    settings = service_settings(stack, service, stacks_dir)
    try:
        sandbox = Sandbox.start(directory or default_state_dir(), settings, data=data)
    except SandboxError as exc:
        fail([str(exc)])
    status = sandbox.status()
    out.print(f"sandbox up: {status['hostname']} answered by {status['dns']} -> {status['answer']}")
    if status["databases"]:
        out.print(f"databases: {status['databases']}", highlight=False)
    then = "bascule drill --local --data" if data else "bascule drill --local"
    out.print(f"try: dig @127.0.0.1 -p {sandbox.state.dns_port} {status['hostname']}   then: {then}")


@app.command("status")
def status(
    directory: Dir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show processes, ports and what DNS answers now; exit 1 when the sandbox is not (fully) running."""
    directory = directory or default_state_dir()
    sandbox = Sandbox.load(directory)
    if sandbox is None:
        fail([f"no sandbox in {directory}; start one with: bascule sandbox up"], EXIT_FAILED)
    info = sandbox.status()
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            out.print(f"{key:>24}: {value}", highlight=False)
    if not sandbox.running():
        raise typer.Exit(EXIT_FAILED)


@app.command("down")
def down(directory: Dir = None) -> None:
    """Stop every sandbox process; safe to run twice."""
    directory = directory or default_state_dir()
    sandbox = Sandbox.load(directory)
    if sandbox is None:
        out.print(f"no sandbox in {directory}: nothing to stop")
        return
    sandbox.stop()
    out.print("sandbox stopped")


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
    directory: Dir = None,
) -> None:
    """Set a site's readiness while the sandbox runs, to see what verify and drills make of a broken standby.

    Example: bascule sandbox site secondary unbound && bascule verify --local
    """
    directory = directory or default_state_dir()
    sandbox = Sandbox.load(directory)
    if sandbox is None:
        fail([f"no sandbox in {directory}; start one with: bascule sandbox up"])
    try:
        sandbox.set_site_mode(role, mode)
    except SandboxError as exc:
        fail([str(exc)])
    out.print(f"{role} is now {mode}", highlight=False, markup=False)
