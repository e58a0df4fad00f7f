"""`bascule verify`: is the standby ready right now? No fault, nothing changed; safe to schedule daily."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bascule.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    CaBundle,
    Cwd,
    MinCertDays,
    NoAuthoritative,
    Quiet,
    Resolvers,
    SandboxDir,
    emit,
    fail,
    format_option,
    working,
)
from bascule.drills.control import ControlError, SandboxControl
from bascule.drills.stack_control import CliMissing, PulumiStackControl, make_backend
from bascule.readiness.site import DEFAULT_MIN_CERT_DAYS, Trust
from bascule.readiness.target import DrillTarget
from bascule.readiness.verify import assess, render_json, render_junit, render_text
from bascule.sandbox import Sandbox, default_state_dir


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
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds for each connection step.")] = 5.0,
    sandbox_dir: SandboxDir = None,
) -> None:
    """Check that every site serves the service hostname right now, and that DNS answers the primary.

    Each site is asked at its own address, as a client of the hostname would ask it (SNI and Host = the
    hostname): the certificate chain must verify, name the hostname and stay valid for --min-cert-days; the
    health path must answer 2xx. Each resolver must answer the primary. Exit 0 ready, 1 not ready, 2 bad input,
    70 internal error.

    Examples:
      bascule verify --local
      bascule verify --stack prod --format junit > verify.xml
    """
    if local == (stack is not None):
        fail(["choose one target: --local (the sandbox) or --stack NAME [--service NAME]"])
    bundle = str(ca_bundle) if ca_bundle else None
    targets = (
        _local_targets(sandbox_dir or default_state_dir())
        if local
        else _stack_targets(stack or "", service, cwd, resolver or [], no_authoritative, bundle)
    )
    # The sandbox's own CA unless --ca-bundle says otherwise; a stack's clients use the system store by default.
    trust = Trust(bundle or targets[0].ca_bundle, min_cert_days)
    with working("checking each site's TLS, certificate and health, and what DNS answers") as status:
        results = []
        for target in targets:
            status(f"checking {target.service}: TLS, certificate, health at each site; DNS answers")
            results.append(assess(target, trust, timeout))
    emit({Format.JSON: lambda: render_json(results, trust), Format.JUNIT: lambda: render_junit(results),
          Format.TEXT: lambda: render_text(results)}[output]())  # fmt: skip
    if not all(r.ready for r in results):
        raise typer.Exit(EXIT_FAILED)


def _local_targets(directory: Path) -> list[DrillTarget]:
    sandbox = Sandbox.load(directory)
    if sandbox is None:
        fail([f"no sandbox in {directory}; start one with `bascule sandbox up`"], EXIT_BAD_INPUT)
    return [SandboxControl(sandbox).target()]


def _stack_targets(
    stack: str, service: str | None, cwd: Path, resolvers: list[str], no_authoritative: bool, ca_bundle: str | None
) -> list[DrillTarget]:
    from bascule.cli.drill import parse_resolver  # one parser for --resolver everywhere

    try:
        extra = tuple(parse_resolver(value) for value in resolvers)
        backend = make_backend(stack, cwd)
        services, _ = backend.outputs().get("services", (None, False))
        names = [service] if service else sorted(services) if isinstance(services, dict) else []
        if not names:
            fail([f"stack '{stack}' has no `services` output: is it a Bascule stack, deployed?"])
        return [
            PulumiStackControl(
                backend, stack, cwd, name, lambda _line: None, resolvers=extra,
                with_authoritative=not no_authoritative, ca_bundle=ca_bundle,
            ).target()
            for name in names
        ]  # fmt: skip
    except ValueError as exc:
        fail([str(exc)])
    except CliMissing as exc:
        fail([str(exc)], EXIT_BAD_INPUT)
    except ControlError as exc:
        fail([str(exc)])
