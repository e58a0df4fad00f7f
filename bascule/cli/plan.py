"""`bascule plan`: what `pulumi up` would create for a stack or any Python program, computed offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bascule.cli.common import (
    FormatTextJson,
    JsonAlias,
    Program,
    Quiet,
    StackConfig,
    StacksDir,
    TextOrJson,
    chosen_format,
    emit_json,
    fail,
    out,
    running_offline,
    stack_file_or_fail,
    warn,
)
from bascule.components.aws.plugin import service_linked_role_commands
from bascule.components.azure.plugin import register_commands, resource_providers
from bascule.inventory.records import Inventory
from bascule.inventory.sources import PLAN_COLUMNS, plan_program, plan_rows, plan_stack
from bascule.offline.types import ProgramError
from bascule.readiness.caa import caa_problems, new_resolver
from bascule.spec import SpecError, dns_backend, load_stack_file
from bascule.spec.plugins import site_authorities

CAA_TIMEOUT = 3.0
"""Seconds for the CAA lookups of one service (the only network `plan` uses)."""
UNASSIGNED_SHOWN = 20
"""Resources of no service named in the text output (a team's project may hold thousands); `-f json` has all."""


def first_up_needs(stack: str | None, stacks_dir: Path, resource_types: list[str]) -> list[str]:
    """What the first `pulumi up` of the stack needs that it cannot do itself, one line each: the Azure resource
    providers its resources use (azure-native registers none), and, for a service of a stack file (`stack`; a
    program's specs are not read) whose zone already exists, CAA records that would stop a site's CA (looked up now;
    a zone Bascule creates holds none)."""
    lines = [f"register once per subscription: {c}" for c in register_commands(resource_providers(resource_types))]
    lines += [f"once per AWS account: {c}" for c in service_linked_role_commands(resource_types)]
    if stack is None:
        return lines
    _, spec = load_stack_file(stacks_dir / f"Pulumi.{stack}.yaml")
    for svc in spec.services:
        authorities = site_authorities(svc)
        if authorities and dns_backend(svc.dns.kind).creates_zone(svc.dns) is None:
            lines += caa_problems(svc.hostname, authorities, new_resolver(CAA_TIMEOUT))
    return lines


def plan(
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Stack name: reads <stacks-dir>/Pulumi.<stack>.yaml.")
    ] = None,
    program: Program = None,
    stack_config: StackConfig = None,
    output_format: FormatTextJson = TextOrJson.TEXT,
    quiet: Quiet = False,
    stacks_dir: StacksDir = Path("stacks"),
    as_json: JsonAlias = False,
) -> None:
    """Show, per service, every resource `pulumi up` would create, with its cloud, region and role.

    Runs the stack's program (this repository's, or any Python program with --program) in-process against Pulumi
    mocks: no Pulumi CLI, credentials or cloud. Cloud-computed values (load balancer names, zone ids) are
    placeholders; types, arguments, providers and regions are the real ones. Then says what the first `pulumi up`
    needs that it cannot do itself: the Azure resource providers to register, and, where a service's zone of a
    stack file already exists, CAA records that would stop a site's CA (a DNS lookup, the command's only network
    use).

    Examples:
      bascule plan --stack dev
      bascule plan --stack dev --format json | jq '.[] | select(.role=="secondary")'
      bascule plan --program ../team-repo --stack-config ../team-repo/Pulumi.prod.yaml
    """
    if (stack is None) == (program is None):
        fail(["give exactly one input: --stack NAME or --program DIR"])
    if stack_config is not None and program is None:
        fail(["--stack-config goes with --program (a --stack reads <stacks-dir>/Pulumi.<stack>.yaml)"])
    if stack is not None:
        stack_file_or_fail("bascule plan", stack, stacks_dir)
    try:
        if program is not None:
            inventory = plan_program(program, stack_config, warn=warn, running=running_offline)
        else:
            inventory = plan_stack(stack or "", stacks_dir, warn, running_offline)
    except SpecError as exc:
        fail(exc.lines)
    except ProgramError as exc:
        fail([f"{program.resolve() if program else f'stack {stack!r}'}: the program failed offline: {exc}"])
    custom = [r for r in inventory.resources if r.custom]
    needs = first_up_needs(stack, stacks_dir, [r.type for r in custom])
    if chosen_format(output_format, as_json) is TextOrJson.JSON:
        emit_json([r.as_json() for r in custom])
        for line in needs:
            warn(f"before the first `pulumi up`: {line}")
        return
    for service, rows in plan_rows(inventory).items():
        table = Table(title=f"service {service}", title_justify="left", show_lines=False)
        for column in PLAN_COLUMNS:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*row)
        out.print(table)
    unassigned = [r for r in custom if r.service is None]
    if unassigned:
        named = [f"{r.name} ({r.type})" for r in unassigned[:UNASSIGNED_SHOWN]]
        more = f" and {len(unassigned) - UNASSIGNED_SHOWN} more" if len(unassigned) > UNASSIGNED_SHOWN else ""
        out.print(f"{len(unassigned)} resources belong to no service: {', '.join(named)}{more}", soft_wrap=True)
    source = f"stack {stack!r}" if program is None else _program_name(program, inventory, stack_config is not None)
    out.print(f"{len(custom)} resources in {source}.")
    if needs:
        out.print("Before the first `pulumi up`:")
        for line in needs:
            out.print(f"  {line}", soft_wrap=True)


def _program_name(program: Path, inventory: Inventory, named_stack: bool) -> str:
    """`program 'NAME' (stack 'STACK')`, NAME Pulumi.yaml's `name` as the URNs carry it, else the folder's own name
    however it was given (`--program .` names the folder, not '.'); the stack only when a stack file named it."""
    folder = program.resolve()
    name = inventory.project or folder.name or str(folder)
    return f"program {name!r}" + (f" (stack {inventory.stack!r})" if named_stack and inventory.stack else "")
